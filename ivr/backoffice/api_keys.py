"""GeoReport API keys: which clients (a city's web form, an app) may post requests.

A key is shown once, when it is made; the database keeps its sha256 digest only, so a copy of
the database posts nothing. A key is 32 random bytes, so looking its digest up is all the check
needs (nothing to guess, no timing to learn from). Revoking keeps the row, inactive: the name
stays taken and the key stays refused.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ivr.backoffice.models import BackofficeApiKey
from ivr.backoffice.rules import Problem, RequestError
from ivr.db import retrying, writer

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,59}$")


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class ApiKey:
    id: int
    name: str
    created_at: datetime
    active: bool


class ApiKeys:
    def __init__(self, engine: Engine, *, clock: Callable[[], datetime] = datetime.now) -> None:
        self.engine, self.write_engine, self.clock = engine, writer(engine), clock

    def add(self, name: str) -> str:
        """A new client's key (shown once: only its digest is kept)."""
        name = name.strip()
        if not _NAME.match(name):
            raise RequestError([Problem("name", "1-60 letters, digits, spaces, . _ -")])
        key = secrets.token_urlsafe(32)

        def work() -> None:
            with Session(self.write_engine) as db, db.begin():
                if db.scalar(select(BackofficeApiKey).where(BackofficeApiKey.name == name)):
                    raise RequestError([Problem("name", f"{name!r} exists already")])
                db.add(BackofficeApiKey(name=name, digest=digest(key), created_at=self.clock()))

        try:
            retrying(work, what="backoffice api key")
        except IntegrityError:  # the same name added at the same moment elsewhere
            raise RequestError([Problem("name", f"{name!r} exists already")]) from None
        return key

    def keys(self) -> list[ApiKey]:
        with Session(self.engine) as db:
            rows = db.scalars(select(BackofficeApiKey).order_by(BackofficeApiKey.name))
            return [ApiKey(r.id, r.name, r.created_at, r.active) for r in rows]

    def revoke(self, name: str) -> None:
        def work() -> None:
            with Session(self.write_engine) as db, db.begin():
                row = db.scalar(select(BackofficeApiKey).where(BackofficeApiKey.name == name))
                if row is None:
                    raise RequestError([Problem("name", f"no key named {name!r}")])
                row.active = False

        retrying(work, what="backoffice api key")

    def client(self, key: str) -> str | None:
        """The name of the active client holding ``key``; None for a wrong or revoked key."""
        if not key or len(key) > 200:
            return None
        with Session(self.engine) as db:
            row = db.scalar(select(BackofficeApiKey).where(BackofficeApiKey.digest == digest(key)))
            return row.name if row is not None and row.active else None
