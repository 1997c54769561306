"""The ``callback_requests`` table, on the city database (:mod:`ivr.db`); its revision is in
``migrations/versions`` here, in the city's one Alembic history.

The database keeps the rule competitors break: one active callback per number (a partial unique
index over the active states, on SQLite and PostgreSQL alike), so two calls from the same phone
at the same instant still book one callback. The number is stored to call it back and never
logged (see :func:`ivr.logs.mask_number`).
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, DateTime, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from ivr.db.base import Base


class CallbackState(enum.StrEnum):
    PENDING = "pending"  # stored; the worker has not yet put its placeholder in the queue
    QUEUED = "queued"  # a placeholder channel holds the caller's place in the queue
    CALLING = "calling"  # an operator took the placeholder; the citizen's phone is ringing
    DONE = "done"  # outcome "connected"
    FAILED = "failed"  # outcome "unreachable" (attempts used up) or "failed" (could not call)
    CANCELLED = "cancelled"


ACTIVE_STATES = (CallbackState.PENDING, CallbackState.QUEUED, CallbackState.CALLING)
LANGUAGES = ("it", "en", "fr", "es", "de", "zh", "ar")
_ACTIVE_SQL = "state IN (" + ", ".join(repr(s.value) for s in ACTIVE_STATES) + ")"


class CallbackRequest(Base):
    """A caller's request to be called back, holding the place they had in the queue."""

    __tablename__ = "callback_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)
    number: Mapped[str] = mapped_column(String(32))
    language: Mapped[str] = mapped_column(String(2))
    department: Mapped[str] = mapped_column(String(40))
    queue: Mapped[str] = mapped_column(String(80))
    # The caller's place when they asked (1 = next); the placeholder re-enters there.
    position: Mapped[int] = mapped_column(Integer, default=0)
    state: Mapped[str] = mapped_column(String(12), default=CallbackState.PENDING.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # calls placed to the citizen
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime)
    # connected/unreachable/failed; while active, why it was made for the caller (node_lost)
    outcome: Mapped[str | None] = mapped_column(String(20))
    call_id: Mapped[str | None] = mapped_column(String(64))  # the original call's uniqueid

    __table_args__ = (
        CheckConstraint(
            "state IN (" + ", ".join(repr(s.value) for s in CallbackState) + ")", name="state"
        ),
        CheckConstraint(f"language IN {LANGUAGES!r}", name="language"),
        CheckConstraint("attempts >= 0", name="attempts"),
        Index("ix_callback_requests_due", "state", "next_attempt_at"),
        Index(
            "uq_callback_requests_one_active",
            "number",
            unique=True,
            sqlite_where=text(_ACTIVE_SQL),
            postgresql_where=text(_ACTIVE_SQL),
        ),
    )
