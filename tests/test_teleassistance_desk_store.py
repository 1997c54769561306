"""The teleassistance desk's store on SQLite and PostgreSQL (``booking_url``): the day's calls
(operator calls first, numbers masked), open alarms with the citizen's sheet and emergency
contacts, an alarm closed once with who and when (a second close is refused naming who did),
a call's outcome, and bad input refused naming the field with nothing written."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, time, timedelta

import pytest
from sqlalchemy.orm import Session

from ivr.db import ready
from ivr.teleassistance.desk_store import DeskError, DeskStore, no_calls_now
from ivr.teleassistance.models import Alarm, WeekCall
from ivr.teleassistance.rules import CitizenData, ContactData
from ivr.teleassistance.store import TeleassistanceStore

NOW = datetime(2026, 11, 25, 10, 0)  # a Wednesday, local time (as calls.py keeps it)
DAUGHTER = ContactData("Anna Bianchi", "333 111 2222", "daughter", "sms")


def citizen(**changes) -> CitizenData:
    base = CitizenData(
        name="Maria Rossi",
        numbers=("06 1234 5678", "333 123 4567"),
        language="it",
        weekdays=("mon", "wed"),
        call_kind="operator",
        contacts=(DAUGHTER,),
        consent_on="2026-11-20",
        consent_by="op.verdi",
        window="10:00-12:00",
        area="Borgo San Paolo",
        notes="Sente poco: parlare piano",
    )
    return replace(base, **changes)


def enrol(url: str, **changes) -> int:
    return TeleassistanceStore(ready(url), clock=lambda: NOW).add(citizen(**changes))


def week_call(url: str, citizen_id: int, planned: datetime, kind: str = "operator", **kw) -> int:
    with Session(ready(url)) as db, db.begin():
        row = WeekCall(
            citizen_id=citizen_id,
            week=f"{planned.isocalendar().year}-W{planned.isocalendar().week:02d}",
            kind=kind,
            planned_at=planned,
            window_end=planned + timedelta(hours=2),
            minutes=5,
            **kw,
        )
        db.add(row)
        db.flush()
        return row.id


def alarm(url: str, citizen_id: int, raised: datetime, week: str = "2026-W48") -> int:
    with Session(ready(url)) as db, db.begin():
        row = Alarm(citizen_id=citizen_id, week=week, raised_at=raised)
        db.add(row)
        db.flush()
        return row.id


@pytest.fixture
def desk(booking_url) -> DeskStore:
    return DeskStore(ready(booking_url), clock=lambda: NOW)


def test_the_day_lists_operator_calls_first_with_numbers_masked(booking_url, desk):
    maria = enrol(booking_url)
    gino = enrol(booking_url, name="Gino Verdi", numbers=("06 1234 0001",), call_kind="automatic")
    lia = enrol(booking_url, name="Lia Neri", numbers=("06 1234 0002",))
    auto = week_call(booking_url, gino, NOW.replace(hour=9, minute=30), "automatic")
    late = week_call(booking_url, maria, NOW.replace(hour=11), state="answered", attempts=1)
    early = week_call(booking_url, lia, NOW.replace(hour=10, minute=15))
    week_call(booking_url, maria, NOW - timedelta(days=7))  # last week: not today
    calls = desk.today(NOW.date())
    assert [c.id for c in calls] == [early, late, auto]
    first = calls[1]
    assert first.name == "Maria Rossi" and first.number == "********78"
    assert (first.state, first.attempts, first.kind) == ("answered", 1, "operator")


def test_an_open_alarm_carries_the_sheet_and_contacts_and_its_age(booking_url, desk):
    maria = enrol(booking_url)
    alarm_id = alarm(booking_url, maria, NOW - timedelta(hours=3))
    [card] = desk.open_alarms()
    assert card.id == alarm_id and card.age == timedelta(hours=3) and card.state == "open"
    sheet = card.sheet
    assert sheet.name == "Maria Rossi" and sheet.numbers == ("0612345678", "3331234567")
    assert (sheet.language, sheet.area) == ("it", "Borgo San Paolo")
    assert sheet.notes == "Sente poco: parlare piano"
    [contact] = sheet.contacts
    assert (contact.name, contact.number, contact.relation) == (
        "Anna Bianchi",
        "3331112222",
        "daughter",
    )


def test_closing_an_alarm_keeps_who_when_and_why_and_only_once(booking_url, desk):
    maria = enrol(booking_url)
    alarm_id = alarm(booking_url, maria, NOW - timedelta(days=1))
    closed = desk.close_alarm(alarm_id, "social_services", "  Vicina avvisata  ", "op.verdi")
    assert (closed.state, closed.closed_by, closed.closed_at) == ("closed", "op.verdi", NOW)
    assert (closed.outcome, closed.notes) == ("social_services", "Vicina avvisata")
    assert closed.raised_at == NOW - timedelta(days=1)  # the alarm's age stays readable
    assert desk.open_alarms() == []
    with pytest.raises(DeskError) as again:
        desk.close_alarm(alarm_id, "well", "", "op.rossi")
    assert again.value.field == "alarm" and "already closed by op.verdi" in str(again.value)
    assert desk.alarm(alarm_id).closed_by == "op.verdi"  # the first close stands


@pytest.mark.parametrize(
    ("target", "outcome", "notes", "field"),
    [
        (None, "fine", "", "outcome"),
        (None, "", "", "outcome"),
        (None, "well", "x" * 2001, "notes"),
        (999, "well", "", "alarm"),
    ],
)
def test_bad_input_closing_an_alarm_is_refused_naming_the_field(
    booking_url, desk, target, outcome, notes, field
):
    alarm_id = alarm(booking_url, enrol(booking_url), NOW)
    with pytest.raises(DeskError) as refused:
        desk.close_alarm(target or alarm_id, outcome, notes, "op.verdi")
    assert refused.value.field == field
    assert desk.alarm(alarm_id).state == "open"


def test_a_call_outcome_is_recorded_with_who_and_refused_when_bad(booking_url, desk):
    maria = enrol(booking_url)
    call_id = week_call(booking_url, maria, NOW, state="answered", attempts=1)
    desk.record_outcome(call_id, "needs_help", "Spesa da portare", "op.verdi")
    shown, sheet = desk.call(call_id)
    assert (shown.outcome, shown.notes, shown.handled_by) == (
        "needs_help",
        "Spesa da portare",
        "op.verdi",
    )
    assert sheet.name == "Maria Rossi" and sheet.contacts[0].name == "Anna Bianchi"
    with pytest.raises(DeskError) as unknown:
        desk.record_outcome(call_id + 100, "well", "", "op.verdi")
    assert unknown.value.field == "call"
    with pytest.raises(DeskError) as bad:
        desk.record_outcome(call_id, "company_call", "", "op.verdi")
    assert bad.value.field == "outcome"
    assert desk.call(call_id)[0].outcome == "needs_help"
    assert desk.call(call_id + 100) is None


def test_no_call_is_placed_without_a_dial_string_or_outside_the_hours():
    assert no_calls_now("", "09:00-20:00", time(10)) == "not_configured"
    assert no_calls_now("PJSIP/{number}@trunk", "09:00-20:00", time(23, 30)) == "outside_hours"
    assert no_calls_now("PJSIP/{number}@trunk", "09:00-20:00", time(8, 59)) == "outside_hours"
    assert no_calls_now("PJSIP/{number}@trunk", "09:00-20:00", time(9)) is None
