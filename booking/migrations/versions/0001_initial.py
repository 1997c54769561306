"""Initial booking tables: offices, services, slot templates, closures, slots, bookings,
certificate requests and the outbox.

Revision ID: 0001
Revises:
Create Date: 2026-11-23 12:44:47.896053
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "offices",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("address", sa.String(length=200), nullable=False),
        sa.Column("desk", sa.String(length=120), nullable=False),
        sa.Column("email", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_offices")),
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("recipient", sa.String(length=200), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("ref", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.CheckConstraint("kind IN ('sms', 'email')", name=op.f("ck_outbox_kind")),
        sa.CheckConstraint(
            "status IN ('pending', 'sending', 'sent', 'failed')", name=op.f("ck_outbox_status")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_due", ["status", "next_attempt_at"], unique=False)

    op.create_table(
        "services",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("name_it", sa.String(length=120), nullable=False),
        sa.Column("name_en", sa.String(length=120), nullable=False),
        sa.Column("duration_min", sa.Integer(), nullable=False),
        sa.Column("max_active_per_caller", sa.Integer(), nullable=False),
        sa.CheckConstraint("duration_min > 0", name=op.f("ck_services_duration")),
        sa.CheckConstraint("max_active_per_caller >= 1", name=op.f("ck_services_max_active")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_services")),
    )
    op.create_table(
        "certificate_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=8), nullable=False),
        sa.Column("type", sa.String(length=20), nullable=False),
        sa.Column("delivery", sa.String(length=8), nullable=False),
        sa.Column("office_id", sa.String(length=40), nullable=True),
        sa.Column("caller_hash", sa.String(length=64), nullable=True),
        sa.Column("caller_number", sa.String(length=32), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            "delivery = 'post' OR office_id IS NOT NULL",
            name=op.f("ck_certificate_requests_desk_has_office"),
        ),
        sa.CheckConstraint(
            "delivery IN ('post', 'desk')", name=op.f("ck_certificate_requests_delivery")
        ),
        sa.CheckConstraint(
            "language IN ('it', 'en')", name=op.f("ck_certificate_requests_language")
        ),
        sa.CheckConstraint(
            "status IN ('requested', 'in_progress', 'sent', 'ready')",
            name=op.f("ck_certificate_requests_status"),
        ),
        sa.CheckConstraint(
            "type IN ('residence', 'family_status', 'birth', 'citizenship', 'marriage')",
            name=op.f("ck_certificate_requests_type"),
        ),
        sa.ForeignKeyConstraint(
            ["office_id"], ["offices.id"], name=op.f("fk_certificate_requests_office_id_offices")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_certificate_requests")),
        sa.UniqueConstraint("code", name=op.f("uq_certificate_requests_code")),
    )
    with op.batch_alter_table("certificate_requests", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_certificate_requests_caller_hash"), ["caller_hash"], unique=False
        )

    op.create_table(
        "closures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("office_id", sa.String(length=40), nullable=True),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["office_id"],
            ["offices.id"],
            name=op.f("fk_closures_office_id_offices"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_closures")),
    )
    with op.batch_alter_table("closures", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_closures_day"), ["day"], unique=False)

    op.create_table(
        "office_services",
        sa.Column("office_id", sa.String(length=40), nullable=False),
        sa.Column("service_id", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(
            ["office_id"],
            ["offices.id"],
            name=op.f("fk_office_services_office_id_offices"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["services.id"],
            name=op.f("fk_office_services_service_id_services"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("office_id", "service_id", name=op.f("pk_office_services")),
    )
    op.create_table(
        "slot_templates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("office_id", sa.String(length=40), nullable=False),
        sa.Column("service_id", sa.String(length=40), nullable=False),
        sa.Column("weekday", sa.Integer(), nullable=False),
        sa.Column("start", sa.Time(), nullable=False),
        sa.Column("end", sa.Time(), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.CheckConstraint("capacity > 0", name=op.f("ck_slot_templates_capacity")),
        sa.CheckConstraint('start < "end"', name=op.f("ck_slot_templates_range")),
        sa.CheckConstraint("weekday BETWEEN 0 AND 6", name=op.f("ck_slot_templates_weekday")),
        sa.ForeignKeyConstraint(
            ["office_id"],
            ["offices.id"],
            name=op.f("fk_slot_templates_office_id_offices"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["services.id"],
            name=op.f("fk_slot_templates_service_id_services"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_slot_templates")),
        sa.UniqueConstraint(
            "office_id", "service_id", "weekday", "start", name="uq_slot_templates"
        ),
    )
    op.create_table(
        "slots",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("office_id", sa.String(length=40), nullable=False),
        sa.Column("service_id", sa.String(length=40), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("starts_at", sa.DateTime(), nullable=False),
        sa.Column("ends_at", sa.DateTime(), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("booked", sa.Integer(), nullable=False),
        sa.Column("closed", sa.Boolean(), nullable=False),
        sa.CheckConstraint(
            "booked >= 0 AND booked <= capacity", name=op.f("ck_slots_booked_within_capacity")
        ),
        sa.CheckConstraint("capacity >= 0", name=op.f("ck_slots_capacity")),
        sa.ForeignKeyConstraint(
            ["office_id"],
            ["offices.id"],
            name=op.f("fk_slots_office_id_offices"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["services.id"],
            name=op.f("fk_slots_service_id_services"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_slots")),
        sa.UniqueConstraint("office_id", "service_id", "starts_at", name="uq_slots"),
    )
    with op.batch_alter_table("slots", schema=None) as batch_op:
        batch_op.create_index("ix_slots_search", ["service_id", "starts_at"], unique=False)

    op.create_table(
        "bookings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=8), nullable=False),
        sa.Column("caller_hash", sa.String(length=64), nullable=True),
        sa.Column("caller_number", sa.String(length=32), nullable=True),
        sa.Column("service_id", sa.String(length=40), nullable=False),
        sa.Column("slot_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("one_per_caller", sa.Boolean(), nullable=False),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("language IN ('it', 'en')", name=op.f("ck_bookings_language")),
        sa.CheckConstraint(
            "status IN ('active', 'cancelled', 'done')", name=op.f("ck_bookings_status")
        ),
        sa.ForeignKeyConstraint(
            ["service_id"], ["services.id"], name=op.f("fk_bookings_service_id_services")
        ),
        sa.ForeignKeyConstraint(["slot_id"], ["slots.id"], name=op.f("fk_bookings_slot_id_slots")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bookings")),
        sa.UniqueConstraint("code", name=op.f("uq_bookings_code")),
    )
    with op.batch_alter_table("bookings", schema=None) as batch_op:
        batch_op.create_index(
            "ix_bookings_caller", ["caller_hash", "service_id", "status"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_bookings_slot_id"), ["slot_id"], unique=False)
        batch_op.create_index(
            "uq_bookings_one_active",
            ["caller_hash", "service_id"],
            unique=True,
            sqlite_where=sa.text("status = 'active' AND one_per_caller"),
            postgresql_where=sa.text("status = 'active' AND one_per_caller"),
        )


def downgrade() -> None:
    with op.batch_alter_table("bookings", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_bookings_one_active",
            sqlite_where=sa.text("status = 'active' AND one_per_caller"),
            postgresql_where=sa.text("status = 'active' AND one_per_caller"),
        )
        batch_op.drop_index(batch_op.f("ix_bookings_slot_id"))
        batch_op.drop_index("ix_bookings_caller")

    op.drop_table("bookings")
    with op.batch_alter_table("slots", schema=None) as batch_op:
        batch_op.drop_index("ix_slots_search")

    op.drop_table("slots")
    op.drop_table("slot_templates")
    op.drop_table("office_services")
    with op.batch_alter_table("closures", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_closures_day"))

    op.drop_table("closures")
    with op.batch_alter_table("certificate_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_certificate_requests_caller_hash"))

    op.drop_table("certificate_requests")
    op.drop_table("services")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_due")

    op.drop_table("outbox")
    op.drop_table("offices")
