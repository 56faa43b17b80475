"""The embedded simulator as a ROS 2 node.

It publishes what Gazebo with ros_gz_bridge would (camera images and
calibration, /clock) plus ground truth, and serves fault injection. The
simulation runs in its own thread so that lockstep runs faster than real time
and rendering never blocks the executor; rclpy publishers are thread-safe.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from rcl_interfaces.msg import FloatingPointRange, ParameterDescriptor
from rclpy.node import Node
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import CameraInfo as CameraInfoMsg
from sensor_msgs.msg import Image
from sentinel_msgs.msg import GroundTruth
from sentinel_msgs.srv import InjectFault

from sentinel_common.entry_point import run_node
from sentinel_common.heartbeat import Health
from sentinel_common.heartbeat_publisher import HeartbeatPublisher
from sentinel_common.parameters import StartupError
from sentinel_common.qos import SENSOR_QOS
from sentinel_sim.pacing import RealTimePacer
from sentinel_sim.ros_conversions import (camera_info_message, ground_truth_message,
                                          image_message, stamp)
from sentinel_sim.simulation import Fault, FaultError, Simulation, SimulationOptions
from sentinel_sim.site_config import SiteConfigError, load_site
from sentinel_sim.world import WorldError

# Wall-clock seconds between real-time-factor reports in the log.
RTF_REPORT_PERIOD = 5.0


@dataclass(frozen=True)
class SimulatorParameters:
    world_file: str
    site_config: str
    seed: int
    real_time_factor: float
    render_cameras: bool
    camera_rate_scale: float
    ground_truth_rate: float
    mavlink_host: str
    mavlink_port_offset: int


def _declare(node: Node) -> SimulatorParameters:
    def describe(text: str, low: float | None = None, high: float | None = None) -> ParameterDescriptor:
        ranges = [FloatingPointRange(from_value=low, to_value=high)] if low is not None else []
        return ParameterDescriptor(description=text, floating_point_range=ranges)

    node.declare_parameter('world_file', '', describe('SDF world to simulate (worlds/*.sdf)'))
    node.declare_parameter('site_config', '', describe('site configuration YAML of that world'))
    node.declare_parameter('seed', 0, describe('seed of every random process (deterministic runs)'))
    node.declare_parameter('real_time_factor', 1.0, describe(
        'simulated seconds per wall second; 0 runs as fast as possible (lockstep)', 0.0, 100.0))
    node.declare_parameter('render_cameras', True, describe('render and publish camera images'))
    node.declare_parameter('camera_rate_scale', 1.0, describe(
        'multiplies every camera rate of the world', 0.0, 10.0))
    node.declare_parameter('ground_truth_rate', 10.0, describe(
        'Hz of ground-truth messages between camera frames', 0.1, 100.0))
    node.declare_parameter('mavlink_host', '127.0.0.1', describe(
        'address the emulated autopilots bind their UDP ports to'))
    node.declare_parameter('mavlink_port_offset', 0, describe(
        'added to every vehicle port of the world, to run two simulations side by side'))
    value = node.get_parameter
    parameters = SimulatorParameters(
        world_file=value('world_file').value, site_config=value('site_config').value,
        seed=value('seed').value, real_time_factor=value('real_time_factor').value,
        render_cameras=value('render_cameras').value,
        camera_rate_scale=value('camera_rate_scale').value,
        ground_truth_rate=value('ground_truth_rate').value,
        mavlink_host=value('mavlink_host').value,
        mavlink_port_offset=value('mavlink_port_offset').value)
    for name in ('world_file', 'site_config'):
        if not getattr(parameters, name):
            raise StartupError(f'parameter {name} is required')
    return parameters


class SimulatorNode(Node):
    """Steps the simulation in a thread and publishes its outputs."""

    def __init__(self) -> None:
        super().__init__('simulator')
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.parameters = _declare(self)
        try:
            site, world = load_site(self.parameters.site_config)
        except (SiteConfigError, WorldError) as error:
            raise StartupError(str(error)) from None
        for warning in world.warnings:
            self.get_logger().warning(f'{warning.file}:{warning.line}: {warning.element}: '
                                      f'{warning.reason}')
        self.simulation = Simulation(world, site, SimulationOptions(
            seed=self.parameters.seed, render=self.parameters.render_cameras,
            camera_rate_scale=self.parameters.camera_rate_scale,
            mavlink_host=self.parameters.mavlink_host,
            mavlink_port_offset=self.parameters.mavlink_port_offset))
        self._lock = threading.Lock()
        self.heartbeat = HeartbeatPublisher(self)
        self._clock_publisher = self.create_publisher(Clock, '/clock', 10)
        self._ground_truth = self.create_publisher(GroundTruth, '/sim/ground_truth', SENSOR_QOS)
        self._images = {c: self.create_publisher(Image, f'/cameras/{c}/image_raw', SENSOR_QOS)
                        for c in self.simulation.camera_names}
        self._infos = {c: self.create_publisher(CameraInfoMsg, f'/cameras/{c}/camera_info',
                                                SENSOR_QOS)
                       for c in self.simulation.camera_names}
        self.create_service(InjectFault, '/sim/inject_fault', self._inject_fault)
        self.get_logger().info(
            f'simulating {world.name}: {len(world.vehicles)} vehicles, {len(world.actors)} '
            f'actors, {len(world.cameras)} cameras; MAVLink on '
            + ', '.join(f'{v.model.name}=udp:{self.parameters.mavlink_host}:'
                        f'{self.simulation.mavlink_port(v.model.name)}' for v in world.vehicles))
        self._thread = threading.Thread(target=self._run, name='simulation', daemon=True)
        self._thread.start()

    def _run(self) -> None:
        period = self.simulation.options.control_period
        pacer = RealTimePacer(self.parameters.real_time_factor)
        truth_period = 1.0 / self.parameters.ground_truth_rate
        next_truth = 0.0
        report = time.monotonic() + RTF_REPORT_PERIOD
        try:
            while not self._stop.is_set():
                with self._lock:
                    frames = self.simulation.step()
                    now = self.simulation.time
                    entities = self.simulation.entity_states() if frames or now >= next_truth \
                        else None
                self._clock_publisher.publish(Clock(clock=stamp(now)))
                for frame in frames:
                    self._images[frame.camera].publish(image_message(frame))
                    self._infos[frame.camera].publish(
                        camera_info_message(frame.camera, frame.stamp, frame.info))
                if entities is not None:
                    self._ground_truth.publish(ground_truth_message(now, entities, frames))
                    next_truth = now + truth_period
                self.heartbeat.state.record_progress()
                pacer.wait(period)
                if time.monotonic() >= report:
                    report += RTF_REPORT_PERIOD
                    self.get_logger().info(f'real-time factor {pacer.achieved():.2f} '
                                           f'(sim time {now:.1f} s)')
        except Exception as error:  # the thread must not die silently: report and degrade
            if not self.context.ok():
                return  # Ctrl-C shut the context down under a publish: a normal end
            self.heartbeat.state.set_health(Health.ERROR, f'simulation stopped: {error}')
            self.get_logger().fatal(f'simulation stopped: {error!r}')
            raise
        finally:
            # GL contexts belong to this thread: release them here, not in the executor's.
            self.simulation.close()

    def _inject_fault(self, request: InjectFault.Request,
                      response: InjectFault.Response) -> InjectFault.Response:
        try:
            fault = Fault(request.fault)
            with self._lock:
                self.simulation.inject(fault, request.target, request.magnitude, request.clear)
            response.error_code = InjectFault.Response.ERROR_NONE
        except FaultError as error:
            response.error_code = (InjectFault.Response.ERROR_UNKNOWN_TARGET
                                   if error.unknown_target else InjectFault.Response.ERROR_INVALID)
            response.error_msg = str(error)
        except ValueError:
            response.error_code = InjectFault.Response.ERROR_INVALID
            response.error_msg = f'unknown fault {request.fault}'
        if response.error_code != InjectFault.Response.ERROR_NONE:
            self.get_logger().warning(f'fault injection refused: {response.error_msg}')
        return response

    def destroy_node(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread.is_alive():
            self._thread.join(timeout=5.0)
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    return run_node(SimulatorNode, args, name='simulator')


if __name__ == '__main__':
    raise SystemExit(main())
