"""The booking rules, on the database: slots from templates, booking, cancelling, rescheduling and
certificate requests.

What holds under load, and why:

* **Never more bookings than capacity.** A booking takes its place with one conditional UPDATE,
  ``booked = booked + 1 WHERE id = :id AND booked < capacity AND NOT closed``; the row count says
  whether the place was ours. PostgreSQL (READ COMMITTED) re-checks the WHERE on the newest row
  version after waiting for a competing writer; SQLite runs writers one at a time (``BEGIN
  IMMEDIATE``, :mod:`ivr.db.engine`). The ``booked <= capacity`` CHECK constraint backs both up.
* **One active booking per caller and service** (unless the service allows more): counted in the
  same transaction, and for the usual limit of one, a partial unique index makes the database
  refuse a second one even when the same number books twice at the same instant.
* **The confirmation is in the same transaction** (an :class:`~booking.models.Outbox` row): no
  booking without its SMS, no SMS for a booking that rolled back.
* **Past slots, holidays and closed days are never offered**: slots are generated skipping
  holidays (:mod:`ivr.flow.calendar`, the IVR's own calendar) and closures, a later closure marks
  existing slots closed, and every query filters on "now" from the injected clock.

Times are the city's naive local time; the phone hears epochs (``start``) computed in the city's
time zone.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from booking import codes, messages
from booking.models import (
    Booking,
    BookingStatus,
    CertificateRequest,
    CertificateStatus,
    CertificateType,
    Closure,
    Delivery,
    MessageKind,
    Office,
    Outbox,
    Service,
    Slot,
    SlotTemplate,
)
from ivr.db import retrying, writer
from ivr.flow.calendar import holiday_name
from ivr.flow.model import CityCalendar
from ivr.flow.services import UNAVAILABLE, ServiceError

SLOT_FULL = "slot_full"
ALREADY_BOOKED = "already_booked"
NOT_FOUND = "not_found"
INVALID_CODE = "invalid_code"

# Certificate status: where each status may go next.
_CERT_NEXT = {
    CertificateStatus.REQUESTED: {CertificateStatus.IN_PROGRESS},
    CertificateStatus.IN_PROGRESS: {CertificateStatus.SENT, CertificateStatus.READY},
    CertificateStatus.READY: {CertificateStatus.SENT},
    CertificateStatus.SENT: set(),
}


class BookingError(ServiceError):
    """A domain refusal the caller is told about: ``code`` is one of the module constants.

    A :class:`~ivr.flow.services.ServiceError`, so the runner answers the engine with it.
    ``value`` for ``slot_full`` is the next free slot (``{"id", "start"}``) or None.
    """


class _SlotTaken(Exception):
    """Raised inside the booking transaction to roll it back: the place went to someone else."""

    def __init__(self, starts_at: datetime) -> None:
        super().__init__("slot taken")
        self.starts_at = starts_at


@dataclass(frozen=True)
class SlotView:
    id: int
    service: str
    office: str
    starts_at: datetime
    free: int


def caller_hash(number: str | None) -> str | None:
    """Who the caller is, for the one-booking rule, without the number in the index."""
    digits = "".join(ch for ch in number or "" if ch.isdigit())
    if len(digits) < 3:  # anonymous / withheld: cannot be told apart, no per-caller limit
        return None
    if digits.startswith("0039"):
        digits = digits[4:]
    elif digits.startswith("39") and len(digits) > 10:
        digits = digits[2:]
    return hashlib.sha256(f"numero-unico:{digits}".encode()).hexdigest()


def is_mobile(number: str | None) -> bool:
    """Italian mobile numbers start with 3 (after an optional +39): those get an SMS."""
    digits = "".join(ch for ch in number or "" if ch.isdigit())
    if digits.startswith("0039"):
        digits = digits[4:]
    elif digits.startswith("39") and len(digits) > 10:
        digits = digits[2:]
    return digits.startswith("3") and 9 <= len(digits) <= 10


def _take_place(session: Session, slot_id: int) -> bool:
    """Take one place if the slot has one: the conditional UPDATE's row count decides, so two
    callers can never both get the last place (the CHECK constraint backs it up)."""
    query = (
        update(Slot)
        .where(Slot.id == slot_id, Slot.booked < Slot.capacity, Slot.closed.is_(False))
        .values(booked=Slot.booked + 1)
        .execution_options(synchronize_session=False)
    )
    return session.execute(query).rowcount == 1


def _give_back_place(session: Session, slot_id: int) -> None:
    """Free the place of a cancelled or moved booking (never below zero)."""
    session.execute(
        update(Slot)
        .where(Slot.id == slot_id, Slot.booked > 0)
        .values(booked=Slot.booked - 1)
        .execution_options(synchronize_session=False)
    )


def _day_closed(calendar: CityCalendar, day: date) -> str | None:
    """Why ``day`` is closed all day (a holiday, a city closure), or None."""
    name = holiday_name(day, calendar)
    if name:
        return name
    for closure in calendar.closures:
        if closure.day == day and closure.start is None and closure.end is None:
            return closure.reason or "closure"
    return None


def _partly_closed(calendar: CityCalendar, moment: datetime) -> bool:
    """Whether a closure of part of the day (``from``/``to``) covers ``moment``."""
    for c in calendar.closures:
        if c.day != moment.date():
            continue
        if (c.start is None or moment.time() >= c.start) and (
            c.end is None or moment.time() < c.end
        ):
            return True
    return False


class BookingService:
    """All booking operations; thread-safe (one short transaction per call)."""

    def __init__(
        self,
        engine: Engine,
        calendar: CityCalendar | Callable[[], CityCalendar] | None = None,
        clock: Callable[[], datetime] | None = None,
        *,
        timezone: str = "Europe/Rome",
        city_number: str = "020202",
        code_attempts: int = 5,
    ) -> None:
        """``calendar``: the city's calendar, or a function returning the current one (the
        published dialplan's, read on every use: a closure published now is honoured now)."""
        self.city_number = city_number
        self.engine = engine
        self.write_engine = writer(engine)
        if callable(calendar):
            self._calendar = calendar
        else:
            fixed = calendar or CityCalendar()
            self._calendar = lambda: fixed
        self.zone = ZoneInfo(timezone)
        self.clock = clock or (lambda: datetime.now(self.zone).replace(tzinfo=None))
        self.code_attempts = code_attempts

    # helpers -----------------------------------------------------------------------------------

    @property
    def calendar(self) -> CityCalendar:
        return self._calendar()

    def now(self) -> datetime:
        now = self.clock()
        return now.astimezone(self.zone).replace(tzinfo=None) if now.tzinfo else now

    def epoch(self, local: datetime) -> int:
        return int(local.replace(tzinfo=self.zone).timestamp())

    def _read(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    def _write(self, work: Callable[[Session], Any], what: str) -> Any:
        """One write transaction (BEGIN IMMEDIATE on SQLite), retried on transient conflicts."""

        def attempt() -> Any:
            with Session(self.write_engine, expire_on_commit=False) as session, session.begin():
                return work(session)

        return retrying(attempt, what=what)

    def _outbox(
        self, session: Session, kind: MessageKind, to: str, body: str, ref: str, subject: str = ""
    ) -> None:
        now = self.now()
        session.add(
            Outbox(
                kind=kind.value,
                recipient=to,
                subject=subject,
                body=body,
                ref=ref,
                attempts=0,
                next_attempt_at=now,
                created_at=now,
            )
        )

    # slots ---------------------------------------------------------------------------------------

    def generate_slots(self, days: int = 28, start: date | None = None) -> int:
        """Create the slots of the next ``days`` days from the weekly templates; idempotent.

        Skips holidays, closures (city-wide or the office's) and times already past. Returns how
        many new slots were created.
        """
        now = self.now()
        first = start or now.date()
        calendar = self.calendar  # read once: it may be the published dialplan's, from a file

        def work(session: Session) -> int:
            templates = session.scalars(select(SlotTemplate)).all()
            durations = dict(session.execute(select(Service.id, Service.duration_min)).all())
            closures = session.execute(
                select(Closure.office_id, Closure.day).where(
                    Closure.day >= first, Closure.day < first + timedelta(days=days)
                )
            ).all()
            closed = {(office, day) for office, day in closures}
            existing = {
                (o, s, t)
                for o, s, t in session.execute(
                    select(Slot.office_id, Slot.service_id, Slot.starts_at).where(
                        Slot.day >= first, Slot.day < first + timedelta(days=days)
                    )
                ).all()
            }
            rows = []
            for offset in range(days):
                day = first + timedelta(days=offset)
                if _day_closed(calendar, day):
                    continue
                for t in templates:
                    if t.weekday != day.weekday() or (None, day) in closed:
                        continue
                    if (t.office_id, day) in closed:
                        continue
                    step = timedelta(minutes=durations[t.service_id])
                    at = datetime.combine(day, t.start)
                    end = datetime.combine(day, t.end)
                    while at + step <= end:
                        key = (t.office_id, t.service_id, at)
                        if at > now and key not in existing and not _partly_closed(calendar, at):
                            existing.add(key)
                            rows.append(
                                {
                                    "office_id": t.office_id,
                                    "service_id": t.service_id,
                                    "day": day,
                                    "starts_at": at,
                                    "ends_at": at + step,
                                    "capacity": t.capacity,
                                    "booked": 0,
                                    "closed": False,
                                }
                            )
                        at += step
            if rows:
                session.execute(insert(Slot), rows)
            return len(rows)

        return self._write(work, "generate_slots")

    def add_closure(
        self, day: date, office: str | None = None, reason: str = "", *, cancel: bool = True
    ) -> dict[str, int]:
        """Close ``day`` (for one office, or the whole city): its slots are no longer offered.

        With ``cancel`` (the default) the day's active bookings are cancelled in the same
        transaction and each citizen gets an SMS saying so (the back office sees them with
        ``ivr booking list --all``); without, they stay for the back office to call.
        Returns ``{"slots": closed slots, "cancelled": cancelled bookings}``.
        """
        now = self.now()

        def work(session: Session) -> dict[str, int]:
            session.add(Closure(office_id=office, day=day, reason=reason))
            query = update(Slot).where(Slot.day == day).values(closed=True)
            if office is not None:
                query = query.where(Slot.office_id == office)
            closed = session.execute(query.execution_options(synchronize_session=False)).rowcount
            cancelled = 0
            if cancel:
                rows = session.execute(
                    select(Booking, Slot, Service)
                    .join(Slot, Slot.id == Booking.slot_id)
                    .join(Service, Service.id == Booking.service_id)
                    .where(
                        Slot.day == day,
                        Booking.status == BookingStatus.ACTIVE.value,
                        *([Slot.office_id == office] if office is not None else []),
                    )
                ).all()
                for booking, slot, service in rows:
                    booking.status = BookingStatus.CANCELLED.value
                    booking.updated_at = now
                    slot.booked -= 1
                    cancelled += 1
                    if is_mobile(booking.caller_number):
                        text = messages.booking_closed(
                            booking.language,
                            booking.code,
                            service.name(booking.language),
                            slot.starts_at,
                            self.city_number,
                        )
                        self._outbox(
                            session,
                            MessageKind.SMS,
                            str(booking.caller_number),
                            text,
                            f"booking:{booking.id}",
                        )
            return {"slots": closed, "cancelled": cancelled}

        return self._write(work, "add_closure")

    def available_slots(
        self,
        service: str,
        limit: int = 3,
        after: datetime | None = None,
        *,
        since: datetime | None = None,
        exclude: int | None = None,
    ) -> list[SlotView]:
        """The first ``limit`` bookable slots of ``service``, soonest first: always after now,
        and after ``after`` (exclusive) / from ``since`` (inclusive), without slot ``exclude``."""
        now = self.now()
        query = (
            select(Slot)
            .where(
                Slot.service_id == service,
                Slot.starts_at > max(after or now, now),
                Slot.closed.is_(False),
                Slot.booked < Slot.capacity,
            )
            .order_by(Slot.starts_at, Slot.id)
        )
        if since is not None:
            query = query.where(Slot.starts_at >= since)
        if exclude is not None:
            query = query.where(Slot.id != exclude)
        out: list[SlotView] = []
        calendar = self.calendar
        with self._read() as session:
            for slot in session.scalars(query.limit(limit + 50)):
                if _day_closed(calendar, slot.day) or _partly_closed(calendar, slot.starts_at):
                    continue
                out.append(
                    SlotView(slot.id, slot.service_id, slot.office_id, slot.starts_at, slot.free)
                )
                if len(out) >= limit:
                    break
        return out

    def next_free(
        self, service: str, since: datetime | None = None, exclude: int | None = None
    ) -> dict[str, int] | None:
        """The next free slot as the phone hears it, ``{"id", "start"}``, or None: the first
        one from ``since`` on (another office at the same time counts), other than ``exclude``."""
        found = self.available_slots(service, 1, since=since, exclude=exclude)
        return {"id": found[0].id, "start": self.epoch(found[0].starts_at)} if found else None

    # bookings --------------------------------------------------------------------------------

    def book(
        self, service: str, slot_id: int, caller: str | None, language: str = "it"
    ) -> dict[str, Any]:
        """Take one place in ``slot_id``. Returns ``{"code", "start", "id", "office"}``.

        Raises :class:`BookingError`: ``slot_full`` (value: the next free slot or None),
        ``already_booked``, ``not_found`` (no such service).
        """
        language = language if language in ("it", "en") else "it"
        who = caller_hash(caller)
        now = self.now()
        full: list[datetime] = []

        def work(session: Session) -> dict[str, Any]:
            svc = session.get(Service, service)
            if svc is None:
                raise BookingError(NOT_FOUND)
            if who is not None:
                # Appointments whose time has passed become ``done``: they no longer count, and
                # they must leave the one-active partial unique index or it refuses this booking.
                session.execute(
                    update(Booking)
                    .where(
                        Booking.caller_hash == who,
                        Booking.service_id == service,
                        Booking.status == BookingStatus.ACTIVE.value,
                        Booking.slot_id.in_(select(Slot.id).where(Slot.starts_at <= now)),
                    )
                    .values(status=BookingStatus.DONE.value, updated_at=now)
                    .execution_options(synchronize_session=False)
                )
                active = session.scalar(
                    select(func.count())
                    .select_from(Booking)
                    .join(Slot, Slot.id == Booking.slot_id)
                    .where(
                        Booking.caller_hash == who,
                        Booking.service_id == service,
                        Booking.status == BookingStatus.ACTIVE.value,
                        Slot.starts_at > now,
                    )
                )
                if active >= svc.max_active_per_caller:
                    raise BookingError(ALREADY_BOOKED)
            slot = session.get(Slot, slot_id)
            valid = (
                slot is not None
                and slot.service_id == service
                and slot.starts_at > now
                and not slot.closed
                and slot.booked < slot.capacity  # a plain read: a hint only, the UPDATE decides
                and not _day_closed(self.calendar, slot.day)
                and not _partly_closed(self.calendar, slot.starts_at)
            )
            if not valid:
                full.append(slot.starts_at if slot is not None else now)
                return {}
            code = codes.new_code(codes.BOOKING_FIRST)
            booking = Booking(
                code=code,
                caller_hash=who,
                caller_number=caller or None,
                service_id=service,
                slot_id=slot_id,
                status=BookingStatus.ACTIVE.value,
                one_per_caller=svc.max_active_per_caller == 1,
                language=language,
                created_at=now,
                updated_at=now,
            )
            session.add(booking)
            session.flush()  # unique code / one-active index checked here, inside the tx
            office = session.get(Office, slot.office_id)
            self._confirmations(session, booking, svc, office, slot.starts_at, language, caller)
            session.flush()
            # Last, so the slot's row lock (PostgreSQL) is held only from here to COMMIT: the
            # callers queued on the same slot wait for one UPDATE and a commit, not a whole
            # transaction. No place left: everything above rolls back with it.
            taken = _take_place(session, slot_id)
            if not taken:
                raise _SlotTaken(slot.starts_at)
            return {
                "code": code,
                "start": self.epoch(slot.starts_at),
                "id": booking.id,
                "office": slot.office_id,
            }

        for _ in range(self.code_attempts):
            full.clear()
            try:
                result = self._write(work, "book")
            except _SlotTaken as err:
                full.append(err.starts_at)
                result = {}
            except IntegrityError as err:
                text = str(err.orig)
                if "one_active" in text or "bookings.caller_hash" in text:
                    raise BookingError(ALREADY_BOOKED) from None
                if "code" in text:
                    continue  # a random code drawn twice: draw again
                raise
            if full:
                raise BookingError(SLOT_FULL, self.next_free(service, full[0], slot_id))
            return result
        raise BookingError(UNAVAILABLE)

    def _confirmations(
        self,
        session: Session,
        booking: Booking,
        service: Service,
        office: Office | None,
        at: datetime,
        language: str,
        caller: str | None,
        what: str = "booked",
    ) -> None:
        name = service.name(language)
        office_name, address = (office.name, office.address) if office else ("", "")
        if what == "booked":
            text = messages.booking_confirmed(
                language, booking.code, name, at, office_name, address, self.city_number
            )
        elif what == "moved":
            text = messages.booking_moved(language, booking.code, name, at, office_name, address)
        else:
            text = messages.booking_cancelled(language, booking.code, name, at)
        texts = {what: text}
        when = messages.when(at, "it")
        ref = f"booking:{booking.id}"
        if is_mobile(caller):
            self._outbox(session, MessageKind.SMS, str(caller), texts[what], ref)
        if office is not None and office.email:
            self._outbox(
                session,
                MessageKind.EMAIL,
                office.email,
                texts[what],
                ref,
                subject=f"[{what}] {service.name('it')} {when} ({booking.code})",
            )

    def find(self, code: str) -> dict[str, Any]:
        """A booking by its code: ``{"code", "start", "status", "service", "office"}``."""
        code = codes.normalize(code)
        if not codes.is_valid(code):
            raise BookingError(INVALID_CODE)
        with self._read() as session:
            row = session.execute(
                select(Booking, Slot)
                .join(Slot, Slot.id == Booking.slot_id)
                .where(Booking.code == code)
            ).first()
            if row is None:
                raise BookingError(NOT_FOUND)
            booking, slot = row
            return {
                "code": booking.code,
                "start": self.epoch(slot.starts_at),
                "status": booking.status,
                "service": booking.service_id,
                "office": slot.office_id,
                "slot": slot.id,
            }

    def cancel(self, code: str) -> dict[str, Any]:
        """Cancel an active future booking; its place is free again at once."""
        code = codes.normalize(code)
        if not codes.is_valid(code):
            raise BookingError(INVALID_CODE)
        now = self.now()

        def work(session: Session) -> dict[str, Any]:
            booking = session.scalar(select(Booking).where(Booking.code == code))
            if booking is None or booking.status != BookingStatus.ACTIVE.value:
                raise BookingError(NOT_FOUND)
            slot = session.get(Slot, booking.slot_id)
            if slot.starts_at <= now:
                raise BookingError(NOT_FOUND)
            done = session.execute(
                update(Booking)
                .where(Booking.id == booking.id, Booking.status == BookingStatus.ACTIVE.value)
                .values(status=BookingStatus.CANCELLED.value, updated_at=now)
                .execution_options(synchronize_session=False)
            ).rowcount
            if done != 1:  # cancelled by someone else in the meantime
                raise BookingError(NOT_FOUND)
            _give_back_place(session, slot.id)
            self._confirmations(
                session,
                booking,
                session.get(Service, booking.service_id),
                session.get(Office, slot.office_id),
                slot.starts_at,
                booking.language,
                booking.caller_number,
                what="cancelled",
            )
            return {"code": code, "start": self.epoch(slot.starts_at)}

        return self._write(work, "cancel")

    def reschedule(self, code: str, slot_id: int) -> dict[str, Any]:
        """Move an active booking to another slot of the same service (same code)."""
        code = codes.normalize(code)
        if not codes.is_valid(code):
            raise BookingError(INVALID_CODE)
        now = self.now()
        full: list[tuple[str, datetime, int]] = []

        def work(session: Session) -> dict[str, Any]:
            booking = session.scalar(select(Booking).where(Booking.code == code))
            if booking is None or booking.status != BookingStatus.ACTIVE.value:
                raise BookingError(NOT_FOUND)
            old = session.get(Slot, booking.slot_id)
            if old.starts_at <= now:
                raise BookingError(NOT_FOUND)
            new = session.get(Slot, slot_id)
            if new is None or new.service_id != booking.service_id:
                raise BookingError(NOT_FOUND)
            if new.id == old.id:
                return {"code": code, "start": self.epoch(new.starts_at)}
            taken = (
                new.starts_at > now
                and not _day_closed(self.calendar, new.day)
                and _take_place(session, slot_id)
            )
            if not taken:
                full.append((booking.service_id, new.starts_at, new.id))
                return {}
            _give_back_place(session, old.id)
            booking.slot_id = slot_id
            booking.updated_at = now
            self._confirmations(
                session,
                booking,
                session.get(Service, booking.service_id),
                session.get(Office, new.office_id),
                new.starts_at,
                booking.language,
                booking.caller_number,
                what="moved",
            )
            return {"code": code, "start": self.epoch(new.starts_at)}

        result = self._write(work, "reschedule")
        if full:
            raise BookingError(SLOT_FULL, self.next_free(*full[0]))
        return result

    def list_bookings(
        self, day: date | None = None, status: str | None = BookingStatus.ACTIVE.value
    ) -> list[dict[str, Any]]:
        """Bookings (optionally of one day), soonest first: for ``ivr booking list``."""
        with self._read() as session:
            query = (
                select(Booking, Slot)
                .join(Slot, Slot.id == Booking.slot_id)
                .order_by(Slot.starts_at, Booking.id)
            )
            if day is not None:
                query = query.where(Slot.day == day)
            if status is not None:
                query = query.where(Booking.status == status)
            return [
                {
                    "code": b.code,
                    "service": b.service_id,
                    "office": s.office_id,
                    "starts_at": s.starts_at,
                    "status": b.status,
                    "caller": b.caller_number,
                    "closed": s.closed,
                }
                for b, s in session.execute(query).all()
            ]

    # certificates ------------------------------------------------------------------------------

    def request_certificate(
        self,
        type: str,
        delivery: str,
        caller: str | None,
        language: str = "it",
        office: str | None = None,
    ) -> dict[str, Any]:
        """Store a certificate request; ``desk`` pick-up goes to ``office`` (default: the first
        office serving ``certificati_sportello``, else the first office). Returns ``{"code"}``.
        """
        if type not in {t.value for t in CertificateType}:
            raise BookingError(NOT_FOUND)
        if delivery not in {d.value for d in Delivery}:
            raise BookingError(NOT_FOUND)
        language = language if language in ("it", "en") else "it"
        now = self.now()

        def work(session: Session) -> dict[str, Any]:
            registry = office or session.scalar(
                select(Office.id)
                .join(Office.services)
                .where(Service.id == "certificati_sportello")
                .order_by(Office.id)
                .limit(1)
            )
            registry = registry or session.scalar(select(Office.id).order_by(Office.id).limit(1))
            office_id = registry if delivery == Delivery.DESK.value else office
            if delivery == Delivery.DESK.value and office_id is None:
                raise BookingError(UNAVAILABLE)
            code = codes.new_code(codes.CERTIFICATE_FIRST)
            request = CertificateRequest(
                code=code,
                type=type,
                delivery=delivery,
                office_id=office_id,
                caller_hash=caller_hash(caller),
                caller_number=caller or None,
                status=CertificateStatus.REQUESTED.value,
                language=language,
                created_at=now,
                updated_at=now,
            )
            session.add(request)
            session.flush()
            ref = f"certificate:{request.id}"
            desk = session.get(Office, office_id) if office_id else None
            if is_mobile(caller):
                text = messages.certificate_requested(
                    language, code, type, delivery, desk.name if desk else None
                )
                self._outbox(session, MessageKind.SMS, str(caller), text, ref)
            # The registry office prepares it (posts it, or readies it at the desk): it is
            # e-mailed every request, without the caller's number (they look the code up).
            handler = session.get(Office, registry) if registry else None
            if handler is not None and handler.email:
                subject, body = messages.certificate_email(code, type, delivery, language)
                self._outbox(session, MessageKind.EMAIL, handler.email, body, ref, subject)
            return {"code": code, "id": request.id, "office": office_id}

        for _ in range(self.code_attempts):
            try:
                return self._write(work, "certificate")
            except IntegrityError as err:
                if "code" in str(err.orig):
                    continue
                raise
        raise BookingError(UNAVAILABLE)

    def advance_certificate(self, code: str, status: str) -> dict[str, Any]:
        """Move a certificate request along requested -> in_progress -> sent/ready -> sent."""
        code = codes.normalize(code)
        if not codes.is_valid(code):
            raise BookingError(INVALID_CODE)
        target = CertificateStatus(status)
        now = self.now()

        def work(session: Session) -> dict[str, Any]:
            request = session.scalar(
                select(CertificateRequest).where(CertificateRequest.code == code)
            )
            if request is None:
                raise BookingError(NOT_FOUND)
            current = CertificateStatus(request.status)
            if target not in _CERT_NEXT[current]:
                raise ValueError(f"certificate {current.value} cannot become {target.value}")
            if target is CertificateStatus.READY and request.delivery != Delivery.DESK.value:
                raise ValueError("only desk pick-ups become ready")
            request.status = target.value
            request.updated_at = now
            if target in (CertificateStatus.SENT, CertificateStatus.READY) and is_mobile(
                request.caller_number
            ):
                office = session.get(Office, request.office_id) if request.office_id else None
                text = messages.certificate_done(
                    request.language,
                    code,
                    request.type,
                    target.value,
                    office.name if office else None,
                )
                self._outbox(
                    session,
                    MessageKind.SMS,
                    str(request.caller_number),
                    text,
                    f"certificate:{request.id}",
                )
            return {"code": code, "status": target.value}

        return self._write(work, "certificate_status")


__all__ = [
    "ALREADY_BOOKED",
    "INVALID_CODE",
    "NOT_FOUND",
    "SLOT_FULL",
    "UNAVAILABLE",
    "BookingError",
    "BookingService",
    "SlotView",
]
