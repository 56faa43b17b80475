"""Emulated autopilot: injected link loss and latency, both directions, seeded."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from sentinel_sim.autopilot import LinkFaults
from sentinel_sim.autopilot.link import FaultyLink


def _harness() -> ModuleType:
    """The shared harness, loaded by path: pytest's importlib mode puts no test folder on sys.path."""
    name = 'sentinel_sim_autopilot_harness'
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name('test_autopilot_harness.py'))
        assert spec is not None and spec.loader is not None
        sys.modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[name])
    return sys.modules[name]


H = _harness()
ACCEPTED = mavlink.MAV_RESULT_ACCEPTED


def test_link_drop_all_silences_both_directions() -> None:
    sim = H.Sim(H.make_config())
    sim.run(1.0)
    sim.ap.inject_link_degradation(1.0, 0.0)
    mark = len(sim.messages)
    replies = sim.send(sim.gcs.command_long_encode(1, 1, mavlink.MAV_CMD_COMPONENT_ARM_DISARM, 0, 1, 0, 0, 0,
                                                   0, 0, 0))
    sim.run(3.0)
    assert replies == [] and sim.messages[mark:] == [] and not sim.ap.armed
    sim.ap.inject_link_degradation(0.0, 0.0)
    assert sim.arm().result == ACCEPTED


def test_link_latency_delays_replies_and_telemetry() -> None:
    sim = H.Sim(H.make_config())
    sim.ap.inject_link_degradation(0.0, 0.5)
    sent_at = sim.t
    replies = sim.send(sim.gcs.command_long_encode(1, 1, mavlink.MAV_CMD_COMPONENT_ARM_DISARM, 0, 1, 0, 0, 0,
                                                   0, 0, 0))
    assert replies == []
    mark = len(sim.messages)
    sim.run(1.3)
    acks = [(m, t) for m, t in zip(sim.messages[mark:], sim.times[mark:]) if m.get_type() == 'COMMAND_ACK']
    assert len(acks) == 1
    # the command reaches the vehicle 0.5 s late, the ack travels back 0.5 s: 1 s round trip
    assert acks[0][1] - sent_at == pytest.approx(1.0, abs=0.11)
    assert sim.ap.armed


def test_link_loss_rate_is_seeded() -> None:
    def heartbeats(seed: int) -> int:
        sim = H.Sim(H.make_config(seed=seed))
        sim.ap.inject_link_degradation(0.5, 0.0)
        mark = len(sim.messages)
        sim.run(40.0)
        return len(sim.of_type('HEARTBEAT', mark))

    count = heartbeats(3)
    assert count == heartbeats(3)
    assert 10 <= count <= 30  # about half of 40


def test_fault_injection_rejects_nonsense() -> None:
    sim = H.Sim(H.make_config())
    with pytest.raises(ValueError):
        sim.ap.inject_link_degradation(1.5, 0.0)
    with pytest.raises(ValueError):
        sim.ap.inject_link_degradation(0.1, -1.0)
    with pytest.raises(ValueError):
        sim.ap.inject_battery_remaining(math.nan)


# ------------------------------------------------------------------ the link alone

def heartbeat(n: int) -> Any:
    return mavlink.MAVLink_heartbeat_message(mavlink.MAV_TYPE_GCS, 0, 0, n, 0, 3)


def test_faulty_link_delays_both_directions_and_keeps_order() -> None:
    link = FaultyLink(np.random.default_rng(0))
    assert link.incoming(heartbeat(1), 0.0)                    # a perfect link: handle at once
    link.degrade(0.0, 0.5)
    assert not link.incoming(heartbeat(2), 1.0) and not link.incoming(heartbeat(3), 1.0)
    assert list(link.arrived(1.4)) == []
    assert [m.custom_mode for m in link.arrived(1.5)] == [2, 3]
    link.outgoing(heartbeat(4), 2.0)
    link.outgoing(heartbeat(5), 2.1)
    assert [m.custom_mode for m in link.due(2.5)] == [4]
    assert [m.custom_mode for m in link.due(2.6)] == [5]


def test_faulty_link_drops_at_the_given_rate_and_checks_its_inputs() -> None:
    link = FaultyLink(np.random.default_rng(0))
    link.degrade(0.25, 0.0)
    kept = sum(link.incoming(heartbeat(0), 0.0) for _ in range(4000))
    assert 2800 < kept < 3200
    link.degrade(1.0, 0.0)
    link.outgoing(heartbeat(0), 0.0)
    assert link.due(1.0) == [] and link.faults == LinkFaults(1.0, 0.0)
    for drop, latency in ((-0.1, 0.0), (1.1, 0.0), (math.nan, 0.0), (0.0, -1.0), (0.0, math.inf)):
        with pytest.raises(ValueError):
            link.degrade(drop, latency)
