"""Is a department open right now? Weekly hours, Italian holidays, closures and manual switches.

Pure functions of a local datetime, so tests and the browser simulator can ask about any moment.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache

from ivr.flow.model import CityCalendar, Closure, Department

CITY_SWITCH = "*"  # the switch id that closes every department at once

# Fixed-date national holidays (Law 260/1949 and later amendments).
_FIXED = {
    (1, 1): "Capodanno",
    (1, 6): "Epifania",
    (4, 25): "Festa della Liberazione",
    (5, 1): "Festa del Lavoro",
    (6, 2): "Festa della Repubblica",
    (8, 15): "Ferragosto",
    (11, 1): "Ognissanti",
    (12, 8): "Immacolata Concezione",
    (12, 25): "Natale",
    (12, 26): "Santo Stefano",
}
# 4 October (St Francis of Assisi and St Catherine of Siena) is a national holiday again from 2026.
_FROM_YEAR = {(10, 4): (2026, "San Francesco d'Assisi e Santa Caterina da Siena")}


def easter(year: int) -> date:
    """Gregorian Easter Sunday (the anonymous Gregorian algorithm)."""
    a = year % 19
    b, c = divmod(year, 100)
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    l_ = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * l_) // 451
    month, day = divmod(h + l_ - 7 * m + 114, 31)
    return date(year, month, day + 1)


@lru_cache(maxsize=64)
def national_holidays(year: int) -> dict[date, str]:
    days = {date(year, m, d): name for (m, d), name in _FIXED.items()}
    for (m, d), (since, name) in _FROM_YEAR.items():
        if year >= since:
            days[date(year, m, d)] = name
    sunday = easter(year)
    days[sunday] = "Pasqua"
    days[sunday + timedelta(days=1)] = "Lunedì dell'Angelo"
    return days


def holiday_name(day: date, calendar: CityCalendar) -> str | None:
    """The holiday on this day (national or the patron saint's), or None."""
    if calendar.patron_saint == (day.month, day.day):
        return calendar.patron_saint_name or "Santo patrono"
    return national_holidays(day.year).get(day)


@dataclass(frozen=True)
class Openness:
    open: bool
    reason: str  # "hours", "outside_hours", "holiday", "closure", "switch"


def _closed_by(closures: tuple[Closure, ...], moment: datetime) -> bool:
    clock = moment.time()
    for c in closures:
        if c.day != moment.date():
            continue
        after_start = c.start is None or clock >= c.start
        before_end = c.end is None or clock < c.end
        if after_start and before_end:
            return True
    return False


def department_open(
    dept: Department,
    calendar: CityCalendar,
    moment: datetime,
    switches: frozenset[str] = frozenset(),
) -> Openness:
    """Whether ``dept`` takes calls at ``moment`` (a local, naive or aware, datetime).

    Manual switches win over everything, then closures, holidays and weekly hours.
    """
    if CITY_SWITCH in switches or dept.id in switches:
        return Openness(False, "switch")
    if _closed_by(calendar.closures + dept.closures, moment):
        return Openness(False, "closure")
    if not dept.holidays_open and holiday_name(moment.date(), calendar):
        return Openness(False, "holiday")
    if dept.hours.always:
        return Openness(True, "hours")
    clock = moment.time().replace(tzinfo=None)
    if any(r.contains(clock) for r in dept.hours.days[moment.weekday()]):
        return Openness(True, "hours")
    return Openness(False, "outside_hours")
