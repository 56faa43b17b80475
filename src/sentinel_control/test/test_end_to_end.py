"""Mission control and the vehicle interface together, over real UDP to the simulator's autopilots.

Only the safety gate is a stub (it approves everything and forwards it on
/safety/approved_commands, as the real gate does with approved commands), so
an investigation runs the whole command path: the action, allocation, the
gate call, the approved command, the MAVLink plan (GUIDED, arm, takeoff,
climb, position targets with a heading toward the target), telemetry back
into mission control, the observation, and the return home.
"""

from __future__ import annotations

import importlib.util
import math
import os
import sys
import threading
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import rclpy
from geometry_msgs.msg import Point
from rclpy.action import ActionClient
from rclpy.executors import MultiThreadedExecutor, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from sentinel_msgs.action import InvestigatePoint
from sentinel_msgs.msg import SafetyVerdict, VehicleCommand, VehicleState
from sentinel_msgs.srv import CommandVehicle

from sentinel_common.qos import EVENT_QOS, SENSOR_QOS
from sentinel_control.mission_control_node import MissionControlNode
from sentinel_control.vehicle_interface_node import VehicleInterfaceNode
from sentinel_sim.vehicle_types import VehicleKind

pytestmark = pytest.mark.ros
TEST_DOMAIN_ID = 1 + (os.getpid() + 50) % 99   # a DDS domain of its own (see the other node tests)
POLICY = Path(__file__).resolve().parents[3] / 'config' / 'response_policy.yaml'


def _load(name: str) -> ModuleType:
    module_name = f'sentinel_control_test_{name}'
    if module_name not in sys.modules:
        spec = importlib.util.spec_from_file_location(module_name, Path(__file__).with_name(f'{name}.py'))
        assert spec is not None and spec.loader is not None
        sys.modules[module_name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[module_name])
    return sys.modules[module_name]


E = _load('emulated_fleet')
SPECS = [E.VehicleSpec('drone_1', 1, VehicleKind.DRONE, (-60.0, -20.0)),
         E.VehicleSpec('drone_2', 2, VehicleKind.DRONE, (-140.0, -90.0))]


class PassThroughGate(Node):
    """Approves every proposal and forwards it to the vehicle interface, as the real gate does."""

    def __init__(self) -> None:
        super().__init__('e2e_gate')
        self.seen: list[VehicleCommand] = []
        self.approved = self.create_publisher(VehicleCommand, '/safety/approved_commands', EVENT_QOS)
        self.create_service(CommandVehicle, '/safety/command_vehicle', self._check)

    def _check(self, request: CommandVehicle.Request, response: CommandVehicle.Response) -> Any:
        command = request.command
        command.verdict.decision = SafetyVerdict.APPROVED
        self.seen.append(command)
        self.approved.publish(command)
        response.command = command
        response.error_code = CommandVehicle.Response.ERROR_NONE
        return response


def test_investigation_over_the_whole_command_path(tmp_path: Path) -> None:
    rclpy.init(domain_id=TEST_DOMAIN_ID)
    fleet = E.EmulatedFleet(SPECS, scale=6.0).__enter__()
    site = E.site_yaml(tmp_path, [(s, f'udpout:127.0.0.1:{fleet.ports[s.system_id]}') for s in SPECS])
    vehicles = VehicleInterfaceNode(parameter_overrides=[Parameter('site_config', value=str(site))])
    mission = MissionControlNode(parameter_overrides=[Parameter('site_config', value=str(site)),
                                                      Parameter('response_policy', value=str(POLICY))])
    gate = PassThroughGate()
    background = MultiThreadedExecutor(num_threads=4)
    for node in (vehicles, mission, gate):
        background.add_node(node)
    thread = threading.Thread(target=background.spin, daemon=True)
    thread.start()
    client = Node('e2e_operator')
    states: dict[str, VehicleState] = {}
    history: list[VehicleState] = []

    def on_state(msg: VehicleState) -> None:
        states['drone_1'] = msg
        history.append(msg)

    client.create_subscription(VehicleState, '/vehicles/drone_1/state', on_state, SENSOR_QOS)
    action = ActionClient(client, InvestigatePoint, '/mission/investigate_point')
    executor = SingleThreadedExecutor()
    executor.add_node(client)

    def spin_until(predicate: Any, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            assert time.monotonic() < deadline, f'{what}: not within {timeout} s ({states.get("drone_1")})'
            executor.spin_once(timeout_sec=0.05)

    try:
        assert action.wait_for_server(timeout_sec=10.0)
        spin_until(lambda: 'drone_1' in states and states['drone_1'].link_state == VehicleState.LINK_OK, 15.0,
                   'drone_1 link up')
        time.sleep(0.5)   # mission control has seen the fleet too
        goal = InvestigatePoint.Goal()
        goal.target = Point(x=-20.0, y=10.0, z=0.0)
        goal.observe_duration = 5.0
        goal.orbit_radius = 12.0
        feedback: list[Any] = []
        sent = action.send_goal_async(goal, feedback_callback=lambda f: feedback.append(f.feedback))
        spin_until(sent.done, 10.0, 'goal accepted')
        result_future = sent.result().get_result_async()
        spin_until(result_future.done, 90.0, 'investigation')
        result = result_future.result().result
        assert result.error_code == InvestigatePoint.Result.ERROR_NONE, result.error_msg
        assert result.vehicle_id == 'drone_1' and result.time_on_target >= 5.0
        observing = [f for f in feedback if f.phase == InvestigatePoint.Feedback.PHASE_OBSERVING]
        assert observing and all(f.distance_to_target < 12.0 + 10.0 for f in observing)
        assert max(f.vehicle_position.z for f in observing) == pytest.approx(30.0, abs=2.0)
        goals = [c for c in gate.seen if c.command == VehicleCommand.COMMAND_GOTO]
        assert len(goals) >= 3 and all(len(c.route) == 1 for c in goals), 'orbit points, each facing the target'
        assert all(math.hypot(c.target.x + 20.0, c.target.y - 10.0) == pytest.approx(12.0, abs=0.01) for c in goals)
        # on the orbit the drone faces the target: each orbit point's heading is the bearing to the target
        # from that point, so between points it is off by at most the 30 degrees between them
        on_orbit = [m for m in history if abs(math.hypot(m.position.x + 20.0, m.position.y - 10.0) - 12.0) < 0.5
                    and abs(m.position.z - 30.0) < 1.0]
        assert on_orbit
        for m in on_orbit:
            bearing = math.degrees(math.atan2(-20.0 - m.position.x, 10.0 - m.position.y)) % 360.0
            assert abs((m.heading_deg - bearing + 180.0) % 360.0 - 180.0) < 35.0, (m.heading_deg, bearing)
        spin_until(lambda: any(c.command == VehicleCommand.COMMAND_RTL for c in gate.seen), 10.0, 'sent home')
        spin_until(lambda: states['drone_1'].landed and not states['drone_1'].armed, 60.0, 'back on its pad')
        assert math.hypot(states['drone_1'].position.x + 60.0, states['drone_1'].position.y + 20.0) < 2.0
    finally:
        background.shutdown()
        thread.join(timeout=5.0)
        for node in (vehicles, mission, gate, client):
            node.destroy_node()
        fleet.stop()
        rclpy.try_shutdown()
