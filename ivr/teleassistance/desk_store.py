"""What the teleassistance desk reads and writes: the day's courtesy calls, the open alarms with
the citizen's sheet and emergency contacts, an alarm closed with an outcome, a call's outcome.

The rows are :mod:`ivr.teleassistance.models`' (``teleassistance_calls``, ``_alarms``), planned
and raised by :mod:`ivr.teleassistance.calls`; the desk only reads them and writes what the
operator decided. Closing an alarm is one conditional ``UPDATE ... WHERE state = 'open'``: two
operators closing the same alarm at once, one wins, the other is told who did. Bad input is
refused with a :class:`DeskError` naming the field, nothing written. Nothing here logs.

Times are the city's local naive datetimes, like :mod:`ivr.teleassistance.calls`' (which sets
``planned_at`` and ``raised_at``): the desk's clock must be local too (the admin's
:func:`~ivr.admin.views.common.city_now`), so ``closed_at`` and an alarm's age agree with them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session, selectinload

from ivr.db import writer
from ivr.logs import mask_number
from ivr.teleassistance.models import DESK_OUTCOMES, Alarm, Citizen, WeekCall
from ivr.teleassistance.rules import NOTES_MAX


def local_now() -> datetime:
    return datetime.now()


class DeskError(ValueError):
    """Refused: ``field`` is the form field (or ``alarm``/``call`` for the id), nothing written.
    ``code`` and ``params`` let a page say it in its own language; ``message`` is English."""

    def __init__(self, field: str, code: str, message: str, **params: object) -> None:
        self.field, self.code, self.message, self.params = field, code, message, params
        super().__init__(f"{field}: {message}")


@dataclass(frozen=True)
class Contact:
    name: str
    number: str
    relation: str
    channel: str
    email: str


@dataclass(frozen=True)
class Sheet:
    """The citizen as the operator on the phone with them (or their alarm) needs them."""

    citizen_id: int
    name: str
    numbers: tuple[str, ...]
    language: str
    area: str
    notes: str
    call_kind: str
    contacts: tuple[Contact, ...]


@dataclass(frozen=True)
class DayCall:
    """One of the day's courtesy calls, for the list (the number masked)."""

    id: int
    citizen_id: int
    name: str
    number: str  # masked
    kind: str
    planned_at: datetime
    state: str
    attempts: int
    outcome: str | None
    notes: str
    handled_by: str | None


@dataclass(frozen=True)
class AlarmCard:
    id: int
    week: str
    raised_at: datetime
    age: timedelta
    state: str
    closed_at: datetime | None
    closed_by: str | None
    outcome: str | None
    notes: str
    sheet: Sheet


def _sheet(row: Citizen) -> Sheet:
    return Sheet(
        citizen_id=row.id,
        name=row.name,
        numbers=tuple(n.number for n in row.numbers),
        language=row.language,
        area=row.area,
        notes=row.notes,
        call_kind=row.call_kind,
        contacts=tuple(
            Contact(c.name, c.number, c.relation, c.channel, c.email or "") for c in row.contacts
        ),
    )


def _day_call(call: WeekCall, citizen: Citizen) -> DayCall:
    first = citizen.numbers[0].number if citizen.numbers else ""
    return DayCall(
        id=call.id,
        citizen_id=citizen.id,
        name=citizen.name,
        number=mask_number(first),
        kind=call.kind,
        planned_at=call.planned_at,
        state=call.state,
        attempts=call.attempts,
        outcome=call.outcome,
        notes=call.notes,
        handled_by=call.handled_by,
    )


def _card(alarm: Alarm, citizen: Citizen, now: datetime) -> AlarmCard:
    return AlarmCard(
        id=alarm.id,
        week=alarm.week,
        raised_at=alarm.raised_at,
        age=max(now - alarm.raised_at, timedelta(0)),
        state=alarm.state,
        closed_at=alarm.closed_at,
        closed_by=alarm.closed_by,
        outcome=alarm.outcome,
        notes=alarm.notes,
        sheet=_sheet(citizen),
    )


def _loads() -> tuple:
    return (selectinload(Citizen.numbers), selectinload(Citizen.contacts))


def check_outcome(outcome: str, notes: str) -> str:
    """The notes, trimmed; refuses an outcome the desk does not know or notes too long."""
    if outcome not in DESK_OUTCOMES:
        choices = ", ".join(DESK_OUTCOMES)
        raise DeskError("outcome", "unknown_outcome", f"choose one of {choices}", choices=choices)
    notes = notes.strip()
    if len(notes) > NOTES_MAX:
        raise DeskError(
            "notes", "notes_too_long", f"at most {NOTES_MAX} characters", most=NOTES_MAX
        )
    return notes


