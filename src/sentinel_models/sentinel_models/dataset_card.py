"""The dataset card: what a dataset holds, how it was made, and a hash of its content.

Why: a model card must say exactly which data trained the model. The content
hash covers every image and label file (paths and bytes, in sorted order), so
two datasets with the same hash are the same data, whatever their directory
or date; the card's other fields (creation time, duration) are not hashed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

# Card file names inside a dataset directory.
CARD_JSON = 'dataset_card.json'
CARD_MARKDOWN = 'dataset_card.md'
# Directories whose files the content hash covers.
HASHED_DIRS = ('images', 'labels', 'ignore')
# Bytes read at a time when hashing.
HASH_CHUNK = 1 << 20
# Card format identifier (bump when fields change meaning).
CARD_FORMAT = 'sentinel-dataset-card/1'


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open('rb') as stream:
        for block in iter(lambda: stream.read(HASH_CHUNK), b''):
            digest.update(block)
    return digest.hexdigest()


def content_hash(root: Path, dirs: Iterable[str] = HASHED_DIRS) -> str:
    """``sha256:<hex>`` over the relative path and bytes of every file under ``dirs``."""
    digest = hashlib.sha256()
    files = sorted(p for d in dirs if (root / d).is_dir() for p in (root / d).rglob('*') if p.is_file())
    for path in files:
        relative = path.relative_to(root).as_posix()
        digest.update(f'{relative}\0{file_sha256(path)}\n'.encode())
    return f'sha256:{digest.hexdigest()}'


def write_card(root: Path, card: dict[str, Any]) -> None:
    """Write the card as JSON and Markdown into ``root``."""
    (root / CARD_JSON).write_text(json.dumps(card, indent=2, sort_keys=True) + '\n', encoding='utf-8')
    (root / CARD_MARKDOWN).write_text(card_markdown(card), encoding='utf-8')


def read_card(root: Path) -> dict[str, Any]:
    """The JSON card of a dataset directory (ValueError if missing or unreadable)."""
    path = root / CARD_JSON
    try:
        card = json.loads(path.read_text(encoding='utf-8'))
    except FileNotFoundError:
        raise ValueError(f'{root}: no {CARD_JSON} (not a generated dataset?)') from None
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f'{path}: unreadable dataset card: {error}') from None
    if not isinstance(card, dict):
        raise ValueError(f'{path}: a dataset card must be a JSON object')
    return card


def _table(title: str, counts: dict[str, Any], key: str = 'name', value: str = 'count') -> str:
    rows = ''.join(f'| {k} | {v} |\n' for k, v in sorted(counts.items()))
    return f'### {title}\n\n| {key} | {value} |\n|---|---|\n{rows}\n'


def card_markdown(card: dict[str, Any]) -> str:
    """A human-readable rendering of the card."""
    counts = card.get('counts', {})
    lines = [f"# Dataset card: {card.get('name', 'dataset')}\n",
             f"- content hash: `{card.get('content_hash', '')}` (covers {', '.join(HASHED_DIRS)}/)",
             f"- source: {card.get('source', '')}",
             f"- generator: {card.get('generator', {}).get('name', '')} "
             f"{card.get('generator', {}).get('version', '')}",
             f"- seed: {card.get('seed', '')}",
             f"- worlds: {', '.join(card.get('worlds', []))}",
             f"- image size: {card.get('image_size', '')}",
             f"- classes: {', '.join(card.get('classes', []))}",
             f"- created: {card.get('created', '')}",
             f"- command: `{card.get('command', '')}`\n"]
    rule = card.get('label_rule')
    if rule:
        lines.append('## Label rule\n')
        lines.extend(f'- {k}: {v}' for k, v in sorted(rule.items()))
        lines.append('')
    lines.append('## Counts\n')
    for title, key in (('Images per split', 'images_per_split'),
                       ('Labels per class', 'labels_per_class'),
                       ('Ignore regions per class', 'ignored_per_class'),
                       ('Images per world', 'images_per_world'),
                       ('Images per camera kind', 'images_per_camera_kind'),
                       ('Images per camera', 'images_per_camera'), ('Conditions', 'conditions')):
        if key in counts:
            lines.append(_table(title, counts[key]))
    if 'preview' in card:
        lines.append(f"![preview]({card['preview']})\n")
    return '\n'.join(lines)
