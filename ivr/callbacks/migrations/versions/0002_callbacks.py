"""Callback requests: the caller's kept place, one active request per number.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 16:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_ACTIVE = "state IN ('pending', 'queued', 'calling')"


def upgrade() -> None:
    op.create_table(
        "callback_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.Column("department", sa.String(length=40), nullable=False),
        sa.Column("queue", sa.String(length=80), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=True),
        sa.Column("call_id", sa.String(length=64), nullable=True),
        sa.CheckConstraint("attempts >= 0", name=op.f("ck_callback_requests_attempts")),
        sa.CheckConstraint(
            "language IN ('it', 'en', 'fr', 'es', 'de', 'zh', 'ar')",
            name=op.f("ck_callback_requests_language"),
        ),
        sa.CheckConstraint(
            "state IN ('pending', 'queued', 'calling', 'done', 'failed', 'cancelled')",
            name=op.f("ck_callback_requests_state"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_callback_requests")),
    )
    with op.batch_alter_table("callback_requests", schema=None) as batch_op:
        batch_op.create_index(
            "ix_callback_requests_due", ["state", "next_attempt_at"], unique=False
        )
        batch_op.create_index(
            "uq_callback_requests_one_active",
            ["number"],
            unique=True,
            sqlite_where=sa.text(_ACTIVE),
            postgresql_where=sa.text(_ACTIVE),
        )


def downgrade() -> None:
    with op.batch_alter_table("callback_requests", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_callback_requests_one_active",
            sqlite_where=sa.text(_ACTIVE),
            postgresql_where=sa.text(_ACTIVE),
        )
        batch_op.drop_index("ix_callback_requests_due")
    op.drop_table("callback_requests")
