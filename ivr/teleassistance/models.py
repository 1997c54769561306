"""The ``teleassistance_*`` tables, on the city database (:mod:`ivr.db`).

A citizen's numbers and emergency contacts are rows of their own, ordered by ``position`` (the
first number is tried first), deleted with the citizen (``ON DELETE CASCADE``). A number is
unique across citizens (``number`` holds the canonical digits, :func:`ivr.teleassistance.rules
.canonical_number`), so the database itself refuses a second enrolment of one phone. Tables
added later about a citizen (the weekly outcomes) refer to ``teleassistance_citizens.id``:
:meth:`ivr.teleassistance.store.TeleassistanceStore.erase` finds and empties them too.
"""

from __future__ import annotations

from datetime import date, datetime, time

from sqlalchemy import (
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    Time,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ivr.callbacks.models import LANGUAGES  # the city's seven, as callbacks keep them
from ivr.db.base import Base

KINDS = ("operator", "automatic")
STATUSES = ("active", "suspended")
CHANNELS = ("call", "sms", "email")


def _in(values: tuple[str, ...]) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


class Citizen(Base):
    """An enrolled citizen: how and when the weekly courtesy call reaches them."""

    __tablename__ = "teleassistance_citizens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    name_key: Mapped[str] = mapped_column(String(80), index=True)  # folded: duplicates
    language: Mapped[str] = mapped_column(String(2))
    area: Mapped[str] = mapped_column(String(60), default="")
    area_key: Mapped[str] = mapped_column(String(60), default="", index=True)  # folded: filter
    weekdays: Mapped[str] = mapped_column(String(27))  # "mon,thu", in week order
    window_start: Mapped[time] = mapped_column(Time)  # local time
    window_end: Mapped[time] = mapped_column(Time)
    call_kind: Mapped[str] = mapped_column(String(10))
    consent_on: Mapped[date] = mapped_column(Date)
    consent_by: Mapped[str] = mapped_column(String(64))  # who recorded the consent
    notes: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(10), default="active")
    suspended_from: Mapped[date | None] = mapped_column(Date)
    suspended_to: Mapped[date | None] = mapped_column(Date)  # None: until resumed
    suspension_reason: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)
    numbers: Mapped[list[CitizenNumber]] = relationship(
        back_populates="citizen", cascade="all, delete-orphan", order_by="CitizenNumber.position"
    )
    contacts: Mapped[list[EmergencyContact]] = relationship(
        back_populates="citizen",
        cascade="all, delete-orphan",
        order_by="EmergencyContact.position",
    )

    __table_args__ = (
        CheckConstraint(f"language IN {_in(LANGUAGES)}", name="language"),
        CheckConstraint(f"call_kind IN {_in(KINDS)}", name="call_kind"),
        CheckConstraint(f"status IN {_in(STATUSES)}", name="status"),
        CheckConstraint("window_start < window_end", name="window"),
    )


