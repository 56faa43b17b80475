"""Sentinel's detection model lifecycle.

Runtime pieces (needed by the perception node): :mod:`onnx_detector` (onnxruntime only)
and :mod:`registry` (SQLAlchemy). Everything else (dataset generation, training,
evaluation) is tooling around them; training needs the ``train`` extra.
"""
