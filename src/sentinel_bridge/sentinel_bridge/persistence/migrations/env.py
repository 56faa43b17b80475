"""Alembic environment: runs migrations on the connection handed over by `migrate()`.

There is no alembic.ini: the node and the user CLI migrate programmatically at
start, on the engine they already built from `db_url`, so a URL with a
password never lands in a config file.
"""

from __future__ import annotations

from alembic import context

from sentinel_bridge.persistence.schema import Base

connection = context.config.attributes.get('connection')
if connection is None:
    raise RuntimeError('run migrations through sentinel_bridge.persistence.database.migrate()')

# render_as_batch lets future ALTERs work on SQLite too (copy-and-move tables).
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True,
                  compare_type=True)
with context.begin_transaction():
    context.run_migrations()
