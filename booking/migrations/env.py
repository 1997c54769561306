"""Alembic environment: the booking models' metadata, a URL or a connection handed in by code."""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import Connection

from booking.models import Base
from ivr.callbacks import models as _callbacks  # noqa: F401  (its table on the same metadata)
from ivr.kpi import models as _kpi  # noqa: F401  (call_records, same metadata)

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    url = config.get_main_option("sqlalchemy.url") or os.environ.get("NU_DATABASE_URL", "")
    if not url:
        from ivr.config import load

        url = load().database_url
    return url


def run_offline() -> None:
    context.configure(
        url=_url(), target_metadata=target_metadata, literal_binds=True, render_as_batch=True
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    from booking.db import make_engine

    engine = make_engine(_url(), pool_size=1, max_overflow=0)
    try:
        with engine.connect() as conn:
            _run(conn)
            conn.commit()
    finally:
        engine.dispose()


def _run(connection: Connection) -> None:
    # Batch mode lets later revisions ALTER tables on SQLite (it copies the table).
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
