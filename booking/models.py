"""The booking tables, as SQLAlchemy 2 typed ORM classes.

The one rule the database itself must keep, whatever the code does: a slot never holds more
bookings than its capacity. ``Slot.booked`` is moved only by conditional UPDATEs
(``booked = booked + 1 WHERE booked < capacity``) and a CHECK constraint backs them up, so it
holds on SQLite and PostgreSQL alike, under any number of concurrent callers.

Times are the city's local wall-clock time, naive, like :mod:`ivr.flow.calendar`: offices open
at 08:30 local whatever the offset, and the IVR reads times out as the citizen sees them.
"""

from __future__ import annotations

import enum
from datetime import date, datetime, time

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    Time,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ivr.db.base import Base

LANGUAGES = ("it", "en")


class BookingStatus(enum.StrEnum):
    ACTIVE = "active"
    CANCELLED = "cancelled"
    DONE = "done"  # its time has passed; no longer counts against the caller's limit


class CertificateType(enum.StrEnum):
    RESIDENCE = "residence"
    FAMILY_STATUS = "family_status"
    BIRTH = "birth"
    CITIZENSHIP = "citizenship"
    MARRIAGE = "marriage"


class Delivery(enum.StrEnum):
    POST = "post"  # to the registered (residence) address
    DESK = "desk"  # picked up at an office


class CertificateStatus(enum.StrEnum):
    REQUESTED = "requested"
    IN_PROGRESS = "in_progress"
    SENT = "sent"  # posted (delivery by post)
    READY = "ready"  # waiting at the desk (pick-up)


class MessageKind(enum.StrEnum):
    SMS = "sms"
    EMAIL = "email"


class MessageStatus(enum.StrEnum):
    PENDING = "pending"
    SENDING = "sending"  # claimed by a worker; back to the queue if its lease runs out
    SENT = "sent"
    FAILED = "failed"


def _enum_check(column: str, values: type[enum.StrEnum]) -> str:
    return f"{column} IN ({', '.join(repr(v.value) for v in values)})"


office_services = Table(
    "office_services",
    Base.metadata,
    Column("office_id", ForeignKey("offices.id", ondelete="CASCADE"), primary_key=True),
    Column("service_id", ForeignKey("services.id", ondelete="CASCADE"), primary_key=True),
)


class Office(Base):
    """A place with desks where citizens are received (or, for pick-ups, a crew's depot)."""

    __tablename__ = "offices"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # slug used by dialplans
    name: Mapped[str] = mapped_column(String(120))
    address: Mapped[str] = mapped_column(String(200))
    desk: Mapped[str] = mapped_column(String(120), default="")  # "Sportelli 1-8, piano terra"
    email: Mapped[str | None] = mapped_column(String(200))  # back-office mailbox
    services: Mapped[list[Service]] = relationship(
        secondary=office_services, back_populates="offices"
    )


class Service(Base):
    """Something a citizen books a slot for."""

    __tablename__ = "services"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name_it: Mapped[str] = mapped_column(String(120))
    name_en: Mapped[str] = mapped_column(String(120))
    duration_min: Mapped[int] = mapped_column(Integer)
    # How many active bookings one caller may hold (certificates for the whole family: more).
    max_active_per_caller: Mapped[int] = mapped_column(Integer, default=1)
    offices: Mapped[list[Office]] = relationship(
        secondary=office_services, back_populates="services"
    )

    __table_args__ = (
        CheckConstraint("duration_min > 0", name="duration"),
        CheckConstraint("max_active_per_caller >= 1", name="max_active"),
    )

    def name(self, language: str) -> str:
        return self.name_en if language == "en" else self.name_it


class SlotTemplate(Base):
    """Weekly pattern: on ``weekday`` from ``start`` to ``end``, slots of the service's length."""

    __tablename__ = "slot_templates"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    office_id: Mapped[str] = mapped_column(ForeignKey("offices.id", ondelete="CASCADE"))
    service_id: Mapped[str] = mapped_column(ForeignKey("services.id", ondelete="CASCADE"))
    weekday: Mapped[int] = mapped_column(Integer)  # 0 = Monday, like date.weekday()
    start: Mapped[time] = mapped_column(Time)
    end: Mapped[time] = mapped_column(Time)
    capacity: Mapped[int] = mapped_column(Integer)  # desks serving each slot in parallel

    __table_args__ = (
        UniqueConstraint("office_id", "service_id", "weekday", "start", name="uq_slot_templates"),
        CheckConstraint("weekday BETWEEN 0 AND 6", name="weekday"),
        CheckConstraint("capacity > 0", name="capacity"),
        CheckConstraint('start < "end"', name="range"),
    )


class Closure(Base):
    """A day an office (or, with no office, the whole city) receives nobody."""

    __tablename__ = "closures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    office_id: Mapped[str | None] = mapped_column(ForeignKey("offices.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date, index=True)
    reason: Mapped[str] = mapped_column(String(200), default="")


