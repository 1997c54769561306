"""The admin's sessions on the city database (:mod:`ivr.db`).

The admin tables are migrated with every other feature's, by the city's one Alembic history
(its revisions in ``ivr/admin/migrations/versions``), and the admin writes through the
process's one engine for the URL. ``sessions.begin()``, how the admin writes, starts as a
writer (on SQLite ``BEGIN IMMEDIATE``, in turn with the process's other writers), so a write
that first reads never meets a lock it cannot wait for; ``sessions()`` is for reading.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from ivr.db import ready, writer


class CitySessions(sessionmaker[Session]):
    """A session factory whose ``begin()`` transactions are writers (see the module)."""

    @contextmanager
    def begin(self) -> Iterator[Session]:  # type: ignore[override]
        with self(bind=writer(self.kw["bind"])) as session, session.begin():
            yield session


def open_database(url: str) -> CitySessions:
    """The city database migrated (:func:`ivr.db.ready`) and a session factory on its shared
    engine: what the app and the CLI use. Raises when the database is unreachable.

    A SQLite file's folder is made first: ``ivr admin create-user`` may be the first command
    run on a new machine, before anything made ``var/``."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    return CitySessions(ready(url), expire_on_commit=False)
