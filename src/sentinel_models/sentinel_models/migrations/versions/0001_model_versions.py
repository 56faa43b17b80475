"""The model registry: table model_versions, at most one active version.

Revision ID: models_0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = 'models_0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'model_versions',
        sa.Column('version', sa.String(length=128), nullable=False),
        sa.Column('parent_version', sa.String(length=128), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('class_names_json', sa.Text(), nullable=False),
        sa.Column('input_size_px', sa.Integer(), nullable=False),
        sa.Column('dataset_hash', sa.String(length=128), nullable=False),
        sa.Column('map50', sa.Float(), nullable=False),
        sa.Column('map50_95', sa.Float(), nullable=False),
        sa.Column('metrics_json', sa.Text(), nullable=False),
        sa.Column('file_path', sa.Text(), nullable=False),
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('card_path', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('activated_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('previous_active', sa.String(length=128), nullable=False),
        sa.CheckConstraint("status IN ('candidate', 'active', 'retired')",
                           name=op.f('ck_model_versions_status_valid')),
        sa.CheckConstraint('input_size_px > 0', name=op.f('ck_model_versions_input_size_positive')),
        sa.PrimaryKeyConstraint('version', name=op.f('pk_model_versions')),
    )
    op.create_index(op.f('ix_model_versions_status'), 'model_versions', ['status'], unique=False)
    op.create_index('uq_model_versions_one_active', 'model_versions', ['status'], unique=True,
                    sqlite_where=sa.text("status = 'active'"),
                    postgresql_where=sa.text("status = 'active'"))


def downgrade() -> None:
    op.drop_index('uq_model_versions_one_active', table_name='model_versions')
    op.drop_index(op.f('ix_model_versions_status'), table_name='model_versions')
    op.drop_table('model_versions')
