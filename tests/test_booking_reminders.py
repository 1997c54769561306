"""Appointment reminders: the rules (pure, booking/reminders.py) and their store, the dialler's
source (booking/reminder_source.py), on SQLite and PostgreSQL (``booking_url``).

The city is the example one, booked on Monday 23 November 2026 at 10:00; the reminders run
that evening for Tuesday's appointments. No call is placed here: the source is asked what is
due and told outcomes as the dialler would (tests/test_asterisk_reminders.py places them).
"""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, time

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from booking import reminders as R
from booking.models import REMINDER_STATES, Booking, BookingReminder, Outbox, Slot
from booking.reminder_source import ReminderSource, build_reminder_source
from booking.seed import seed_example_city
from booking.service import BookingService
from ivr import config
from ivr.db import make_engine
from ivr.flow.model import CityCalendar

MONDAY = date(2026, 11, 23)
TUESDAY = date(2026, 11, 24)
WEDNESDAY = date(2026, 11, 25)
RULES = R.Policy()  # 17:00-20:00, 2 attempts 60 minutes apart, calls


def at(day: date, hh: int, mm: int = 0) -> datetime:
    return datetime.combine(day, time(hh, mm))


# -- the rules (pure) --------------------------------------------------------------------------


def test_the_hours_setting_is_read_and_bad_ones_are_refused_by_name():
    assert R.parse_hours("17:00-20:00") == (time(17), time(20))
    assert R.parse_hours(" 8:30 - 9:15 ") == (time(8, 30), time(9, 15))
    for bad in ("", "20:00-17:00", "17-20", "17:00-24:00", "17:00"):
        with pytest.raises(ValueError, match="NU_REMINDER_HOURS"):
            R.parse_hours(bad)
    with pytest.raises(ValueError, match="NU_REMINDER_ATTEMPTS"):
        R.policy("17:00-20:00", 0)
    assert R.policy("18:00-19:00", 3, 30, sms=True).attempts == 3


def test_reminders_go_out_the_evening_before_inside_the_hours_and_never_at_night():
    appointment = at(TUESDAY, 9, 20)
    assert R.wants_reminder(appointment, at(MONDAY, 17, 0), RULES)
    assert R.wants_reminder(appointment, at(MONDAY, 19, 59), RULES)
    assert not R.wants_reminder(appointment, at(MONDAY, 16, 59), RULES)
    assert not R.wants_reminder(appointment, at(MONDAY, 20, 0), RULES)  # the end is excluded
    assert not R.wants_reminder(appointment, at(MONDAY, 23, 30), RULES)
    assert not R.wants_reminder(appointment, at(TUESDAY, 2, 0), RULES)
    assert not R.wants_reminder(at(WEDNESDAY, 9, 20), at(MONDAY, 18, 0), RULES)  # not tomorrow
    assert not R.wants_reminder(appointment, at(TUESDAY, 18, 0), RULES)  # the day itself


def test_a_call_unless_sms_is_preferred_or_the_number_cannot_be_called():
    mobile, landline = "3351112221", "0612345671"
    assert R.channel(mobile, True, RULES) is R.Channel.CALL
    assert R.channel(landline, False, RULES) is R.Channel.CALL
    sms = dataclasses.replace(RULES, sms=True)
    assert R.channel(mobile, True, sms) is R.Channel.SMS
    assert R.channel(landline, False, sms) is R.Channel.CALL  # a landline takes no SMS
    no_calls = dataclasses.replace(RULES, calls=False)
    assert R.channel(mobile, True, no_calls) is R.Channel.SMS
    assert R.channel(landline, False, no_calls) is None
    assert R.channel(None, False, RULES) is None  # withheld: nobody to remind
    assert R.channel("anonymous", False, RULES) is None
    assert R.dialable("+39 335") == "" and R.dialable("+393351112221") == "00393351112221"


