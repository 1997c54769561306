"""The ``backoffice_*`` tables, on the city database (:mod:`ivr.db`).

A request keeps the citizen's contact (number, e-mail: personal data, shown masked in lists and
never logged), its description, the call's transcript and voice message (a file name in the
back office's recordings folder), its deadline and its place in the work queue. Every change
and every contact attempt is a row of ``backoffice_events`` (the history), deleted with the
request. FAQ entries are written by staff from solved requests and carry no personal data.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ivr.backoffice.rules import CHANNELS, LANGUAGES, SEVERITIES, SOURCES, STATUSES
from ivr.db.base import Base


def _in(values: tuple[str, ...]) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


class BackofficeCategory(Base):
    """A kind of request (a GeoReport service): which department handles it, its SLA hours."""

    __tablename__ = "backoffice_categories"

    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    department: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(80))
    description: Mapped[str] = mapped_column(Text, default="")
    sla: Mapped[dict] = mapped_column(JSON, default=dict)  # severity -> hours
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class BackofficeRequest(Base):
    """What the phone could not solve, tracked until it is."""

    __tablename__ = "backoffice_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(8), unique=True)  # read back to the caller
    category: Mapped[str] = mapped_column(ForeignKey("backoffice_categories.code"))
    department: Mapped[str] = mapped_column(String(40))
    severity: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16), default="new")
    due_at: Mapped[datetime] = mapped_column(DateTime)
    team: Mapped[str] = mapped_column(String(40), default="")
    assignee: Mapped[str] = mapped_column(String(64), default="")
    number: Mapped[str] = mapped_column(String(16), default="")
    email: Mapped[str] = mapped_column(String(120), default="")
    channel: Mapped[str] = mapped_column(String(6))
    language: Mapped[str] = mapped_column(String(2))
    source: Mapped[str] = mapped_column(String(8))
    description: Mapped[str] = mapped_column(Text, default="")
    transcript: Mapped[str] = mapped_column(Text, default="")
    recording: Mapped[str] = mapped_column(String(120), default="")
    address: Mapped[str] = mapped_column(String(200), default="")
    lat: Mapped[float | None] = mapped_column(Float)
    long: Mapped[float | None] = mapped_column(Float)
    call_id: Mapped[str] = mapped_column(String(40), default="")
    answer: Mapped[str] = mapped_column(Text, default="")  # told to the citizen
    duplicate_key: Mapped[str] = mapped_column(String(32), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)
    first_contact_at: Mapped[datetime | None] = mapped_column(DateTime)
    solved_at: Mapped[datetime | None] = mapped_column(DateTime)
    events: Mapped[list[BackofficeEvent]] = relationship(
        back_populates="request", cascade="all, delete-orphan", order_by="BackofficeEvent.id"
    )

    __table_args__ = (
        CheckConstraint(f"severity IN {_in(SEVERITIES)}", name="severity"),
        CheckConstraint(f"status IN {_in(STATUSES)}", name="status"),
        CheckConstraint(f"channel IN {_in(CHANNELS)}", name="channel"),
        CheckConstraint(f"language IN {_in(LANGUAGES)}", name="language"),
        CheckConstraint(f"source IN {_in(SOURCES)}", name="source"),
        Index("ix_backoffice_requests_queue", "status", "due_at"),
    )


class BackofficeEvent(Base):
    """One line of a request's history: created, merged, assigned, status, answer, message,
    contact attempt, note. ``detail`` holds what changed (no number or address of the
    citizen: the request row has them)."""

    __tablename__ = "backoffice_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int] = mapped_column(
        ForeignKey("backoffice_requests.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = mapped_column(DateTime)
    actor: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    detail: Mapped[dict] = mapped_column(JSON, default=dict)
    request: Mapped[BackofficeRequest] = relationship(back_populates="events")


class BackofficeFaq(Base):
    """An answer worth giving every caller: written from a solved request, per department."""

    __tablename__ = "backoffice_faq"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    department: Mapped[str] = mapped_column(String(40), index=True)
    question: Mapped[str] = mapped_column(Text)
    answer: Mapped[str] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(2), default="it")
    from_request: Mapped[int | None] = mapped_column(Integer)  # an id, not a foreign key
    prompt_key: Mapped[str] = mapped_column(String(60), default="")  # once published
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime)


class BackofficeApiKey(Base):
    """A GeoReport client allowed to post (a city's web form, an app): its key's digest."""

    __tablename__ = "backoffice_api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(60), unique=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 of the key
    created_at: Mapped[datetime] = mapped_column(DateTime)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
