"""What the HTTP layer needs from ROS, as an interface the tests can stub.

Handlers await these calls; the rclpy implementation (rclpy_gateway.py) turns
each into a service call answered through a future with a timeout. Replies
carry the service's error_code and error_msg unchanged, plus the domain value
the service returned, so the HTTP layer decides status codes in one place.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from sentinel_bridge.domain import (AlertRecord, CommandRecord, EstopScope, SafetySnapshot,
                                    TaskRecord)

T = TypeVar('T')


class GatewayError(Exception):
    """A ROS service call produced no answer."""


class GatewayTimeout(GatewayError):
    """The service did not answer in time (HTTP 504)."""


@dataclass(frozen=True)
class Reply(Generic[T]):
    """A service answer: its error code and message, and the value it carried."""

    error_code: int
    error_msg: str
    value: T | None


class RosGateway(Protocol):
    """Service calls the operator API makes (names in docs/ros_graph.md)."""

    async def command_vehicle(self, command: CommandRecord) -> Reply[CommandRecord]:
        """/safety/command_vehicle: the safety gate's verdict on a command."""
        ...

    async def trigger_estop(self, scope: EstopScope, vehicle_ids: Sequence[str],
                            requested_by: str, reason: str) -> Reply[SafetySnapshot]:
        """/safety/trigger_estop."""
        ...

    async def release_estop(self, vehicle_ids: Sequence[str], first_approver: str,
                            second_approver: str, reason: str) -> Reply[SafetySnapshot]:
        """/safety/release_estop with both approvers."""
        ...

    async def assign_task(self, task: TaskRecord) -> Reply[TaskRecord]:
        """/mission/assign_task."""
        ...

    async def cancel_task(self, task_id: str, requested_by: str) -> Reply[TaskRecord]:
        """/mission/cancel_task."""
        ...

    async def set_task_paused(self, task_id: str, paused: bool,
                              requested_by: str) -> Reply[TaskRecord]:
        """/mission/set_task_paused."""
        ...

    async def acknowledge_alert(self, alert_id: str, operator_id: str, resolve: bool,
                                note: str) -> Reply[AlertRecord]:
        """/alerts/acknowledge (resolve=True resolves with the note)."""
        ...
