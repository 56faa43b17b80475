"""Integration over real UDP MAVLink: the e-stop reaches a flying drone with no vehicle interface.

The simulator's emulated autopilot (on its MavlinkHub) flies a kinematic
stand-in; a test ground station takes off in GUIDED and goes quiet. Then the
watchdog, alone on the MAVLink side (no vehicle interface anywhere), must put
the drone in its configured e-stop mode through its own MAVLink path, keep it
there while latched, feed the autopilot's GCS heartbeat, and let go only after
two distinct principals release the stop.
"""

from __future__ import annotations

import importlib.util
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from sentinel_msgs.srv import ReleaseEstop, TriggerEstop

from sentinel_safety.safety_watchdog_node import SafetyWatchdogNode


def _load(name: str, file: str) -> ModuleType:
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(file))
        assert spec is not None and spec.loader is not None
        sys.modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[name])
    return sys.modules[name]


K = _load('sentinel_safety_testkit', 'safety_testkit.py')
S = _load('sentinel_safety_autopilot_standin', 'autopilot_standin.py')
WAIT = 10.0        # s, longest wait for any expected change
TAKEOFF_ALT = 8.0  # m


def site_yaml(directory: Path, port: int) -> Path:
    """A one-drone site whose drone is the stand-in on ``port``."""
    path = directory / 'one_drone.yaml'
    path.write_text(f'''version: 1
site: {{name: test_range, world: {K.WORLD_SDF}, timezone: UTC}}
zones:
  - {{name: range, kind: geofence_inclusion, polygon: [[-200, -200], [200, -200], [200, 200],
      [-200, 200]], floor: 0.0, ceiling: 60.0}}
cameras: []
vehicles:
  - id: drone_1
    kind: drone
    mavlink: {{url: "udpout:127.0.0.1:{port}", system_id: 1}}
    home: {{x: 0.0, y: 0.0, z: 0.0}}
    capabilities: []
    battery_capacity_wh: 90.0
''', encoding='utf-8')
    return path


@pytest.fixture
def flying(tmp_path: Path) -> Iterator[tuple[Any, Any]]:
    """A drone hovering in GUIDED; its ground station stays connected but silent."""
    with S.SimulatedDrone(scale=2.0) as drone:
        station = S.GroundStation(drone.port)
        try:
            station.take_off(drone, TAKEOFF_ALT)
            assert drone.mode_name == 'GUIDED'
            yield drone, station
        finally:
            station.close()


class Operator:
    """A ROS client of the e-stop services, spinning the watchdog too."""

    def __init__(self, watchdog: Node) -> None:
        self.node = Node('estop_operator')
        self.executor = SingleThreadedExecutor()
        self.executor.add_node(watchdog)
        self.executor.add_node(self.node)
        self.trigger: Any = self.node.create_client(TriggerEstop, '/safety/trigger_estop')
        self.release: Any = self.node.create_client(ReleaseEstop, '/safety/release_estop')

    def spin_until(self, predicate: Callable[[], bool], what: str, timeout: float = WAIT) -> float:
        start = time.monotonic()
        while not predicate():
            assert time.monotonic() - start < timeout, f'not within {timeout} s: {what}'
            self.executor.spin_once(timeout_sec=0.02)
        return time.monotonic() - start

    def call(self, client: Any, request: Any) -> Any:
        self.spin_until(client.service_is_ready, 'service')
        future = client.call_async(request)
        self.spin_until(future.done, 'response')
        return future.result()

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()


def test_estop_over_the_watchdogs_own_mavlink_path(flying: tuple[Any, Any],
                                                   tmp_path: Path) -> None:
    drone, station = flying
    rclpy.init(domain_id=K.domain_id())
    watchdog = SafetyWatchdogNode(parameter_overrides=[
        Parameter('site_config', Parameter.Type.STRING, str(site_yaml(tmp_path, drone.port))),
        Parameter('safety_config', Parameter.Type.STRING, str(K.write_config(tmp_path)))])
    operator = Operator(watchdog)
    try:
        engage = TriggerEstop.Request(scope=TriggerEstop.Request.SCOPE_FLEET,
                                      requested_by='operator_console', reason='integration test')
        assert operator.call(operator.trigger, engage).error_code == 0
        # Configured drone category: brake -> ArduCopter BRAKE, sent by the watchdog alone.
        took = operator.spin_until(lambda: drone.mode_name == 'BRAKE', 'mode BRAKE')
        assert took < WAIT
        assert not drone.autopilot.gcs_failsafe   # the watchdog's heartbeat feeds the failsafe

        # Latched: another ground station switching back to GUIDED is overruled.
        assert station.set_mode('GUIDED') == 0
        operator.spin_until(lambda: drone.mode_name == 'BRAKE', 'BRAKE re-asserted')

        # One principal cannot release, nor can an unauthorized one.
        same = ReleaseEstop.Request(first_approver='safety_officer',
                                    second_approver='SAFETY_OFFICER', reason='done')
        assert operator.call(operator.release, same).error_code == \
            ReleaseEstop.Response.ERROR_SAME_APPROVER
        stranger = ReleaseEstop.Request(first_approver='safety_officer',
                                        second_approver='operator_console', reason='done')
        assert operator.call(operator.release, stranger).error_code == \
            ReleaseEstop.Response.ERROR_NOT_AUTHORIZED
        assert drone.mode_name == 'BRAKE'
        pair = ReleaseEstop.Request(first_approver='safety_officer',
                                    second_approver='shift_supervisor', reason='done')
        assert operator.call(operator.release, pair).error_code == ReleaseEstop.Response.ERROR_NONE

        # Released: the vehicle may be flown again and stays in the mode it is given.
        assert station.set_mode('GUIDED') == 0
        deadline = time.monotonic() + 1.5
        operator.spin_until(lambda: time.monotonic() > deadline, 'a quiet moment')
        assert drone.mode_name == 'GUIDED'
    finally:
        operator.close()
        watchdog.destroy_node()
        rclpy.try_shutdown()