def check_by(by: str) -> str:
    if not by or len(by) > 64:
        raise DeskError("by", "bad_user", "who handled it must be a user name of 1-64 characters")
    return by


class DeskStore:
    """The desk's view of one city database (``engine``: :func:`ivr.db.ready`'s)."""

    def __init__(self, engine: Engine, *, clock: Callable[[], datetime] = local_now) -> None:
        self.engine, self.write_engine, self.clock = engine, writer(engine), clock

    # -- reading ---------------------------------------------------------------------------

    def today(self, day: date) -> list[DayCall]:
        """The calls planned on ``day`` (local): operator calls first, then by planned time."""
        start = datetime.combine(day, time())
        with Session(self.engine) as db:
            rows = db.execute(
                select(WeekCall, Citizen)
                .join(Citizen, Citizen.id == WeekCall.citizen_id)
                .where(WeekCall.planned_at >= start, WeekCall.planned_at < start + timedelta(1))
                .options(selectinload(Citizen.numbers))
            ).all()
        calls = [_day_call(call, citizen) for call, citizen in rows]
        return sorted(calls, key=lambda c: (c.kind != "operator", c.planned_at, c.id))

    def open_alarms(self) -> list[AlarmCard]:
        """Every open alarm, the oldest first (it has waited longest)."""
        now = self.clock()
        with Session(self.engine) as db:
            rows = db.execute(
                select(Alarm, Citizen)
                .join(Citizen, Citizen.id == Alarm.citizen_id)
                .where(Alarm.state == "open")
                .order_by(Alarm.raised_at, Alarm.id)
                .options(*_loads())
            ).all()
            return [_card(alarm, citizen, now) for alarm, citizen in rows]

    def alarm(self, alarm_id: int) -> AlarmCard | None:
        with Session(self.engine) as db:
            alarm = db.get(Alarm, alarm_id)
            if alarm is None:
                return None
            citizen = db.get(Citizen, alarm.citizen_id, options=_loads())
            return _card(alarm, citizen, self.clock()) if citizen else None

    def call(self, call_id: int) -> tuple[DayCall, Sheet] | None:
        """A week call (``NU_TA_CALL``) and its citizen's sheet; None for an unknown id."""
        with Session(self.engine) as db:
            call = db.get(WeekCall, call_id)
            if call is None:
                return None
            citizen = db.get(Citizen, call.citizen_id, options=_loads())
            if citizen is None:
                return None
            return _day_call(call, citizen), _sheet(citizen)

    # -- writing ---------------------------------------------------------------------------

    def close_alarm(self, alarm_id: int, outcome: str, notes: str, by: str) -> AlarmCard:
        """Close an open alarm with the operator's outcome; who and when are kept."""
        notes = check_outcome(outcome, notes)
        by = check_by(by)
        now = self.clock()
        with Session(self.write_engine) as db, db.begin():
            done = db.execute(
                update(Alarm)
                .where(Alarm.id == alarm_id, Alarm.state == "open")
                .values(state="closed", closed_at=now, closed_by=by, outcome=outcome, notes=notes)
            )
            if done.rowcount != 1:
                alarm = db.get(Alarm, alarm_id)
                if alarm is None:
                    raise DeskError(
                        "alarm", "no_alarm", f"there is no alarm {alarm_id}", id=alarm_id
                    )
                at = f"{alarm.closed_at:%Y-%m-%d %H:%M}"
                raise DeskError(
                    "alarm",
                    "alarm_closed",
                    f"alarm {alarm_id} was already closed by {alarm.closed_by} at {at}",
                    id=alarm_id,
                    by=alarm.closed_by,
                    at=at,
                )
        card = self.alarm(alarm_id)
        assert card is not None
        return card

    def record_outcome(self, call_id: int, outcome: str, notes: str, by: str) -> None:
        """The outcome of a call the operator had (a later one corrects it); who is kept."""
        notes = check_outcome(outcome, notes)
        by = check_by(by)
        with Session(self.write_engine) as db, db.begin():
            done = db.execute(
                update(WeekCall)
                .where(WeekCall.id == call_id)
                .values(outcome=outcome, notes=notes, handled_by=by)
            )
            if done.rowcount != 1:
                raise DeskError("call", "no_call", f"there is no call {call_id}", id=call_id)


def no_calls_now(dial: str, hours: str, local: time) -> str | None:
    """Why no courtesy call is placed at ``local`` (the city's time): ``not_configured`` (no
    ``NU_TELEASSISTANCE_DIAL``), ``outside_hours`` (``NU_TELEASSISTANCE_HOURS``: night), or
    None when calls go out."""
    from ivr.teleassistance.rules import parse_window

    if not dial.strip():
        return "not_configured"
    window = parse_window(hours)
    if window is None or not window[0] <= local < window[1]:
        return "outside_hours"
    return None
