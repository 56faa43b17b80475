"""The shipped model through both detector backends, on a frame the simulator rendered.

Why: the figures of ``bench/detector.py`` compare the ONNX path with
ultralytics' own predict, and the ONNX path runs rectangular batches when the
network allows it. Both only mean something if every path finds the same
intruder in the same place: this checks that on the shipped model (the
repository's ``models/``), not on a stand-in.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sentinel_perception.models import (BACKEND_ONNXRUNTIME, BACKEND_ULTRALYTICS, ModelSpec,
                                        open_backend)
from sentinel_perception.tracking import BoxDetection

ROOT = Path(__file__).resolve().parents[3]
# Least overlap of two backends' boxes of the same person, and of a box with the truth.
SAME_BOX_IOU = 0.85
TRUTH_IOU = 0.5

# Runs the ultralytics backend in a child process: torch's bundled LLVM and the
# software OpenGL renderer that drew the frame crash when loaded into one process.
ULTRALYTICS_CHILD = '''
import json, sys
import numpy as np
from pathlib import Path
from sentinel_perception.models import ModelSpec, open_backend
spec = json.loads(sys.argv[1])
spec = ModelSpec(spec['version'], Path(spec['file']), tuple(spec['classes']), spec['input_size'])
boxes = open_backend(spec, sys.argv[2], 0.25).detect([np.load(sys.argv[3])])[0]
print(json.dumps([[b.x_min, b.y_min, b.x_max, b.y_max, b.confidence, b.class_name] for b in boxes]))
'''


def _shipped_spec() -> ModelSpec:
    cards = sorted(ROOT.glob('models/*/model_card.json'))
    if not cards:
        pytest.skip('no model is shipped under models/')
    card = json.loads(cards[-1].read_text(encoding='utf-8'))
    return ModelSpec(card['version'], cards[-1].parent / card.get('file', 'model.onnx'),
                     tuple(card['classes']), int(card['input_size']))


def _iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    width = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = width * height
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def _person(boxes: list[BoxDetection]) -> tuple[float, float, float, float]:
    people = [b for b in boxes if b.class_name == 'person']
    assert people, f'no person among {boxes}'
    best = max(people, key=lambda b: b.confidence)
    return (best.x_min, best.y_min, best.x_max, best.y_max)


def test_the_onnx_path_finds_the_intruder_alike_at_the_rectangular_and_the_square_input(
        intruder_scene) -> None:
    backend = open_backend(_shipped_spec(), BACKEND_ONNXRUNTIME, 0.25)
    detector = backend._detector
    assert detector.rectangular, 'the shipped export runs at any stride-multiple size'
    assert detector.preprocess([intruder_scene['image']])[0].shape[2:] == (256, 320)
    rectangular = _person(backend.detect([intruder_scene['image']])[0])
    truth = intruder_scene['box']
    assert _iou(rectangular, (truth.x_min, truth.y_min, truth.x_max, truth.y_max)) > TRUTH_IOU
    detector.rectangular = False
    square = _person(backend.detect([intruder_scene['image']])[0])
    assert _iou(rectangular, square) > SAME_BOX_IOU


def test_ultralytics_predict_finds_the_same_intruder_as_the_onnx_path(intruder_scene,
                                                                        tmp_path: Path) -> None:
    pytest.importorskip('ultralytics')
    spec = _shipped_spec()
    frame = tmp_path / 'frame.npy'
    np.save(frame, intruder_scene['image'])
    described = json.dumps({'version': spec.version, 'file': str(spec.file),
                            'classes': list(spec.class_names), 'input_size': spec.input_size})
    child = subprocess.run([sys.executable, '-c', ULTRALYTICS_CHILD, described, BACKEND_ULTRALYTICS,
                            str(frame)], capture_output=True, text=True, timeout=240, check=False)
    assert child.returncode == 0, child.stderr[-2000:]
    found = [BoxDetection(*row[:5], spec.class_names.index(row[5]), row[5])
             for row in json.loads(child.stdout.strip().splitlines()[-1])]
    onnx = _person(open_backend(spec, BACKEND_ONNXRUNTIME, 0.25).detect([intruder_scene['image']])[0])
    assert _iou(_person(found), onnx) > SAME_BOX_IOU
