"""Appointment reminders through a real Asterisk 22: the outbound dialler (ivr/outbound/dialler.py)
places the reminder source's calls (booking/reminder_source.py) to the test citizens'
phones (``[nu-test-elder]``): the one whose number ends in 2 keeps pressing 2 and cancels, and
the booking rules free the slot for someone else; those ending in 1 press 1 and confirm (in
Italian and in English); the one ending in 0 never answers and waits for its second call.

The clock is fixed: the bookings are made on Monday 23 November 2026 at 10:00 for Tuesday, and
the dialler runs "on Monday at 17:30", inside the reminder hours. The dialler runs in a thread
on its own AMI connection, as the ``outbound`` process runs it.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from datetime import date, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from booking.models import Booking, BookingReminder, Slot
from booking.reminder_source import ReminderSource
from booking.reminders import FINAL, Policy
from booking.seed import seed_example_city
from booking.service import BookingService
from ivr.db import make_engine, migrate
from ivr.flow.model import CityCalendar
from ivr.outbound.dialler import Dialler
from tests.asterisk_harness import TEST_LOG

pytestmark = pytest.mark.asterisk

MONDAY_10 = datetime(2026, 11, 23, 10, 0)
MONDAY_EVENING = datetime(2026, 11, 23, 17, 30)
TUESDAY = date(2026, 11, 24)
DIAL = "Local/{number}@nu-test-elder"
PLAYING = re.compile(r"Playing '([^']+)' \(language '([a-z]+)'\)")


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def city(tmp_path):
    """The example city's offices and slots on a fresh database, and its booking rules."""
    url = f"sqlite:///{tmp_path / 'city.db'}"
    migrate(url)
    engine = make_engine(url)
    clock = Clock(MONDAY_10)
    bookings = BookingService(engine, CityCalendar(), clock)
    seed_example_city(bookings, days=7)
    yield bookings, clock
    engine.dispose()


def book_tomorrow(
    bookings: BookingService, number: str, language: str = "it"
) -> tuple[int, int, str]:
    slot = next(
        s for s in bookings.available_slots("carta_identita", 200) if s.starts_at.date() == TUESDAY
    )
    made = bookings.book("carta_identita", slot.id, number, language)
    return made["id"], slot.id, made["code"]


def run_dialler(asterisk, source: ReminderSource, clock: Clock) -> tuple[Dialler, threading.Thread]:
    dialler = Dialler(
        asterisk.instance.ami,
        [source],
        dial_template=DIAL,
        channels=1,  # one call at a time: the log reads in order
        ring_s=6,
        clock=clock,
        tick_s=0.2,
    )
    thread = threading.Thread(target=dialler.run, args=(0.2,), name="test-outbound", daemon=True)
    thread.start()
    return dialler, thread


def wait_decided(engine, booking_ids: list[int], timeout: float = 90.0) -> dict[int, str]:
    """Each booking's reminder state once every one of them is final or waits for its retry."""
    deadline = time.monotonic() + timeout
    states: dict[int, str] = {}
    while time.monotonic() < deadline:
        with Session(engine) as session:
            rows = session.scalars(
                select(BookingReminder).where(BookingReminder.booking_id.in_(booking_ids))
            ).all()
            states = {r.booking_id: r.state for r in rows}
            settled = all(r.state in FINAL or (r.state, r.attempts) == ("pending", 1) for r in rows)
        if len(states) == len(booking_ids) and settled:
            return states
        time.sleep(0.2)
    raise TimeoutError(f"reminders never decided: {states}")


def test_a_reminder_cancel_frees_the_slot_and_a_confirm_keeps_it(asterisk, city, caplog):
    bookings, clock = city
    cancelling, cancelled_slot, code1 = book_tomorrow(bookings, "3351112222")
    confirming, _, code2 = book_tomorrow(bookings, "3351112221")
    english, _, code3 = book_tomorrow(bookings, "3351112231", "en")
    away, _, code4 = book_tomorrow(bookings, "3351112240")  # never answers
    caplog.set_level(logging.INFO)
    clock.now = MONDAY_EVENING
    source = ReminderSource(bookings.engine, Policy(), bookings)
    offset = asterisk.log_size()
    dialler, thread = run_dialler(asterisk, source, clock)
    try:
        states = wait_decided(bookings.engine, [cancelling, confirming, english, away])
    finally:
        dialler.stop()
        thread.join(timeout=10)

    assert states == {
        cancelling: "cancelled",
        confirming: "confirmed",
        english: "confirmed",
        away: "pending",  # rang out: called again an hour later, the same evening
    }
    with Session(bookings.engine) as session:
        retry = session.scalar(select(BookingReminder).where(BookingReminder.booking_id == away))
    assert (retry.attempts, retry.next_at) == (1, datetime(2026, 11, 23, 18, 30))
    with Session(bookings.engine) as session:
        assert session.get(Booking, cancelling).status == "cancelled"
        assert session.get(Booking, confirming).status == "active"
        slot = session.get(Slot, cancelled_slot)
        assert slot.booked < slot.capacity
    # the cancelled place is bookable again, by someone else
    assert cancelled_slot in [s.id for s in bookings.available_slots("carta_identita", 500)]
    assert bookings.book("carta_identita", cancelled_slot, "3351112229")["code"]

    # each citizen heard the reminder, the appointment said by Asterisk in their language (08:30
    # on Tuesday 24 November, the first slot), the question and a goodbye that matches what they
    # chose: never a silent hang-up
    log = asterisk.log_text(offset)
    assert "Unable to play" not in log
    played = [(m.group(1).rsplit("/", 2), m.group(2)) for m in PLAYING.finditer(log)]
    names = ["/".join(path[-2:]).split(".")[0] for path, _ in played]
    assert names.count("it/reminder_intro") == 2 and names.count("en/reminder_intro") == 1
    assert names.count("it/reminder_cancelled") == names.count("it/reminder_confirmed") == 1
    assert names.count("en/reminder_confirmed") == 1
    for lang, saying in (
        ("it", ["day-2", "20", "4", "mon-10", "at", "8", "30"]),  # martedì 24 novembre alle 8 30
        ("en", ["day-2", "mon-10", "20", "h-4", "at", "8", "30", "a-m"]),  # Tuesday November 24th
    ):
        start = names.index(f"{lang}/reminder_intro") + 1
        end = names.index(f"{lang}/reminder_keys", start)
        said = played[start:end]
        assert [p[-1].split(".")[0] for p, _ in said] == saying, said
        assert {language for _, language in said} == {lang}

    # privacy: our log lines and Asterisk's own logs name keys and ids, never a number or a code
    ours = "\n".join(r.getMessage() for r in caplog.records)
    assert "rem-" in ours
    shipped = "".join(
        p.read_text(errors="replace")
        for p in asterisk.instance.log_dir.rglob("*")
        if p.is_file() and p.name != TEST_LOG
    )
    assert "reminder rem-" in shipped
    for secret in (
        "3351112222",
        "3351112221",
        "3351112231",
        "3351112240",
        code1,
        code2,
        code3,
        code4,
    ):
        assert secret not in ours and secret not in shipped
