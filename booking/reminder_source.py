"""Appointment reminders as a source of the outbound dialler (:mod:`ivr.outbound.dialler`).

The rules are :mod:`booking.reminders`; this is their store (``booking_reminders``, one row per
booking) and the dialler's three questions:

* :meth:`ReminderSource.due`, in one write transaction: rows still pending for appointments
  already begun are given up (``failed``); inside the calling hours every active booking of
  tomorrow without a row gets one; then the due rows are claimed - a call becomes ``dialling``
  with its key (``rem-<booking>-<attempt>``) before the dialler places it, an SMS is an
  :class:`~booking.models.Outbox` row written with its ``sms_sent`` state. Claims are
  conditional UPDATEs: two dialler processes never take the same row.
* :meth:`ReminderSource.result`: ``confirmed`` is recorded; ``cancelled`` cancels the booking
  through the booking rules first (:meth:`booking.service.BookingService.cancel`: the slot is
  free at once, the citizen gets the usual cancellation SMS), then records it; a miss is tried
  again or given up (:func:`booking.reminders.after`).
* :meth:`ReminderSource.in_flight`: the rows ``dialling``; after a restart the dialler answers
  those it cannot find in Asterisk with ``failed``, which the rules retry.

Logs carry booking ids and keys, never a number or a booking code.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.orm import Session

from booking import messages
from booking import reminders as rules_mod
from booking.models import (
    Booking,
    BookingReminder,
    BookingStatus,
    MessageKind,
    Office,
    Outbox,
    Service,
    Slot,
)
from booking.reminders import Channel, Policy, Retry, State
from booking.service import BookingError, BookingService, is_mobile
from ivr.asterisk import variables as V
from ivr.db import retrying, writer
from ivr.outbound.dialler import Dial

log = logging.getLogger("booking.reminders")

CONTEXT = "nu-reminder"  # extensions.conf: says the appointment, reads 1 or 2
PLAN_EVERY = timedelta(minutes=1)  # how often tomorrow's new bookings are looked for


class ReminderSource:
    """The day-before reminders of office appointments (see the module's docstring)."""

    name = "reminders"

    def __init__(self, engine: Engine, rules: Policy, bookings: BookingService) -> None:
        self.engine = engine
        self._write_engine = writer(engine)
        self.rules = rules
        self.bookings = bookings  # its clock and zone are the city's; cancel goes through it
        self._planned: datetime | None = None  # when tomorrow's bookings were last looked at

    def local(self, now: datetime) -> datetime:
        """``now`` as the city's naive local time (the booking tables' time)."""
        return now.astimezone(self.bookings.zone).replace(tzinfo=None) if now.tzinfo else now

    def _write(self, work: Callable[[Session], Any], what: str) -> Any:
        def attempt() -> Any:
            with Session(self._write_engine, expire_on_commit=False) as session, session.begin():
                return work(session)

        return retrying(attempt, what=what)

    # -- the dialler's questions ---------------------------------------------------------------

    def due(self, now: datetime, room: int) -> list[Dial]:
        """Asked every tick (half a second): outside the hours it touches nothing, inside them
        it plans at most once a minute and opens a write transaction only for due rows (on
        SQLite a writer holds up the IVR's booking writers)."""
        now = self.local(now)
        if not rules_mod.in_hours(now, self.rules):
            return []
        if self._planned is None or not timedelta(0) <= now - self._planned < PLAN_EVERY:

            def plan(session: Session) -> None:
                self._expire(session, now)
                self._plan(session, now)

            self._write(plan, "reminders plan")
            self._planned = now
        if not self._any_due(now):
            return []
        return self._write(lambda session: self._claim(session, now, room), "reminders due")

    def result(self, key: str, outcome: str, now: datetime) -> None:
        parsed = rules_mod.parse_key(key)
        if parsed is None:
            return
        booking_id, attempt = parsed
        now = self.local(now)
        if outcome == rules_mod.CANCELLED:
            self._cancel_booking(booking_id, key)
        decision = rules_mod.after(outcome, attempt, now, self.rules)

        def work(session: Session) -> None:
            values: dict[str, Any]
            if isinstance(decision, Retry):
                values = {"state": State.PENDING.value, "next_at": decision.at}
            else:
                values = {"state": decision.state.value, "decided_at": now}
            done = session.execute(
                update(BookingReminder)
                .where(
                    BookingReminder.booking_id == booking_id,
                    BookingReminder.key == key,
                    BookingReminder.state == State.DIALLING.value,
                )
                .values(**values)
                .execution_options(synchronize_session=False)
            ).rowcount
            if done:
                log.info("reminder %s: %s -> %s", key, outcome, values["state"])

        self._write(work, "reminder result")

    def in_flight(self) -> list[str]:
        with Session(self.engine) as session:
            keys = session.scalars(
                select(BookingReminder.key).where(BookingReminder.state == State.DIALLING.value)
            ).all()
        return [k for k in keys if k]

    @staticmethod
    def _due_rows(now: datetime, *columns: Any) -> Any:
        """Pending reminders due now whose booking is still active and tomorrow (a booking
        cancelled or moved meanwhile waits: a moved one is reminded the evening before its new
        day, a cancelled one is given up when its day comes)."""
        return (
            select(*columns)
            .select_from(BookingReminder)
            .join(Booking, Booking.id == BookingReminder.booking_id)
            .join(Slot, Slot.id == Booking.slot_id)
            .where(
                BookingReminder.state == State.PENDING.value,
                BookingReminder.next_at <= now,
                Booking.status == BookingStatus.ACTIVE.value,
                Slot.day == rules_mod.reminder_day(now),
            )
        )

    def _any_due(self, now: datetime) -> bool:
        with Session(self.engine) as session:
            found = session.scalar(self._due_rows(now, BookingReminder.id).limit(1))
        return found is not None

    # -- inside due()'s transactions ------------------------------------------------------------

    def _expire(self, session: Session, now: datetime) -> None:
        """Pending reminders of appointments from today on can no longer be "the day before"."""
        tomorrow = datetime.combine(rules_mod.reminder_day(now), time.min)
        late = (
            select(Booking.id)
            .join(Slot, Slot.id == Booking.slot_id)
            .where(Slot.starts_at < tomorrow)
        )
        session.execute(
            update(BookingReminder)
            .where(
                BookingReminder.state == State.PENDING.value,
                BookingReminder.booking_id.in_(late),
            )
            .values(state=State.FAILED.value, decided_at=now)
            .execution_options(synchronize_session=False)
        )

    def _plan(self, session: Session, now: datetime) -> None:
        """A pending row for every active booking of tomorrow that has none."""
        day = rules_mod.reminder_day(now)
        missing = session.scalars(
            select(Booking.id)
            .join(Slot, Slot.id == Booking.slot_id)
            .outerjoin(BookingReminder, BookingReminder.booking_id == Booking.id)
            .where(
                Booking.status == BookingStatus.ACTIVE.value,
                Slot.day == day,
                BookingReminder.id.is_(None),
            )
        ).all()
        if missing:
            session.execute(
                insert(BookingReminder),
                [
                    {
                        "booking_id": booking_id,
                        "state": State.PENDING.value,
                        "attempts": 0,
                        "next_at": now,
                        "created_at": now,
                    }
                    for booking_id in missing
                ],
            )

    def _claim(self, session: Session, now: datetime, room: int) -> list[Dial]:
        rows = session.execute(
            self._due_rows(now, BookingReminder, Booking, Slot, Service, Office)
            .join(Service, Service.id == Booking.service_id)
            .join(Office, Office.id == Slot.office_id)
            .order_by(BookingReminder.next_at, BookingReminder.id)
            .limit(max(room, 0) + 50)
        ).all()
        dials: list[Dial] = []
        for reminder, booking, slot, service, office in rows:
            how = rules_mod.channel(
                booking.caller_number, is_mobile(booking.caller_number), self.rules
            )
            if how is Channel.CALL and len(dials) >= room:
                continue  # no channel free now: next time
            attempt = reminder.attempts + 1
            state = {Channel.CALL: State.DIALLING, Channel.SMS: State.SMS_SENT}.get(
                how, State.FAILED
            )
            values: dict[str, Any] = {"state": state.value, "attempts": attempt}
            if how is Channel.CALL:
                values["key"] = rules_mod.key(booking.id, attempt)
            else:
                values["decided_at"] = now
            taken = session.execute(
                update(BookingReminder)
                .where(
                    BookingReminder.id == reminder.id,
                    BookingReminder.state == State.PENDING.value,
                    BookingReminder.attempts == reminder.attempts,
                )
                .values(**values)
                .execution_options(synchronize_session=False)
            ).rowcount
            if taken != 1:  # another dialler took it meanwhile
                continue
            if how is Channel.SMS:
                self._sms(session, booking, slot, service, office, now)
                log.info("reminder of booking %d: by SMS", booking.id)
            elif how is None:
                log.info("reminder of booking %d: no number to call or text", booking.id)
            else:
                dials.append(self._dial(values["key"], booking, slot))
        return dials

    def _dial(self, key: str, booking: Booking, slot: Slot) -> Dial:
        return Dial(
            key=key,
            number=rules_mod.dialable(booking.caller_number),
            then=CONTEXT,
            language=booking.language,
            machine_detection=True,
            variables={
                V.REM_AT: self.bookings.epoch(slot.starts_at),
                V.REM_ZONE: self.bookings.zone.key,
                V.REM_OFFICE: slot.office_id,
                V.REM_SERVICE: booking.service_id,
            },
        )

    def _sms(
        self,
        session: Session,
        booking: Booking,
        slot: Slot,
        service: Service,
        office: Office,
        now: datetime,
    ) -> None:
        text = messages.booking_reminder(
            booking.language,
            booking.code,
            service.name(booking.language),
            slot.starts_at,
            office.name,
            office.address,
            self.bookings.city_number,
        )
        session.add(
            Outbox(
                kind=MessageKind.SMS.value,
                recipient=str(booking.caller_number),
                subject="",
                body=text,
                ref=f"reminder:{booking.id}",
                attempts=0,
                next_attempt_at=now,
                created_at=now,
            )
        )

    # -- a "cancel" pressed ---------------------------------------------------------------------

    def _cancel_booking(self, booking_id: int, key: str) -> None:
        """The booking rules cancel it (slot freed, cancellation SMS), if this call is still the
        reminder's current one; a booking already cancelled or past stays as it is."""
        with Session(self.engine) as session:
            code = session.scalar(
                select(Booking.code)
                .join(BookingReminder, BookingReminder.booking_id == Booking.id)
                .where(
                    Booking.id == booking_id,
                    BookingReminder.key == key,
                    BookingReminder.state == State.DIALLING.value,
                )
            )
        if code is None:
            return
        try:
            self.bookings.cancel(code)
        except BookingError as err:
            log.info("reminder %s: booking not cancelled (%s)", key, err.code)
        else:
            log.info("reminder %s: booking %d cancelled by the citizen", key, booking_id)


def build_reminder_source(
    settings: Any, engine: Engine, clock: Callable[[], datetime] | None = None
) -> ReminderSource | None:
    """The reminders for the ``outbound`` process, on the city database's ``engine``; None when
    they can reach nobody (no outbound dial string and no SMS)."""
    calls = bool(settings.teleassistance_dial)
    if not calls and not settings.reminder_sms:
        return None
    from ivr.flow.loader import load_dialplan

    rules = rules_mod.policy(
        settings.reminder_hours,
        settings.reminder_attempts,
        settings.reminder_retry_min,
        sms=settings.reminder_sms,
        calls=calls,
    )
    dialplan = load_dialplan(settings.dialplan_path)
    bookings = BookingService(
        engine,
        dialplan.calendar,
        clock,
        timezone=dialplan.timezone,
        city_number=dialplan.number,
    )
    return ReminderSource(engine, rules, bookings)


__all__ = ["CONTEXT", "ReminderSource", "build_reminder_source"]
