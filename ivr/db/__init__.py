"""The city's one database: one declarative base, one engine per process and URL, one history.

* :mod:`ivr.db.base` — ``Base`` (and its naming convention): every feature's models use it;
  each feature keeps its models, and its migrations, in its own package.
* :mod:`ivr.db.engine` — :func:`engine_for` (the shared engine of a URL), :func:`ready` (that
  engine, migrated once per process and URL), :func:`writer` and :func:`retrying` (how
  transactions that write are run), :func:`make_engine` (a private engine, tests and benches).
* :mod:`ivr.db.migrations` — the single Alembic environment and :func:`migrate`; the revisions
  live with the features that own the tables (``<feature>/migrations/versions``).
"""

from __future__ import annotations

from ivr.db.base import NAMING, Base
from ivr.db.engine import (
    engine_for,
    is_retryable,
    make_engine,
    normalize_url,
    ready,
    release,
    release_all,
    retrying,
    writer,
)


def __getattr__(name: str):  # PEP 562: Alembic loads only when something migrates
    if name == "migrate":
        from ivr.db.migrations import migrate

        return migrate
    raise AttributeError(f"module 'ivr.db' has no attribute {name!r}")


__all__ = [
    "NAMING",
    "Base",
    "engine_for",
    "is_retryable",
    "make_engine",
    "migrate",
    "normalize_url",
    "ready",
    "release",
    "release_all",
    "retrying",
    "writer",
]
