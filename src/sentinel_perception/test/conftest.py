"""Shared fixtures: the substation site, a rendered scene, tiny ONNX detectors, rclpy."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path

os.environ.setdefault('MUJOCO_GL', 'egl')

import numpy as np  # noqa: E402
import pytest  # noqa: E402

ROOT = Path(__file__).resolve().parents[3]
SITE_CONFIG = ROOT / 'config' / 'sites' / 'substation.yaml'
THREAT_RULES = ROOT / 'config' / 'threat_rules.yaml'
CLASS_NAMES = ('person', 'vehicle', 'drone')
# Network input side of the test models (px); 640x480 frames letterbox to scale 0.5.
TEST_INPUT_SIZE = 320
# Simulation time (s) at which the substation's intruder walks inside the
# fence in view of cam_nw (about 28 m away).
INTRUDER_TIME = 70.0


def fixed_box_model(path: Path, boxes: Sequence[tuple[float, float, float, float, int, float]],
                    input_size: int = TEST_INPUT_SIZE,
                    class_names: Sequence[str] = CLASS_NAMES) -> Path:
    """Write an ONNX 'detector' that outputs the same boxes for every image.

    ``boxes``: (x_min, y_min, x_max, y_max, class_id, score) in *network input*
    pixels. The output has ultralytics' YOLOv8 layout [batch, 4 + classes,
    anchors] (centre x, y, width, height, then class scores), so the project's
    ONNX runner decodes it like a real model; the input is read (a mean times
    zero) so the batch dimension flows through.
    """
    import onnx
    from onnx import TensorProto, helper

    channels = 4 + len(class_names)
    anchors = max(1, len(boxes))
    table = np.zeros((1, channels, anchors), dtype=np.float32)
    for index, (x0, y0, x1, y1, class_id, score) in enumerate(boxes):
        table[0, :4, index] = ((x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0)
        table[0, 4 + class_id, index] = score
    graph = helper.make_graph(
        [helper.make_node('ReduceMean', ['images'], ['mean'], axes=[1, 2, 3], keepdims=1),
         helper.make_node('Reshape', ['mean', 'shape'], ['mean3']),
         helper.make_node('Mul', ['mean3', 'zero'], ['zeros']),
         helper.make_node('Add', ['zeros', 'table'], ['output0'])],
        'fixed_boxes',
        [helper.make_tensor_value_info('images', TensorProto.FLOAT,
                                       ['batch', 3, input_size, input_size])],
        [helper.make_tensor_value_info('output0', TensorProto.FLOAT, ['batch', channels, anchors])],
        initializer=[helper.make_tensor('shape', TensorProto.INT64, [3], [-1, 1, 1]),
                     helper.make_tensor('zero', TensorProto.FLOAT, [], [0.0]),
                     onnx.numpy_helper.from_array(table, 'table')])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', 17)])
    model.ir_version = 8
    names = '{' + ', '.join(f"{i}: '{n}'" for i, n in enumerate(class_names)) + '}'
    helper.set_model_props(model, {'names': names})
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def to_network_box(box: tuple[float, float, float, float], width: int = 640, height: int = 480,
                   input_size: int = TEST_INPUT_SIZE) -> tuple[float, float, float, float]:
    """An image box in the letterboxed network input's pixels (the inverse of the runner's fit)."""
    scale = min(input_size / width, input_size / height)
    pad_x = int(round((input_size - round(width * scale)) / 2.0 - 0.1))
    pad_y = int(round((input_size - round(height * scale)) / 2.0 - 0.1))
    x0, y0, x1, y1 = box
    return (x0 * scale + pad_x, y0 * scale + pad_y, x1 * scale + pad_x, y1 * scale + pad_y)


@pytest.fixture(scope='session')
def onnx_models():
    """The helpers that build test models (conftest is not importable under importlib mode)."""
    return {'fixed_box_model': fixed_box_model, 'to_network_box': to_network_box}


@pytest.fixture(scope='session')
def perception_site():
    from sentinel_perception.site import load_perception_site
    return load_perception_site(SITE_CONFIG)


@pytest.fixture(scope='session')
def intruder_scene():
    """cam_nw's 640x480 frame at INTRUDER_TIME, its camera_info, and the intruder's truth.

    Rendered once per test session by the simulator's own physics and renderer.
    """
    from sentinel_sim.physics import PhysicsWorld
    from sentinel_sim.rendering import CameraRenderer
    from sentinel_sim.site_config import load_site

    site, world = load_site(SITE_CONFIG)
    physics = PhysicsWorld(world, seed=0)
    physics.data.time = INTRUDER_TIME  # actors are scripted by time: no need to step there
    physics.step(physics.timestep)
    with CameraRenderer(physics) as renderer:
        image = renderer.render('cam_nw')
    info = physics.camera_view('cam_nw').info
    box = next(b for b in physics.ground_truth('cam_nw') if b.entity_id == 'intruder')
    truth = next(e for e in physics.entity_states() if e.entity_id == 'intruder')
    return {'image': image, 'info': info, 'box': box, 'position': truth.pose.position,
            'stamp': physics.time}


# DDS domain of this process's node tests: private, so that a simulator or a
# system test running at the same time on the default domain cannot feed them.
TEST_DOMAIN_ID = 100 + os.getpid() % 100


@pytest.fixture
def ros_context() -> Iterator[None]:
    import rclpy
    rclpy.init(domain_id=TEST_DOMAIN_ID)
    try:
        yield
    finally:
        rclpy.try_shutdown()


def spin_until(executor, predicate, timeout: float) -> bool:
    """Spin ``executor`` until ``predicate()`` holds or ``timeout`` (s) passes."""
    import time
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        executor.spin_once(timeout_sec=0.05)
    return bool(predicate())


@pytest.fixture(scope='session')
def ros_helpers():
    """Helpers for node tests (conftest is not importable under importlib mode)."""
    return {'spin_until': spin_until}
