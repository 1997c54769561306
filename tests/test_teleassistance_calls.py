"""The weekly courtesy calls' source (ivr/teleassistance/calls.py) on SQLite and PostgreSQL, with
the dialler's part played by the test (it asks ``due`` and reports ``result`` as Asterisk
would): an answered week, a missed one after its retries, three missed weeks raising one alarm
whose emergency contacts' SMS and e-mail wait in the outbox, a restart that never dials an
attempt twice, no call outside the calling hours, operator calls only for a free operator.

Through a real Asterisk: tests/test_asterisk_teleassistance.py.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from booking.models import Outbox
from ivr.db import make_engine
from ivr.flow.model import CityCalendar
from ivr.teleassistance.calls import Queue, WeeklyCalls, parse_key
from ivr.teleassistance.models import Alarm, CallAttempt, WeekCall
from ivr.teleassistance.plan import pacing
from ivr.teleassistance.rules import CitizenData, ContactData
from ivr.teleassistance.store import TeleassistanceStore

HOURS = "09:00-20:00"
MONDAY = date(2026, 11, 30)  # ISO week 2026-W49
CONTACTS = (
    ContactData("Anna Bianchi", "333 111 2222", "daughter", "sms"),
    ContactData("Luca Bianchi", "333 111 3333", "son", "email", "luca@example.org"),
    ContactData("Pia Verdi", "333 111 4444", "neighbour", "call"),
)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def citizen(name: str, number: str, kind: str = "automatic") -> CitizenData:
    return CitizenData(
        name=name,
        numbers=(number,),
        language="it",
        weekdays=("mon",),
        call_kind=kind,
        contacts=CONTACTS,
        consent_on="2026-11-20",
        consent_by="op.verdi",
        window="10:00-12:00",
        area="Centro",
    )


@pytest.fixture
def city(booking_url):
    engine = make_engine(booking_url)
    clock = Clock(datetime.combine(MONDAY, datetime.min.time()).replace(hour=10))
    store = TeleassistanceStore(engine, HOURS, clock=clock)
    yield engine, clock, store
    engine.dispose()


def source(engine, clock, free_operators=None) -> WeeklyCalls:
    return WeeklyCalls(
        engine,
        hours=HOURS,
        pacing=pacing(HOURS, channels=4, operators=2, attempts=2, retry_minutes=30),
        calendar=CityCalendar,
        queue=lambda: Queue("sociali", "sociali"),
        free_operators=free_operators,
        clock=clock,
        city_number="020202",
    )


def calls(engine, **where) -> list[WeekCall]:
    with Session(engine) as db:
        stmt = select(WeekCall).filter_by(**where).order_by(WeekCall.week)
        return list(db.scalars(stmt))


def play_week(weekly: WeeklyCalls, clock: Clock, monday: date, outcomes: list[str]) -> str:
    """Dial the week's call as the dialler would, each attempt ending in the next outcome;
    returns the week's state."""
    clock.now = datetime.combine(monday, datetime.min.time()).replace(hour=10)
    for outcome in outcomes:
        dials = weekly.due(clock.now, 5)
        assert len(dials) == 1, f"expected one call due at {clock.now}"
        weekly.result(dials[0].key, outcome, clock.now)
        (row,) = [c for c in calls(weekly.engine) if c.planned_at.date() == monday]
        if row.next_at is None:
            return row.state
        clock.now = row.next_at
    raise AssertionError("the week was not decided by these outcomes")


def test_an_answered_week(city):
    engine, clock, store = city
    store.add(citizen("Maria Rossi", "0612345671"))
    weekly = source(engine, clock)
    assert play_week(weekly, clock, MONDAY, ["answered"]) == "answered"
    assert weekly.due(clock.now + timedelta(minutes=40), 5) == []  # nothing more this week
    assert weekly.in_flight() == []
    (row,) = calls(engine)
    assert (row.week, row.kind, row.attempts) == ("2026-W49", "automatic", 1)


def test_a_machine_then_no_key_is_a_missed_week_after_its_retries(city):
    engine, clock, store = city
    store.add(citizen("Maria Rossi", "0612345678"))
    weekly = source(engine, clock)
    dials = weekly.due(clock.now, 5)
    assert dials[0].then == "nu-teleassistance" and dials[0].machine_detection
    assert dials[0].variables["NU_TA_KIND"] == "automatic"
    weekly.result(dials[0].key, "machine", clock.now)
    (row,) = calls(engine)
    assert (row.state, row.next_at) == ("planned", clock.now + timedelta(minutes=30))
    clock.now = row.next_at
    second = weekly.due(clock.now, 5)
    assert parse_key(second[0].key) == (row.id, 2)
    weekly.result(second[0].key, "no_key", clock.now)  # picked up, never pressed a key
    (row,) = calls(engine)
    assert (row.state, row.reason, row.attempts) == ("missed", "attempts_exhausted", 2)
    with Session(engine) as db:
        outcomes = list(db.scalars(select(CallAttempt.outcome).order_by(CallAttempt.n)))
    assert outcomes == ["machine", "no_answer"]


