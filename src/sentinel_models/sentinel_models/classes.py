"""The detector's classes and how simulator ground truth maps onto them.

Why a module of its own: the class order is a contract between the dataset
(label files store indices), the trained network (output channels) and the
registry (class_names of every version). Changing it means a new model.
"""

from __future__ import annotations

from collections.abc import Sequence

# Class names in label-index order; the simulator's ground-truth classes use the same words.
CLASS_NAMES: tuple[str, ...] = ('person', 'vehicle', 'drone')


def class_index(name: str, names: Sequence[str] = CLASS_NAMES) -> int | None:
    """Index of a ground-truth class name, or None for a class the detector does not learn."""
    try:
        return list(names).index(name)
    except ValueError:
        return None


def validate_class_names(names: object) -> tuple[str, ...]:
    """A usable class list (non-empty, unique, non-blank strings) or ValueError saying why."""
    if names is None:
        raise ValueError('class list is missing: a detector needs the class names in output order')
    if isinstance(names, (str, bytes)) or not isinstance(names, Sequence):
        raise ValueError(f'class list must be a sequence of names, got {type(names).__name__}')
    result = tuple(names)
    if not result:
        raise ValueError('class list is empty: a detector needs at least one class name')
    for name in result:
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f'class names must be non-empty strings, got {name!r}')
    if len(set(result)) != len(result):
        raise ValueError(f'class names must be unique, got {list(result)}')
    return result
