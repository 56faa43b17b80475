"""Declaring parameters with descriptions and ranges, and failing start-up clearly.

Why: every node declares its parameters up front with a ParameterDescriptor
(so ``ros2 param describe`` explains them) and reads them once into a frozen
dataclass; a value that cannot be used stops the node at start with the
parameter (or file and key) and the reason, instead of a traceback later.
`run_node` turns a StartupError into one fatal log line and exit status 2.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, ParameterType
from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException
from rclpy.impl.implementation_singleton import rclpy_implementation
from rclpy.node import Node
from rclpy.parameter import Parameter


class StartupError(RuntimeError):
    """A configuration problem that prevents the node from starting; the message says what and why."""


def declare(node: Node, name: str, default: Any, description: str,
            low: float | None = None, high: float | None = None) -> Any:
    """Declare one parameter (range-checked by rclpy when low/high are given); return its value."""
    descriptor = ParameterDescriptor(description=description)
    if low is not None and high is not None:
        if isinstance(default, bool) or not isinstance(default, (int, float)):
            raise TypeError(f'{name}: a range needs a numeric default')
        if isinstance(default, int):
            descriptor.integer_range = [IntegerRange(from_value=int(low), to_value=int(high), step=1)]
        else:
            descriptor.floating_point_range = [FloatingPointRange(from_value=float(low),
                                                                  to_value=float(high), step=0.0)]
    try:
        return node.declare_parameter(name, default, descriptor).value
    except (InvalidParameterTypeException, InvalidParameterValueException) as error:
        raise StartupError(f'parameter {name}: {error}') from error


def declare_strings(node: Node, name: str, description: str) -> list[str]:
    """A string-array parameter whose default is empty (rclpy cannot infer []'s type)."""
    descriptor = ParameterDescriptor(description=description,
                                     type=ParameterType.PARAMETER_STRING_ARRAY)
    try:
        value: Any = node.declare_parameter(name, Parameter.Type.STRING_ARRAY, descriptor).value
    except (InvalidParameterTypeException, InvalidParameterValueException) as error:
        raise StartupError(f'parameter {name}: {error}') from error
    return [str(v) for v in value] if value else []


def require_text(name: str, value: Any) -> str:
    """A parameter that must be a non-empty string."""
    if not isinstance(value, str) or not value.strip():
        raise StartupError(f'parameter {name}: required (a non-empty string), got {value!r}')
    return value.strip()


def require_file(name: str, value: Any) -> Path:
    """A parameter naming a file that must exist."""
    path = Path(require_text(name, value)).expanduser()
    if not path.is_file():
        raise StartupError(f'parameter {name}: no such file: {path}')
    return path


def data_directory(name: str, value: Any) -> Path:
    """A writable directory for outputs (created when missing)."""
    path = Path(require_text(name, value)).expanduser()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise StartupError(f'parameter {name}: cannot create {path}: {error}') from error
    return path


@contextmanager
def unless_shutting_down(node: Node) -> Iterator[None]:
    """Let rcl errors through, except the one a callback meets when Ctrl-C has just shut rclpy down.

    rclpy's SIGINT handler shuts the context down from another thread; a timer
    callback already running then fails on its next publish. That is the
    normal end of the process, not a failure to report with a traceback.
    """
    try:
        yield
    except rclpy_implementation.RCLError:
        if node.context.ok():
            raise
