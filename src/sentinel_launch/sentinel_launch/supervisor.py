"""Run the processes of a launch description and stop all of them cleanly.

Each process starts in its own session, and therefore its own process
group.  That has two purposes: a Ctrl-C in the terminal reaches only the
launcher (which then shuts everything down in order, instead of every
process racing to die at once), and a whole process tree can be signalled
through its group, so helpers that a process spawned do not outlive it.

Shutdown escalates SIGINT -> SIGTERM -> SIGKILL with a timeout between the
steps, and only ends when no process of any started group is left: the
group leader's exit alone proves nothing about its children.  Group
membership is read from ``/proc`` where it exists, ignoring zombies (which
a container's PID 1 may never reap), and probed with ``killpg(pgid, 0)``
elsewhere.  A process that calls ``setsid()`` itself leaves its group and
cannot be tracked this way.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from .description import ProcessSpec

# prctl(2) option that delivers a signal to a process when its parent exits (Linux).
_PR_SET_PDEATHSIG = 1
# The C library, for prctl; None where there is none to load (not Linux).
_LIBC = ctypes.CDLL(ctypes.util.find_library('c'), use_errno=True) \
    if sys.platform.startswith('linux') else None

__all__ = ['OutputRouter', 'Supervisor', 'live_process_groups']

_LOG = logging.getLogger(__name__)

# ANSI SGR colour codes for the [name] prefixes, picked in turn.
_PALETTE = ('32', '34', '35', '36', '33', '92', '94', '95', '96', '93', '91', '31')
_POLL_INTERVAL = 0.05
_MAX_LINE = 1 << 20  # longer lines are split instead of buffered without bound


def _wants_color(stream: TextIO, environ: Mapping[str, str]) -> bool:
    if environ.get('NO_COLOR'):
        return False
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def _file_name(name: str) -> str:
    return ''.join(c if c.isalnum() or c in '-_.' else '_' for c in name) + '.log'


class OutputRouter:
    """Writes child output line by line, prefixed with the process name.

    Where a line goes follows ros2 launch's ``output`` modes: ``screen``
    shows both streams; ``log`` writes both to the process's log file and
    shows only stderr (where ROS logging goes, so problems stay visible);
    ``both`` does both.  Without a ``log_dir``, ``log`` behaves like
    ``screen`` rather than dropping output.
    """

    def __init__(self, stdout: TextIO, stderr: TextIO, *, log_dir: Path | None = None,
                 environ: Mapping[str, str] | None = None) -> None:
        environ = os.environ if environ is None else environ
        self._streams = {'stdout': stdout, 'stderr': stderr}
        self._color = {key: _wants_color(stream, environ)
                       for key, stream in self._streams.items()}
        self._log_dir = log_dir
        self._colors: dict[str, str] = {}
        self._files: dict[str, TextIO] = {}
        self._broken: set[str] = set()  # names whose log file could not be written

    def register(self, name: str) -> None:
        """Reserve the next colour for ``name`` so colours follow launch order."""
        self._colors.setdefault(name, _PALETTE[len(self._colors) % len(_PALETTE)])

    def prefix(self, name: str, stream: str) -> str:
        self.register(name)
        if self._color[stream]:
            return f'\x1b[{self._colors[name]}m[{name}]\x1b[0m '
        return f'[{name}] '

    def write(self, spec: ProcessSpec, stream: str, line: str) -> None:
        logged = spec.output in ('log', 'both') and self._log_dir is not None
        shown = not logged or spec.output == 'both' or stream == 'stderr'
        if shown:
            target = self._streams[stream]
            try:
                target.write(self.prefix(spec.name, stream) + line + '\n')
                target.flush()
            except (OSError, ValueError):
                pass  # our own output is gone (closed pipe); keep supervising
        if logged and spec.name not in self._broken:
            try:
                self._log_file(spec.name).write(line + '\n')
            except OSError as exc:
                self._broken.add(spec.name)
                _LOG.error('[%s] cannot write its log file, output is no longer '
                           'logged: %s', spec.name, exc)

    def _log_file(self, name: str) -> TextIO:
        handle = self._files.get(name)
        if handle is None:
            assert self._log_dir is not None
            self._log_dir.mkdir(parents=True, exist_ok=True)
            path = self._log_dir / _file_name(name)
            handle = path.open('a', encoding='utf-8', buffering=1)
            self._files[name] = handle
            _LOG.info('[%s] output is logged to %s', name, path)
        return handle

    def close(self) -> None:
        for handle in self._files.values():
            handle.close()
        self._files.clear()


def live_process_groups(pgids: Iterable[int]) -> set[int]:
    """Return those of ``pgids`` that still have a process which is not a zombie."""
    wanted = set(pgids)
    if not wanted:
        return set()
    try:
        entries = os.listdir('/proc')
    except OSError:
        entries = []
    if not os.path.exists('/proc/self/stat'):
        return {pgid for pgid in wanted if _group_answers(pgid)}
    live = set()
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f'/proc/{entry}/stat', 'rb') as handle:
                stat = handle.read()
        except OSError:
            continue  # exited while we looked
        # The command name is in parentheses and may itself contain them.
        fields = stat.rpartition(b')')[2].split()
        if len(fields) < 3 or fields[0] in (b'Z', b'X'):
            continue
        pgrp = int(fields[2])
        if pgrp in wanted:
            live.add(pgrp)
    return live


def _group_answers(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class _Child:
    spec: ProcessSpec
    returncode: int | None = None
    starts: int = 0


class Supervisor:
    """Starts every process, restarts those marked respawn, and shuts down in order.

    ``run()`` returns when either every process has ended by itself (exit
    status 0 only if all exited with 0) or a shutdown was requested by a
    signal or :meth:`request_shutdown` (exit status 0 once everything is
    gone).  It returns 1 if some process survived even SIGKILL.
    """

    def __init__(self, processes: Sequence[ProcessSpec], *,
                 router: OutputRouter | None = None,
                 environ: Mapping[str, str] | None = None,
                 grace_period: float = 5.0,
                 term_timeout: float = 5.0,
                 kill_timeout: float = 5.0,
                 min_respawn_delay: float = 0.5,
                 max_respawn_delay: float = 30.0,
                 stable_after: float = 10.0) -> None:
        self._children = [_Child(spec) for spec in processes]
        self._router = router or OutputRouter(sys.stdout, sys.stderr)
        self._environ = dict(os.environ if environ is None else environ)
        self._grace_period = grace_period
        self._term_timeout = term_timeout
        self._kill_timeout = kill_timeout
        self._min_respawn_delay = min_respawn_delay
        self._max_respawn_delay = max_respawn_delay
        self._stable_after = stable_after
        self._groups: dict[int, str] = {}  # pgid -> process name, possibly not alive
        self._background: set[asyncio.Task[None]] = set()
        self._pumps: set[asyncio.Task[None]] = set()
        self._requested = False
        self._stopping: asyncio.Event | None = None
        self._escalate: asyncio.Event | None = None
        for child in self._children:
            self._router.register(child.spec.name)

    # -- public ------------------------------------------------------------

    def request_shutdown(self, reason: str = 'shutdown requested') -> None:
        """Begin the orderly shutdown; a second call skips to the next signal.

        Must be called from the event loop's thread (signal handlers are).
        """
        if self._stopping is None or self._escalate is None:
            return
        if not self._stopping.is_set():
            _LOG.info('%s: stopping all processes', reason)
            self._requested = True
            self._stopping.set()
        else:
            _LOG.warning('%s again: escalating', reason)
            self._escalate.set()

    async def run(self, *, handle_signals: bool = True) -> int:
        """Supervise until done; see the class docstring for the exit status."""
        loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        self._escalate = asyncio.Event()
        handled = []
        if handle_signals:
            for signum in (signal.SIGINT, signal.SIGTERM, getattr(signal, 'SIGHUP', None)):
                if signum is not None:
                    loop.add_signal_handler(signum, self.request_shutdown,
                                            f'received {signal.Signals(signum).name}')
                    handled.append(signum)
        try:
            return await self._run()
        finally:
            for signum in handled:
                loop.remove_signal_handler(signum)
            self._router.close()

    # -- orchestration -----------------------------------------------------

    async def _run(self) -> int:
        assert self._stopping is not None
        if not self._children:
            return 0
        watchers = asyncio.gather(*(self._watch(child) for child in self._children))
        stop = asyncio.ensure_future(self._stopping.wait())
        pending: set[asyncio.Future[Any]] = {watchers, stop}
        await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        broken = watchers.done() and watchers.exception() is not None
        if broken:
            _LOG.error('supervision failed: %r', watchers.exception())
        self._stopping.set()  # no respawns from here on, whatever brought us here
        clean = await self._stop_all(watchers)
        stop.cancel()
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        await self._drain_output()
        if not watchers.done():
            watchers.cancel()
        await asyncio.gather(watchers, return_exceptions=True)
        if not clean or broken:
            return 1
        _LOG.info('all processes have stopped')
        if self._requested:
            return 0
        return 0 if all(child.returncode == 0 for child in self._children) else 1

    async def _watch(self, child: _Child) -> None:
        """Run one process, restarting it while it is marked respawn."""
        assert self._stopping is not None
        loop = asyncio.get_running_loop()
        spec = child.spec
        quick_exits = 0
        while not self._stopping.is_set():
            started = loop.time()
            child.returncode = await self._run_once(child)
            if self._stopping.is_set() or not spec.respawn:
                break
            quick_exits = quick_exits + 1 if loop.time() - started < self._stable_after else 1
            delay = self._respawn_delay(spec, quick_exits)
            _LOG.warning('[%s] respawning in %.1f s (restart %d)', spec.name, delay,
                         child.starts)
            try:
                await asyncio.wait_for(self._stopping.wait(), delay)
            except asyncio.TimeoutError:
                continue

    def _respawn_delay(self, spec: ProcessSpec, quick_exits: int) -> float:
        """The configured delay, but at least a floor, doubling while a process keeps crashing.

        Without the floor a process that dies at once would be restarted in
        a tight loop; the cap keeps a crash loop from ever waiting longer
        than ``max_respawn_delay`` (or the configured delay, if longer).
        """
        base = max(spec.respawn_delay, self._min_respawn_delay)
        backoff: float = base * 2.0 ** (quick_exits - 1)
        return min(backoff, max(base, self._max_respawn_delay))

    async def _run_once(self, child: _Child) -> int | None:
        assert self._stopping is not None
        spec = child.spec
        environ = dict(self._environ)
        environ.setdefault('PYTHONUNBUFFERED', '1')  # timely, whole lines from Python nodes
        environ.update(spec.env)
        pipes = [os.pipe(), os.pipe()]  # (read end, write end) for stdout and stderr
        try:
            # Not asyncio's subprocess support: its wait() also waits for the
            # pipes to close, which a grandchild holding them would delay
            # indefinitely; the exit of the process itself must be seen at once.
            process = subprocess.Popen(
                spec.cmd, stdin=subprocess.DEVNULL, stdout=pipes[0][1], stderr=pipes[1][1],
                env=environ, start_new_session=True, preexec_fn=_terminate_with_parent)
        except OSError as exc:
            for read_end, _ in pipes:
                os.close(read_end)
            _LOG.error('[%s] failed to start %s: %s', spec.name, spec.cmd[0], exc)
            return None
        finally:
            for _, write_end in pipes:
                os.close(write_end)
        child.starts += 1
        self._groups[process.pid] = spec.name
        _LOG.info('[%s] started (pid %d)', spec.name, process.pid)
        for stream, (read_end, _) in zip(('stdout', 'stderr'), pipes):
            self._track(self._pumps, self._pump(spec, stream, read_end))
        returncode = await _exit_status(process)
        if returncode < 0:
            outcome = f'was killed by {_signal_name(-returncode)}'
        else:
            outcome = f'exited with code {returncode}'
        if self._stopping.is_set() or returncode == 0:
            _LOG.info('[%s] %s (pid %d)', spec.name, outcome, process.pid)
        else:
            _LOG.error('[%s] %s (pid %d)%s', spec.name, outcome, process.pid,
                       '' if spec.respawn else ', not respawning')
        if not self._stopping.is_set():
            self._track(self._background, self._reap_leftovers(process.pid, spec.name))
        return returncode

    def _track(self, tasks: set[asyncio.Task[None]],
               coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coroutine)
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    async def _reap_leftovers(self, pgid: int, name: str) -> None:
        """Stop what a process left behind in its group after it exited by itself.

        A process and everything it spawned are treated as one unit: a
        restarted (or finished) process must not leave stale helpers that
        would pile up with every crash.
        """
        for signum, timeout in ((signal.SIGTERM, self._term_timeout),
                                (signal.SIGKILL, self._kill_timeout)):
            if not live_process_groups([pgid]):
                # Forget the group as soon as it is empty: its number may be
                # reused by an unrelated process later.
                self._groups.pop(pgid, None)
                return
            _LOG.warning('[%s] exited but left processes in its group %d: sending %s',
                         name, pgid, _signal_name(signum))
            _signal_group(pgid, signum)
            deadline = asyncio.get_running_loop().time() + timeout
            while live_process_groups([pgid]):
                if asyncio.get_running_loop().time() > deadline:
                    break
                await asyncio.sleep(_POLL_INTERVAL)

    async def _stop_all(self, watchers: asyncio.Future[list[None]]) -> bool:
        """SIGINT, then SIGTERM, then SIGKILL every group until all are gone."""
        assert self._escalate is not None
        loop = asyncio.get_running_loop()
        stages = ((signal.SIGINT, self._grace_period), (signal.SIGTERM, self._term_timeout),
                  (signal.SIGKILL, self._kill_timeout))
        for signum, timeout in stages:
            live = self._live_groups()
            if not live and watchers.done():
                return True
            if live:
                names = ', '.join(sorted({self._groups[pgid] for pgid in live}))
                log = _LOG.info if signum == signal.SIGINT else _LOG.warning
                log('sending %s to %s', _signal_name(signum), names)
            for pgid in live:
                _signal_group(pgid, signum)
            self._escalate.clear()
            deadline = loop.time() + timeout
            while loop.time() < deadline and not self._escalate.is_set():
                # Watchers finish once their process is reaped and no
                # respawn is pending, so both conditions mean "all gone".
                if not self._live_groups() and watchers.done():
                    return True
                await asyncio.sleep(_POLL_INTERVAL)
        live = self._live_groups()
        if live:
            _LOG.error('processes of %s survived SIGKILL',
                       ', '.join(sorted({self._groups[pgid] for pgid in live})))
            return False
        return True

    def _live_groups(self) -> set[int]:
        live = live_process_groups(self._groups)
        for pgid in set(self._groups) - live:
            del self._groups[pgid]
        return live

    # -- output ------------------------------------------------------------

    async def _pump(self, spec: ProcessSpec, stream: str, fd: int) -> None:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(fd, 'rb', buffering=0))
        pending = b''
        try:
            while chunk := await reader.read(65536):
                pending += chunk
                *lines, pending = pending.split(b'\n')
                for line in lines:
                    self._emit(spec, stream, line)
                while len(pending) > _MAX_LINE:
                    self._emit(spec, stream, pending[:_MAX_LINE])
                    pending = pending[_MAX_LINE:]
        finally:
            transport.close()
            if pending:
                self._emit(spec, stream, pending)

    def _emit(self, spec: ProcessSpec, stream: str, line: bytes) -> None:
        self._router.write(spec, stream, line.rstrip(b'\r').decode('utf-8', 'replace'))

    async def _drain_output(self) -> None:
        """Let the last lines through; give up on pipes held open by escaped processes."""
        if self._pumps:
            _, stuck = await asyncio.wait(set(self._pumps), timeout=1.0)
            for task in stuck:
                task.cancel()
            await asyncio.gather(*stuck, return_exceptions=True)


def _terminate_with_parent() -> None:
    """In the child before exec: ask Linux to SIGTERM it when the launcher dies.

    Children run in their own sessions so that Ctrl-C reaches them only
    through the launcher; without this, a launcher killed with SIGKILL (or
    by the OOM killer) would leave every node running as an orphan.
    """
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _exit_status(process: subprocess.Popen[bytes]) -> asyncio.Future[int]:
    """A future for the exit status, waited for in a thread of its own.

    A dedicated thread per process (rather than the default executor, which
    has only a few workers) because every process blocks one for its lifetime.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[int] = loop.create_future()

    def deliver(returncode: int) -> None:
        if not future.done():
            future.set_result(returncode)

    def wait() -> None:
        returncode = process.wait()
        try:
            loop.call_soon_threadsafe(deliver, returncode)
        except RuntimeError:
            pass  # the event loop is already closed

    threading.Thread(target=wait, name=f'wait-{process.pid}', daemon=True).start()
    return future


def _signal_group(pgid: int, signum: int) -> None:
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        pass
    except PermissionError as exc:
        _LOG.error('cannot signal process group %d: %s', pgid, exc)


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f'signal {signum}'
