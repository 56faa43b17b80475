"""``sentinel-train``: train a detector on a generated dataset, export, score, register.

    sentinel-train --data data/train --test-data data/heldout --epochs 50 --imgsz 320
"""

from __future__ import annotations

import os

os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')  # before torch (see training.py)

import argparse  # noqa: E402
import logging  # noqa: E402
import shlex  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import yaml  # noqa: E402

from sentinel_models.paths import default_db_url, default_models_dir  # noqa: E402
from sentinel_models.training import (  # noqa: E402
    PACKAGE_MODEL_YAML,
    TrainConfig,
    TrainingDependencyError,
    TrainingError,
    train,
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog='sentinel-train', description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--data', type=Path, required=True, help='dataset directory (data.yaml)')
    parser.add_argument('--test-data', type=Path, default=None,
                        help='held-out dataset (its val split); default: the val split of --data')
    parser.add_argument('--model-yaml', default=PACKAGE_MODEL_YAML.name,
                        help='model YAML: a file, one in the package (default), or ultralytics '
                             "'yolov8n.yaml'; or a checkpoint (models/<v>/weights.pt) to fine-tune")
    parser.add_argument('--epochs', type=int, default=50)
    parser.add_argument('--time', type=float, default=None, dest='time_hours',
                        help='time budget in hours (overrides --epochs, as ultralytics does)')
    parser.add_argument('--imgsz', type=int, default=320, help='square network input, px')
    parser.add_argument('--batch', type=int, default=16)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--patience', type=int, default=100, help='epochs without improvement '
                        'before stopping early')
    parser.add_argument('--close-mosaic', type=int, default=None,
                        help='final epochs trained without mosaic (default: a fifth, at most 10)')
    parser.add_argument('--version', default='', help='version name (default det-<UTC time>)')
    parser.add_argument('--parent', default='', help='parent version (lineage)')
    parser.add_argument('--models-dir', type=Path, default=default_models_dir())
    parser.add_argument('--work-dir', type=Path, default=None,
                        help='ultralytics run directory (default build/sentinel-train)')
    parser.add_argument('--db-url', default=default_db_url(), help='registry database')
    parser.add_argument('--no-register', action='store_true', help='do not register the result')
    parser.add_argument('--no-cache', action='store_true', help='do not keep images in RAM')
    parser.add_argument('--device', default='cpu',
                        help='cpu (default), cuda, cuda:N or GPU indices such as 0,1 (a GPU also '
                             'turns on mixed precision and dataloader workers)')
    parser.add_argument('--workers', type=int, default=None,
                        help='dataloader processes (default: 0 on CPU, 8 on a GPU)')
    parser.add_argument('--resume', type=Path, default=None, metavar='LAST_PT',
                        help="continue an interrupted run from its last.pt (ultralytics' resume: "
                             'the run keeps its own arguments)')
    parser.add_argument('--set', action='append', default=[], metavar='KEY=VALUE',
                        help='any other ultralytics train argument, e.g. --set nbs=16 '
                             '(repeatable; values are read as YAML)')
    return parser


def _overrides(pairs: list[str]) -> tuple[tuple[str, object], ...]:
    """``KEY=VALUE`` strings as (key, YAML-parsed value) pairs."""
    result = []
    for pair in pairs:
        key, sep, value = pair.partition('=')
        if not sep or not key.strip():
            raise ValueError(f'--set expects KEY=VALUE, got {pair!r}')
        try:
            result.append((key.strip(), yaml.safe_load(value)))
        except yaml.YAMLError as error:
            raise ValueError(f'--set {pair!r}: {error}') from None
    return tuple(result)


def main(args: list[str] | None = None) -> int:
    argv = sys.argv[1:] if args is None else args
    parsed = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format='%(levelname)s %(name)s: %(message)s')
    logging.getLogger('alembic').setLevel(logging.WARNING)
    try:
        config = TrainConfig(
            data=parsed.data, models_dir=parsed.models_dir, model_yaml=parsed.model_yaml,
            epochs=parsed.epochs, imgsz=parsed.imgsz, batch=parsed.batch, seed=parsed.seed,
            time_hours=parsed.time_hours, test_data=parsed.test_data, version=parsed.version,
            parent_version=parsed.parent, work_dir=parsed.work_dir, patience=parsed.patience,
            close_mosaic=parsed.close_mosaic,
            cache=not parsed.no_cache, overrides=_overrides(parsed.set), resume=parsed.resume,
            device=parsed.device, workers=parsed.workers,
            db_url=None if parsed.no_register else parsed.db_url,
            command=shlex.join(['sentinel-train', *argv]))
        card = train(config, lambda line: print(f'[train] {line}', flush=True))
    except (TrainingDependencyError, TrainingError, ValueError, FileNotFoundError) as error:
        print(f'sentinel-train: error: {error}', file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print('sentinel-train: interrupted; no model was written', file=sys.stderr)
        return 130
    metrics = card['metrics']
    print(f"model {card['version']}: mAP50 {metrics['map50']:.3f}, mAP50-95 "
          f"{metrics['map50_95']:.3f} on {metrics['images']} held-out images")
    return 0


if __name__ == '__main__':
    sys.exit(main())
