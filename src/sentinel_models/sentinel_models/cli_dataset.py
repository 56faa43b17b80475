"""``sentinel-dataset``: render a detection dataset, or extract frames from recordings.

    sentinel-dataset generate --worlds substation solar_farm --images 2000 --seed 1 --out data/train
    sentinel-dataset from-mcap recordings/*.mcap --model det-20261126 --out data/review
    sentinel-dataset check DIR
"""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
from pathlib import Path

from sentinel_models.dataset import (
    DEFAULT_CHUNK_SIZE,
    DEFAULT_JPEG_QUALITY,
    DEFAULT_VAL_FRACTION,
    DEFAULT_WIDTH,
    DatasetError,
    IMAGE_FORMATS,
    GenerateConfig,
    generate,
    load_dataset,
)
from sentinel_models.label_rules import LabelRule
from sentinel_models.paths import default_db_url, default_models_dir
from sentinel_models.progress import Progress

_LOG = logging.getLogger('sentinel-dataset')


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog='sentinel-dataset', description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('-v', '--verbose', action='store_true', help='log debug messages')
    commands = parser.add_subparsers(dest='command', required=True)

    gen = commands.add_parser('generate', help='render a YOLO dataset from the simulator')
    gen.add_argument('--worlds', nargs='+', default=['substation', 'solar_farm'],
                     help='world names (in worlds/) or SDF paths')
    gen.add_argument('--images', type=int, required=True, help='number of images in all')
    gen.add_argument('--seed', type=int, required=True, help='seed of every random choice')
    gen.add_argument('--out', type=Path, required=True, help='dataset directory to create')
    gen.add_argument('--width', type=int, default=DEFAULT_WIDTH, help='image width, px')
    gen.add_argument('--val-fraction', type=float, default=DEFAULT_VAL_FRACTION,
                     help='share of images in the val split (1.0: a held-out test set)')
    gen.add_argument('--chunk-size', type=int, default=DEFAULT_CHUNK_SIZE,
                     help='samples per simulator model (one cast of extra actors and clutter)')
    gen.add_argument('--min-height-px', type=float, default=LabelRule.min_height_px,
                     help='label rule: shorter boxes become ignore regions')
    gen.add_argument('--min-visible-fraction', type=float, default=LabelRule.min_visible_fraction,
                     help='label rule: less visible objects become ignore regions')
    gen.add_argument('--worlds-dir', type=Path, default=None, help='where world names are looked up')
    gen.add_argument('--image-format', choices=IMAGE_FORMATS, default='png',
                     help='png: lossless; jpg: about 12x smaller, for copying datasets around')
    gen.add_argument('--jpeg-quality', type=int, default=DEFAULT_JPEG_QUALITY,
                     help='JPEG quality, 1..100 (with --image-format jpg)')
    gen.add_argument('--overwrite', action='store_true', help='replace an existing dataset')

    mcap = commands.add_parser('from-mcap', help='extract frames from recordings with pre-labels')
    mcap.add_argument('paths', nargs='+', type=Path,
                      help='MCAP files, or recording directories (with index.json)')
    mcap.add_argument('--out', type=Path, required=True, help='review directory to create')
    mcap.add_argument('--model', default='', help='registry version for pre-labels (default: active)')
    mcap.add_argument('--db-url', default=default_db_url(), help='model registry database')
    mcap.add_argument('--topics', nargs='*', default=None,
                      help='image topics (default: every sensor_msgs/Image topic)')
    mcap.add_argument('--start', type=float, default=None, help='first log time, UNIX seconds')
    mcap.add_argument('--end', type=float, default=None, help='end log time, UNIX seconds')
    mcap.add_argument('--min-interval', type=float, default=1.0,
                      help='seconds between kept frames of one topic (skip near-duplicates)')
    mcap.add_argument('--max-frames', type=int, default=0, help='stop after this many (0: all)')
    mcap.add_argument('--conf', type=float, default=0.25, help='pre-label confidence threshold')
    mcap.add_argument('--review-below', type=float, default=0.5,
                      help='frames with a pre-label less confident than this are flagged')
    mcap.add_argument('--overwrite', action='store_true', help='replace an existing directory')

    check = commands.add_parser('check', help='validate a YOLO dataset directory')
    check.add_argument('dataset', type=Path)
    return parser


def _generate(args: argparse.Namespace, command: str) -> int:
    rule = LabelRule(min_height_px=args.min_height_px, min_visible_fraction=args.min_visible_fraction)
    config = GenerateConfig(tuple(args.worlds), args.images, args.seed, args.out, args.width,
                            args.val_fraction, args.chunk_size, rule, overwrite=args.overwrite,
                            worlds_dir=args.worlds_dir, image_format=args.image_format,
                            jpeg_quality=args.jpeg_quality, command=command)
    progress = Progress('dataset', args.images, 'images')
    try:
        card = generate(config, progress.update)
    finally:
        progress.close()
    counts = card['counts']
    print(f"wrote {counts['images']} images to {args.out}: {counts['images_per_split']}, "
          f"labels {counts['labels_per_class']}, ignored {counts['ignored_per_class']}")
    print(f"content hash {card['content_hash']}; card {args.out / 'dataset_card.md'}")
    return 0


def _from_mcap(args: argparse.Namespace, command: str) -> int:
    from sentinel_models.mcap_frames import ExtractConfig, extract

    config = ExtractConfig(paths=tuple(args.paths), out=args.out, model_version=args.model,
                           db_url=args.db_url, models_dir=default_models_dir(), topics=args.topics,
                           start_s=args.start, end_s=args.end, min_interval_s=args.min_interval,
                           max_frames=args.max_frames, conf_threshold=args.conf,
                           review_below=args.review_below, overwrite=args.overwrite,
                           command=command)
    progress = Progress('frames', 0, 'frames')
    summary = extract(config, progress.update)
    progress.close()
    print(f"extracted {summary['frames']} frames to {args.out} with pre-labels of model "
          f"{summary['model']}; {summary['needs_review']} flagged for review in "
          f"{args.out / 'review.csv'}")
    return 0


def main(args: list[str] | None = None) -> int:
    argv = sys.argv[1:] if args is None else args
    parsed = _parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if parsed.verbose else logging.INFO,
                        format='%(levelname)s %(name)s: %(message)s')
    if not parsed.verbose:  # the simulator logs every model it builds (one per chunk)
        logging.getLogger('sentinel_sim').setLevel(logging.WARNING)
    command = shlex.join(['sentinel-dataset', *argv])
    try:
        if parsed.command == 'generate':
            return _generate(parsed, command)
        if parsed.command == 'from-mcap':
            return _from_mcap(parsed, command)
        info = load_dataset(parsed.dataset)
        print(f'{parsed.dataset}: ok; classes {list(info.names)}, '
              f'{ {s: len(v) for s, v in info.images.items()} } images, {info.labels} labels')
        return 0
    except (DatasetError, ValueError, FileNotFoundError) as error:
        print(f'sentinel-dataset: error: {error}', file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print('sentinel-dataset: interrupted; nothing was left half-written', file=sys.stderr)
        return 130


if __name__ == '__main__':
    sys.exit(main())
