"""Where Sentinel's model lifecycle finds worlds, models and the database by default.

Why one module: the CLIs, the perception node and the tests must agree on the
defaults (the repository's ``worlds/`` and ``models/``, the operations
database under the user's data directory, as the rest of the system uses).
Environment variables override them for deployments that move things.
"""

from __future__ import annotations

import os
from pathlib import Path

# Environment variables that override the defaults below.
ENV_MODELS_DIR = 'SENTINEL_MODELS_DIR'
ENV_WORLDS_DIR = 'SENTINEL_WORLDS_DIR'
ENV_DB_URL = 'SENTINEL_DB_URL'
# Where Sentinel keeps its data unless told otherwise (XDG base directory spec).
DEFAULT_DATA_DIR = Path(os.environ.get('XDG_DATA_HOME') or Path.home() / '.local' / 'share') \
    / 'sentinel'
# The operations database shared with the rest of the system.
DEFAULT_DB_URL = f'sqlite:///{DEFAULT_DATA_DIR}/sentinel.db'


def repo_root() -> Path | None:
    """The source checkout this package runs from (it holds ``worlds/`` and ``src/``), if any."""
    for parent in Path(__file__).resolve().parents:
        if (parent / 'worlds').is_dir() and (parent / 'src').is_dir():
            return parent
    return None


def default_worlds_dir() -> Path:
    """``$SENTINEL_WORLDS_DIR``, else the checkout's ``worlds/``, else ``./worlds``."""
    if os.environ.get(ENV_WORLDS_DIR):
        return Path(os.environ[ENV_WORLDS_DIR])
    root = repo_root()
    return root / 'worlds' if root is not None else Path('worlds')


def default_models_dir() -> Path:
    """``$SENTINEL_MODELS_DIR``, else the checkout's ``models/`` (the shipped model), else
    ``./models``."""
    if os.environ.get(ENV_MODELS_DIR):
        return Path(os.environ[ENV_MODELS_DIR])
    root = repo_root()
    return root / 'models' if root is not None else Path('models')


def default_db_url() -> str:
    """``$SENTINEL_DB_URL``, else SQLite in the user's data directory."""
    return os.environ.get(ENV_DB_URL) or DEFAULT_DB_URL


def resolve_world(name_or_path: str, worlds_dir: Path | None = None) -> Path:
    """An SDF world file from a name (``substation``) or a path; FileNotFoundError if absent."""
    candidate = Path(name_or_path)
    if candidate.suffix == '.sdf' or candidate.exists():
        if not candidate.is_file():
            raise FileNotFoundError(f'world file {candidate} does not exist')
        return candidate
    directory = worlds_dir or default_worlds_dir()
    path = directory / f'{name_or_path}.sdf'
    if not path.is_file():
        known = sorted(p.stem for p in directory.glob('*.sdf')) if directory.is_dir() else []
        raise FileNotFoundError(f'no world {name_or_path!r} in {directory} (known: {known})')
    return path
