"""The city database's one Alembic history, run from code (``ivr.db.ready`` / :func:`migrate`).

One environment (``env.py`` here) over every feature's models (:data:`FEATURES`); the revisions
live with the features that own the tables, in the folders ``ivr/db/alembic.ini`` lists
(``version_locations``), and form one line of ``down_revision``\\ s::

    0001 (booking) -> 0002 (callbacks) -> 0003 (call records) -> admin_0001 (admin)
    -> 0004 (operators) -> 0005 (directory) -> 0006 (operator figures) -> 0007 (teleassistance)
    -> 0008 (teleassistance calls) -> 0009 (booking reminders) -> 0010 (broadcasts)
    -> 0011 (back office) -> ...

Until the admin joined it, the admin had a history of its own (``admin_0001`` in the version
table ``alembic_version_admin``); ``admin_0001`` now carries such a database forward (see that
revision). Developers: see ``ivr/db/alembic.ini``.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, MetaData

HERE = Path(__file__).resolve().parent
INI = HERE.parent / "alembic.ini"

# The packages with tables in the city database; each declares them in ``<package>.models``
# on ivr.db.Base and keeps its revisions in ``<package>/migrations/versions`` (alembic.ini).
FEATURES = (
    "booking",
    "ivr.callbacks",
    "ivr.kpi",
    "ivr.admin",
    "ivr.operators",
    "ivr.directory",
    "ivr.teleassistance",
    "ivr.backoffice",
)

# Alembic keeps the running migration in module-level proxies (``alembic.context``, ``alembic.op``):
# two threads of one process migrating two databases at once would read each other's (seen in
# tests as KeyError 'config' or 'script'). One migration at a time per process.
_MIGRATING = threading.RLock()

# pg_advisory_xact_lock key: processes migrating one PostgreSQL database take turns.
_PG_LOCK_KEY = 0x4E55_C17D


def target_metadata() -> MetaData:
    """Every feature's tables (importing their models registers them on ``ivr.db.Base``)."""
    from ivr.db.base import Base

    for feature in FEATURES:
        importlib.import_module(f"{feature}.models")
    return Base.metadata


def alembic_config(url: str | None = None) -> Config:
    cfg = Config(str(INI))
    if url:
        # ConfigParser interpolation: a literal % (in a password) must be doubled.
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def heads() -> list[str]:
    """The newest revision(s) of the history (one: the history is a line)."""
    return list(ScriptDirectory.from_config(alembic_config()).get_heads())


@contextmanager
def migration_transaction(connection: Connection) -> Iterator[Connection]:
    """One transaction for a whole upgrade (all of it or none), taken as a writer.

    SQLite: foreign keys off first (SQLite's own procedure for schema changes: a revision may
    rebuild a table that others refer to; the pragma only works outside a transaction), then
    ``BEGIN IMMEDIATE`` so two processes migrating at once take turns, ``foreign_key_check``
    before COMMIT when something was migrated, and foreign keys on again. PostgreSQL: an
    advisory lock held until COMMIT, for the same turn-taking (the second finds the work done).
    """
    from ivr.db.engine import WRITE

    sqlite = connection.dialect.name == "sqlite"
    raw = connection.connection.driver_connection if sqlite else None
    if raw is not None:
        raw.execute("PRAGMA foreign_keys=OFF")
    try:
        connection.execution_options(**{WRITE: True})
        with connection.begin():
            if connection.dialect.name == "postgresql":
                connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_LOCK_KEY})")
            before = MigrationContext.configure(connection).get_current_revision()
            yield connection
            after = MigrationContext.configure(connection).get_current_revision()
            if raw is not None and after != before:
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise RuntimeError(
                        f"migrating left {len(broken)} row(s) with a broken foreign key "
                        f"(table, rowid, parent, fk): {broken[:5]}"
                    )
    finally:
        if raw is not None:
            raw.execute("PRAGMA foreign_keys=ON")


def migrate(url_or_engine: str | Engine, revision: str = "head") -> None:
    """Upgrade the database to ``revision`` (the newest by default); idempotent. A URL means
    its shared engine (:func:`ivr.db.engine_for`). Prefer :func:`ivr.db.ready`, which does this
    once per process."""
    from ivr.db.engine import engine_for

    engine = engine_for(url_or_engine) if isinstance(url_or_engine, str) else url_or_engine
    with _MIGRATING, engine.connect() as connection, migration_transaction(connection):
        cfg = alembic_config()
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)


def current(url_or_engine: str | Engine) -> str | None:
    """The revision the database is at (None before the first migration)."""
    from ivr.db.engine import engine_for

    engine = engine_for(url_or_engine) if isinstance(url_or_engine, str) else url_or_engine
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()
