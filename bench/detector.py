#!/usr/bin/env python3
"""Benchmark of the detector: 4 cameras at 5 Hz, batched vs unbatched, per backend.

Why: the detector must keep up with every camera of a site on a small CPU,
and batching across cameras is the reason it takes all pending frames at
once. This script drives the detector's own pipeline (latest-wins frame
buffer, one inference thread, model, per-camera ByteTrack, geolocation; no
DDS) with rendered substation frames and prints, per configuration:

* frames processed per second and the share of offered frames processed
  (the rest were superseded by newer frames of the same camera: latest wins);
* latency from a frame's arrival to its result (median and 99th percentile);
* CPU seconds per processed frame;
* capacity: frames per second when frames of all 4 cameras are always waiting;

and ratios against the baseline measured in the same run: the ONNX Runtime
backend with one model call per frame (``batched=False``). The ultralytics
backend is measured too when the package is installed (it is not part of the
runtime install): ultralytics' own predict on the PyTorch checkpoint, with its
own letterbox, as its users call it. It runs torch on ultralytics' own choice
of threads (one less than the cores: 1 on a 2-core machine), and once more
on every core, so the comparison holds with equal cores too. The last lines
check the perception goals: the ONNX path's capacity against ultralytics'
predict (goal 2.5x), and the cores that 4 cameras at 5 Hz take with the
node's default of one inference thread (goal: within one core).

The model is the shipped one (``models/<version>/``, the newest model card)
when there is one; otherwise a synthetic convolutional network with a YOLOv8 output
layout, built here, stands in (its figures say nothing about accuracy, only
about the pipeline around the model). Run: ``.venv/bin/python bench/detector.py``
(about 60 s; it prints the load average, since other processes slow the
wall-clock figures).
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault('MUJOCO_GL', 'egl')

import numpy as np  # noqa: E402

from sentinel_perception.camera_geometry import Geometry  # noqa: E402
from sentinel_perception.detector_core import (DetectorPipeline, PipelineSettings,  # noqa: E402
                                               PreparedFrame)
from sentinel_perception.frame_buffer import Frame, LatestFrameBuffer  # noqa: E402
from sentinel_perception.geolocation import Intrinsics, LocatorSettings  # noqa: E402
from sentinel_perception.models import (BACKEND_ONNXRUNTIME, BACKEND_ULTRALYTICS,  # noqa: E402
                                        ModelError, ModelSlot, ModelSpec, open_backend)
from sentinel_perception.site import load_perception_site  # noqa: E402
from sentinel_perception.tracking import MultiCameraTracker, TrackerSettings  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SITE_CONFIG = REPO / 'config' / 'sites' / 'substation.yaml'
CAMERAS = ('cam_nw', 'cam_ne', 'cam_se', 'cam_sw')
CAMERA_RATE = 5.0            # Hz per camera, as the substation's cameras publish
RUN_SECONDS = 6.0            # s of offered load per configuration
CAPACITY_SECONDS = 3.0       # s of back-to-back batches per configuration
WARMUP_BATCHES = 2           # untimed batches before each measurement
SYNTHETIC_INPUT = 320        # px, input side of the synthetic stand-in model
CLASS_NAMES = ('person', 'vehicle', 'drone')
THROUGHPUT_GOAL = 2.5        # x ultralytics' predict, capacity of the batched ONNX path
ONNX_BATCHED = 'onnxruntime, batched across cameras'
ONNX_NODE_DEFAULT = 'onnxruntime, batched, 1 thread (node default)'


@dataclass(frozen=True)
class Result:
    name: str
    fps: float              # frames processed per wall second
    processed_share: float  # processed / offered
    latency_p50: float      # s
    latency_p99: float      # s
    cpu_per_frame: float    # s of process CPU per processed frame
    capacity_fps: float     # frames per second with every camera's frame always waiting


def synthetic_model(path: Path, size: int = SYNTHETIC_INPUT) -> Path:
    """A small strided conv net ending in YOLOv8's [batch, 4 + classes, anchors] layout."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    nodes, inits = [], []
    channels = [3, 16, 32, 64, 64]
    previous = 'images'
    for i in range(4):  # four stride-2 3x3 convolutions with ReLU: size / 16 cells
        weight = rng.normal(0, 0.1, (channels[i + 1], channels[i], 3, 3)).astype(np.float32)
        inits.append(numpy_helper.from_array(weight, f'w{i}'))
        nodes += [helper.make_node('Conv', [previous, f'w{i}'], [f'c{i}'], strides=[2, 2],
                                   pads=[1, 1, 1, 1]),
                  helper.make_node('Relu', [f'c{i}'], [f'r{i}'])]
        previous = f'r{i}'
    out_channels = 4 + len(CLASS_NAMES)
    head = rng.normal(0, 0.01, (out_channels, channels[-1], 1, 1)).astype(np.float32)
    bias = np.array([size / 2, size / 2, 20.0, 40.0] + [-6.0] * len(CLASS_NAMES), np.float32)
    inits += [numpy_helper.from_array(head, 'head'), numpy_helper.from_array(bias, 'bias'),
              helper.make_tensor('flat', TensorProto.INT64, [3], [0, out_channels, -1])]
    nodes += [helper.make_node('Conv', [previous, 'head', 'bias'], ['raw']),
              helper.make_node('Reshape', ['raw', 'flat'], ['output0'])]
    graph = helper.make_graph(
        nodes, 'synthetic_yolo',
        [helper.make_tensor_value_info('images', TensorProto.FLOAT, ['batch', 3, size, size])],
        [helper.make_tensor_value_info('output0', TensorProto.FLOAT,
                                       ['batch', out_channels, 'anchors'])], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def shipped_model() -> ModelSpec | None:
    """The newest shipped model (``models/<version>/model_card.json`` + its ONNX file), if any."""
    try:
        from sentinel_models.paths import default_models_dir
        directory = default_models_dir()
    except ImportError:
        directory = REPO / 'models'
    cards = []
    for path in sorted(directory.glob('*/model_card.json')) if directory.is_dir() else []:
        card = json.loads(path.read_text(encoding='utf-8'))
        cards.append((str(card.get('created', '')), path.parent, card))
    if not cards:
        return None
    _, folder, card = max(cards, key=lambda item: item[0])
    return ModelSpec(str(card['version']), folder / str(card.get('file', 'model.onnx')),
                     tuple(card['classes']), int(card['input_size']))


def _render(cameras: tuple[str, ...]) -> dict[str, np.ndarray]:
    from sentinel_sim.physics import PhysicsWorld
    from sentinel_sim.rendering import CameraRenderer

    physics = PhysicsWorld(load_perception_site(SITE_CONFIG).world, seed=0)
    physics.step(0.1)
    with CameraRenderer(physics) as renderer:
        return {camera: renderer.render(camera) for camera in cameras}


def rendered_frames() -> dict[str, np.ndarray]:
    """One 640x480 frame of each pole camera from the embedded simulator.

    Rendered in a child process: Mesa's software renderer and the LLVM inside
    torch's triton (pulled in by ultralytics) crash when loaded into one process.
    """
    context = multiprocessing.get_context('spawn')
    with context.Pool(1) as pool:
        return pool.apply(_render, (CAMERAS,))


def _pipeline(spec: ModelSpec, backend: str, batched: bool,
              threads: int | None) -> DetectorPipeline:
    slot = ModelSlot()
    slot.swap(open_backend(spec, backend, 0.25, threads))
    return DetectorPipeline(slot, MultiCameraTracker(TrackerSettings(frame_rate=CAMERA_RATE)),
                            LocatorSettings(), PipelineSettings(batched=batched))


def measure(name: str, pipeline: DetectorPipeline, frames: dict[str, np.ndarray],
            geometry: dict[str, Geometry]) -> Result:
    def prepared(camera: str, stamp: float, received: float) -> PreparedFrame:
        return PreparedFrame(camera, stamp, received, frames[camera], geometry[camera])

    for _ in range(WARMUP_BATCHES):
        pipeline.process([prepared(c, 0.0, 0.0) for c in CAMERAS])

    # Offered load: each camera at CAMERA_RATE, phases spread, into the latest-wins buffer.
    buffer = LatestFrameBuffer()
    latencies: list[float] = []
    processed = 0
    stop = threading.Event()

    def consume() -> None:
        nonlocal processed
        while not stop.is_set() or buffer.pending():
            if not buffer.wait(0.05):
                continue
            batch = buffer.take()
            results = pipeline.process([prepared(f.camera_id, f.stamp, f.received) for f in batch])
            done = time.monotonic()
            latencies.extend(done - r.received for r in results)
            processed += len(results)

    consumer = threading.Thread(target=consume)
    start, cpu_start = time.monotonic(), time.process_time()
    consumer.start()
    offered = 0
    period = 1.0 / CAMERA_RATE
    schedule = sorted((i * period + k * period / len(CAMERAS), camera)
                      for i in range(int(RUN_SECONDS * CAMERA_RATE))
                      for k, camera in enumerate(CAMERAS))
    for due, camera in schedule:
        delay = start + due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        buffer.put(Frame(camera, due, time.monotonic(), None))
        offered += 1
    stop.set()
    consumer.join()
    wall = time.monotonic() - start
    cpu = time.process_time() - cpu_start

    # Capacity: frames of every camera always waiting.
    count, capacity_start, stamp = 0, time.monotonic(), 1e6
    while time.monotonic() - capacity_start < CAPACITY_SECONDS:
        stamp += period
        count += len(pipeline.process([prepared(c, stamp, time.monotonic()) for c in CAMERAS]))
    capacity = count / (time.monotonic() - capacity_start)
    ordered = sorted(latencies) or [float('nan')]
    return Result(name, processed / wall, processed / max(1, offered), statistics.median(ordered),
                  ordered[min(len(ordered) - 1, math.ceil(0.99 * len(ordered)) - 1)],
                  cpu / max(1, processed), capacity)


def print_goals(results: dict[str, Result]) -> None:
    """The perception goals, from this run's figures."""
    batched, node = results.get(ONNX_BATCHED), results.get(ONNX_NODE_DEFAULT)
    print()
    for name, other in results.items():
        if batched and name.startswith('ultralytics'):
            ratio = batched.capacity_fps / other.capacity_fps
            print(f'onnxruntime batched vs {name}: {ratio:.2f}x capacity '
                  f'(goal >= {THROUGHPUT_GOAL:g}x: {"met" if ratio >= THROUGHPUT_GOAL else "not met"})')
    if node:
        cores = node.cpu_per_frame * CAMERA_RATE * len(CAMERAS)
        print(f'{len(CAMERAS)} cameras at {CAMERA_RATE:g} Hz with the node default: {cores:.2f} '
              f'of a core (goal <= 1: {"met" if cores <= 1.0 else "not met"})')


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--model', type=Path, default=None, help='ONNX model (default: models/)')
    parser.add_argument('--input-size', type=int, default=640, help='input side of --model, px')
    args = parser.parse_args(argv)
    print(f'load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs')
    spec = ModelSpec(args.model.stem, args.model, CLASS_NAMES, args.input_size) \
        if args.model else shipped_model()
    scratch = tempfile.TemporaryDirectory()
    if spec is None:
        path = synthetic_model(Path(scratch.name) / 'synthetic.onnx')
        spec = ModelSpec('synthetic', path, CLASS_NAMES, SYNTHETIC_INPUT)
        print('no model under models/: a synthetic conv net with the YOLOv8 output layout '
              'stands in (pipeline figures only)')
    print(f'model {spec.version} ({spec.file.name}), input {spec.input_size} px, '
          f'{len(CAMERAS)} cameras at {CAMERA_RATE:g} Hz, {RUN_SECONDS:g} s per run')
    frames = rendered_frames()
    site = load_perception_site(SITE_CONFIG)
    intrinsics = Intrinsics(320.0, 320.0, 320.0, 240.0, 640, 480)
    geometry = {c: Geometry(intrinsics, site.fixed_poses[c]) for c in CAMERAS}
    # None: onnxruntime's pool of one thread per core (ultralytics: its own choice);
    # 1: the detector node's default (inference_threads), what "4 cameras within
    # one core" asks for.
    configurations = [
        ('onnxruntime, one call per frame (baseline)', BACKEND_ONNXRUNTIME, False, None),
        (ONNX_BATCHED, BACKEND_ONNXRUNTIME, True, None),
        (ONNX_NODE_DEFAULT, BACKEND_ONNXRUNTIME, True, 1)]
    try:
        import ultralytics  # noqa: F401
        configurations += [('ultralytics predict, one call per frame', BACKEND_ULTRALYTICS, False,
                            None),
                           ('ultralytics predict, batched across cameras', BACKEND_ULTRALYTICS, True, None),
                           (f'ultralytics predict, batched, {os.cpu_count()} threads',
                            BACKEND_ULTRALYTICS, True, os.cpu_count())]
    except ImportError:
        print('ultralytics is not installed: its backend is not measured')
    results = []
    for name, backend, batched, threads in configurations:
        try:
            results.append(measure(name, _pipeline(spec, backend, batched, threads), frames,
                                   geometry))
        except ModelError as error:
            print(f'{name}: skipped ({error})')
    baseline = results[0]
    print(f'\n{"configuration":46} {"fps":>6} {"done":>5} {"p50 ms":>7} {"p99 ms":>7} '
          f'{"cpu ms/f":>8} {"cap fps":>8} {"x cap":>6} {"x cpu":>6}')
    for r in results:
        print(f'{r.name:46} {r.fps:6.1f} {r.processed_share:5.0%} {r.latency_p50 * 1e3:7.1f} '
              f'{r.latency_p99 * 1e3:7.1f} {r.cpu_per_frame * 1e3:8.1f} {r.capacity_fps:8.1f} '
              f'{r.capacity_fps / baseline.capacity_fps:6.2f} '
              f'{r.cpu_per_frame / baseline.cpu_per_frame:6.2f}')
    print('\nx cap: capacity relative to the baseline (higher is better); x cpu: CPU per frame '
          'relative to the baseline (lower is better)')
    print_goals({r.name: r for r in results})
    scratch.cleanup()
    return 0


if __name__ == '__main__':
    sys.exit(main())
