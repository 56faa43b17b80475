"""Tiny hand-built ONNX models with the YOLO detection layout, for detector tests.

The output is a constant table of anchors (chosen by the test) broadcast to
the batch, so a test knows exactly which boxes the detector must report.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def write_fake_model(path: Path, table: np.ndarray, input_size: int = 320,
                     names: list[str] | None = None, static_batch: bool = False,
                     channels: int = 3) -> None:
    """A model [batch, channels, S, S] -> [batch, 4 + nc, anchors] that outputs ``table``."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    batch = 1 if static_batch else 'batch'
    x = helper.make_tensor_value_info('images', TensorProto.FLOAT,
                                      [batch, channels, input_size, input_size])
    y = helper.make_tensor_value_info('output0', TensorProto.FLOAT,
                                      [batch, table.shape[0], table.shape[1]])
    const = numpy_helper.from_array(table[None].astype(np.float32), 'table')
    shape = numpy_helper.from_array(np.array([-1, 1, 1], dtype=np.int64), 'shape')
    zero = numpy_helper.from_array(np.zeros((), dtype=np.float32), 'zero')
    axes = numpy_helper.from_array(np.array([1, 2, 3], dtype=np.int64), 'axes')
    nodes = [
        helper.make_node('ReduceMean', ['images', 'axes'], ['mean'], keepdims=1),
        helper.make_node('Reshape', ['mean', 'shape'], ['flat']),
        helper.make_node('Mul', ['flat', 'zero'], ['zeros']),
        helper.make_node('Add', ['zeros', 'table'], ['output0']),
    ]
    graph = helper.make_graph(nodes, 'fake_yolo', [x], [y], [const, shape, zero, axes])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', 18)])
    model.ir_version = 9
    if names is not None:
        entry = model.metadata_props.add()
        entry.key, entry.value = 'names', repr(dict(enumerate(names)))
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def anchor_table(boxes: list[tuple[float, float, float, float, int, float]], num_classes: int,
                 anchors: int = 64) -> np.ndarray:
    """(4 + nc, anchors) raw output with ``boxes`` (cx, cy, w, h in input px, class, score)."""
    table = np.zeros((4 + num_classes, anchors), dtype=np.float32)
    table[:4, :] = 1.0  # the rest: 1 px boxes at the corner with score 0
    for i, (cx, cy, w, h, cls, score) in enumerate(boxes):
        table[:4, i] = (cx, cy, w, h)
        table[4 + cls, i] = score
    return table


def write_any_size_model(path: Path, box: tuple[float, float, float, float, int, float],
                         num_classes: int, input_size: int = 320) -> None:
    """A model pinned to S x S whose graph runs at any size, like an ultralytics dynamic export.

    One anchor per 8 x 8 input cell (so their count follows the input's area),
    each the same ``box`` (cx, cy, w, h in input px, class, score).
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    cx, cy, w, h, cls, score = box
    bias = np.zeros(4 + num_classes, np.float32)
    bias[:4] = (cx, cy, w, h)
    bias[4 + cls] = score
    x = helper.make_tensor_value_info('images', TensorProto.FLOAT, ['batch', 3, input_size, input_size])
    anchors = (input_size // 8) ** 2
    y = helper.make_tensor_value_info('output0', TensorProto.FLOAT, ['batch', 4 + num_classes, anchors])
    inits = [numpy_helper.from_array(np.zeros((4 + num_classes, 3, 1, 1), np.float32), 'weight'),
             numpy_helper.from_array(bias, 'bias'),
             numpy_helper.from_array(np.array([0, 4 + num_classes, -1], dtype=np.int64), 'flat')]
    nodes = [helper.make_node('AveragePool', ['images'], ['cells'], kernel_shape=[8, 8], strides=[8, 8]),
             helper.make_node('Conv', ['cells', 'weight', 'bias'], ['raw']),
             helper.make_node('Reshape', ['raw', 'flat'], ['output0'])]
    model = helper.make_model(helper.make_graph(nodes, 'any_size_yolo', [x], [y], inits),
                              opset_imports=[helper.make_opsetid('', 18)])
    model.ir_version = 9
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
