# The admin's own history as main had it (ivr/admin/migrations/versions/0001_admin_initial.py
# at bc14f92), for tests/test_city_db.py to build an old database. Do not edit.
"""Admin tables: users, audit log, dialplan versions, publications, draft.

Revision ID: admin_0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "admin_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "admin_users",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("username", sa.String(64), nullable=False, unique=True),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "admin_audit",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", sa.DateTime, nullable=False, index=True),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target", sa.String(255), nullable=False),
        sa.Column("before", sa.Text, nullable=True),
        sa.Column("after", sa.Text, nullable=True),
        sa.Column("ip", sa.String(64), nullable=False),
    )
    op.create_table(
        "admin_dialplan_versions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("yaml_text", sa.Text, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False, index=True),
        sa.Column("author", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("note", sa.Text, nullable=False),
    )
    op.create_table(
        "admin_publications",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "version_id", sa.Integer, sa.ForeignKey("admin_dialplan_versions.id"), nullable=False
        ),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("ok", sa.Boolean, nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("seconds", sa.Float, nullable=False),
    )
    op.create_table(
        "admin_drafts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("yaml_text", sa.Text, nullable=False),
        sa.Column(
            "base_version_id",
            sa.Integer,
            sa.ForeignKey("admin_dialplan_versions.id"),
            nullable=True,
        ),
        sa.Column("updated_by", sa.String(64), nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    )


def downgrade() -> None:
    for table in (
        "admin_drafts",
        "admin_publications",
        "admin_dialplan_versions",
        "admin_audit",
        "admin_users",
    ):
        op.drop_table(table)
