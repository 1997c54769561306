"""Switchboard directory: offices and staff reachable by name.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24 11:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "directory_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("name_key", sa.String(length=60), nullable=False),
        sa.Column("aliases", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("extension", sa.String(length=6), nullable=True),
        sa.Column("external", sa.String(length=21), nullable=True),
        sa.Column("department", sa.String(length=40), nullable=False),
        sa.Column("hours", sa.Text(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("sip_secret", sa.String(length=40), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("kind IN ('office', 'person')", name=op.f("ck_directory_entries_kind")),
        sa.CheckConstraint(
            "(extension IS NULL) <> (external IS NULL)",
            name=op.f("ck_directory_entries_one_destination"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_directory_entries")),
        sa.UniqueConstraint("extension", name=op.f("uq_directory_entries_extension")),
        sa.UniqueConstraint("name_key", name=op.f("uq_directory_entries_name_key")),
    )


def downgrade() -> None:
    op.drop_table("directory_entries")
