"""How fast OnnxDetector runs a model, against onnxruntime alone on the same input.

    .venv/bin/python src/sentinel_models/bench/detector_speed.py [models/<version>] [--threads N]

Prints milliseconds per 640x480 frame for: the bare network run on an
already letterboxed tensor (the baseline), ``detect`` on one frame (letterbox,
run, decode, NMS), and ``detect`` on a batch of eight; and the ratios to the
baseline, i.e. what preprocessing and decoding cost, and what batching saves.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np

from sentinel_models.onnx_detector import OnnxDetector
from sentinel_models.paths import default_models_dir

# Timed repetitions after one warm-up run.
REPEATS = 30
# Frames in the batched measurement.
BATCH = 8


def _median_ms(run, repeats: int = REPEATS) -> float:  # type: ignore[no-untyped-def]
    run()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        samples.append((time.perf_counter() - start) * 1000.0)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('model_dir', nargs='?', type=Path, default=None)
    parser.add_argument('--threads', type=int, default=None)
    args = parser.parse_args()
    model_dir = args.model_dir or max(p.parent for p in default_models_dir().glob('*/model_card.json'))
    card = json.loads((model_dir / 'model_card.json').read_text())
    detector = OnnxDetector(model_dir / card['file'], card['classes'], card['input_size'],
                            threads=args.threads)
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (480, 640, 3), dtype=np.uint8) for _ in range(BATCH)]
    tensor, _ = detector.preprocess(frames[:1])
    baseline = _median_ms(lambda: detector.infer(tensor))
    single = _median_ms(lambda: detector.detect(frames[:1]))
    batched = _median_ms(lambda: detector.detect(frames)) / BATCH
    print(f'model {card["version"]} at {card["input_size"]} px, threads {args.threads or "default"}')
    print(f'network only (baseline)   {baseline:7.2f} ms/frame')
    print(f'detect, one frame         {single:7.2f} ms/frame  ({single / baseline:.2f}x baseline)')
    print(f'detect, batch of {BATCH}        {batched:7.2f} ms/frame  ({batched / baseline:.2f}x baseline)')


if __name__ == '__main__':
    main()
