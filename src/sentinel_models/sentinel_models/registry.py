"""The model registry: register, promote, roll back and retire detection model versions.

Lifecycle. A trained model is registered as a *candidate*. ``promote`` makes
one version *active* (the one perception loads) and *retires* the previous
active one, remembering it; ``rollback`` re-activates that remembered version
(repeatable: each rollback goes one promotion further back); ``retire``
takes a candidate (or an old version) out of use. At most one version is
active, ever (a partial unique index holds the line in the database too).

Integrity. Every version records its ONNX file's SHA-256; a version whose
file is missing or changed is never activated (``promote`` and ``rollback``
refuse it) and :func:`active_model` refuses to hand it out. Files live under
a models directory (``models/<version>/`` with a model card); ``import_dir``
registers such a directory, ``ensure_default`` registers every shipped
version and activates the newest when nothing is active yet.

Everything here works on a SQLAlchemy ``Session`` and never commits: the
caller's transaction decides (``RegistryDatabase.transaction()``).
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from sentinel_models.classes import validate_class_names
from sentinel_models.dataset_card import file_sha256
from sentinel_models.model_card import CARD_JSON
from sentinel_models.registry_schema import (
    STATUS_ACTIVE,
    STATUS_CANDIDATE,
    STATUS_RETIRED,
    VERSION_LENGTH,
    ModelVersion,
)

_LOG = logging.getLogger(__name__)

# The model file inside a model directory (its card: model_card.CARD_JSON).
MODEL_FILE = 'model.onnx'
# Characters allowed in a version string (it names a directory).
VERSION_CHARS = frozenset('abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-')


class RegistryError(ValueError):
    """A registry operation that cannot be done; the message says why."""


@dataclass(frozen=True)
class NewModel:
    """What registering a version needs."""

    version: str
    file_path: Path
    class_names: tuple[str, ...]
    input_size_px: int
    dataset_hash: str = ''
    parent_version: str = ''
    map50: float = 0.0
    map50_95: float = 0.0
    metrics: dict[str, Any] | None = None
    card_path: Path | None = None
    created_at: datetime | None = None


@dataclass(frozen=True)
class ActiveModel:
    """What perception needs to load the active version."""

    version: str
    file_path: Path
    sha256: str
    class_names: tuple[str, ...]
    input_size_px: int
    map50: float
    map50_95: float
    dataset_hash: str
    parent_version: str
    created_at: datetime


def validate_version(version: str) -> str:
    """A usable version string (it names a directory and a database key)."""
    if not version or len(version) > VERSION_LENGTH or not set(version) <= VERSION_CHARS \
            or version[0] in '.-':
        raise RegistryError(f'version {version!r} must be 1-{VERSION_LENGTH} characters of '
                            'letters, digits, ".", "_" and "-", not starting with "." or "-"')
    return version


def get(session: Session, version: str) -> ModelVersion:
    """The row of ``version`` or RegistryError."""
    row = session.get(ModelVersion, version)
    if row is None:
        raise RegistryError(f'no model version {version!r} in the registry')
    return row


def list_versions(session: Session) -> list[ModelVersion]:
    """Every version, newest first."""
    return list(session.scalars(select(ModelVersion).order_by(ModelVersion.created_at.desc(),
                                                              ModelVersion.version.desc())))


def current_active(session: Session) -> ModelVersion | None:
    return session.scalars(select(ModelVersion).where(ModelVersion.status == STATUS_ACTIVE)).first()


def register(session: Session, new: NewModel) -> ModelVersion:
    """Add ``new`` as a candidate; an identical re-registration (same file hash) is a no-op.

    The file must exist; its SHA-256 is recorded now.
    """
    validate_version(new.version)
    names = validate_class_names(list(new.class_names))
    if new.input_size_px <= 0:
        raise RegistryError(f'input size must be positive, got {new.input_size_px}')
    for name, value in (('map50', new.map50), ('map50_95', new.map50_95)):
        if not (math.isfinite(value) and 0.0 <= value <= 1.0):
            raise RegistryError(f'{name} must be in [0, 1], got {value!r}')
    path = Path(new.file_path).resolve()
    if not path.is_file():
        raise RegistryError(f'model file {path} not found')
    digest = file_sha256(path)
    existing = session.get(ModelVersion, new.version)
    if existing is not None:
        if existing.sha256 != digest:
            raise RegistryError(f'version {new.version!r} is already registered with another file '
                                f'(sha256 {existing.sha256[:12]}…, this one {digest[:12]}…); '
                                'give the new model a new version')
        if existing.file_path != str(path):
            _LOG.info('version %s moved: %s -> %s', new.version, existing.file_path, path)
            existing.file_path = str(path)
        return existing
    if new.parent_version and session.get(ModelVersion, new.parent_version) is None:
        _LOG.warning('parent version %s of %s is not in this registry', new.parent_version,
                     new.version)
    row = ModelVersion(
        version=new.version, parent_version=new.parent_version, status=STATUS_CANDIDATE,
        class_names_json=json.dumps(list(names)), input_size_px=new.input_size_px,
        dataset_hash=new.dataset_hash, map50=float(new.map50), map50_95=float(new.map50_95),
        metrics_json=json.dumps(new.metrics or {}, sort_keys=True), file_path=str(path),
        sha256=digest, card_path=str(new.card_path.resolve()) if new.card_path else '',
        created_at=new.created_at or datetime.now(timezone.utc), activated_at=None,
        previous_active='')
    session.add(row)
    session.flush()
    _LOG.info('registered %s as a candidate (%s)', new.version, path)
    return row


def verify_file(row: ModelVersion) -> None:
    """RegistryError unless the version's file exists and still has its recorded hash."""
    path = Path(row.file_path)
    if not path.is_file():
        raise RegistryError(f'{row.version}: model file {path} is missing')
    digest = file_sha256(path)
    if digest != row.sha256:
        raise RegistryError(f'{row.version}: model file {path} does not match the registry '
                            f'(sha256 {digest[:12]}…, registered {row.sha256[:12]}…); '
                            'refusing to use a changed or corrupted model')


