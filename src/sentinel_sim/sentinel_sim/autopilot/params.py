"""A read-only parameter table mirroring the configuration under ArduPilot's parameter names.

Why: QGroundControl and MAVProxy load the parameter list when they connect and
show it to operators. Answering with the real names (FS_GCS_TIMEOUT, RTL_ALT...)
lets them do so; values are changed through the site configuration, never over
the link, so PARAM_SET is refused with a STATUSTEXT.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from sentinel_sim.autopilot.config import AutopilotConfig, FailsafeAction, FenceAction
from sentinel_sim.autopilot.vehicle import Vehicle
from sentinel_sim.autopilot.wire import CENTI
from sentinel_sim.vehicle_types import VehicleKind

# FENCE_ACTION values ArduPilot uses for the actions this emulation has.
FENCE_ACTION_CODES = {FenceAction.REPORT: 0.0, FenceAction.RTL: 1.0, FenceAction.BRAKE_THEN_RTL: 4.0}

Handler = Callable[[Any, tuple[int, int], float], None]


def parameter_table(config: AutopilotConfig) -> dict[str, float]:
    """ArduPilot parameter name -> value, sorted by name as ArduPilot lists them."""
    c = config
    table = {
        'SYSID_THISMAV': float(c.system_id),
        'FS_GCS_ENABLE': 0.0 if c.gcs_failsafe_action is FailsafeAction.NONE else 1.0,
        'FS_GCS_TIMEOUT': c.gcs_timeout_s,
        'BATT_CAPACITY': c.battery_capacity_mah,
        'FENCE_ACTION': FENCE_ACTION_CODES[c.fence_action],
        'WP_RADIUS': c.wp_radius_m,
    }
    if c.kind is VehicleKind.DRONE:
        table.update({'RTL_ALT': c.rtl_altitude_m * CENTI, 'WPNAV_SPEED': c.cruise_speed_m_s * CENTI,
                      'LAND_SPEED': c.land_speed_m_s * CENTI, 'DISARM_DELAY': c.auto_disarm_s})
    else:
        table['CRUISE_SPEED'] = c.cruise_speed_m_s
    return dict(sorted(table.items()))


class Parameters:
    """Answers PARAM_REQUEST_LIST, PARAM_REQUEST_READ and (by refusing) PARAM_SET."""

    def __init__(self, vehicle: Vehicle) -> None:
        self._v = vehicle
        self._params = parameter_table(vehicle.config)
        self._names = list(self._params)

    def handlers(self) -> dict[str, Handler]:
        """Message type -> handler, for the autopilot's dispatch table."""
        return {
            'PARAM_REQUEST_LIST': self.on_request_list,
            'PARAM_REQUEST_READ': self.on_request_read,
            'PARAM_SET': self.on_set,
        }

    def _send_value(self, name: str, now: float) -> None:
        self._v.send(mavlink.MAVLink_param_value_message(
            name.encode('ascii'), self._params[name], mavlink.MAV_PARAM_TYPE_REAL32,
            len(self._names), self._names.index(name)), now)

    def on_request_list(self, msg: Any, src: tuple[int, int], now: float) -> None:
        for name in self._names:
            self._send_value(name, now)

    def on_request_read(self, msg: Any, src: tuple[int, int], now: float) -> None:
        index = int(msg.param_index)
        name = msg.param_id if index < 0 else (self._names[index] if index < len(self._names) else '')
        if name in self._params:
            self._send_value(name, now)

    def on_set(self, msg: Any, src: tuple[int, int], now: float) -> None:
        name = msg.param_id
        if name in self._params:
            self._v.status(mavlink.MAV_SEVERITY_WARNING, f'Param {name} is read-only here', now)
            self._send_value(name, now)
        else:
            self._v.status(mavlink.MAV_SEVERITY_WARNING, f'Param {name} unknown', now)
