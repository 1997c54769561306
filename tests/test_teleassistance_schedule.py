"""Teleassistance scheduling core: the week's plan, retries, the alarm rule, capacity. Pure."""

from __future__ import annotations

import random
from collections import Counter
from datetime import date, datetime, time, timedelta

import pytest

from ivr.flow.model import CityCalendar, Closure
from ivr.teleassistance.schedule import (
    AUTOMATIC,
    NO_CALLING_DAY,
    NOT_ACTIVE,
    OPERATOR,
    OUTSIDE_HOURS,
    SUSPENDED,
    WINDOW_FULL,
    Answered,
    Attempt,
    Enrolled,
    Outcome,
    Pacing,
    PlannedCall,
    Retry,
    WeekMissed,
    WeekOutcome,
    book_for,
    calls_fitting,
    missed_streak,
    next_attempt,
    not_calling_reason,
    plan_week,
    raises_alarm,
    retry_load,
    week_days,
    week_outcome,
)

CITY = CityCalendar(patron_saint=(12, 7), patron_saint_name="Sant'Ambrogio")
HOURS = {"calling_start": time(9, 0), "calling_end": time(13, 0)}
PACING = Pacing(**HOURS, channels=4, operators=2, operator_call_s=180, automatic_call_s=60)
EASTER_WEEK = (2026, 15)  # Monday 6 April 2026 is Easter Monday
ALL_SAINTS_WEEK = (2027, 44)  # Monday 1 November 2027
EVERY_DAY = frozenset(range(7))


def citizen(cid: int, days=EVERY_DAY, start="09:00", end="13:00", **kw) -> Enrolled:
    return Enrolled(cid, frozenset(days), time.fromisoformat(start), time.fromisoformat(end), **kw)


def crowd(n: int, seed: int = 7) -> list[Enrolled]:
    rng = random.Random(seed)
    people = []
    for i in range(n):
        days = frozenset(rng.sample(range(7), rng.randint(1, 3)))
        start = rng.choice(["08:00", "09:00", "09:30", "10:00", "11:00", "12:00"])
        hours = rng.choice([1, 2, 3])
        end = f"{min(int(start[:2]) + hours, 14):02d}:{start[3:]}"
        kind = rng.choice([OPERATOR, AUTOMATIC, AUTOMATIC])
        people.append(citizen(i, days, start, end, kind=kind))
    return people


def in_flight(calls: list[PlannedCall], kinds=(OPERATOR, AUTOMATIC)) -> Counter:
    busy: Counter = Counter()
    for c in calls:
        if c.kind in kinds:
            for m in range(c.minutes):
                busy[c.start + timedelta(minutes=m)] += 1
    return busy


def test_week_days_are_monday_to_sunday():
    days = week_days(*EASTER_WEEK)
    assert days[0] == date(2026, 4, 6) and days[-1] == date(2026, 4, 12)


def test_every_citizen_gets_exactly_one_call_or_a_reason():
    people = crowd(400)
    plan = plan_week(*EASTER_WEEK, people, CITY, PACING)
    called = Counter(c.citizen_id for c in plan.calls)
    assert all(n == 1 for n in called.values())
    reported = {n.citizen_id for n in plan.skipped + plan.unfitted}
    assert not reported & set(called)
    assert set(called) | reported == {p.citizen_id for p in people}  # nobody silently dropped
    assert len(plan.calls) > 300


@pytest.mark.parametrize(
    ("week", "holiday", "name"),
    [
        (EASTER_WEEK, date(2026, 4, 6), "Lunedì dell'Angelo"),
        (ALL_SAINTS_WEEK, date(2027, 11, 1), "Ognissanti"),
    ],
)
def test_never_on_a_holiday(week, holiday, name):
    plan = plan_week(*week, crowd(300), CITY, PACING)
    assert plan.calls and all(c.day != holiday for c in plan.calls)
    only_monday = plan_week(*week, [citizen(1, {0}), citizen(2, {0, 1})], CITY, PACING)
    assert [(c.citizen_id, c.day) for c in only_monday.calls] == [(2, holiday + timedelta(days=1))]
    [left_out] = only_monday.unfitted
    assert left_out.citizen_id == 1 and left_out.reason == NO_CALLING_DAY
    assert name in left_out.detail


