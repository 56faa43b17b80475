"""Latest ROS-side state for the API, and the fan-out of live events to streams.

The ROS executor thread writes, HTTP handlers on the asyncio loop read: the
state holder takes a lock, and the hub hands events to the loop with
call_soon_threadsafe. Each stream has a bounded queue; a client too slow to
keep up loses its oldest events and is told how many it missed, instead of
making the server buffer without limit.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
from dataclasses import dataclass
from datetime import datetime

from sentinel_bridge.domain import SafetySnapshot, VehicleSnapshot

# Events buffered per stream subscriber before the oldest are dropped.
SUBSCRIBER_QUEUE_SIZE = 256
# Most simultaneous stream subscribers (each holds a queue and a connection).
MAX_SUBSCRIBERS = 64


class LiveState:
    """The newest fleet and safety status seen on ROS."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._vehicles: dict[str, VehicleSnapshot] = {}
        self._fleet_stamp: datetime | None = None
        self._safety: SafetySnapshot | None = None

    def update_fleet(self, stamp: datetime, vehicles: list[VehicleSnapshot]) -> None:
        """Replace the fleet picture (FleetState lists every known vehicle)."""
        with self._lock:
            self._fleet_stamp = stamp
            self._vehicles = {v.vehicle_id: v for v in vehicles}

    def update_safety(self, status: SafetySnapshot) -> None:
        """Remember the newest safety status."""
        with self._lock:
            self._safety = status

    def fleet(self) -> tuple[datetime | None, list[VehicleSnapshot]]:
        """Stamp of the newest fleet state and its vehicles, by id."""
        with self._lock:
            return self._fleet_stamp, sorted(self._vehicles.values(), key=lambda v: v.vehicle_id)

    def vehicle(self, vehicle_id: str) -> VehicleSnapshot | None:
        """One vehicle's newest state."""
        with self._lock:
            return self._vehicles.get(vehicle_id)

    def safety(self) -> SafetySnapshot | None:
        """The newest safety status, or None before the first one."""
        with self._lock:
            return self._safety


@dataclass(frozen=True)
class LiveEvent:
    """One event for stream subscribers: a kind and a JSON-ready payload."""

    seq: int
    kind: str
    data: object


class Subscription:
    """One stream client's bounded queue."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[LiveEvent] = asyncio.Queue(SUBSCRIBER_QUEUE_SIZE)
        self.missed = 0

    def offer(self, event: LiveEvent) -> None:
        """Queue an event, dropping the oldest when full."""
        if self.queue.full():
            self.queue.get_nowait()
            self.missed += 1
        self.queue.put_nowait(event)


class TooManySubscribers(Exception):
    """The stream subscriber limit is reached."""


class LiveHub:
    """Fans events out to every stream subscriber on the asyncio loop."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._subscribers: set[Subscription] = set()
        self._seq = itertools.count(1)

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Attach to the server's loop (at application start)."""
        self._loop = loop

    def publish_threadsafe(self, kind: str, data: object) -> None:
        """Publish from any thread; dropped when no loop is bound or it is closed."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        event = LiveEvent(next(self._seq), kind, data)
        try:
            loop.call_soon_threadsafe(self._deliver, event)
        except RuntimeError:
            return  # the loop closed between the check and the call: server is stopping

    def publish(self, kind: str, data: object) -> None:
        """Publish from the loop's own thread."""
        self._deliver(LiveEvent(next(self._seq), kind, data))

    def subscribe(self) -> Subscription:
        """A new subscriber (call on the loop)."""
        if len(self._subscribers) >= MAX_SUBSCRIBERS:
            raise TooManySubscribers(f'at most {MAX_SUBSCRIBERS} live streams at once')
        subscription = Subscription()
        self._subscribers.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        """Forget a subscriber (its stream ended)."""
        self._subscribers.discard(subscription)

    @property
    def subscriber_count(self) -> int:
        """Streams currently open."""
        return len(self._subscribers)

    def _deliver(self, event: LiveEvent) -> None:
        for subscription in list(self._subscribers):
            subscription.offer(event)
