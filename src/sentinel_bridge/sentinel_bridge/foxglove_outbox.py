"""Bounded, latest-wins queues that keep camera images from starving state.

Four cameras at 640x480 and 10 Hz are about 37 MB/s of raw pixels; a vehicle
state or an e-stop status is a few hundred bytes. If both shared one FIFO, a
burst of frames would sit in front of the state an operator acts on. So:

* :class:`LatestSlots` holds at most one item per key. The image callback
  (on the ROS executor thread) only drops the newest frame of its camera
  into a slot, replacing any frame not yet taken, and returns at once; the
  JPEG encoder threads take from the slots.
* :class:`Outbox` is what the single sender thread drains. It has three
  lanes, served strictly in order: *state* (latest wins per key: a vehicle's
  state, the scene, a status table), *events* (a bounded FIFO for things that
  must each be seen: alerts, log lines; the oldest is dropped and counted
  when full) and *images* (latest wins per camera). ``take`` never returns an
  image while a state or event item is pending.

Memory is bounded by the number of keys, not by the input rate. Both classes
are thread-safe and free of ROS and Foxglove, so their guarantees are tested
directly.
"""

from __future__ import annotations

import enum
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

K = TypeVar('K', bound=Hashable)
T = TypeVar('T')

# Events kept when the sender falls behind; past this the oldest are dropped.
DEFAULT_EVENT_CAPACITY = 512


class Lane(enum.IntEnum):
    """Outbox lanes in the order they are served."""

    STATE = 0
    EVENT = 1
    IMAGE = 2


@dataclass(frozen=True)
class Outgoing(Generic[T]):
    lane: Lane
    key: Hashable
    item: T


class LatestSlots(Generic[K, T]):
    """One pending item per key; a newer ``put`` replaces the pending one.

    ``take`` returns the key that has waited longest, so with N cameras each
    gets a turn before any is served twice.
    """

    def __init__(self) -> None:
        self._items: OrderedDict[K, T] = OrderedDict()
        self._ready = threading.Condition()
        self._closed = False
        self.replaced = 0  # items overwritten before anyone took them

    def put(self, key: K, item: T) -> bool:
        """Store ``item`` as the pending one for ``key``; True when it replaced another."""
        with self._ready:
            replaced = key in self._items
            if replaced:
                self.replaced += 1
            self._items[key] = item  # a replaced item keeps the key's place in line
            self._ready.notify()
            return replaced

    def take(self, timeout: float | None = None) -> tuple[K, T] | None:
        """The longest-waiting (key, item), or None on timeout or after ``close``."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._ready:
            while not self._items and not self._closed:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0.0:
                    return None
                self._ready.wait(remaining)
            if not self._items:
                return None
            return self._items.popitem(last=False)

    def pending(self) -> int:
        with self._ready:
            return len(self._items)

    def close(self) -> None:
        """Wake every waiting taker; later takes return what is left, then None."""
        with self._ready:
            self._closed = True
            self._ready.notify_all()


class Outbox(Generic[T]):
    """The sender's three lanes: state first, then events, then images."""

    def __init__(self, event_capacity: int = DEFAULT_EVENT_CAPACITY) -> None:
        if event_capacity < 1:
            raise ValueError(f'event_capacity must be >= 1, got {event_capacity}')
        self._state: OrderedDict[Hashable, T] = OrderedDict()
        self._events: deque[tuple[Hashable, T]] = deque()
        self._images: OrderedDict[Hashable, T] = OrderedDict()
        self._event_capacity = event_capacity
        self._ready = threading.Condition()
        self._closed = False
        self.replaced_state = 0    # state items superseded before sending
        self.dropped_events = 0    # events dropped because the lane was full
        self.replaced_images = 0   # frames superseded before sending

    def put_state(self, key: Hashable, item: T) -> None:
        """Latest wins per key; a replaced item keeps its place in line."""
        with self._ready:
            if key in self._state:
                self.replaced_state += 1
            self._state[key] = item
            self._ready.notify()

    def put_event(self, key: Hashable, item: T) -> None:
        """Appended in order; when the lane is full the oldest event is dropped."""
        with self._ready:
            if len(self._events) >= self._event_capacity:
                self._events.popleft()
                self.dropped_events += 1
            self._events.append((key, item))
            self._ready.notify()

    def put_image(self, key: Hashable, item: T) -> None:
        """Latest wins per camera."""
        with self._ready:
            if key in self._images:
                self.replaced_images += 1
            self._images[key] = item
            self._ready.notify()

    def _pop(self) -> Outgoing[T] | None:
        if self._state:
            key, item = self._state.popitem(last=False)
            return Outgoing(Lane.STATE, key, item)
        if self._events:
            key, item = self._events.popleft()
            return Outgoing(Lane.EVENT, key, item)
        if self._images:
            key, item = self._images.popitem(last=False)
            return Outgoing(Lane.IMAGE, key, item)
        return None

    def take(self, timeout: float | None = None) -> Outgoing[T] | None:
        """The next item by lane priority, or None on timeout or after ``close``."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._ready:
            while True:
                out = self._pop()
                if out is not None or self._closed:
                    return out
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0.0:
                    return None
                self._ready.wait(remaining)

    def pending(self) -> dict[Lane, int]:
        with self._ready:
            return {Lane.STATE: len(self._state), Lane.EVENT: len(self._events),
                    Lane.IMAGE: len(self._images)}

    def close(self) -> None:
        with self._ready:
            self._closed = True
            self._ready.notify_all()
