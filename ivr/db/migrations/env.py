"""Alembic environment of the city database: every feature's tables, one history.

Code (:func:`ivr.db.migrations.migrate`) hands a connection in, already inside its migration
transaction; the ``alembic`` command (developers, ``-c ivr/db/alembic.ini``) gets one here, from
``sqlalchemy.url``, ``NU_DATABASE_URL`` or the default settings.
"""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import Connection

from ivr.db.migrations import migration_transaction, target_metadata

config = context.config


def _run(connection: Connection) -> None:
    # Batch mode lets revisions ALTER tables on SQLite (it copies the table).
    context.configure(
        connection=connection, target_metadata=target_metadata(), render_as_batch=True
    )
    with context.begin_transaction():
        context.run_migrations()


def _url() -> str:
    url = config.get_main_option("sqlalchemy.url") or os.environ.get("NU_DATABASE_URL", "")
    if not url:
        from ivr.config import load

        url = load().database_url
    return url


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported: revisions read the database")

_connection = config.attributes.get("connection")
if _connection is not None:
    _run(_connection)
else:
    from ivr.db.engine import make_engine

    _engine = make_engine(_url(), pool_size=1, max_overflow=0)
    try:
        with _engine.connect() as conn, migration_transaction(conn):
            _run(conn)
    finally:
        _engine.dispose()