def test_a_decision_is_final_a_miss_is_tried_again_the_same_evening_only():
    six = at(MONDAY, 18, 0)
    assert R.after(R.CONFIRMED, 1, six, RULES) == R.Final(R.State.CONFIRMED)
    assert R.after(R.CANCELLED, 2, six, RULES) == R.Final(R.State.CANCELLED)
    assert R.after(R.NO_KEY, 1, six, RULES) == R.Final(R.State.HEARD)
    for miss in ("no_answer", "busy", "machine", "hangup", "failed"):
        assert R.after(miss, 1, six, RULES) == R.Retry(at(MONDAY, 19, 0))
    assert R.after("no_answer", 2, six, RULES) == R.Final(R.State.UNANSWERED)
    assert R.after("failed", 2, six, RULES) == R.Final(R.State.FAILED)
    # the retry would fall after the calling hours: given up, never a call at night
    assert R.after("busy", 1, at(MONDAY, 19, 30), RULES) == R.Final(R.State.UNANSWERED)


def test_keys_name_the_booking_and_the_attempt():
    assert R.key(12, 1) == "rem-12-1"
    assert R.parse_key("rem-12-2") == (12, 2)
    assert R.parse_key("ta-12-1") is None and R.parse_key("rem-x-1") is None


def test_the_states_are_the_tables():
    assert tuple(s.value for s in R.State) == REMINDER_STATES
    assert frozenset(R.State) - {R.State.PENDING, R.State.DIALLING} == R.FINAL


# -- the store and the dialler's source (SQLite and PostgreSQL) --------------------------------


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def engine(booking_url):
    engine = make_engine(booking_url)
    yield engine
    engine.dispose()


@pytest.fixture
def clock():
    return Clock(at(MONDAY, 10))


@pytest.fixture
def bookings(engine, clock):
    service = BookingService(engine, CityCalendar(), clock)
    seed_example_city(service, days=7)
    return service


def book_on(bookings: BookingService, day: date, number: str | None, language: str = "it"):
    """A booking of an identity card appointment on ``day`` (the first free slot)."""
    slot = next(
        s for s in bookings.available_slots("carta_identita", 200) if s.starts_at.date() == day
    )
    made = bookings.book("carta_identita", slot.id, number, language)
    return made["id"], made["code"], slot.id


def source(engine, bookings, **rules) -> ReminderSource:
    return ReminderSource(engine, dataclasses.replace(RULES, **rules), bookings)


def row(engine, booking_id: int) -> BookingReminder | None:
    with Session(engine) as session:
        return session.scalar(
            select(BookingReminder).where(BookingReminder.booking_id == booking_id)
        )


def reminder_sms(engine) -> list[Outbox]:
    with Session(engine) as session:
        return list(session.scalars(select(Outbox).where(Outbox.ref.like("reminder:%"))))


def test_tomorrows_bookings_are_called_once_with_what_the_dialplan_says(engine, bookings, clock):
    first, _, slot_id = book_on(bookings, TUESDAY, "3351112221")
    second, _, _ = book_on(bookings, TUESDAY, "0612345671", "en")
    later, _, _ = book_on(bookings, WEDNESDAY, "3351112223")
    reminders = source(engine, bookings)

    assert reminders.due(at(MONDAY, 16, 30), 10) == []  # before the hours: nothing planned
    assert row(engine, first) is None
    dials = reminders.due(at(MONDAY, 17, 0), 10)
    assert sorted(d.key for d in dials) == sorted([f"rem-{first}-1", f"rem-{second}-1"])
    call = next(d for d in dials if d.key == f"rem-{first}-1")
    with Session(engine) as session:
        starts_at = session.get(Slot, slot_id).starts_at
    assert (call.number, call.then, call.language, call.machine_detection) == (
        "3351112221",
        "nu-reminder",
        "it",
        True,
    )
    assert call.variables == {
        "NU_REM_AT": bookings.epoch(starts_at),
        "NU_REM_ZONE": "Europe/Rome",
        "NU_REM_OFFICE": call.variables["NU_REM_OFFICE"],
        "NU_REM_SERVICE": "carta_identita",
    }
    assert next(d for d in dials if d.key != call.key).language == "en"
    assert row(engine, later) is None  # Wednesday's: tomorrow evening
    assert sorted(reminders.in_flight()) == sorted(d.key for d in dials)
    # asked again, or by a restarted dialler: never a second call
    assert reminders.due(at(MONDAY, 17, 1), 10) == []
    assert source(engine, bookings).due(at(MONDAY, 17, 2), 10) == []
    assert row(engine, first).state == "dialling" and row(engine, first).attempts == 1


