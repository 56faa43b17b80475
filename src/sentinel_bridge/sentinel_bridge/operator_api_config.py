"""Parameters of the operator_api node, read once into a frozen, validated dataclass.

Defaults suit a single host: the API on loopback, SQLite under the user's data
directory. Invalid values stop the node at start with the parameter name and
the reason, rather than running with something unexpected.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from sentinel_bridge.auth import MAX_TTL_S
from sentinel_bridge.estop_release import DEFAULT_WINDOW_S, MAX_WINDOW_S
from sentinel_bridge.ingest import DEFAULT_TELEMETRY_PERIOD_S
from sentinel_bridge.persistence.database import parse_db_url
from sentinel_bridge.persistence.outbox import DEFAULT_MAX_RECORDS

# Where Sentinel keeps its data unless told otherwise (XDG base directory spec).
DEFAULT_DATA_DIR = os.path.join(
    os.environ.get('XDG_DATA_HOME') or os.path.join(os.path.expanduser('~'), '.local', 'share'),
    'sentinel')
# The default database: SQLite in the data directory.
DEFAULT_DB_URL = f'sqlite:///{DEFAULT_DATA_DIR}/sentinel.db'
# Address the API binds to by default: loopback only, never exposed by accident.
DEFAULT_HOST = '127.0.0.1'
# Default TCP port of the API.
DEFAULT_PORT = 8080
# Default token lifetime, seconds (a control-room shift re-logs in every 15 min).
DEFAULT_TOKEN_TTL_S = 900.0
# Default wait for a ROS service answer before answering 504, seconds.
DEFAULT_SERVICE_TIMEOUT_S = 5.0
# Longest service timeout accepted, seconds.
MAX_SERVICE_TIMEOUT_S = 60.0
# Highest TCP port number.
MAX_PORT = 65535


@dataclass(frozen=True)
class OperatorApiConfig:
    """Validated node parameters."""

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    db_url: str = DEFAULT_DB_URL
    data_dir: Path = Path(DEFAULT_DATA_DIR)
    token_ttl_s: float = DEFAULT_TOKEN_TTL_S
    service_timeout_s: float = DEFAULT_SERVICE_TIMEOUT_S
    estop_release_window_s: float = DEFAULT_WINDOW_S
    telemetry_period_s: float = DEFAULT_TELEMETRY_PERIOD_S
    queue_max_records: int = DEFAULT_MAX_RECORDS


def make_config(host: str, port: int, db_url: str, data_dir: str, token_ttl_s: float,
                service_timeout_s: float, estop_release_window_s: float,
                telemetry_period_s: float, queue_max_records: int) -> OperatorApiConfig:
    """Check every parameter; ValueError names the first bad one and why."""
    if not host:
        raise ValueError('host: must not be empty')
    if not 0 <= port <= MAX_PORT:
        raise ValueError(f'port: must be 0 (pick a free one) to {MAX_PORT}, got {port}')
    try:
        parse_db_url(db_url)
    except ValueError as error:
        raise ValueError(f'db_url: {error}') from None
    if not data_dir:
        raise ValueError('data_dir: must not be empty')
    if not 0.0 < token_ttl_s <= MAX_TTL_S:
        raise ValueError(f'token_ttl_s: must be in (0, {MAX_TTL_S:.0f}] s, got {token_ttl_s}')
    if not 0.0 < service_timeout_s <= MAX_SERVICE_TIMEOUT_S:
        raise ValueError(f'service_timeout_s: must be in (0, {MAX_SERVICE_TIMEOUT_S:.0f}] s, '
                         f'got {service_timeout_s}')
    if not 0.0 < estop_release_window_s <= MAX_WINDOW_S:
        raise ValueError(f'estop_release_window_s: must be in (0, {MAX_WINDOW_S:.0f}] s, '
                         f'got {estop_release_window_s}')
    if telemetry_period_s < 0.0:
        raise ValueError(f'telemetry_period_s: must be >= 0 s, got {telemetry_period_s}')
    if queue_max_records < 1:
        raise ValueError(f'queue_max_records: must be >= 1, got {queue_max_records}')
    return OperatorApiConfig(host, port, db_url, Path(os.path.expanduser(data_dir)), token_ttl_s,
                             service_timeout_s, estop_release_window_s, telemetry_period_s,
                             queue_max_records)
