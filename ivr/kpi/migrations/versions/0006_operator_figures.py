"""Per-operator figures: who answered each call, talk and wrap-up time, the wrap-up outcome, a
keyed hash of the caller's number (earlier calls on the desk); operators' events (pauses...).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24 19:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("call_records", schema=None) as batch_op:
        batch_op.add_column(sa.Column("caller_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("operator", sa.String(length=6), nullable=True))
        batch_op.add_column(sa.Column("talk_s", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("wrapup_outcome", sa.String(length=30), nullable=True))
        batch_op.add_column(sa.Column("wrapup_s", sa.Float(), nullable=True))
        batch_op.create_index("ix_call_records_caller_hash", ["caller_hash"], unique=False)
    op.create_table(
        "operator_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("extension", sa.String(length=6), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("queue", sa.String(length=80), nullable=True),
        sa.Column("reason", sa.String(length=40), nullable=True),
        sa.Column("call_id", sa.String(length=64), nullable=True),
        sa.Column("seconds", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_operator_events")),
    )
    op.create_index(
        "ix_operator_events_extension_at", "operator_events", ["extension", "at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_operator_events_extension_at", table_name="operator_events")
    op.drop_table("operator_events")
    with op.batch_alter_table("call_records", schema=None) as batch_op:
        batch_op.drop_index("ix_call_records_caller_hash")
        batch_op.drop_column("wrapup_s")
        batch_op.drop_column("wrapup_outcome")
        batch_op.drop_column("talk_s")
        batch_op.drop_column("operator")
        batch_op.drop_column("caller_hash")