def test_no_more_calls_than_free_channels(engine, bookings):
    book_on(bookings, TUESDAY, "3351112221")
    book_on(bookings, TUESDAY, "3351112222")
    reminders = source(engine, bookings)
    assert len(reminders.due(at(MONDAY, 17, 0), 1)) == 1
    assert len(reminders.due(at(MONDAY, 17, 0), 1)) == 1
    assert reminders.due(at(MONDAY, 17, 0), 1) == []


def test_a_confirmation_is_recorded_and_a_cancel_frees_the_slot(engine, bookings, clock):
    kept, _, kept_slot = book_on(bookings, TUESDAY, "3351112221")
    gone, code, gone_slot = book_on(bookings, TUESDAY, "3351112222")
    reminders = source(engine, bookings)
    reminders.due(at(MONDAY, 17, 0), 10)
    clock.now = at(MONDAY, 17, 1)
    reminders.result(f"rem-{kept}-1", "confirmed", clock.now)
    reminders.result(f"rem-{gone}-1", "cancelled", clock.now)

    assert (row(engine, kept).state, row(engine, kept).decided_at) == ("confirmed", clock.now)
    assert row(engine, gone).state == "cancelled"
    assert reminders.in_flight() == []
    with Session(engine) as session:
        assert session.get(Booking, kept).status == "active"
        assert session.get(Booking, gone).status == "cancelled"
        cancelled_slot = session.get(Slot, gone_slot)
    assert bookings.find(code)["status"] == "cancelled"
    # the place is bookable again: the booking rules gave it back
    assert cancelled_slot.booked == (1 if kept_slot == gone_slot else 0)
    assert gone_slot in [s.id for s in bookings.available_slots("carta_identita", 500)]
    again = bookings.book("carta_identita", gone_slot, "3351112229")
    assert again["code"] != code
    # a late or repeated outcome of the same call changes nothing
    reminders.result(f"rem-{gone}-1", "no_answer", clock.now)
    assert row(engine, gone).state == "cancelled"


def test_a_miss_is_called_again_later_then_given_up(engine, bookings):
    booking_id, _, _ = book_on(bookings, TUESDAY, "3351112221")
    reminders = source(engine, bookings)
    assert [d.key for d in reminders.due(at(MONDAY, 17, 0), 10)] == [f"rem-{booking_id}-1"]
    reminders.result(f"rem-{booking_id}-1", "no_answer", at(MONDAY, 17, 1))
    assert (row(engine, booking_id).state, row(engine, booking_id).next_at) == (
        "pending",
        at(MONDAY, 18, 1),
    )
    assert reminders.due(at(MONDAY, 18, 0), 10) == []
    assert [d.key for d in reminders.due(at(MONDAY, 18, 1), 10)] == [f"rem-{booking_id}-2"]
    reminders.result(f"rem-{booking_id}-2", "busy", at(MONDAY, 18, 2))
    assert (row(engine, booking_id).state, row(engine, booking_id).attempts) == ("unanswered", 2)
    assert reminders.due(at(MONDAY, 19, 30), 10) == []


def test_a_restart_fails_the_lost_call_back_and_it_is_tried_again(engine, bookings):
    booking_id, _, _ = book_on(bookings, TUESDAY, "3351112221")
    source(engine, bookings).due(at(MONDAY, 17, 0), 10)
    restarted = source(engine, bookings)
    assert restarted.in_flight() == [f"rem-{booking_id}-1"]
    restarted.result(f"rem-{booking_id}-1", "failed", at(MONDAY, 17, 5))  # what reconcile says
    assert row(engine, booking_id).state == "pending"
    assert [d.key for d in restarted.due(at(MONDAY, 18, 5), 10)] == [f"rem-{booking_id}-2"]


def test_a_reminder_still_pending_when_the_day_comes_is_given_up(engine, bookings):
    booking_id, _, _ = book_on(bookings, TUESDAY, "3351112221")
    reminders = source(engine, bookings)
    reminders.due(at(MONDAY, 19, 30), 10)
    reminders.result(f"rem-{booking_id}-1", "no_answer", at(MONDAY, 19, 31))
    assert row(engine, booking_id).state == "unanswered"  # 20:31 is after the hours
    other, _, _ = book_on(bookings, WEDNESDAY, "3351112222")
    reminders.due(at(TUESDAY, 17, 0), 0)  # no free channel: planned, not claimed
    assert row(engine, other).state == "pending"
    assert reminders.due(at(WEDNESDAY, 8, 0), 10) == []  # the appointment's own day: too late
    assert row(engine, other).state == "pending"  # out of hours nothing is touched
    assert reminders.due(at(WEDNESDAY, 17, 0), 10) == []
    assert row(engine, other).state == "failed"


