"""Where model versions come from: the model registry, or one file given directly.

Why: ``LoadModel`` names a registry version ("" for the registry's active
one); the detector must turn that into a file, class list and input size
without caring whether the registry is SQLite or PostgreSQL. For runs without
a registry (tests, benches, a site with one fixed model) a single ONNX file
with its class list stands in. No rclpy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from sentinel_perception.models import ModelError, ModelSpec, UnknownVersionError


class ModelSource(Protocol):
    def resolve(self, version: str) -> ModelSpec:
        """The spec of ``version`` ('' = the active one); UnknownVersionError or ModelError."""
        ...

    def describe(self) -> str:
        """Where models come from, for the log."""
        ...


@dataclass(frozen=True)
class FileModelSource:
    """One model file; its version is ``version`` (default: the file's stem)."""

    file: Path
    class_names: Sequence[str]
    input_size: int
    version: str = ''

    def resolve(self, version: str) -> ModelSpec:
        own = self.version or self.file.stem
        if version not in ('', own):
            raise UnknownVersionError(f'only model {own!r} ({self.file}) is configured; '
                                      f'no registry to find {version!r} in')
        if not self.class_names:
            raise ModelError(f'{self.file}: no class names configured (parameter model_classes)')
        return ModelSpec(own, self.file, tuple(self.class_names), self.input_size)

    def describe(self) -> str:
        return f'model file {self.file}'
