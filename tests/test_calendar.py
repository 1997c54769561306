"""Opening hours, Italian holidays, closures and manual switches."""

from datetime import date, datetime, time

import pytest

from ivr.flow.calendar import (
    CITY_SWITCH,
    department_open,
    easter,
    holiday_name,
    national_holidays,
)
from ivr.flow.model import CityCalendar, Closure, Department, TimeRange, WeeklyHours


def weekdays(*ranges: tuple[str, str]) -> WeeklyHours:
    day = tuple(TimeRange(time.fromisoformat(a), time.fromisoformat(b)) for a, b in ranges)
    return WeeklyHours(days=(day,) * 5 + ((), ()))


DESK = Department("anagrafe", "anagrafe", {"it": "Anagrafe"}, weekdays(("08:30", "12:30")))
CITY = CityCalendar(patron_saint=(12, 7), patron_saint_name="Sant'Ambrogio")


@pytest.mark.parametrize(
    ("year", "expected"),
    [
        (2024, date(2024, 3, 31)),
        (2025, date(2025, 4, 20)),
        (2026, date(2026, 4, 5)),
        (2027, date(2027, 3, 28)),
        (2038, date(2038, 4, 25)),
    ],
)
def test_easter_dates(year, expected):
    assert easter(year) == expected


def test_easter_monday_and_fixed_holidays():
    days = national_holidays(2026)
    assert days[date(2026, 4, 6)] == "Lunedì dell'Angelo"
    assert date(2026, 6, 2) in days and date(2026, 12, 26) in days
    assert date(2026, 10, 4) in days  # restored national holiday from 2026
    assert date(2025, 10, 4) not in national_holidays(2025)
    assert date(2026, 3, 19) not in days


def test_patron_saint_is_a_holiday_of_this_city_only():
    assert holiday_name(date(2026, 12, 7), CITY) == "Sant'Ambrogio"
    assert holiday_name(date(2026, 12, 7), CityCalendar()) is None


def test_weekly_hours_bounds():
    monday = datetime(2026, 11, 23)
    assert department_open(DESK, CITY, monday.replace(hour=8, minute=29)).reason == "outside_hours"
    assert department_open(DESK, CITY, monday.replace(hour=8, minute=30)).open
    assert department_open(DESK, CITY, monday.replace(hour=12, minute=29)).open
    assert not department_open(DESK, CITY, monday.replace(hour=12, minute=30)).open
    assert not department_open(DESK, CITY, datetime(2026, 11, 22, 10)).open  # Sunday


def test_holidays_close_unless_department_stays_open():
    easter_monday = datetime(2026, 4, 6, 10)
    assert department_open(DESK, CITY, easter_monday).reason == "holiday"
    assert department_open(DESK, CITY, datetime(2026, 12, 7, 10)).reason == "holiday"
    police = Department("polizia", "polizia", {}, WeeklyHours(always=True), holidays_open=True)
    assert department_open(police, CITY, easter_monday).open


def test_closures_whole_day_and_partial():
    city = CityCalendar(closures=(Closure(date(2026, 12, 24), start=time(11)),))
    dept = Department(
        "anagrafe", "anagrafe", {}, DESK.hours, closures=(Closure(date(2026, 11, 24)),)
    )
    assert department_open(dept, city, datetime(2026, 12, 24, 10)).open
    assert department_open(dept, city, datetime(2026, 12, 24, 11)).reason == "closure"
    assert department_open(dept, city, datetime(2026, 11, 24, 9)).reason == "closure"


def test_manual_switches_win():
    monday_open = datetime(2026, 11, 23, 9)
    assert department_open(DESK, CITY, monday_open, frozenset({"anagrafe"})).reason == "switch"
    assert department_open(DESK, CITY, monday_open, frozenset({CITY_SWITCH})).reason == "switch"
    assert department_open(DESK, CITY, monday_open, frozenset({"tributi"})).open
