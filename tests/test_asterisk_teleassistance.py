"""Teleassistance's weekly courtesy calls through a real Asterisk 22, three weeks on a clock the
test moves: the outbound dialler with the weekly source calls the enrolled citizens' phones
(``[nu-test-elder]``); a citizen who answers and presses 1 is marked answered; an answering
machine (espeak-ng greeting, Asterisk's AMD) is a miss, retried, and the third missed week
raises one alarm whose emergency contacts get their SMS (an HTTP gateway) and e-mail (aiosmtpd)
through the outbox worker; the weeks' report counts the calls Asterisk placed.
"""

from __future__ import annotations

import threading
import time
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from booking.outbox import HttpSmsGateway, OutboxWorker, SmtpSender
from ivr.db import make_engine, migrate
from ivr.flow.model import CityCalendar
from ivr.outbound.dialler import Dialler
from ivr.teleassistance import report as ta_report
from ivr.teleassistance.calls import Queue, WeeklyCalls
from ivr.teleassistance.models import Alarm, CallAttempt, WeekCall
from ivr.teleassistance.plan import pacing
from ivr.teleassistance.rules import CitizenData, ContactData
from ivr.teleassistance.store import TeleassistanceStore
from tests.test_booking_outbox import Gateway, free_port, start_smtp

pytestmark = pytest.mark.asterisk

DIAL = "Local/{number}@nu-test-elder"
HOURS = "09:00-20:00"
MONDAY = date(2026, 11, 30)


class Clock:
    def __init__(self) -> None:
        self.now = datetime.combine(MONDAY, datetime.min.time()).replace(hour=10)
        self.lock = threading.Lock()

    def __call__(self) -> datetime:
        with self.lock:
            return self.now

    def set(self, moment: datetime) -> None:
        with self.lock:
            self.now = moment


def enrol(store: TeleassistanceStore, name: str, number: str, contacts=()) -> int:
    return store.add(
        CitizenData(
            name=name,
            numbers=(number,),
            language="it",
            weekdays=("mon",),
            call_kind="automatic",
            contacts=tuple(contacts),
            consent_on="2026-11-20",
            consent_by="op.verdi",
            window="10:00-12:00",
            area="Centro",
        )
    )


@pytest.fixture
def teleassistance(asterisk, tmp_path):
    url = f"sqlite:///{tmp_path / 'city.db'}"
    migrate(url)
    engine = make_engine(url)
    clock = Clock()
    weekly = WeeklyCalls(
        engine,
        hours=HOURS,
        pacing=pacing(HOURS, channels=4, operators=1, attempts=2, retry_minutes=30),
        calendar=CityCalendar,
        queue=lambda: Queue("sociali", "sociali"),
        clock=clock,
        city_number="020202",
    )
    dialler = Dialler(
        asterisk.instance.ami, [weekly], dial_template=DIAL, channels=4, ring_s=5, tick_s=0.2
    )
    dialler.clock = clock
    thread = threading.Thread(target=dialler.run, args=(0.2,), name="test-outbound", daemon=True)
    # the citizens are enrolled first: the source plans a week when it first sees it
    yield engine, clock, TeleassistanceStore(engine, HOURS, clock=clock), thread.start
    dialler.stopped = True
    if thread.is_alive():
        thread.join(timeout=10)
    engine.dispose()


def week_rows(engine, monday: date) -> list[WeekCall]:
    with Session(engine) as db:
        rows = db.scalars(select(WeekCall).order_by(WeekCall.citizen_id)).all()
    return [r for r in rows if r.planned_at.date() == monday]


def run_week(engine, clock: Clock, monday: date, citizens: int, timeout: float = 120) -> dict:
    """Let the dialler work through a week's calls, moving the clock to each retry; returns
    citizen id -> the week's state once every call is decided."""
    clock.set(datetime.combine(monday, datetime.min.time()).replace(hour=10))
    deadline = time.monotonic() + timeout
    while True:
        rows = week_rows(engine, monday)
        if len(rows) == citizens and all(r.state in ("answered", "missed") for r in rows):
            return {r.citizen_id: r.state for r in rows}
        waiting = [r.next_at for r in rows if r.state == "planned" and r.next_at]
        if rows and waiting and all(r.state != "dialling" for r in rows):
            clock.set(max(clock(), min(waiting)))  # nothing on the line: on to the retry
        assert time.monotonic() < deadline, [(r.citizen_id, r.state) for r in rows]
        time.sleep(0.2)


def test_three_weeks_answered_and_machine_then_the_alarm_reaches_the_contacts(teleassistance):
    engine, clock, store, start = teleassistance
    neighbour = ContactData("Pia Verdi", "333 111 4444", "neighbour", "call")
    well = enrol(store, "Maria Rossi", "0611111111", (neighbour,))  # a person who presses 1
    machine = enrol(
        store,
        "Giulia Neri",
        "0622222228",  # an answering machine
        contacts=(
            ContactData("Anna Neri", "333 111 2222", "daughter", "sms"),
            ContactData("Luca Neri", "333 111 3333", "son", "email", "luca@example.org"),
        ),
    )
    start()

    assert run_week(engine, clock, MONDAY, 2) == {well: "answered", machine: "missed"}
    with Session(engine) as db:
        outcomes = {(a.citizen_id, a.n): a.outcome for a in db.scalars(select(CallAttempt))}
    assert outcomes == {(well, 1): "answered", (machine, 1): "machine", (machine, 2): "machine"}

    for week in (1, 2):
        states = run_week(engine, clock, MONDAY + timedelta(weeks=week), 2)
        assert states == {well: "answered", machine: "missed"}
    with Session(engine) as db:
        alarms = db.scalars(select(Alarm)).all()
    assert [(a.citizen_id, a.week, a.state) for a in alarms] == [(machine, "2026-W51", "open")]

    # the report counts what Asterisk did: 3 + 6 attempts, 3 answered and 3 missed weeks
    figures = ta_report.report(engine, "2026-W49", "2026-W51", clock()).total
    assert (figures.calls_placed, figures.answered, figures.missed) == (9, 3, 3)
    assert (figures.alarms_raised, figures.alarms_open) == (1, 1)

    gateway = Gateway()
    controller, mail = start_smtp(free_port())
    try:
        worker = OutboxWorker(
            engine,
            {
                "sms": HttpSmsGateway(gateway.url, token="t0k"),
                "email": SmtpSender("127.0.0.1", controller.port, "teleassistenza@comune.it"),
            },
            clock=clock,
        )
        report = worker.run_once()
    finally:
        gateway.close()
        controller.stop()
    assert (report.sent, report.failed) == (2, 0)
    ((_, sms),) = gateway.requests
    assert sms["to"] == "3331112222" and "Giulia Neri" in sms["text"]
    (email,) = mail.messages
    assert email["To"] == "luca@example.org"
    assert "Giulia Neri" in email.get_payload(decode=True).decode()
