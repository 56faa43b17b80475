"""Emulated ArduPilot autopilot for one simulated vehicle: MAVLink in, setpoints out.

Why this exists: Sentinel speaks to vehicles in standard MAVLink only, so the
embedded simulator must offer each airframe an autopilot that behaves, on the
wire, like ArduPilot SITL (Copter for drones, Rover for ground vehicles). Then
the vehicle interface, the safety node, QGroundControl or MAVSDK cannot tell a
simulated vehicle from SITL or a real one.

The package is pure logic: no sockets, no rclpy, no wall clock; every entry
point takes ``now``, so a test can drive it with a fake clock and get the same
result every run. The physics contract (``Setpoint`` / ``BodyState``) is in
``sentinel_sim.vehicle_types``; the navigation estimate is the physics ground
truth (a perfect EKF) and only the raw GPS report carries noise.

Modules, from the leaves up:

    wire, geometry        MAVLink field encoding; frames, angles, WGS84
    config                AutopilotConfig and its validation
    modes                 mode numbers, what each does, failsafe mode choices
    streams               telemetry rates and schedule
    sensors, link         battery and GPS models; injected link loss and latency
    mission, fence        mission/fence items and their checks; fence geometry
    navigation            RTL / GUIDED / AUTO progress records
    vehicle               the state, modes, arming and mission sequencing
    telemetry             message builders
    control               setpoints and touchdown
    failsafes             GCS, battery, GPS and fence failsafes
    targets, commands     guided targets; MAV_CMD handling
    mission_protocol      mission upload / download
    params                read-only parameter table
    emulator              Autopilot: step order and message dispatch

Only the names below are the public API.
"""

from sentinel_sim.autopilot.config import AutopilotConfig, ConfigError, FailsafeAction, FenceAction
from sentinel_sim.autopilot.emulator import Autopilot, AutopilotOutput
from sentinel_sim.autopilot.fence import Fence
from sentinel_sim.autopilot.link import LinkFaults
from sentinel_sim.autopilot.mission import MissionItem
from sentinel_sim.autopilot.modes import CopterMode, RoverMode, mode_names
from sentinel_sim.autopilot.sensors import BatteryModel, GpsModel
from sentinel_sim.autopilot.streams import DATA_STREAMS, DEFAULT_RATES_HZ
from sentinel_sim.autopilot.wire import MavMessage

__all__ = [
    'DATA_STREAMS', 'DEFAULT_RATES_HZ', 'Autopilot', 'AutopilotConfig', 'AutopilotOutput', 'BatteryModel',
    'ConfigError', 'CopterMode', 'FailsafeAction', 'Fence', 'FenceAction', 'GpsModel', 'LinkFaults',
    'MavMessage', 'MissionItem', 'RoverMode', 'mode_names',
]
