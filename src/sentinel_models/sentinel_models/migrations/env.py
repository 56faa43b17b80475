"""Alembic environment of the model registry (version table ``alembic_version_models``).

There is no alembic.ini: :func:`sentinel_models.registry_db.migrate` runs the
migrations programmatically on the engine it was given, so a database URL
with a password never lands in a config file, and the operator API's own
alembic history in the same database (table ``alembic_version``) is left alone.
"""

from __future__ import annotations

from alembic import context

from sentinel_models.registry_schema import VERSION_TABLE, Base

connection = context.config.attributes.get('connection')
if connection is None:
    raise RuntimeError('run migrations through sentinel_models.registry_db.migrate()')

context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True,
                  version_table=VERSION_TABLE, compare_type=True,
                  # Only this registry's table: other owners' tables share the database.
                  include_name=lambda name, kind, _parent: kind != 'table' or name == 'model_versions')
with context.begin_transaction():
    context.run_migrations()