class CitizenNumber(Base):
    """One of a citizen's phones; position 1 is called first."""

    __tablename__ = "teleassistance_numbers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    citizen_id: Mapped[int] = mapped_column(
        ForeignKey("teleassistance_citizens.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)
    number: Mapped[str] = mapped_column(String(16), unique=True)
    citizen: Mapped[Citizen] = relationship(back_populates="numbers")


class EmergencyContact(Base):
    """Someone to alert about a citizen (a relative, a neighbour, social services)."""

    __tablename__ = "teleassistance_contacts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    citizen_id: Mapped[int] = mapped_column(
        ForeignKey("teleassistance_citizens.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(80))
    number: Mapped[str] = mapped_column(String(16))
    relation: Mapped[str] = mapped_column(String(40))
    channel: Mapped[str] = mapped_column(String(5))
    email: Mapped[str | None] = mapped_column(String(120))
    citizen: Mapped[Citizen] = relationship(back_populates="contacts")

    __table_args__ = (
        CheckConstraint(f"channel IN {_in(CHANNELS)}", name="channel"),
        CheckConstraint("channel <> 'email' OR email IS NOT NULL", name="email_for_email"),
    )


# -- The weekly courtesy calls (ivr/teleassistance/calls.py) ----------------------------------

CALL_STATES = ("planned", "dialling", "answered", "missed", "not_called")
ATTEMPT_OUTCOMES = ("dialling", "answered", "no_answer", "busy", "machine", "failed")
DESK_OUTCOMES = ("well", "needs_help", "social_services", "company")
ALARM_STATES = ("open", "closed")


class WeekCall(Base):
    """A citizen's courtesy call of one ISO week: planned once, then its attempts' verdict.

    One row per citizen and week (unique): a restarted worker finds the week's plan here and
    never places a second call for the same week. ``next_at`` is when the next attempt is due
    (None once the week is decided). ``outcome`` and ``notes`` are what the desk operator
    recorded on an operator call."""

    __tablename__ = "teleassistance_calls"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    citizen_id: Mapped[int] = mapped_column(
        ForeignKey("teleassistance_citizens.id", ondelete="CASCADE"), index=True
    )
    week: Mapped[str] = mapped_column(String(8))  # ISO week, "2026-W48"
    kind: Mapped[str] = mapped_column(String(10))
    planned_at: Mapped[datetime] = mapped_column(DateTime)  # local time
    window_end: Mapped[datetime] = mapped_column(DateTime)
    minutes: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(10), default="planned")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_at: Mapped[datetime | None] = mapped_column(DateTime, index=True)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime)
    reason: Mapped[str | None] = mapped_column(String(24))  # why missed / not called
    outcome: Mapped[str | None] = mapped_column(String(16))
    notes: Mapped[str] = mapped_column(Text, default="")
    handled_by: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (
        UniqueConstraint("citizen_id", "week"),
        CheckConstraint(f"kind IN {_in(KINDS)}", name="kind"),
        CheckConstraint(f"state IN {_in(CALL_STATES)}", name="state"),
        CheckConstraint(f"outcome IS NULL OR outcome IN {_in(DESK_OUTCOMES)}", name="outcome"),
    )


class CallAttempt(Base):
    """One dialling of a week's call. ``key`` is the Asterisk channel id of the attempt
    (``nu-ta-<call>-<n>``): the worker finds its channel, and a result, by it."""

    __tablename__ = "teleassistance_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_id: Mapped[int] = mapped_column(
        ForeignKey("teleassistance_calls.id", ondelete="CASCADE"), index=True
    )
    citizen_id: Mapped[int] = mapped_column(
        ForeignKey("teleassistance_citizens.id", ondelete="CASCADE"), index=True
    )
    n: Mapped[int] = mapped_column(Integer)  # 1, 2, 3...
    key: Mapped[str] = mapped_column(String(40), unique=True)
    started_at: Mapped[datetime] = mapped_column(DateTime)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime)
    outcome: Mapped[str] = mapped_column(String(10), default="dialling")

    __table_args__ = (
        UniqueConstraint("call_id", "n"),
        CheckConstraint(f"outcome IN {_in(ATTEMPT_OUTCOMES)}", name="outcome"),
    )


class Alarm(Base):
    """The third consecutive missed week: open until an operator closes it with an outcome."""

    __tablename__ = "teleassistance_alarms"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    citizen_id: Mapped[int] = mapped_column(
        ForeignKey("teleassistance_citizens.id", ondelete="CASCADE"), index=True
    )
    week: Mapped[str] = mapped_column(String(8))  # the week that made it three
    raised_at: Mapped[datetime] = mapped_column(DateTime)
    state: Mapped[str] = mapped_column(String(6), default="open", index=True)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime)
    closed_by: Mapped[str | None] = mapped_column(String(64))
    outcome: Mapped[str | None] = mapped_column(String(16))
    notes: Mapped[str] = mapped_column(Text, default="")

    __table_args__ = (
        UniqueConstraint("citizen_id", "week"),
        CheckConstraint(f"state IN {_in(ALARM_STATES)}", name="state"),
        CheckConstraint(f"outcome IS NULL OR outcome IN {_in(DESK_OUTCOMES)}", name="outcome"),
    )


# -- Broadcasts to the citizens of chosen areas (their own module, registered with these) -----
from ivr.teleassistance.broadcast_models import Broadcast, BroadcastDelivery  # noqa: E402

__all__ = [
    "Alarm",
    "Broadcast",
    "BroadcastDelivery",
    "CallAttempt",
    "Citizen",
    "CitizenNumber",
    "EmergencyContact",
    "WeekCall",
]
