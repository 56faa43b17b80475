"""Initial schema: users, alerts with history, tasks, commands and verdicts, e-stop
events, telemetry, the hash-chained audit log, and the model registry.

Triggers make audit_entries append-only at the database level (UPDATE and DELETE
are refused), on SQLite and PostgreSQL alike; the hash chain still detects
changes made by someone who drops the triggers first.

Revision ID: 0001_initial
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0001_initial'
down_revision = None
branch_labels = None
depends_on = None

# Message raised by the append-only triggers.
APPEND_ONLY_MESSAGE = 'audit_entries is append-only'


def upgrade() -> None:
    op.create_table('alerts',
    sa.Column('alert_id', sa.String(length=128), nullable=False),
    sa.Column('severity', sa.SmallInteger(), nullable=False),
    sa.Column('category', sa.String(length=64), nullable=False),
    sa.Column('state', sa.SmallInteger(), nullable=False),
    sa.Column('rule_id', sa.String(length=128), nullable=False),
    sa.Column('zone_id', sa.String(length=128), nullable=False),
    sa.Column('track_id', sa.String(length=128), nullable=False),
    sa.Column('class_name', sa.String(length=64), nullable=False),
    sa.Column('x', sa.Float(), nullable=False),
    sa.Column('y', sa.Float(), nullable=False),
    sa.Column('z', sa.Float(), nullable=False),
    sa.Column('latitude_deg', sa.Float(), nullable=False),
    sa.Column('longitude_deg', sa.Float(), nullable=False),
    sa.Column('altitude', sa.Float(), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('evidence_uri', sa.Text(), nullable=False),
    sa.Column('acknowledged_by', sa.String(length=128), nullable=False),
    sa.Column('resolution_note', sa.Text(), nullable=False),
    sa.Column('raised_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('alert_id', name=op.f('pk_alerts'))
    )
    op.create_index(op.f('ix_alerts_raised_at'), 'alerts', ['raised_at'], unique=False)
    op.create_index(op.f('ix_alerts_severity'), 'alerts', ['severity'], unique=False)
    op.create_index(op.f('ix_alerts_state'), 'alerts', ['state'], unique=False)
    op.create_table('audit_entries',
    sa.Column('seq', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('event_key', sa.String(length=128), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=128), nullable=False),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('target', sa.String(length=255), nullable=False),
    sa.Column('outcome', sa.String(length=255), nullable=False),
    sa.Column('detail_json', sa.Text(), nullable=False),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('entry_hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_audit_entries')),
    sa.UniqueConstraint('event_key', name=op.f('uq_audit_entries_event_key'))
    )
    op.create_index(op.f('ix_audit_entries_action'), 'audit_entries', ['action'], unique=False)
    op.create_index(op.f('ix_audit_entries_actor'), 'audit_entries', ['actor'], unique=False)
    op.create_index(op.f('ix_audit_entries_at'), 'audit_entries', ['at'], unique=False)
    op.create_table('commands',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('command_id', sa.String(length=128), nullable=False),
    sa.Column('vehicle_id', sa.String(length=128), nullable=False),
    sa.Column('command', sa.SmallInteger(), nullable=False),
    sa.Column('target_x', sa.Float(), nullable=False),
    sa.Column('target_y', sa.Float(), nullable=False),
    sa.Column('target_z', sa.Float(), nullable=False),
    sa.Column('route_json', sa.Text(), nullable=False),
    sa.Column('speed_limit', sa.Float(), nullable=False),
    sa.Column('task_id', sa.String(length=128), nullable=False),
    sa.Column('issued_by', sa.String(length=128), nullable=False),
    sa.Column('source', sa.String(length=8), nullable=False),
    sa.Column('requested_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('decision', sa.SmallInteger(), nullable=True),
    sa.Column('reasons_json', sa.Text(), nullable=False),
    sa.Column('checks_failed_json', sa.Text(), nullable=False),
    sa.Column('error_code', sa.SmallInteger(), nullable=False),
    sa.Column('error_msg', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_commands')),
    sa.UniqueConstraint('command_id', name=op.f('uq_commands_command_id'))
    )
    op.create_index(op.f('ix_commands_requested_at'), 'commands', ['requested_at'], unique=False)
    op.create_index('ix_commands_vehicle_requested', 'commands', ['vehicle_id', 'requested_at'], unique=False)
    op.create_table('estop_events',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('event_key', sa.String(length=255), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=128), nullable=False),
    sa.Column('second_actor', sa.String(length=128), nullable=False),
    sa.Column('scope', sa.String(length=16), nullable=False),
    sa.Column('vehicle_ids_json', sa.Text(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('outcome', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_estop_events')),
    sa.UniqueConstraint('event_key', name=op.f('uq_estop_events_event_key'))
    )
    op.create_index(op.f('ix_estop_events_occurred_at'), 'estop_events', ['occurred_at'], unique=False)
    op.create_table('models',
    sa.Column('version', sa.String(length=128), nullable=False),
    sa.Column('parent_version', sa.String(length=128), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('class_names_json', sa.Text(), nullable=False),
    sa.Column('input_size_px', sa.Integer(), nullable=False),
    sa.Column('dataset_hash', sa.String(length=128), nullable=False),
    sa.Column('map50', sa.Float(), nullable=False),
    sa.Column('map50_95', sa.Float(), nullable=False),
    sa.Column('file_uri', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('candidate', 'active', 'retired')", name=op.f('ck_models_status_valid')),
    sa.PrimaryKeyConstraint('version', name=op.f('pk_models'))
    )
    op.create_index(op.f('ix_models_status'), 'models', ['status'], unique=False)
    op.create_table('tasks',
    sa.Column('task_id', sa.String(length=128), nullable=False),
    sa.Column('task_type', sa.SmallInteger(), nullable=False),
    sa.Column('state', sa.SmallInteger(), nullable=False),
    sa.Column('vehicle_id', sa.String(length=128), nullable=False),
    sa.Column('target_x', sa.Float(), nullable=False),
    sa.Column('target_y', sa.Float(), nullable=False),
    sa.Column('target_z', sa.Float(), nullable=False),
    sa.Column('target_track_id', sa.String(length=128), nullable=False),
    sa.Column('route_json', sa.Text(), nullable=False),
    sa.Column('priority', sa.SmallInteger(), nullable=False),
    sa.Column('origin_alert_id', sa.String(length=128), nullable=False),
    sa.Column('created_by', sa.String(length=128), nullable=False),
    sa.Column('status_msg', sa.Text(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('task_id', name=op.f('pk_tasks'))
    )
    op.create_index(op.f('ix_tasks_state'), 'tasks', ['state'], unique=False)
    op.create_table('telemetry_samples',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('vehicle_id', sa.String(length=128), nullable=False),
    sa.Column('stamp', sa.DateTime(timezone=True), nullable=False),
    sa.Column('x', sa.Float(), nullable=False),
    sa.Column('y', sa.Float(), nullable=False),
    sa.Column('z', sa.Float(), nullable=False),
    sa.Column('latitude_deg', sa.Float(), nullable=False),
    sa.Column('longitude_deg', sa.Float(), nullable=False),
    sa.Column('altitude', sa.Float(), nullable=False),
    sa.Column('vx', sa.Float(), nullable=False),
    sa.Column('vy', sa.Float(), nullable=False),
    sa.Column('vz', sa.Float(), nullable=False),
    sa.Column('heading_deg', sa.Float(), nullable=False),
    sa.Column('battery_voltage', sa.Float(), nullable=False),
    sa.Column('battery_remaining', sa.Float(), nullable=True),
    sa.Column('mode', sa.String(length=32), nullable=False),
    sa.Column('armed', sa.Boolean(), nullable=False),
    sa.Column('landed', sa.Boolean(), nullable=False),
    sa.Column('link_state', sa.SmallInteger(), nullable=False),
    sa.Column('gps_fix', sa.SmallInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_telemetry_samples')),
    sa.UniqueConstraint('vehicle_id', 'stamp', name='uq_telemetry_vehicle_stamp')
    )
    op.create_table('users',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('password_hash', sa.String(length=256), nullable=False),
    sa.Column('disabled', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("role IN ('viewer', 'operator', 'supervisor', 'admin')", name=op.f('ck_users_role_valid')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('name', name=op.f('uq_users_name'))
    )
    op.create_table('alert_state_history',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('alert_id', sa.String(length=128), nullable=False),
    sa.Column('state', sa.SmallInteger(), nullable=False),
    sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('changed_by', sa.String(length=128), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('source', sa.String(length=8), nullable=False),
    sa.Column('event_key', sa.String(length=128), nullable=True),
    sa.ForeignKeyConstraint(['alert_id'], ['alerts.alert_id'], name=op.f('fk_alert_state_history_alert_id_alerts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alert_state_history')),
    sa.UniqueConstraint('event_key', name=op.f('uq_alert_state_history_event_key'))
    )
    op.create_index(op.f('ix_alert_state_history_alert_id'), 'alert_state_history', ['alert_id'], unique=False)
    _create_append_only_triggers()


def downgrade() -> None:
    _drop_append_only_triggers()
    op.drop_index(op.f('ix_alert_state_history_alert_id'), table_name='alert_state_history')
    op.drop_table('alert_state_history')
    op.drop_table('users')
    op.drop_table('telemetry_samples')
    op.drop_index(op.f('ix_tasks_state'), table_name='tasks')
    op.drop_table('tasks')
    op.drop_index(op.f('ix_models_status'), table_name='models')
    op.drop_table('models')
    op.drop_index(op.f('ix_estop_events_occurred_at'), table_name='estop_events')
    op.drop_table('estop_events')
    op.drop_index('ix_commands_vehicle_requested', table_name='commands')
    op.drop_index(op.f('ix_commands_requested_at'), table_name='commands')
    op.drop_table('commands')
    op.drop_index(op.f('ix_audit_entries_at'), table_name='audit_entries')
    op.drop_index(op.f('ix_audit_entries_actor'), table_name='audit_entries')
    op.drop_index(op.f('ix_audit_entries_action'), table_name='audit_entries')
    op.drop_table('audit_entries')
    op.drop_index(op.f('ix_alerts_state'), table_name='alerts')
    op.drop_index(op.f('ix_alerts_severity'), table_name='alerts')
    op.drop_index(op.f('ix_alerts_raised_at'), table_name='alerts')
    op.drop_table('alerts')


def _create_append_only_triggers() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == 'sqlite':
        for verb in ('UPDATE', 'DELETE'):
            op.execute(
                f'CREATE TRIGGER audit_entries_no_{verb.lower()} BEFORE {verb} ON audit_entries '
                f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY_MESSAGE}'); END")
    elif dialect == 'postgresql':
        op.execute(
            'CREATE FUNCTION audit_entries_refuse_change() RETURNS trigger AS $$ '
            f"BEGIN RAISE EXCEPTION '{APPEND_ONLY_MESSAGE}'; END $$ LANGUAGE plpgsql")
        op.execute(
            'CREATE TRIGGER audit_entries_append_only BEFORE UPDATE OR DELETE ON audit_entries '
            'FOR EACH ROW EXECUTE FUNCTION audit_entries_refuse_change()')


def _drop_append_only_triggers() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == 'sqlite':
        op.execute('DROP TRIGGER IF EXISTS audit_entries_no_update')
        op.execute('DROP TRIGGER IF EXISTS audit_entries_no_delete')
    elif dialect == 'postgresql':
        op.execute('DROP TRIGGER IF EXISTS audit_entries_append_only ON audit_entries')
        op.execute('DROP FUNCTION IF EXISTS audit_entries_refuse_change()')
