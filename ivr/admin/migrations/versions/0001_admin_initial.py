"""Admin tables: users, audit log, dialplan versions, publications, draft.

Revision ID: admin_0001
Revises: 0003
Create Date: 2026-11-23

The admin once migrated these tables with an Alembic history of its own: this same revision id,
recorded in its own version table ``alembic_version_admin``, beside booking's ``alembic_version``
(0001-0003). Now it follows 0003 in the city's one history, and meets two kinds of database:

* one without admin tables: it creates them;
* one the admin's own history made (``alembic_version_admin`` says ``admin_0001``): it adopts
  them, every row kept. Their constraints were unnamed there (PostgreSQL then names them
  ``admin_users_pkey``, ``admin_users_username_key``, ...); they get the city's names, the ones a
  new database gets (``pk_admin_users``, ``uq_admin_users_username``, ...): renamed on
  PostgreSQL, and on SQLite, whose constraint names live in the table's definition, each table
  is rebuilt (new table, rows copied, old one dropped, new one renamed; foreign keys are off
  while migrating, see ``ivr.db.migrations``). Then ``alembic_version_admin`` is dropped.

The tables are spelled out here, names and all, as they were at this revision: the models may
change later, this revision must not.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.schema import CreateIndex, CreateTable

revision = "admin_0001"
down_revision = "0003"
branch_labels = None
depends_on = None

OLD_VERSION_TABLE = "alembic_version_admin"

_meta = sa.MetaData()
TABLES = (
    sa.Table(
        "admin_users",
        _meta,
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_admin_users"),
        sa.UniqueConstraint("username", name="uq_admin_users_username"),
    ),
    sa.Table(
        "admin_audit",
        _meta,
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target", sa.String(255), nullable=False),
        sa.Column("before", sa.Text, nullable=True),
        sa.Column("after", sa.Text, nullable=True),
        sa.Column("ip", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_admin_audit"),
        sa.Index("ix_admin_audit_at", "at"),
    ),
    sa.Table(
        "admin_dialplan_versions",
        _meta,
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("yaml_text", sa.Text, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("author", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_admin_dialplan_versions"),
        sa.Index("ix_admin_dialplan_versions_sha256", "sha256"),
    ),
    sa.Table(
        "admin_publications",
        _meta,
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("version_id", sa.Integer, nullable=False),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("ok", sa.Boolean, nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("seconds", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_admin_publications"),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["admin_dialplan_versions.id"],
            name="fk_admin_publications_version_id_admin_dialplan_versions",
        ),
    ),
    sa.Table(
        "admin_drafts",
        _meta,
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("yaml_text", sa.Text, nullable=False),
        sa.Column("base_version_id", sa.Integer, nullable=True),
        sa.Column("updated_by", sa.String(64), nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_admin_drafts"),
        sa.ForeignKeyConstraint(
            ["base_version_id"],
            ["admin_dialplan_versions.id"],
            name="fk_admin_drafts_base_version_id_admin_dialplan_versions",
        ),
    ),
)


def upgrade() -> None:
    bind = op.get_bind()
    inspector = sa.inspect(bind)
    own_history = inspector.has_table(OLD_VERSION_TABLE)
    if own_history:
        old = set(bind.execute(sa.text(f"SELECT version_num FROM {OLD_VERSION_TABLE}")).scalars())
        if old - {revision}:
            raise RuntimeError(
                f"{OLD_VERSION_TABLE} holds {sorted(old)}, a revision this history does not "
                f"know: upgrade from a release that knew it"
            )
    existing = set(inspector.get_table_names())
    for table in TABLES:
        if table.name in existing:
            _adopt(bind, table)
        else:
            table.create(bind)
    if own_history:
        op.drop_table(OLD_VERSION_TABLE)


def downgrade() -> None:
    for table in reversed(TABLES):
        op.drop_table(table.name)


# -- adopting tables the admin's own history made ------------------------------------------------


def _wanted(table: sa.Table) -> dict[tuple[str, tuple[str, ...]], str]:
    """(kind, columns) -> name, for the primary key, unique constraints, foreign keys, indexes."""
    names = {("pk", tuple(c.name for c in table.primary_key.columns)): table.primary_key.name}
    for const in table.constraints:
        if isinstance(const, sa.UniqueConstraint):
            names["uq", tuple(c.name for c in const.columns)] = const.name
        elif isinstance(const, sa.ForeignKeyConstraint):
            names["fk", tuple(const.column_keys)] = const.name
    for index in table.indexes:
        names["ix", tuple(c.name for c in index.columns)] = index.name
    return names


def _found(bind: sa.Connection, name: str) -> dict[tuple[str, tuple[str, ...]], str | None]:
    inspector = sa.inspect(bind)
    pk = inspector.get_pk_constraint(name)
    names = {("pk", tuple(pk["constrained_columns"])): pk.get("name")}
    for uq in inspector.get_unique_constraints(name):
        names["uq", tuple(uq["column_names"])] = uq.get("name")
    for fk in inspector.get_foreign_keys(name):
        names["fk", tuple(fk["constrained_columns"])] = fk.get("name")
    for ix in inspector.get_indexes(name):
        if "duplicates_constraint" not in ix:  # PostgreSQL: a unique constraint's own index
            names["ix", tuple(ix["column_names"])] = ix["name"]
    return names


def _adopt(bind: sa.Connection, table: sa.Table) -> None:
    """Give an existing admin table its constraint names, checking it is the table we know."""
    inspector = sa.inspect(bind)
    columns = {c["name"] for c in inspector.get_columns(table.name)}
    wanted, found = _wanted(table), _found(bind, table.name)
    if columns != set(table.columns.keys()) or set(found) != set(wanted):
        raise RuntimeError(
            f"{table.name} is not the table the admin's history made: columns {sorted(columns)}, "
            f"constraints and indexes {sorted(found)}"
        )
    if found == wanted:
        return
    quote = bind.dialect.identifier_preparer.quote
    if bind.dialect.name == "postgresql":
        for key, name in wanted.items():
            old = found[key]
            if old == name:
                continue
            if key[0] == "ix":
                op.execute(f"ALTER INDEX {quote(old)} RENAME TO {quote(name)}")
            else:
                op.execute(
                    f"ALTER TABLE {quote(table.name)} RENAME CONSTRAINT {quote(old)} "
                    f"TO {quote(name)}"
                )
    elif bind.dialect.name == "sqlite":
        _rebuild_sqlite(bind, table)
    else:
        raise RuntimeError(f"cannot adopt {table.name} on {bind.dialect.name}")


def _rebuild_sqlite(bind: sa.Connection, table: sa.Table) -> None:
    if bind.exec_driver_sql("PRAGMA foreign_keys").scalar():
        raise RuntimeError("SQLite foreign keys must be off to rebuild tables: use ivr.db.migrate")
    quote = bind.dialect.identifier_preparer.quote
    new = f"_nu_new_{table.name}"
    ddl = str(CreateTable(table).compile(dialect=bind.dialect))
    head = f"CREATE TABLE {quote(table.name)} ("
    if head not in ddl:
        raise RuntimeError(f"unexpected DDL for {table.name}: {ddl}")
    bind.exec_driver_sql(ddl.replace(head, f"CREATE TABLE {quote(new)} (", 1))
    columns = ", ".join(quote(c.name) for c in table.columns)
    bind.exec_driver_sql(
        f"INSERT INTO {quote(new)} ({columns}) SELECT {columns} FROM {quote(table.name)}"
    )
    bind.exec_driver_sql(f"DROP TABLE {quote(table.name)}")  # and its indexes
    bind.exec_driver_sql(f"ALTER TABLE {quote(new)} RENAME TO {quote(table.name)}")
    for index in table.indexes:
        bind.execute(CreateIndex(index))
