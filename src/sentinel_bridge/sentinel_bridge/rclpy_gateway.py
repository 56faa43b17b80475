"""The RosGateway over rclpy service clients.

The node's executor spins in its own thread; HTTP handlers run on the asyncio
loop. A call sends the request with call_async (safe from another thread),
and the rclpy future's done-callback, which runs on the executor thread,
hands the response to an asyncio future through call_soon_threadsafe. The
handler awaits that with a timeout; on timeout the pending request is
dropped so a late answer is ignored.

At most MAX_IN_FLIGHT calls per service are outstanding at once; more wait
for a slot (within the same timeout). Services use KEEP_LAST queues of that
depth on both ends, so when 50 operators press the e-stop together an
unbounded burst overflows the server's request queue or this client's answer
queue, and the overflowing calls are silently lost: they were answered 504
after service_timeout_s although the e-stop had engaged.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from rclpy.client import Client
from rclpy.node import Node
from rclpy.qos import qos_profile_services_default
from rclpy.task import Future
from sentinel_msgs.srv import (AcknowledgeAlert, AssignTask, CancelTask, CommandVehicle,
                               ReleaseEstop, SetTaskPaused, TriggerEstop)

from sentinel_bridge import ros_convert
from sentinel_bridge.domain import (AlertRecord, CommandRecord, EstopScope, SafetySnapshot,
                                    TaskRecord)
from sentinel_bridge.operator_api.gateway import GatewayTimeout, Reply

# Service names (docs/ros_graph.md); absolute, so the node's namespace does not apply.
COMMAND_VEHICLE = '/safety/command_vehicle'
TRIGGER_ESTOP = '/safety/trigger_estop'
RELEASE_ESTOP = '/safety/release_estop'
ASSIGN_TASK = '/mission/assign_task'
CANCEL_TASK = '/mission/cancel_task'
SET_TASK_PAUSED = '/mission/set_task_paused'
ACKNOWLEDGE_ALERT = '/alerts/acknowledge'
# How often a call waiting for its server to be discovered checks again, seconds.
DISCOVERY_POLL_S = 0.05
# Calls in flight per service at most: the depth of the services QoS both ends use.
MAX_IN_FLIGHT = qos_profile_services_default.depth


def _now() -> datetime:
    return datetime.now(timezone.utc)


class RclpyGateway:
    """Service clients of one node, awaited from asyncio with a timeout."""

    def __init__(self, node: Node, timeout_s: float) -> None:
        self._timeout_s = timeout_s
        self._command = node.create_client(CommandVehicle, COMMAND_VEHICLE)
        self._trigger = node.create_client(TriggerEstop, TRIGGER_ESTOP)
        self._release = node.create_client(ReleaseEstop, RELEASE_ESTOP)
        self._assign = node.create_client(AssignTask, ASSIGN_TASK)
        self._cancel = node.create_client(CancelTask, CANCEL_TASK)
        self._pause = node.create_client(SetTaskPaused, SET_TASK_PAUSED)
        self._acknowledge = node.create_client(AcknowledgeAlert, ACKNOWLEDGE_ALERT)
        self._slots: dict[str, asyncio.Semaphore] = {}

    async def _call(self, client: Client, request: Any) -> Any:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timeout_s
        # A request sent before the server is discovered is lost, so wait for
        # it first (within the same time budget) instead of sending into the void.
        while not client.service_is_ready():
            if loop.time() >= deadline:
                raise GatewayTimeout(f'{client.srv_name}: no server available within '
                                     f'{self._timeout_s:.1f} s')
            await asyncio.sleep(DISCOVERY_POLL_S)
        slots = self._slots.setdefault(client.srv_name, asyncio.Semaphore(MAX_IN_FLIGHT))
        try:
            await asyncio.wait_for(slots.acquire(), max(0.0, deadline - loop.time()))
        except TimeoutError:
            raise GatewayTimeout(f'{client.srv_name}: {MAX_IN_FLIGHT} calls still waiting for '
                                 f'answers after {self._timeout_s:.1f} s') from None
        try:
            return await self._send(client, request, deadline)
        finally:
            slots.release()

    async def _send(self, client: Client, request: Any, deadline: float) -> Any:
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[Any] = loop.create_future()

        def settle(done: Future) -> None:
            if answer.done():
                return
            error = done.exception()
            if error is not None:
                answer.set_exception(error)
            else:
                answer.set_result(done.result())

        future = client.call_async(request)
        future.add_done_callback(lambda done: loop.call_soon_threadsafe(settle, done))
        try:
            return await asyncio.wait_for(answer, max(0.0, deadline - loop.time()))
        except TimeoutError:
            client.remove_pending_request(future)
            raise GatewayTimeout(f'{client.srv_name} did not answer within '
                                 f'{self._timeout_s:.1f} s') from None

    async def command_vehicle(self, command: CommandRecord) -> Reply[CommandRecord]:
        request = CommandVehicle.Request(command=ros_convert.command_to_msg(command))
        response = await self._call(self._command, request)
        return Reply(response.error_code, response.error_msg,
                     ros_convert.command_from_msg(response.command, _now(), source='api'))

    async def trigger_estop(self, scope: EstopScope, vehicle_ids: Sequence[str],
                            requested_by: str, reason: str) -> Reply[SafetySnapshot]:
        request = TriggerEstop.Request(scope=int(scope), vehicle_ids=list(vehicle_ids),
                                       requested_by=requested_by, reason=reason)
        response = await self._call(self._trigger, request)
        return Reply(response.error_code, response.error_msg,
                     ros_convert.safety_from_msg(response.status, _now()))

    async def release_estop(self, vehicle_ids: Sequence[str], first_approver: str,
                            second_approver: str, reason: str) -> Reply[SafetySnapshot]:
        request = ReleaseEstop.Request(vehicle_ids=list(vehicle_ids),
                                       first_approver=first_approver,
                                       second_approver=second_approver, reason=reason)
        response = await self._call(self._release, request)
        return Reply(response.error_code, response.error_msg,
                     ros_convert.safety_from_msg(response.status, _now()))

    async def assign_task(self, task: TaskRecord) -> Reply[TaskRecord]:
        request = AssignTask.Request(task=ros_convert.task_to_msg(task, _now()))
        response = await self._call(self._assign, request)
        return Reply(response.error_code, response.error_msg,
                     ros_convert.task_from_msg(response.task, _now()))

    async def cancel_task(self, task_id: str, requested_by: str) -> Reply[TaskRecord]:
        request = CancelTask.Request(task_id=task_id, requested_by=requested_by)
        response = await self._call(self._cancel, request)
        return Reply(response.error_code, response.error_msg,
                     ros_convert.task_from_msg(response.task, _now()))

    async def set_task_paused(self, task_id: str, paused: bool,
                              requested_by: str) -> Reply[TaskRecord]:
        request = SetTaskPaused.Request(task_id=task_id, paused=paused, requested_by=requested_by)
        response = await self._call(self._pause, request)
        return Reply(response.error_code, response.error_msg,
                     ros_convert.task_from_msg(response.task, _now()))

    async def acknowledge_alert(self, alert_id: str, operator_id: str, resolve: bool,
                                note: str) -> Reply[AlertRecord]:
        request = AcknowledgeAlert.Request(alert_id=alert_id, operator_id=operator_id,
                                           resolve=resolve, note=note)
        response = await self._call(self._acknowledge, request)
        return Reply(response.error_code, response.error_msg,
                     ros_convert.alert_from_msg(response.alert, _now()))
