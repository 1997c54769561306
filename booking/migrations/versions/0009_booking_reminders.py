"""Appointment reminders: one row per booking (the day-before call or SMS), its state and attempts.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-25 11:48:09.802201
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "booking_reminders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("booking_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_at", sa.DateTime(), nullable=False),
        sa.Column("key", sa.String(length=40), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("decided_at", sa.DateTime(), nullable=True),
        sa.CheckConstraint(
            "state IN ('pending', 'dialling', 'confirmed', 'cancelled', 'heard', 'unanswered', "
            "'sms_sent', 'failed')",
            name=op.f("ck_booking_reminders_state"),
        ),
        sa.CheckConstraint("attempts >= 0", name=op.f("ck_booking_reminders_attempts")),
        sa.ForeignKeyConstraint(
            ["booking_id"],
            ["bookings.id"],
            name=op.f("fk_booking_reminders_booking_id_bookings"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_booking_reminders")),
        sa.UniqueConstraint("booking_id", name=op.f("uq_booking_reminders_booking_id")),
    )
    with op.batch_alter_table("booking_reminders", schema=None) as batch_op:
        batch_op.create_index("ix_booking_reminders_due", ["state", "next_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("booking_reminders", schema=None) as batch_op:
        batch_op.drop_index("ix_booking_reminders_due")

    op.drop_table("booking_reminders")
