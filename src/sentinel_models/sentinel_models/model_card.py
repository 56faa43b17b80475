"""Model cards: what a model is, what it was trained on, how well it does, how it was made.

Written next to the model file as JSON (for the registry and tools) and
Markdown (for people). The metrics are the held-out evaluation of the
exported ONNX file (see :mod:`evaluation` for the conventions).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

# File names inside a model directory.
CARD_JSON = 'model_card.json'
CARD_MARKDOWN = 'model_card.md'


def _fmt(value: Any) -> str:
    return f'{value:.3f}' if isinstance(value, float) else str(value)


def card_markdown(card: dict[str, Any]) -> str:
    """A human-readable rendering of a model card."""
    metrics = card.get('metrics', {})
    lines = [f"# Model card: {card.get('version')}\n",
             f"- parent version: {card.get('parent_version') or 'none (trained from scratch)'}",
             f"- file: `{card.get('file')}` ({card.get('size_bytes', 0) / 1e6:.1f} MB), "
             f"sha256 `{card.get('sha256')}`",
             f"- classes: {', '.join(card.get('classes', []))}",
             f"- input: {card.get('input_size')} x {card.get('input_size')} px, RGB, letterboxed",
             f"- architecture: {card.get('architecture', {}).get('model_yaml')} "
             f"({card.get('architecture', {}).get('parameters', 0):,} parameters)",
             f"- created: {card.get('created')}\n",
             '## Held-out metrics\n',
             f"Evaluated on {metrics.get('images')} images "
             f"({card.get('heldout', {}).get('path', '')}, content hash "
             f"`{card.get('heldout', {}).get('content_hash', '')}`, seed "
             f"{card.get('heldout', {}).get('seed')}), exported ONNX model through onnxruntime.\n",
             '| metric | value |', '|---|---|',
             f"| mAP50 | {_fmt(metrics.get('map50'))} |",
             f"| mAP50-95 | {_fmt(metrics.get('map50_95'))} |",
             f"| precision (conf {metrics.get('conf_threshold')}, IoU 0.5) | "
             f"{_fmt(metrics.get('precision'))} |",
             f"| recall (conf {metrics.get('conf_threshold')}, IoU 0.5) | {_fmt(metrics.get('recall'))} |\n",
             '| class | instances | AP50 | AP50-95 | precision | recall |', '|---|---|---|---|---|---|']
    for name, row in metrics.get('per_class', {}).items():
        lines.append(f"| {name} | {row['instances']} | {_fmt(row['ap50'])} | {_fmt(row['ap50_95'])} | "
                     f"{_fmt(row['precision'])} | {_fmt(row['recall'])} |")
    by_height = metrics.get('map50_by_height') or {}
    if by_height:
        lines += ['\n| object height in the 320 px input | mAP50 |', '|---|---|']
        lines += [f'| {bucket} | {_fmt(value)} |' for bucket, value in by_height.items()]
    figures = card.get('figures', {})
    if 'confusion_matrix' in figures:
        lines.append(f"\n![confusion matrix]({figures['confusion_matrix']})\n")
    if 'heldout_predictions' in figures:
        lines.append('Held-out images with the detections at the operating confidence (dotted grey: '
                     f"ignore regions):\n\n![predictions]({figures['heldout_predictions']})\n")
    dataset = card.get('dataset', {})
    lines += ['## Training data\n',
              f"- dataset: {dataset.get('path')} (content hash `{dataset.get('content_hash')}`), "
              f"images {dataset.get('images')}; card: `{dataset.get('card')}`",
              f"- ultralytics' own validation on the val split: {card.get('ultralytics_val_metrics')}\n",
              '## Training\n']
    hyper = card.get('hyperparameters', {})
    training = card.get('training', {})
    lines += [f"- command: `{training.get('command')}`",
              f"- epochs: {hyper.get('epochs_completed')} completed"
              + (f" of {hyper['epochs_requested']} requested" if hyper.get('epochs_requested') else '')
              + (f" (time budget {hyper['time_budget_hours']} h)" if hyper.get('time_budget_hours')
                 else '')
              + f", image size {hyper.get('imgsz')}, batch {hyper.get('batch')}, seed {hyper.get('seed')}"
              + (f", overrides {hyper['overrides']}" if hyper.get('overrides') else ''),
              f"- training time: {training.get('seconds', 0) / 60:.1f} min"
              + (f" (this session; resumed from `{training['resumed_from']}`)"
                 if training.get('resumed_from') else ''),
              f"- machine: {training.get('machine')}",
              f"- packages: {training.get('packages')}",
              '- all ultralytics arguments: see `model_card.json`, hyperparameters.ultralytics_args\n']
    if card.get('notes'):
        lines += ['## Notes\n', str(card['notes']), '']
    return '\n'.join(lines) + '\n'


def write_model_card(directory: Path, card: dict[str, Any]) -> None:
    """Write ``card`` as JSON and Markdown into ``directory``."""
    (directory / CARD_JSON).write_text(json.dumps(card, indent=2, sort_keys=True) + '\n',
                                       encoding='utf-8')
    (directory / CARD_MARKDOWN).write_text(card_markdown(card), encoding='utf-8')
