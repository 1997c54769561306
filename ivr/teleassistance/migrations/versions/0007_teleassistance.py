"""Teleassistance enrolment: citizens called every week, their numbers and emergency contacts.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "teleassistance_citizens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("name_key", sa.String(length=80), nullable=False),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.Column("area", sa.String(length=60), nullable=False),
        sa.Column("area_key", sa.String(length=60), nullable=False),
        sa.Column("weekdays", sa.String(length=27), nullable=False),
        sa.Column("window_start", sa.Time(), nullable=False),
        sa.Column("window_end", sa.Time(), nullable=False),
        sa.Column("call_kind", sa.String(length=10), nullable=False),
        sa.Column("consent_on", sa.Date(), nullable=False),
        sa.Column("consent_by", sa.String(length=64), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("suspended_from", sa.Date(), nullable=True),
        sa.Column("suspended_to", sa.Date(), nullable=True),
        sa.Column("suspension_reason", sa.String(length=20), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            "language IN ('it', 'en', 'fr', 'es', 'de', 'zh', 'ar')",
            name=op.f("ck_teleassistance_citizens_language"),
        ),
        sa.CheckConstraint(
            "call_kind IN ('operator', 'automatic')",
            name=op.f("ck_teleassistance_citizens_call_kind"),
        ),
        sa.CheckConstraint(
            "status IN ('active', 'suspended')", name=op.f("ck_teleassistance_citizens_status")
        ),
        sa.CheckConstraint(
            "window_start < window_end", name=op.f("ck_teleassistance_citizens_window")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_teleassistance_citizens")),
    )
    op.create_index(
        op.f("ix_teleassistance_citizens_name_key"),
        "teleassistance_citizens",
        ["name_key"],
        unique=False,
    )
    op.create_index(
        op.f("ix_teleassistance_citizens_area_key"),
        "teleassistance_citizens",
        ["area_key"],
        unique=False,
    )
    op.create_table(
        "teleassistance_numbers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("citizen_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["citizen_id"],
            ["teleassistance_citizens.id"],
            name=op.f("fk_teleassistance_numbers_citizen_id_teleassistance_citizens"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_teleassistance_numbers")),
        sa.UniqueConstraint("number", name=op.f("uq_teleassistance_numbers_number")),
    )
    op.create_index(
        op.f("ix_teleassistance_numbers_citizen_id"),
        "teleassistance_numbers",
        ["citizen_id"],
        unique=False,
    )
    op.create_table(
        "teleassistance_contacts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("citizen_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("number", sa.String(length=16), nullable=False),
        sa.Column("relation", sa.String(length=40), nullable=False),
        sa.Column("channel", sa.String(length=5), nullable=False),
        sa.Column("email", sa.String(length=120), nullable=True),
        sa.CheckConstraint(
            "channel IN ('call', 'sms', 'email')", name=op.f("ck_teleassistance_contacts_channel")
        ),
        sa.CheckConstraint(
            "channel <> 'email' OR email IS NOT NULL",
            name=op.f("ck_teleassistance_contacts_email_for_email"),
        ),
        sa.ForeignKeyConstraint(
            ["citizen_id"],
            ["teleassistance_citizens.id"],
            name=op.f("fk_teleassistance_contacts_citizen_id_teleassistance_citizens"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_teleassistance_contacts")),
    )
    op.create_index(
        op.f("ix_teleassistance_contacts_citizen_id"),
        "teleassistance_contacts",
        ["citizen_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_teleassistance_contacts_citizen_id"), table_name="teleassistance_contacts"
    )
    op.drop_table("teleassistance_contacts")
    op.drop_index(op.f("ix_teleassistance_numbers_citizen_id"), table_name="teleassistance_numbers")
    op.drop_table("teleassistance_numbers")
    op.drop_index(op.f("ix_teleassistance_citizens_area_key"), table_name="teleassistance_citizens")
    op.drop_index(op.f("ix_teleassistance_citizens_name_key"), table_name="teleassistance_citizens")
    op.drop_table("teleassistance_citizens")