def test_patron_saint_and_city_closures_are_no_calling_days():
    closures = (
        Closure(date(2026, 12, 9), reason="Sciopero"),
        Closure(date(2026, 12, 10), start=time(8, 0), reason="Trasloco"),  # from before 09:00
        Closure(date(2026, 12, 11), start=time(10, 0), end=time(11, 0), reason="Assemblea"),
    )
    calendar = CityCalendar((12, 7), "Sant'Ambrogio", closures)
    assert "Sant'Ambrogio" in not_calling_reason(date(2026, 12, 7), calendar, PACING)
    assert "Immacolata" in not_calling_reason(date(2026, 12, 8), calendar, PACING)
    assert "Sciopero" in not_calling_reason(date(2026, 12, 9), calendar, PACING)
    assert "Trasloco" in not_calling_reason(date(2026, 12, 10), calendar, PACING)
    assert not_calling_reason(date(2026, 12, 11), calendar, PACING) is None  # part of the day

    people = [citizen(i, {0, 1, 2, 3, 4}) for i in range(40)]
    plan = plan_week(2026, 50, people, calendar, PACING)
    assert {c.day for c in plan.calls} <= {date(2026, 12, 11)}
    assert len(plan.calls) == 40
    meeting = (datetime(2026, 12, 11, 10), datetime(2026, 12, 11, 11))
    for c in plan.calls:
        end = c.start + timedelta(minutes=c.minutes)
        assert end <= meeting[0] or c.start >= meeting[1]


def test_calling_weekdays_are_configurable():
    weekdays_only = Pacing(**HOURS, calling_weekdays=frozenset(range(5)))
    plan = plan_week(2026, 16, [citizen(7, {6})], CITY, weekdays_only)
    assert plan.unfitted[0].reason == NO_CALLING_DAY
    assert "not a calling weekday" in plan.unfitted[0].detail


def test_never_outside_the_window_or_calling_hours():
    people = {p.citizen_id: p for p in crowd(500)}
    plan = plan_week(*EASTER_WEEK, people.values(), CITY, PACING)
    for c in plan.calls:
        who = people[c.citizen_id]
        end = c.start + timedelta(minutes=c.minutes)
        assert c.day.weekday() in who.weekdays
        assert c.start.time() >= max(who.window_start, PACING.calling_start)
        assert end.time() <= min(who.window_end, PACING.calling_end)
        assert c.window_end.time() == min(who.window_end, PACING.calling_end)
        assert c.minutes == PACING.call_minutes(who.kind)


def test_never_more_calls_in_flight_than_channels_or_operators():
    plan = plan_week(*EASTER_WEEK, crowd(1500), CITY, PACING)
    channels, operators = PACING.planned_limits()
    assert max(in_flight(list(plan.calls)).values()) == channels  # filled, never over
    assert max(in_flight(list(plan.calls), (OPERATOR,)).values()) <= operators
    assert channels < PACING.channels  # room left for the retries
    assert any(n.reason == WINDOW_FULL for n in plan.unfitted)


def test_load_is_spread_across_the_week():
    plan = plan_week(*ALL_SAINTS_WEEK, [citizen(i) for i in range(120)], CITY, PACING)
    per_day = Counter(c.day for c in plan.calls)
    assert len(per_day) == 6  # seven days but All Saints
    assert max(per_day.values()) - min(per_day.values()) <= 1


def test_suspended_and_inactive_citizens_are_skipped_and_reported():
    monday = date(2026, 4, 13)
    people = [
        citizen(1, suspended=((monday - timedelta(days=3), monday + timedelta(days=10)),)),
        citizen(2, {0, 3}, suspended=((monday, monday),)),
        citizen(3, active_from=monday + timedelta(days=7)),
        citizen(4, active_until=monday - timedelta(days=1)),
        citizen(5, {0, 6}, active_from=monday + timedelta(days=6)),
    ]
    plan = plan_week(2026, 16, people, CITY, PACING)
    assert {(n.citizen_id, n.reason) for n in plan.skipped} == {
        (1, SUSPENDED),
        (3, NOT_ACTIVE),
        (4, NOT_ACTIVE),
    }
    assert {(c.citizen_id, c.day) for c in plan.calls} == {
        (2, monday + timedelta(days=3)),
        (5, monday + timedelta(days=6)),
    }
    assert not plan.unfitted