def _activate(session: Session, row: ModelVersion, previous: ModelVersion | None,
              remember_previous: bool) -> None:
    now = datetime.now(timezone.utc)
    if previous is not None:
        previous.status = STATUS_RETIRED
        session.flush()  # the old active row leaves the one-active index before the new one enters
    row.status = STATUS_ACTIVE
    row.activated_at = now
    if remember_previous:
        row.previous_active = previous.version if previous is not None else ''
    session.flush()


def promote(session: Session, version: str) -> tuple[ModelVersion, ModelVersion | None]:
    """Make ``version`` active and retire the active one; returns (new, previous)."""
    row = get(session, version)
    if row.status == STATUS_ACTIVE:
        raise RegistryError(f'{version} is already active')
    verify_file(row)
    previous = current_active(session)
    _activate(session, row, previous, remember_previous=True)
    _LOG.info('promoted %s (previous active: %s)', version, previous.version if previous else 'none')
    return row, previous


def rollback(session: Session) -> tuple[ModelVersion, ModelVersion]:
    """Re-activate the version that was active before the current one; returns (restored, replaced)."""
    active = current_active(session)
    if active is None:
        raise RegistryError('no active version to roll back from')
    if not active.previous_active:
        raise RegistryError(f'{active.version} has no previous active version to roll back to')
    target = session.get(ModelVersion, active.previous_active)
    if target is None:
        raise RegistryError(f'the previous active version {active.previous_active!r} is no '
                            'longer in the registry')
    verify_file(target)
    _activate(session, target, active, remember_previous=False)
    _LOG.info('rolled back from %s to %s', active.version, target.version)
    return target, active


def retire(session: Session, version: str) -> ModelVersion:
    """Take a non-active version out of use (kept for history and rollback)."""
    row = get(session, version)
    if row.status == STATUS_ACTIVE:
        raise RegistryError(f'{version} is active: promote another version or roll back first '
                            '(perception must always have a model)')
    row.status = STATUS_RETIRED
    session.flush()
    return row


def active_model(session: Session, verify: bool = True) -> ActiveModel | None:
    """The active version for perception to load, or None when nothing is active.

    With ``verify`` the file must exist and match its recorded hash
    (RegistryError otherwise): a detector never loads a model the registry
    did not approve.
    """
    row = current_active(session)
    if row is None:
        return None
    if verify:
        verify_file(row)
    return ActiveModel(row.version, Path(row.file_path), row.sha256, tuple(row.class_names),
                       row.input_size_px, row.map50, row.map50_95, row.dataset_hash,
                       row.parent_version, row.created_at)


def read_model_card(directory: Path) -> dict[str, Any]:
    """The JSON model card of a model directory (RegistryError if absent or malformed)."""
    path = Path(directory) / CARD_JSON
    try:
        card = json.loads(path.read_text(encoding='utf-8'))
    except FileNotFoundError:
        raise RegistryError(f'{directory}: no {CARD_JSON}; not a model directory') from None
    except (OSError, json.JSONDecodeError) as error:
        raise RegistryError(f'{path}: unreadable model card: {error}') from None
    if not isinstance(card, dict):
        raise RegistryError(f'{path}: a model card must be a JSON object')
    return card