class Slot(Base):
    """One bookable time at one office for one service, holding up to ``capacity`` bookings."""

    __tablename__ = "slots"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    office_id: Mapped[str] = mapped_column(ForeignKey("offices.id", ondelete="CASCADE"))
    service_id: Mapped[str] = mapped_column(ForeignKey("services.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)  # = starts_at.date(), kept for the closure join
    starts_at: Mapped[datetime] = mapped_column(DateTime)
    ends_at: Mapped[datetime] = mapped_column(DateTime)
    capacity: Mapped[int] = mapped_column(Integer)
    booked: Mapped[int] = mapped_column(Integer, default=0)
    closed: Mapped[bool] = mapped_column(Boolean, default=False)  # a closure came later

    office: Mapped[Office] = relationship()
    service: Mapped[Service] = relationship()

    __table_args__ = (
        UniqueConstraint("office_id", "service_id", "starts_at", name="uq_slots"),
        CheckConstraint("booked >= 0 AND booked <= capacity", name="booked_within_capacity"),
        CheckConstraint("capacity >= 0", name="capacity"),
        Index("ix_slots_search", "service_id", "starts_at"),
    )

    @property
    def free(self) -> int:
        return self.capacity - self.booked


class Booking(Base):
    """A citizen's appointment. The number is stored (SMS, callbacks) but never logged."""

    __tablename__ = "bookings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(8), unique=True)
    caller_hash: Mapped[str | None] = mapped_column(String(64))
    caller_number: Mapped[str | None] = mapped_column(String(32))
    service_id: Mapped[str] = mapped_column(ForeignKey("services.id"))
    slot_id: Mapped[int] = mapped_column(ForeignKey("slots.id"), index=True)
    status: Mapped[str] = mapped_column(String(12), default=BookingStatus.ACTIVE.value)
    # Copied from max_active_per_caller == 1 so a partial unique index can enforce it.
    one_per_caller: Mapped[bool] = mapped_column(Boolean, default=True)
    language: Mapped[str] = mapped_column(String(2))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)

    slot: Mapped[Slot] = relationship()
    service: Mapped[Service] = relationship()

    __table_args__ = (
        CheckConstraint(_enum_check("status", BookingStatus), name="status"),
        CheckConstraint(f"language IN {LANGUAGES!r}", name="language"),
        Index("ix_bookings_caller", "caller_hash", "service_id", "status"),
        # One active booking per caller and service, when the service says so, even if the
        # same number books twice at the same instant.
        Index(
            "uq_bookings_one_active",
            "caller_hash",
            "service_id",
            unique=True,
            sqlite_where=text("status = 'active' AND one_per_caller"),
            postgresql_where=text("status = 'active' AND one_per_caller"),
        ),
    )


class CertificateRequest(Base):
    """A registry certificate asked for by phone, posted home or left at a desk."""

    __tablename__ = "certificate_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(8), unique=True)
    type: Mapped[str] = mapped_column(String(20))
    delivery: Mapped[str] = mapped_column(String(8))
    office_id: Mapped[str | None] = mapped_column(ForeignKey("offices.id"))
    caller_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    caller_number: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(12), default=CertificateStatus.REQUESTED.value)
    language: Mapped[str] = mapped_column(String(2))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)

    office: Mapped[Office | None] = relationship()

    __table_args__ = (
        CheckConstraint(_enum_check("type", CertificateType), name="type"),
        CheckConstraint(_enum_check("delivery", Delivery), name="delivery"),
        CheckConstraint(_enum_check("status", CertificateStatus), name="status"),
        CheckConstraint(f"language IN {LANGUAGES!r}", name="language"),
        CheckConstraint("delivery = 'post' OR office_id IS NOT NULL", name="desk_has_office"),
    )


class Outbox(Base):
    """A message to send, written in the same transaction as the change it tells about.

    A worker (:mod:`booking.outbox`) sends it later; if the booking rolls back, so does the SMS.
    """

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))
    recipient: Mapped[str] = mapped_column(String(200))
    subject: Mapped[str] = mapped_column(String(200), default="")
    body: Mapped[str] = mapped_column(Text)
    ref: Mapped[str] = mapped_column(String(40), default="")  # "booking:12", "certificate:3"
    status: Mapped[str] = mapped_column(String(12), default=MessageStatus.PENDING.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # When due; while SENDING, when the worker's lease runs out and another may retry it.
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime)

    __table_args__ = (
        CheckConstraint(_enum_check("kind", MessageKind), name="kind"),
        CheckConstraint(_enum_check("status", MessageStatus), name="status"),
        Index("ix_outbox_due", "status", "next_attempt_at"),
    )


REMINDER_STATES = (
    "pending",
    "dialling",
    "confirmed",
    "cancelled",
    "heard",
    "unanswered",
    "sms_sent",
    "failed",
)


class BookingReminder(Base):
    """The day-before reminder of one booking (:mod:`booking.reminders`): one row per booking,
    ever, so a citizen is never reminded twice, whatever restarts. ``key`` is the current call's
    (``rem-<booking>-<attempt>``, the dialler's channel id); the number stays on the booking."""

    __tablename__ = "booking_reminders"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    booking_id: Mapped[int] = mapped_column(
        ForeignKey("bookings.id", ondelete="CASCADE"), unique=True
    )
    state: Mapped[str] = mapped_column(String(12), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_at: Mapped[datetime] = mapped_column(DateTime)  # city local time, like the slots
    key: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime)

    __table_args__ = (
        CheckConstraint(f"state IN ({', '.join(repr(s) for s in REMINDER_STATES)})", name="state"),
        CheckConstraint("attempts >= 0", name="attempts"),
        Index("ix_booking_reminders_due", "state", "next_at"),
    )