def test_unfittable_citizens_are_reported_with_a_reason():
    narrow = [citizen(i, {2}, "09:00", "09:10") for i in range(30)]
    people = [*narrow, citizen(100, {2}, "17:00", "19:00"), citizen(101, {2}, "08:58")]
    plan = plan_week(2026, 16, people, CITY, PACING)
    reasons = {n.citizen_id: n for n in plan.unfitted}
    assert reasons[100].reason == OUTSIDE_HOURS
    assert "17:00-19:00" in reasons[100].detail
    full = [n for n in plan.unfitted if n.reason == WINDOW_FULL]
    assert full and all("09:00-09:10" in n.detail for n in full)
    assert len(plan.calls) + len(plan.unfitted) == len(people)


def test_the_plan_is_deterministic():
    people = crowd(600)
    first = plan_week(*EASTER_WEEK, people, CITY, PACING)
    shuffled = list(people)
    random.Random(1).shuffle(shuffled)
    assert plan_week(*EASTER_WEEK, shuffled, CITY, PACING) == first


def test_first_attempts_leave_room_for_the_retries():
    plan = plan_week(2026, 16, [citizen(1, {2}, "09:00", "11:00")], CITY, PACING)
    [call] = plan.calls
    room = (PACING.attempts - 1) * PACING.retry_minutes + call.minutes
    assert call.start + timedelta(minutes=room) <= call.window_end


# -- Retries ---------------------------------------------------------------------------------

CALL = PlannedCall(1, OPERATOR, datetime(2026, 4, 15, 9, 0), 3, datetime(2026, 4, 15, 11, 0))


def test_retries_are_spaced_and_capped():
    assert next_attempt(CALL, [], PACING) == Retry(CALL.start)
    attempts = [Attempt(CALL.start, Outcome.NO_ANSWER)]
    second = next_attempt(CALL, attempts, PACING)
    assert second == Retry(CALL.start + timedelta(minutes=PACING.retry_minutes))
    attempts.append(Attempt(second.at, Outcome.BUSY))
    third = next_attempt(CALL, attempts, PACING)
    assert third == Retry(second.at + timedelta(minutes=PACING.retry_minutes))
    attempts.append(Attempt(third.at, Outcome.MACHINE))
    assert next_attempt(CALL, attempts, PACING) == WeekMissed("attempts_exhausted")
    assert week_outcome(attempts) is WeekOutcome.MISSED


def test_an_answer_ends_the_week():
    attempts = [Attempt(CALL.start, Outcome.FAILED), Attempt(CALL.start, Outcome.ANSWERED)]
    assert next_attempt(CALL, attempts, PACING) == Answered(CALL.start)
    assert week_outcome(attempts) is WeekOutcome.ANSWERED


def test_no_retry_past_the_window():
    late = Attempt(CALL.window_end - timedelta(minutes=20), Outcome.NO_ANSWER)
    assert next_attempt(CALL, [late], PACING) == WeekMissed("window_over")


def test_a_retry_waits_for_a_free_channel_and_never_overbooks():
    pacing = Pacing(**HOURS, channels=2, operators=2)
    book = book_for(CALL.day, [], pacing, CITY)
    busy_from = book.index(CALL.start + timedelta(minutes=30))
    for _ in range(pacing.channels):
        book.take(busy_from, 10, AUTOMATIC)  # both channels taken 09:30-09:40
    retry = next_attempt(CALL, [Attempt(CALL.start, Outcome.NO_ANSWER)], pacing, book)
    assert retry == Retry(CALL.start + timedelta(minutes=40))
    for _ in range(pacing.channels):
        book.take(0, book.size, AUTOMATIC)
    assert next_attempt(CALL, [Attempt(CALL.start, Outcome.NO_ANSWER)], pacing, book) == WeekMissed(
        "no_free_channel"
    )


# -- The alarm -------------------------------------------------------------------------------

A, M, S, N = (
    WeekOutcome.ANSWERED,
    WeekOutcome.MISSED,
    WeekOutcome.SUSPENDED,
    WeekOutcome.NOT_CALLED,
)


def alarms(history: list[WeekOutcome]) -> list[int]:
    return [i for i in range(len(history)) if raises_alarm(history[: i + 1])]