def import_dir(session: Session, directory: Path, check_model: bool = True) -> ModelVersion:
    """Register the model directory ``directory`` (``model.onnx`` + ``model_card.json``).

    With ``check_model`` the ONNX file is loaded with the card's class names
    and input size first, so a broken or mismatched file never enters the
    registry.
    """
    directory = Path(directory)
    card = read_model_card(directory)
    try:
        version = str(card['version'])
        names = tuple(card['classes'])
        size = int(card['input_size'])
    except (KeyError, TypeError, ValueError) as error:
        raise RegistryError(f'{directory / CARD_JSON}: missing or invalid field {error}') from None
    model_file = directory / str(card.get('file', MODEL_FILE))
    expected = card.get('sha256')
    if expected and model_file.is_file() and file_sha256(model_file) != expected:
        raise RegistryError(f'{model_file} does not match the sha256 in its model card; '
                            'the file was changed after training')
    if check_model:
        from sentinel_models.onnx_detector import ModelError, OnnxDetector
        try:
            OnnxDetector(model_file, names, size)
        except (ModelError, ValueError) as error:
            raise RegistryError(f'{directory}: {error}') from None
    metrics = card.get('metrics', {}) if isinstance(card.get('metrics'), dict) else {}
    created = card.get('created')
    created_at = None
    if isinstance(created, str):
        try:
            created_at = datetime.fromisoformat(created)
        except ValueError:
            created_at = None
        if created_at is not None and created_at.tzinfo is None:
            created_at = created_at.replace(tzinfo=timezone.utc)
    dataset = card.get('dataset', {}) if isinstance(card.get('dataset'), dict) else {}
    return register(session, NewModel(
        version=version, file_path=model_file, class_names=names, input_size_px=size,
        dataset_hash=str(dataset.get('content_hash', '')),
        parent_version=str(card.get('parent_version', '') or ''),
        map50=float(metrics.get('map50', 0.0)), map50_95=float(metrics.get('map50_95', 0.0)),
        metrics=metrics, card_path=directory / CARD_JSON, created_at=created_at))


def model_dirs(models_dir: Path) -> list[Path]:
    """Model directories (holding a model card) under ``models_dir``, sorted by name."""
    if not Path(models_dir).is_dir():
        return []
    return sorted(p for p in Path(models_dir).iterdir() if (p / CARD_JSON).is_file())


def ensure_default(session: Session, models_dir: Path) -> ModelVersion | None:
    """Register every model directory under ``models_dir``; activate the newest if none is active.

    Idempotent, so setup and the perception node can both call it on every start.
    Returns the active version afterwards (None if there is no model at all).
    """
    imported = []
    for directory in model_dirs(models_dir):
        try:
            imported.append(import_dir(session, directory))
        except RegistryError as error:
            _LOG.error('not registering %s: %s', directory, error)
    active = current_active(session)
    if active is None and imported:
        newest = max(imported, key=lambda row: (row.created_at, row.version))
        promote(session, newest.version)
        _LOG.info('activated the shipped model %s (no version was active)', newest.version)
        return newest
    return active


def bootstrap_active(session: Session, models_dir: Path, verify: bool = True) -> ActiveModel | None:
    """The active model; when none is active yet, the shipped one is registered and activated.

    What the detector calls at start: a fresh database (a new deployment, a
    test) gets the repository's model without a separate setup step.
    """
    active = active_model(session, verify)
    if active is None:
        ensure_default(session, models_dir)
        active = active_model(session, verify)
    return active


def to_model_info_fields(row: ModelVersion | ActiveModel) -> dict[str, Any]:
    """The fields of ``sentinel_msgs/ModelInfo`` for a version (no message import here)."""
    from sentinel_models.registry_schema import STATUS_CODES

    status = row.status if isinstance(row, ModelVersion) else STATUS_ACTIVE
    return {'version': row.version, 'parent_version': row.parent_version,
            'status': STATUS_CODES[status], 'class_names': list(row.class_names),
            'input_size_px': int(row.input_size_px), 'dataset_hash': row.dataset_hash,
            'map50': float(row.map50), 'map50_95': float(row.map50_95),
            'file_uri': Path(row.file_path).resolve().as_uri(), 'created': row.created_at}
