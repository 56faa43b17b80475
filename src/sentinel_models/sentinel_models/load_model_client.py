"""Ask the running detector to switch models (``/perception/load_model``) after a promotion.

Thin rclpy wrapper, imported only when `sentinel-models promote --reload` (or
rollback) asks for it, so the registry CLI itself needs no ROS.
"""

from __future__ import annotations

import logging

_LOG = logging.getLogger(__name__)

# Service of the detector (docs/ros_graph.md).
LOAD_MODEL_SERVICE = '/perception/load_model'
# Seconds to wait for the service to appear and then to answer.
DISCOVERY_TIMEOUT_S = 5.0
CALL_TIMEOUT_S = 30.0


def request_reload(version: str = '') -> tuple[bool, str]:
    """Call LoadModel (empty version: the registry's active one); (loaded, message)."""
    import rclpy
    from rclpy.executors import ExternalShutdownException
    from rclpy.node import Node
    from sentinel_msgs.srv import LoadModel

    rclpy.init()
    try:
        node = Node('sentinel_models_cli')
        client = node.create_client(LoadModel, LOAD_MODEL_SERVICE)
        if not client.wait_for_service(timeout_sec=DISCOVERY_TIMEOUT_S):
            return False, (f'{LOAD_MODEL_SERVICE} is not available (is the detector running?); '
                           'it will load the active version when it starts')
        request = LoadModel.Request()
        request.version = version
        future = client.call_async(request)
        try:
            rclpy.spin_until_future_complete(node, future, timeout_sec=CALL_TIMEOUT_S)
        except ExternalShutdownException:
            return False, 'shut down before the detector answered'
        result = future.result()
        if result is None:
            return False, f'{LOAD_MODEL_SERVICE} did not answer within {CALL_TIMEOUT_S:.0f} s'
        if result.error_code != LoadModel.Response.ERROR_NONE:
            return False, f'the detector refused: {result.error_msg}'
        return True, f'the detector now runs {result.model.version}'
    finally:
        rclpy.try_shutdown()