def test_three_missed_weeks_raise_one_alarm_and_notify_the_contacts(city):
    engine, clock, store = city
    maria = store.add(citizen("Maria Rossi", "0612345678"))
    weekly = source(engine, clock)
    for week in range(3):
        monday = MONDAY + timedelta(weeks=week)
        assert play_week(weekly, clock, monday, ["busy", "no_answer"]) == "missed"
        with Session(engine) as db:
            alarms = list(db.scalars(select(Alarm)))
        assert len(alarms) == (1 if week == 2 else 0)
    (alarm,) = alarms
    assert (alarm.citizen_id, alarm.week, alarm.state) == (maria, "2026-W51", "open")
    with Session(engine) as db:
        sent = sorted((m.kind, m.recipient, m.ref) for m in db.scalars(select(Outbox)))
    ref = f"teleassistance-alarm:{alarm.id}"
    # the SMS and e-mail contacts are written to; the one to call is the desk's to phone
    assert sent == [("email", "luca@example.org", ref), ("sms", "3331112222", ref)]

    # a fourth missed week is the same streak: no second alarm
    assert play_week(weekly, clock, MONDAY + timedelta(weeks=3), ["busy", "busy"]) == "missed"
    with Session(engine) as db:
        assert len(list(db.scalars(select(Alarm)))) == 1


def test_an_answered_week_breaks_the_streak(city):
    engine, clock, store = city
    store.add(citizen("Maria Rossi", "0612345678"))
    weekly = source(engine, clock)
    plan = [["busy", "busy"], ["busy", "busy"], ["answered"], ["busy", "busy"]]
    for week, outcomes in enumerate(plan):
        play_week(weekly, clock, MONDAY + timedelta(weeks=week), outcomes)
    with Session(engine) as db:
        assert list(db.scalars(select(Alarm))) == []


def test_a_restarted_worker_never_dials_an_attempt_twice(city):
    engine, clock, store = city
    store.add(citizen("Maria Rossi", "0612345678"))
    first = source(engine, clock)
    (dial,) = first.due(clock.now, 5)
    restarted = source(engine, clock)  # the process died with the line ringing
    assert restarted.due(clock.now, 5) == []
    assert restarted.in_flight() == [dial.key]
    restarted.result(dial.key, "failed", clock.now)  # what the dialler says of a lost line
    restarted.result(dial.key, "answered", clock.now)  # a late event changes nothing
    (row,) = calls(engine)
    assert (row.state, row.attempts) == ("planned", 1)


def test_no_call_outside_the_calling_hours(city):
    engine, clock, store = city
    store.add(citizen("Maria Rossi", "0612345678"))
    weekly = source(engine, clock)
    clock.now = clock.now.replace(hour=8)
    assert weekly.due(clock.now, 5) == []
    (row,) = calls(engine)
    assert row.state == "planned"  # planned for 10:00, not dialled at 8
    clock.now = clock.now.replace(hour=12, minute=30)  # the window is over, never dialled
    assert weekly.due(clock.now, 5) == []
    (row,) = calls(engine)
    assert (row.state, row.reason) == ("not_called", "not_dialled")  # neutral for the alarm


def test_operator_calls_wait_for_a_free_operator(city):
    engine, clock, store = city
    store.add(citizen("Maria Rossi", "0612345678", kind="operator"))
    store.add(citizen("Giulia Neri", "0612345679", kind="operator"))
    free = {"n": 0}
    weekly = source(engine, clock, free_operators=lambda: free["n"])
    assert weekly.due(clock.now, 5) == []  # nobody free: nobody dialled
    free["n"] = 1
    (dial,) = weekly.due(clock.now, 5)  # one operator: one citizen at a time
    assert dial.variables["NU_TA_KIND"] == "operator"
    assert dial.variables["NU_QUEUE"] == "sociali"
    assert weekly.due(clock.now, 5) == []  # the free operator is awaited by that call
    weekly.result(dial.key, "answered", clock.now)  # the operator has the citizen now
    clock.now = max(c.planned_at for c in calls(engine))  # the plan spaced them out
    free["n"] = 1  # the first call's operator is busy; another one is free
    (second,) = weekly.due(clock.now, 5)
    assert second.key != dial.key
