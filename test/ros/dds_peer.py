"""A separate ROS 2 process that mirrors every sentinel_msgs interface.

For each message type it subscribes to /interop/in/<Type> and republishes what
it receives on /interop/out/<Type>; for each service it answers
`populated(Response, seed)` where seed is 1 when the request equals
`populated(Request, 1)` and 2 otherwise; it serves InvestigatePoint with
feedback and a result built the same way. The test process checks the
results, so both directions of DDS traffic are exercised between processes.
"""

from __future__ import annotations

import sys
from pathlib import Path

import rclpy
import sentinel_msgs.action
import sentinel_msgs.msg
import sentinel_msgs.srv
from rclpy.action import ActionServer
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy

sys.path.insert(0, str(Path(__file__).parent))
from interop import interface_classes, populated, type_topic  # noqa: E402

RELIABLE = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
MATCHING_SEED = 1  # seed of the request the test sends
MISMATCH_SEED = 2  # seed answered when the request arrived altered


class Mirror(Node):
    def __init__(self) -> None:
        super().__init__('interop_mirror')
        self._keep = []
        for cls in interface_classes(sentinel_msgs.msg):
            out = self.create_publisher(cls, type_topic('out', cls), RELIABLE)
            self._keep.append(self.create_subscription(
                cls, type_topic('in', cls), out.publish, RELIABLE))
        for cls in interface_classes(sentinel_msgs.srv):
            self._keep.append(self.create_service(cls, type_topic('srv', cls), self._answer(cls)))
        for cls in interface_classes(sentinel_msgs.action):
            self._keep.append(ActionServer(self, cls, type_topic('action', cls), self._execute(cls)))
        self.get_logger().info('mirror ready')

    @staticmethod
    def _answer(cls):
        def answer(request, response):
            seed = MATCHING_SEED if request == populated(cls.Request, MATCHING_SEED) else MISMATCH_SEED
            return populated(cls.Response, seed)
        return answer

    @staticmethod
    def _execute(cls):
        def execute(goal_handle):
            seed = MATCHING_SEED if goal_handle.request == populated(cls.Goal, MATCHING_SEED) else MISMATCH_SEED
            goal_handle.publish_feedback(populated(cls.Feedback, seed))
            goal_handle.succeed()
            return populated(cls.Result, seed)
        return execute


def main() -> None:
    rclpy.init()
    node = Mirror()
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == '__main__':
    main()
