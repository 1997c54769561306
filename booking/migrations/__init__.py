"""Alembic migrations for the booking tables, run from code (no alembic.ini needed).

``migrate(url)`` is what ``ivr booking seed``, the tests and the benches call; developers make a
new revision with ``alembic -c booking/alembic.ini revision --autogenerate -m "..."``.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

HERE = Path(__file__).resolve().parent


def alembic_config(url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    cfg.set_main_option("path_separator", "os")
    if url:
        # ConfigParser interpolation: a literal % (in a password) must be doubled.
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def migrate(url_or_engine: str | Engine, revision: str = "head") -> None:
    """Upgrade the database to ``revision`` (the newest by default). Idempotent."""
    from booking.db import make_engine

    if isinstance(url_or_engine, str):
        engine = make_engine(url_or_engine, pool_size=1, max_overflow=0)
        owned = True
    else:
        engine, owned = url_or_engine, False
    try:
        with engine.connect() as connection:
            cfg = alembic_config()
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, revision)
            connection.commit()
    finally:
        if owned:
            engine.dispose()


def current(url_or_engine: str | Engine) -> str | None:
    """The revision the database is at (None before the first migration)."""
    from alembic.runtime.migration import MigrationContext

    from booking.db import make_engine

    engine = make_engine(url_or_engine) if isinstance(url_or_engine, str) else url_or_engine
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()
