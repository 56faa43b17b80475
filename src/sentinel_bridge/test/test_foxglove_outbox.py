"""The latest-wins queues: one pending frame per camera, state never behind images."""

import threading
import time

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from sentinel_bridge.foxglove_outbox import Lane, LatestSlots, Outbox

cameras = st.sampled_from(['cam_nw', 'cam_ne', 'cam_se', 'cam_sw'])
state_keys = st.sampled_from(['/vehicles/drone_1/status', '/sentinel/safety', '/scene/live'])


class OutboxMachine(RuleBasedStateMachine):
    """Random interleavings of puts and takes against a simple model of what must come out."""

    def __init__(self) -> None:
        super().__init__()
        self.capacity = 4
        self.outbox: Outbox[int] = Outbox(event_capacity=self.capacity)
        self.slots: LatestSlots[str, int] = LatestSlots()
        self.counter = 0
        self.state: dict[str, int] = {}
        self.events: list[int] = []
        self.images: dict[str, int] = {}
        self.raw: dict[str, int] = {}

    def _next(self) -> int:
        self.counter += 1
        return self.counter

    @rule(key=state_keys)
    def put_state(self, key):
        value = self._next()
        self.outbox.put_state(key, value)
        self.state[key] = value

    @rule()
    def put_event(self):
        value = self._next()
        self.outbox.put_event('/sentinel/alerts', value)
        self.events = (self.events + [value])[-self.capacity:]

    @rule(camera=cameras)
    def put_image(self, camera):
        value = self._next()
        self.outbox.put_image(camera, value)
        self.images[camera] = value

    @rule(camera=cameras)
    def put_raw_frame(self, camera):
        value = self._next()
        self.slots.put(camera, value)
        self.raw[camera] = value

    @precondition(lambda self: self.state or self.events or self.images)
    @rule()
    def take(self):
        out = self.outbox.take(timeout=0)
        assert out is not None
        if self.state:
            assert out.lane is Lane.STATE, 'something went out before pending state'
            assert self.state.pop(out.key) == out.item, 'state was not the latest'
        elif self.events:
            assert out.lane is Lane.EVENT
            assert out.item == self.events.pop(0), 'events out of order'
        else:
            assert out.lane is Lane.IMAGE
            assert self.images.pop(out.key) == out.item, 'image was not the newest frame'

    @precondition(lambda self: self.raw)
    @rule()
    def take_raw_frame(self):
        camera, value = self.slots.take(timeout=0)
        assert self.raw.pop(camera) == value

    @invariant()
    def bounded(self):
        pending = self.outbox.pending()
        assert pending[Lane.IMAGE] == len(self.images) <= 4      # one frame per camera at most
        assert pending[Lane.STATE] == len(self.state) <= 3       # one item per state key
        assert pending[Lane.EVENT] == len(self.events) <= self.capacity
        assert self.slots.pending() == len(self.raw) <= 4


TestOutboxMachine = OutboxMachine.TestCase
TestOutboxMachine.settings = settings(max_examples=60, stateful_step_count=30, deadline=None)


def test_full_event_lane_drops_the_oldest_and_counts_it():
    outbox: Outbox[int] = Outbox(event_capacity=2)
    for value in range(5):
        outbox.put_event('log', value)
    assert [outbox.take(0).item for _ in range(2)] == [3, 4]
    assert outbox.dropped_events == 3


def test_slots_serve_the_longest_waiting_camera_first():
    slots: LatestSlots[str, int] = LatestSlots()
    slots.put('a', 1)
    slots.put('b', 2)
    assert slots.put('a', 3) is True          # replaced, keeps its place
    assert slots.take(0) == ('a', 3) and slots.take(0) == ('b', 2)
    assert slots.take(0) is None and slots.replaced == 1


def test_close_wakes_a_waiting_taker():
    outbox: Outbox[int] = Outbox()
    result = []
    thread = threading.Thread(target=lambda: result.append(outbox.take(timeout=10)))
    thread.start()
    time.sleep(0.05)
    outbox.close()
    thread.join(2)
    assert not thread.is_alive() and result == [None]
    with pytest.raises(ValueError):
        Outbox(event_capacity=0)


def test_state_overtakes_an_image_flood_across_threads():
    """A producer floods four cameras; a state put while it runs is the next thing taken."""
    outbox: Outbox[int] = Outbox()
    stop = threading.Event()

    def flood():
        frame = 0
        while not stop.is_set():
            frame += 1
            outbox.put_image(f'cam{frame % 4}', frame)

    producer = threading.Thread(target=flood)
    producer.start()
    try:
        for attempt in range(50):
            outbox.take(timeout=1)                 # the sender is busy with images ...
            outbox.put_state('/sentinel/safety', -attempt)
            out = outbox.take(timeout=1)           # ... and the state goes next
            assert out.lane is Lane.STATE and out.item == -attempt
            assert outbox.pending()[Lane.IMAGE] <= 4
    finally:
        stop.set()
        producer.join()