def test_the_third_consecutive_missed_week_raises_exactly_one_alarm():
    assert alarms([M, M]) == []
    assert alarms([M, M, M]) == [2]
    assert alarms([M, M, M, M, M, M]) == [2]  # one streak, one alarm
    assert missed_streak([M, M, M, M]) == 4


def test_an_answered_week_resets_the_streak():
    assert alarms([M, M, A, M, M]) == []
    assert alarms([M, M, M, A, M, M, M]) == [2, 6]  # a new streak, a new alarm


def test_weeks_without_a_call_neither_count_nor_break_the_streak():
    assert alarms([M, S, M, S, S]) == []
    assert alarms([M, S, M, N, M]) == [4]
    assert alarms([M, M, M, S, M]) == [2]
    assert not raises_alarm([])
    assert week_outcome([]) is WeekOutcome.NOT_CALLED


# -- Capacity --------------------------------------------------------------------------------


def test_capacity_of_a_window():
    assert calls_fitting(4, 10, 120) == 1200
    assert retry_load(0.2, 3) == pytest.approx(0.24)
    assert retry_load(0.2, 1) == 0
    with_retries = calls_fitting(4, 10, 120, miss_rate=0.2, attempts=3)
    assert with_retries == int(1200 / 1.24)
    shorter_misses = calls_fitting(4, 10, 120, miss_rate=0.2, attempts=3, missed_call_s=30)
    assert with_retries < shorter_misses < 1200


def test_nonsense_input_is_refused():
    with pytest.raises(ValueError):
        citizen(1, start="12:00", end="10:00")
    with pytest.raises(ValueError):
        citizen(1, kind="robot")
    with pytest.raises(ValueError):
        Pacing(**HOURS, retry_reserve=1.0)


# -- from the enrolment to the plan ----------------------------------------------------------


def test_enrolled_citizens_from_the_store_are_the_plans_input(tmp_path):
    from ivr.config import load
    from ivr.db import ready
    from ivr.teleassistance import plan
    from ivr.teleassistance.rules import CitizenData, ContactData
    from ivr.teleassistance.store import TeleassistanceStore

    hours = load().teleassistance_hours
    now = datetime(2026, 4, 13, 8, 0)  # Monday of ISO week 16, 2026
    store = TeleassistanceStore(
        ready(f"sqlite:///{tmp_path / 'city.db'}"), hours, clock=lambda: now
    )
    contact = (ContactData("Anna Bianchi", "333 111 2222", "daughter", "sms"),)

    def enrol(name: str, number: str, days: tuple[str, ...], kind: str, window: str) -> int:
        data = CitizenData(name, (number,), "it", days, kind, contact, "2026-04-01", "op", window)
        return store.add(data)

    maria = enrol("Maria Rossi", "06 1234 5678", ("wed",), "operator", "10:00-11:00")
    gino = enrol("Gino Verdi", "06 1234 5679", ("mon", "fri"), "automatic", "")
    away = enrol("Ada Neri", "06 1234 5670", ("tue",), "automatic", "")
    store.suspend(away, "hospital", date(2026, 4, 13), date(2026, 4, 19))

    people = {p.citizen_id: p for p in plan.week_input(store)}
    assert set(people) == {maria, gino, away} and all(isinstance(i, int) for i in people)
    assert people[maria].weekdays == frozenset({2}) and people[maria].kind == OPERATOR
    assert (people[maria].window_start, people[maria].window_end) == (time(10), time(11))
    pacing = plan.pacing(hours)  # the settings' calling hours, not a default of the scheduler
    assert (pacing.calling_start, pacing.calling_end) == store.hours
    assert (people[gino].window_start, people[gino].window_end) == store.hours  # whole hours

    week = plan_week(2026, 16, people.values(), CITY, pacing)
    assert {(c.citizen_id, c.day.weekday()) for c in week.calls} == {(maria, 2), (gino, 0)} or {
        (c.citizen_id, c.day.weekday()) for c in week.calls
    } == {(maria, 2), (gino, 4)}
    assert [(n.citizen_id, n.reason) for n in week.skipped] == [(away, SUSPENDED)]
    with pytest.raises(ValueError, match="HH:MM-HH:MM"):
        plan.pacing("all day")
