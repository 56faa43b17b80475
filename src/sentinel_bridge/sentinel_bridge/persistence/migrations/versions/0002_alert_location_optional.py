"""Alerts without a location: the position and WGS84 columns of alerts become nullable.

An alert about no particular place (the perception drift monitor's, which covers every
camera at once) arrives with NaN coordinates; SQLite stores NaN as NULL, so the NOT NULL
columns refused the whole alert. Such alerts are now stored with NULL coordinates.

SQLite cannot drop a NOT NULL constraint in place, so batch mode rebuilds the table
(migrate() suspends foreign keys meanwhile, for alert_state_history refers to alerts).
Downgrading writes 0.0 where an alert has no location, which is what the earlier schema
recorded for an unset position.

Revision ID: 0002_alert_location_optional
Revises: 0001_initial
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0002_alert_location_optional'
down_revision = '0001_initial'
branch_labels = None
depends_on = None

# The alerts columns that locate an alert.
LOCATION_COLUMNS = ('x', 'y', 'z', 'latitude_deg', 'longitude_deg', 'altitude')


def upgrade() -> None:
    _set_location_nullable(True)


def downgrade() -> None:
    alerts = sa.table('alerts', *(sa.column(name, sa.Float()) for name in LOCATION_COLUMNS))
    for name in LOCATION_COLUMNS:
        op.execute(alerts.update().where(alerts.c[name].is_(None)).values({name: 0.0}))
    _set_location_nullable(False)


def _set_location_nullable(nullable: bool) -> None:
    with op.batch_alter_table('alerts') as batch:
        for column in LOCATION_COLUMNS:
            batch.alter_column(column, existing_type=sa.Float(), nullable=nullable)
