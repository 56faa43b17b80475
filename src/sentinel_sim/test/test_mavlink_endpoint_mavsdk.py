"""MAVSDK (the native C++ library behind pip ``mavsdk`` 4.x) connects to an emulated vehicle.

MAVSDK is a second, independent MAVLink implementation: if it discovers the
vehicle as an ArduPilot autopilot, reads its telemetry, arms it and takes off,
the emulation speaks the protocol well enough for third-party tools. The
package ships its own ``libcmavsdk`` and needs no network; the test is skipped
(visibly) only where the package is not installed.
"""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

mavsdk = pytest.importorskip('mavsdk', reason='pip package mavsdk (4.x, native) is not installed')

from mavsdk import ComponentType, Configuration, Mavsdk  # noqa: E402
from mavsdk.plugins.action import Action  # noqa: E402
from mavsdk.plugins.telemetry import FlightMode, Telemetry  # noqa: E402


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
WAIT_S = 10.0  # wall-clock limit for discovery and each expected state


def eventually(read: Any, predicate: Any, what: str) -> Any:
    end = time.monotonic() + WAIT_S
    while time.monotonic() < end:
        value = read()
        if predicate(value):
            return value
        time.sleep(0.05)
    raise AssertionError(f'{what}: last value {read()!r}')


def test_mavsdk_discovers_reads_telemetry_arms_and_takes_off() -> None:
    config = H.make_config(system_id=3, gcs_timeout_s=30.0, auto_disarm_s=30.0)
    with H.HubLoop([config]) as loop:
        sdk = Mavsdk(Configuration.create_with_component_type(ComponentType.GROUND_STATION))
        try:
            sdk.add_any_connection(f'udpout://127.0.0.1:{loop.ports[3]}')
            system = sdk.first_autopilot(WAIT_S)
            assert system is not None, 'MAVSDK did not discover the vehicle'
            assert system.get_system_id() == 3
            telemetry = Telemetry(system)
            action = Action(system)
            position = eventually(telemetry.position, lambda p: abs(p.latitude_deg - H.ORIGIN[0]) < 1e-6,
                                  'position at the site origin')
            assert abs(position.longitude_deg - H.ORIGIN[1]) < 1e-6
            assert abs(position.absolute_altitude_m - H.ORIGIN[2]) < 0.01
            gps = eventually(telemetry.gps_info, lambda g: g.num_satellites > 0, 'gps info')
            assert gps.num_satellites == config.gps_satellites
            battery = eventually(telemetry.battery, lambda b: b.remaining_percent > 0, 'battery')
            assert battery.remaining_percent >= 99 and 16.0 < battery.voltage_v < 17.0
            assert eventually(telemetry.health, lambda h: h.is_armable, 'armable health').is_global_position_ok
            assert telemetry.flight_mode() == FlightMode.STABILIZED
            action.arm()
            eventually(telemetry.armed, bool, 'armed')
            action.set_takeoff_altitude(6.0)
            action.takeoff()  # MAVSDK switches ArduPilot to GUIDED, then NAV_TAKEOFF
            eventually(lambda: telemetry.position().relative_altitude_m, lambda z: z > 5.5, 'takeoff altitude')
            assert telemetry.in_air()
            assert loop.autopilots[3].mode_name == 'GUIDED'
        finally:
            sdk.destroy()