def test_sms_reminders_go_through_the_outbox_once(engine, bookings):
    mobile, code, _ = book_on(bookings, TUESDAY, "3351112221")
    landline, _, _ = book_on(bookings, TUESDAY, "0612345671")
    withheld, _, _ = book_on(bookings, TUESDAY, None)
    reminders = source(engine, bookings, sms=True)
    dials = reminders.due(at(MONDAY, 17, 0), 10)
    assert [d.key for d in dials] == [f"rem-{landline}-1"]  # a landline is still called
    assert row(engine, mobile).state == "sms_sent"
    assert row(engine, withheld).state == "failed"  # nobody to call or text
    [sms] = reminder_sms(engine)
    assert (sms.kind, sms.recipient, sms.ref, sms.status) == (
        "sms",
        "3351112221",
        f"reminder:{mobile}",
        "pending",
    )
    assert code in sms.body and "domani" in sms.body
    assert len(sms.body) <= 160
    source(engine, bookings, sms=True).due(at(MONDAY, 17, 30), 10)  # after a restart
    assert len(reminder_sms(engine)) == 1


def test_without_calls_a_mobile_is_texted_instead(engine, bookings):
    booking_id, _, _ = book_on(bookings, TUESDAY, "3351112221", "en")
    assert source(engine, bookings, calls=False).due(at(MONDAY, 17, 0), 10) == []
    assert row(engine, booking_id).state == "sms_sent"
    [sms] = reminder_sms(engine)
    assert sms.body.startswith("Reminder ")
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(BookingReminder)) == 1


def test_the_source_exists_only_when_it_can_reach_someone(engine, monkeypatch):
    monkeypatch.delenv("NU_TELEASSISTANCE_DIAL", raising=False)
    monkeypatch.delenv("NU_REMINDER_SMS", raising=False)
    assert build_reminder_source(config.load(), engine) is None
    monkeypatch.setenv("NU_REMINDER_SMS", "1")
    made = build_reminder_source(config.load(), engine)
    assert made is not None and made.rules.sms and not made.rules.calls
    monkeypatch.setenv("NU_TELEASSISTANCE_DIAL", "PJSIP/{number}@trunk")
    monkeypatch.setenv("NU_REMINDER_HOURS", "18:00-19:30")
    monkeypatch.setenv("NU_REMINDER_ATTEMPTS", "3")
    made = build_reminder_source(config.load(), engine)
    assert (made.rules.start, made.rules.end, made.rules.attempts, made.rules.calls) == (
        time(18),
        time(19, 30),
        3,
        True,
    )
    assert made.name == "reminders"


def test_a_booking_made_during_the_evening_is_planned_within_a_minute(engine, bookings):
    reminders = source(engine, bookings)
    assert reminders.due(at(MONDAY, 17, 0), 10) == []  # nothing booked for tomorrow yet
    booking_id, _, _ = book_on(bookings, TUESDAY, "3351112221")
    assert reminders.due(datetime(2026, 11, 23, 17, 0, 30), 10) == []  # looked at a moment ago
    assert [d.key for d in reminders.due(at(MONDAY, 17, 1), 10)] == [f"rem-{booking_id}-1"]


def test_a_booking_moved_is_reminded_before_its_new_day_and_a_cancelled_one_never(engine, bookings):
    moved, moved_code, _ = book_on(bookings, TUESDAY, "3351112221")
    dropped, dropped_code, _ = book_on(bookings, TUESDAY, "3351112222")
    reminders = source(engine, bookings)
    assert reminders.due(at(MONDAY, 17, 0), 0) == []  # planned, no channel free yet
    later = next(
        s
        for s in bookings.available_slots("carta_identita", 200)
        if s.starts_at.date() == WEDNESDAY
    )
    bookings.reschedule(moved_code, later.id)
    bookings.cancel(dropped_code)
    assert reminders.due(at(MONDAY, 17, 5), 10) == []
    assert [d.key for d in reminders.due(at(TUESDAY, 17, 0), 10)] == [f"rem-{moved}-1"]
    assert row(engine, dropped).state == "failed"  # its day came: given up, never called
