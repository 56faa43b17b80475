"""The latched e-stop survives a watchdog restart: a small JSON file, written atomically.

Why: the watchdog respawns within a second of a crash; if that forgot an
engaged stop, a crash would be a release that nobody approved. The file is
written to a temporary name in the same directory, flushed to disk and then
renamed over the old one, so a reader only ever sees the old or the new
state, never half of one.

A file that exists but cannot be understood is not guessed at:
``load`` raises ``EstopStoreError`` and the node engages a fleet-wide stop
(the safe reading) and says why.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

from sentinel_safety.estop import EstopState

# Format version written into the file.
FILE_VERSION = 1


class EstopStoreError(RuntimeError):
    """The state file exists but is unreadable or malformed."""


def to_json(state: EstopState) -> str:
    return json.dumps({
        'version': FILE_VERSION,
        'fleet': state.fleet,
        'vehicles': sorted(state.vehicles),
        'engaged_by': state.engaged_by,
        'engaged_at': state.engaged_at,
        'reason': state.reason,
    }, indent=2) + '\n'


def from_json(text: str, source: str) -> EstopState:
    try:
        data: Any = json.loads(text)
    except json.JSONDecodeError as error:
        raise EstopStoreError(f'{source}: not JSON ({error})') from None
    if not isinstance(data, dict) or data.get('version') != FILE_VERSION:
        raise EstopStoreError(f'{source}: not an e-stop state file of version {FILE_VERSION}')
    fleet, vehicles = data.get('fleet'), data.get('vehicles')
    engaged_by, reason = data.get('engaged_by'), data.get('reason')
    engaged_at = data.get('engaged_at')
    if not isinstance(fleet, bool) or not isinstance(vehicles, list) or \
            not all(isinstance(v, str) for v in vehicles) or not isinstance(engaged_by, str) or \
            not isinstance(reason, str) or isinstance(engaged_at, bool) or \
            not isinstance(engaged_at, (int, float)) or not math.isfinite(engaged_at):
        raise EstopStoreError(f'{source}: malformed fields')
    return EstopState(fleet, frozenset(vehicles), engaged_by, float(engaged_at), reason)


def load(path: Path) -> EstopState:
    """The persisted state; released when the file does not exist."""
    try:
        text = path.read_text(encoding='utf-8')
    except FileNotFoundError:
        return EstopState()
    except (OSError, UnicodeDecodeError) as error:
        raise EstopStoreError(f'{path}: cannot read ({error})') from None
    return from_json(text, str(path))


def save(path: Path, state: EstopState) -> None:
    """Write the state atomically (temporary file, fsync, rename, fsync of the directory)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f'.{path.name}.', dir=path.parent)
    try:
        with os.fdopen(handle, 'w', encoding='utf-8') as stream:
            stream.write(to_json(state))
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
