"""Remove the shared-memory files Fast DDS left behind for processes that no longer exist.

Fast DDS's shared-memory transport keeps, per participant and per listening port, a
segment in ``/dev/shm`` (``fastdds_<id>``, ``fastdds_port<N>``) with a lock file beside
it (``_el``/``_sl``) and a named semaphore (``sem.fastdds_port<N>_mutex``). A process
killed with SIGKILL -- a crash, a chaos drill, a test tearing a system down -- leaves
all of them behind. A port number is a function of the DDS domain and participant
index, so the next system on that domain reuses it and opens the dead segment; on a
machine that has run many systems we saw a participant that one peer never heard from
while every other peer did. Clearing the dead files before a system starts removes
that hazard and gives back the memory (over a gigabyte after a day of test runs).

A file is dead when no process maps it or holds it open (``/proc/*/maps`` and
``/proc/*/fd``) and it is older than a few seconds (a participant creating its
segment right now has not mapped it yet). Processes whose ``/proc`` entries cannot
be read (another user's) are not seen, so only files owned by this user are touched.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from pathlib import Path

__all__ = ['SHM_DIR', 'files_in_use', 'remove_stale_shared_memory', 'stale_shared_memory']

SHM_DIR = Path('/dev/shm')
PROC_DIR = Path('/proc')
PREFIX = 'fastdds_'
SEMAPHORE_PREFIX = 'sem.fastdds_'
LOCK_SUFFIXES = ('_el', '_sl')
SEMAPHORE_SUFFIX = '_mutex'
MIN_AGE_S = 10.0


def _mapped_paths(pid_dir: Path) -> set[str]:
    try:
        lines = (pid_dir / 'maps').read_text(encoding='utf-8', errors='replace').splitlines()
    except OSError:  # the process ended, or it is another user's
        return set()
    return {fields[5] for fields in (line.split(maxsplit=5) for line in lines) if len(fields) == 6}


def _open_paths(pid_dir: Path) -> set[str]:
    try:
        descriptors = list((pid_dir / 'fd').iterdir())
    except OSError:
        return set()
    paths = set()
    for descriptor in descriptors:
        try:
            paths.add(os.readlink(descriptor))
        except OSError:
            continue
    return paths


def files_in_use(proc_dir: Path = PROC_DIR) -> set[str]:
    """Paths some visible process maps or holds open."""
    used: set[str] = set()
    for pid_dir in proc_dir.iterdir():
        if pid_dir.name.isdigit():
            used |= _mapped_paths(pid_dir) | _open_paths(pid_dir)
    return used


def _base_name(name: str) -> str | None:
    """The segment a Fast DDS file belongs to: itself, its lock's or its semaphore's."""
    if name.startswith(SEMAPHORE_PREFIX) and name.endswith(SEMAPHORE_SUFFIX):
        return name[len('sem.'):-len(SEMAPHORE_SUFFIX)]
    if not name.startswith(PREFIX):
        return None
    for suffix in LOCK_SUFFIXES:
        if name.endswith(suffix):
            return name[:-len(suffix)]
    return name


def stale_shared_memory(shm_dir: Path = SHM_DIR, *, in_use: Iterable[str] | None = None,
                        now: float | None = None, min_age_s: float = MIN_AGE_S) -> list[Path]:
    """The Fast DDS files in ``shm_dir`` that belong to no live process.

    The files of one segment go together: a segment is dead when none of its files
    is in use or young, and then all of them are returned.
    """
    used = files_in_use() if in_use is None else set(in_use)
    now = time.time() if now is None else now
    uid = os.getuid()
    groups: dict[str, list[Path]] = {}
    live: set[str] = set()
    for path in shm_dir.iterdir():
        base = _base_name(path.name)
        if base is None:
            continue
        groups.setdefault(base, []).append(path)
        try:
            info = path.lstat()
        except FileNotFoundError:  # removed by its owner while we looked
            continue
        if str(path) in used or info.st_uid != uid or now - info.st_mtime < min_age_s:
            live.add(base)
    return sorted(path for base, paths in groups.items() if base not in live for path in paths)


def remove_stale_shared_memory(shm_dir: Path = SHM_DIR) -> list[Path]:
    """Remove the dead Fast DDS files in ``shm_dir``; returns those removed.

    Does nothing where the directory does not exist (not Linux).
    """
    if not shm_dir.is_dir():
        return []
    removed = []
    for path in stale_shared_memory(shm_dir):
        try:
            path.unlink()
        except FileNotFoundError:
            continue
        removed.append(path)
    return removed
