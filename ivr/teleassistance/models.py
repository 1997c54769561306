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
