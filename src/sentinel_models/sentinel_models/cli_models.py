"""``sentinel-models``: the model registry from the command line.

    sentinel-models list
    sentinel-models show VERSION
    sentinel-models promote VERSION [--reload]     # VERSION active, the previous one retired
    sentinel-models rollback [--reload]            # the previous active version back
    sentinel-models retire VERSION
    sentinel-models import DIR                     # register models/<version>/ as a candidate
    sentinel-models ensure-default                 # register the shipped models; activate if none is
    sentinel-models evaluate DIR --data DATASET    # score models/<version>/ on another dataset
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from sqlalchemy.exc import IntegrityError, OperationalError

from sentinel_models import registry
from sentinel_models.paths import default_db_url, default_models_dir
from sentinel_models.registry_db import RegistryDatabase
from sentinel_models.registry_schema import ModelVersion


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog='sentinel-models', description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--db-url', default=default_db_url(), help='registry database URL')
    parser.add_argument('--models-dir', type=Path, default=default_models_dir(),
                        help='where model directories live (ensure-default reads it)')
    commands = parser.add_subparsers(dest='command', required=True)
    commands.add_parser('list', help='every version, newest first')
    show = commands.add_parser('show', help='one version in detail')
    show.add_argument('version')
    promote = commands.add_parser('promote', help='make a version active')
    promote.add_argument('version')
    promote.add_argument('--reload', action='store_true', help='tell the running detector')
    rollback = commands.add_parser('rollback', help='re-activate the previous active version')
    rollback.add_argument('--reload', action='store_true', help='tell the running detector')
    retire = commands.add_parser('retire', help='take a non-active version out of use')
    retire.add_argument('version')
    imp = commands.add_parser('import', help='register a model directory as a candidate')
    imp.add_argument('directory', type=Path)
    commands.add_parser('ensure-default', help='register shipped models; activate one if none is')
    evaluate = commands.add_parser('evaluate', help='score a model directory on a dataset '
                                   '(no registry change)')
    evaluate.add_argument('directory', type=Path, help='models/<version>/ (model.onnx + card)')
    evaluate.add_argument('--data', type=Path, required=True, help='YOLO dataset directory')
    evaluate.add_argument('--split', default='val', help='which split to score (default val)')
    evaluate.add_argument('--json', type=Path, default=None, help='also write the metrics here')
    return parser


def _evaluate(directory: Path, data: Path, split: str, json_path: Path | None) -> int:
    """Score a model directory's ONNX file the way training scores its held-out set."""
    from sentinel_models.dataset import DatasetError, load_dataset
    from sentinel_models.model_card import CARD_JSON
    from sentinel_models.training import MODEL_FILE
    from sentinel_models.model_eval import evaluate_model
    from sentinel_models.progress import Progress

    card_path = directory / CARD_JSON
    if not card_path.is_file():
        raise ValueError(f'{directory}: no {CARD_JSON} (not a model directory)')
    card = json.loads(card_path.read_text(encoding='utf-8'))
    try:
        info = load_dataset(data, splits=(split,))
    except DatasetError as error:
        raise ValueError(str(error)) from None
    names = tuple(card['classes'])
    if info.names != names:
        raise ValueError(f'{data}: classes {list(info.names)} differ from the model\'s {list(names)}')
    progress = Progress('evaluate', len(info.images[split]), 'images')
    metrics = evaluate_model(directory / card.get('file', MODEL_FILE), names, int(card['input_size']), info, split,
                             progress.update)
    progress.close()
    result = {'model': card['version'], 'dataset': str(data), 'content_hash': info.content_hash,
              'split': split, 'images': len(info.images[split]), 'metrics': metrics.as_dict()}
    print(f"{card['version']} on {data} ({split}, {result['images']} images): mAP50 "
          f'{metrics.map50:.3f}, mAP50-95 {metrics.map50_95:.3f}, precision {metrics.precision:.3f}, '
          f'recall {metrics.recall:.3f}')
    for row in metrics.per_class:
        print(f'  {row.name:<8} AP50 {row.ap50:.3f}  P {row.precision:.3f}  R {row.recall:.3f}  '
              f'({row.instances} objects)')
    if json_path:
        json_path.write_text(json.dumps(result, indent=2) + '\n', encoding='utf-8')
    return 0


def _line(row: ModelVersion) -> str:
    return (f'{row.version:<28} {row.status:<9} mAP50 {row.map50:.3f}  mAP50-95 {row.map50_95:.3f}  '
            f'{row.input_size_px:>4} px  {row.created_at:%Y-%m-%d %H:%M}  '
            f'{"parent " + row.parent_version if row.parent_version else ""}')


def _show(row: ModelVersion) -> str:
    data = {'version': row.version, 'status': row.status, 'parent_version': row.parent_version,
            'class_names': row.class_names, 'input_size_px': row.input_size_px,
            'dataset_hash': row.dataset_hash, 'map50': row.map50, 'map50_95': row.map50_95,
            'file_path': row.file_path, 'sha256': row.sha256, 'card_path': row.card_path,
            'created_at': row.created_at.isoformat(),
            'activated_at': row.activated_at.isoformat() if row.activated_at else None,
            'previous_active': row.previous_active, 'metrics': row.metrics}
    return json.dumps(data, indent=2)


def _reload(wanted: bool) -> None:
    if not wanted:
        return
    from sentinel_models.load_model_client import request_reload

    loaded, message = request_reload()
    print(message if loaded else f'note: {message}')


def main(args: list[str] | None = None) -> int:
    parsed = _parser().parse_args(sys.argv[1:] if args is None else args)
    logging.basicConfig(level=logging.WARNING, format='%(levelname)s %(name)s: %(message)s')
    try:
        if parsed.command == 'evaluate':
            return _evaluate(parsed.directory, parsed.data, parsed.split, parsed.json)
        with RegistryDatabase(parsed.db_url) as db:
            with db.transaction() as session:
                command = parsed.command
                if command == 'list':
                    rows = registry.list_versions(session)
                    print('\n'.join(_line(r) for r in rows) if rows else 'no model versions registered')
                elif command == 'show':
                    print(_show(registry.get(session, parsed.version)))
                elif command == 'promote':
                    row, previous = registry.promote(session, parsed.version)
                    print(f'{row.version} is active' +
                          (f'; {previous.version} retired' if previous else ''))
                elif command == 'rollback':
                    restored, replaced = registry.rollback(session)
                    print(f'{restored.version} is active again; {replaced.version} retired')
                elif command == 'retire':
                    print(f'{registry.retire(session, parsed.version).version} retired')
                elif command == 'import':
                    row = registry.import_dir(session, parsed.directory)
                    print(f'{row.version} registered ({row.status})')
                else:
                    active = registry.ensure_default(session, parsed.models_dir)
                    print(f'active model: {active.version}' if active else
                          f'no model found under {parsed.models_dir}')
        if parsed.command in ('promote', 'rollback'):
            _reload(parsed.reload)
        return 0
    except registry.RegistryError as error:
        print(f'sentinel-models: error: {error}', file=sys.stderr)
        return 2
    except IntegrityError:
        print('sentinel-models: error: another change to the registry happened at the same time; '
              'nothing was changed, try again', file=sys.stderr)
        return 3
    except OperationalError as error:
        print(f'sentinel-models: error: database unavailable: {str(error.orig).splitlines()[0]}',
              file=sys.stderr)
        return 3
    except ValueError as error:
        print(f'sentinel-models: error: {error}', file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print('sentinel-models: interrupted; the transaction was rolled back', file=sys.stderr)
        return 130


if __name__ == '__main__':
    sys.exit(main())
