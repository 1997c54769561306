"""Teleassistance figures per ISO week and per area: calls placed, answered, missed, alarms and
the time to handle them (issue 13's reports). Counts and areas only, never a citizen.

:func:`build` is pure: rows in (one :class:`CallRow` per week's call, one :class:`AlarmRow` per
alarm), a :class:`Report` out, so the admin page, its CSV, ``ivr teleassistance report`` and the
tests compute the same figures. :func:`query` reads the rows for a range of weeks from the city
database (``teleassistance_calls``, ``_attempts``, ``_alarms`` and the citizen's area).

What each figure means:

* **calls placed**: dialling attempts (``teleassistance_attempts`` rows), retries included;
* **citizens called**: the week's calls with at least one attempt;
* **answered / missed**: the week's calls decided that way (``state``); a call still planned or
  dialling counts in neither; **answer rate** is answered / (answered + missed);
* **alarms raised**: alarms whose week (the third missed one) is that week; **closed**: those of
  them closed since; **time to handle**: ``closed_at - raised_at`` of the closed ones (median and
  longest), **open**: those still open and the oldest one's age at ``now``.

The area is the citizen's area today (it is not kept per week); a citizen without one counts
under ``""``. Times are compared as stored (naive, the same clock for raised and closed).
"""

from __future__ import annotations

import csv
import io
import re
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import Engine, func, select

from ivr.teleassistance.schedule import week_key

WEEK = re.compile(r"^(\d{4})-W(\d{2})$")
MAX_WEEKS = 104
"""The longest range a report covers (two years): the page and the command refuse more."""
ALL = None
"""The area key of a week's (or the period's) figures over every area (no area typed can be
None: a citizen without an area counts under ``""``). Written ``*`` in the CSV."""
ALL_SHOWN = "*"


class WeekError(ValueError):
    """A week range that cannot be read; the message names the field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


def parse_week(text: str, field: str = "week") -> str:
    """``text`` as a week key (``2026-W48``; ``2026-w5`` and ``2026W48`` are accepted too)."""
    cleaned = text.strip().upper().replace("W", "-W").replace("--", "-")
    found = re.match(r"^(\d{4})-W(\d{1,2})$", cleaned)
    if not found:
        raise WeekError(field, f"{text!r} is not an ISO week like 2026-W48")
    year, week = int(found.group(1)), int(found.group(2))
    try:
        date.fromisocalendar(year, week, 1)
    except ValueError:
        raise WeekError(field, f"{year} has no week {week}") from None
    return f"{year}-W{week:02d}"


def monday(key: str) -> date:
    found = WEEK.match(key)
    if not found:
        raise WeekError("week", f"{key!r} is not an ISO week like 2026-W48")
    return date.fromisocalendar(int(found.group(1)), int(found.group(2)), 1)


def weeks_between(first: str, last: str) -> list[str]:
    """Every week key from ``first`` to ``last``, both included (empty if last is earlier)."""
    day, end = monday(first), monday(last)
    keys = []
    while day <= end:
        keys.append(week_key(day))
        day += timedelta(weeks=1)
    return keys


def week_range(first: str, last: str) -> tuple[str, str]:
    """Two typed week keys, checked: each readable, in order, at most :data:`MAX_WEEKS`."""
    first, last = parse_week(first, "from"), parse_week(last, "to")
    if last < first:
        raise WeekError("to", f"{last} is before {first}")
    if len(weeks_between(first, last)) > MAX_WEEKS:
        raise WeekError("to", f"at most {MAX_WEEKS} weeks at a time")
    return first, last


def last_weeks(today: date, n: int) -> tuple[str, str]:
    """(first, last) week keys of the ``n`` weeks ending with ``today``'s."""
    return week_key(today - timedelta(weeks=max(1, n) - 1)), week_key(today)


@dataclass(frozen=True)
class CallRow:
    """One citizen's call of one week, as the report needs it: no id, no number."""

    week: str
    area: str
    state: str  # planned, dialling, answered, missed, not_called
    attempts: int  # attempts placed (rows of teleassistance_attempts)


@dataclass(frozen=True)
class AlarmRow:
    week: str
    area: str
    raised_at: datetime
    closed_at: datetime | None = None


@dataclass
class Figures:
    """One week's (or the period's) figures for one area (or :data:`ALL`)."""

    calls_placed: int = 0
    citizens_called: int = 0
    answered: int = 0
    missed: int = 0
    not_called: int = 0
    alarms_raised: int = 0
    alarms_closed: int = 0
    alarms_open: int = 0
    handle_minutes: list[float] = field(default_factory=list, repr=False)
    open_minutes: list[float] = field(default_factory=list, repr=False)

    @property
    def answer_rate(self) -> float | None:
        """Answered weeks per decided week, in percent (None when none was decided)."""
        decided = self.answered + self.missed
        return 100 * self.answered / decided if decided else None

    @property
    def handle_median_min(self) -> float | None:
        return statistics.median(self.handle_minutes) if self.handle_minutes else None

    @property
    def handle_max_min(self) -> float | None:
        return max(self.handle_minutes) if self.handle_minutes else None

    @property
    def oldest_open_min(self) -> float | None:
        return max(self.open_minutes) if self.open_minutes else None

    def add_call(self, row: CallRow) -> None:
        self.calls_placed += row.attempts
        self.citizens_called += row.attempts > 0
        self.answered += row.state == "answered"
        self.missed += row.state == "missed"
        self.not_called += row.state == "not_called"

    def add_alarm(self, row: AlarmRow, now: datetime) -> None:
        self.alarms_raised += 1
        if row.closed_at is not None:
            self.alarms_closed += 1
            self.handle_minutes.append(_minutes(row.closed_at - row.raised_at))
        else:
            self.alarms_open += 1
            self.open_minutes.append(_minutes(now - row.raised_at))


def _minutes(delta: timedelta) -> float:
    return max(0.0, delta.total_seconds() / 60)


@dataclass(frozen=True)
class Report:
    """Figures by week (every week of the range, in order) and area (sorted; :data:`ALL` is
    every area), and the period's by area."""

    weeks: tuple[str, ...]
    areas: tuple[str, ...]
    cells: dict[tuple[str, str | None], Figures]  # (week, area) -> figures; (week, ALL) always
    totals: dict[str | None, Figures]  # area -> the period's figures; ALL always there

    def cell(self, week: str, area: str | None = ALL) -> Figures:
        return self.cells.get((week, area)) or Figures()

    @property
    def total(self) -> Figures:
        return self.totals[ALL]


def build(
    weeks: Sequence[str], calls: Iterable[CallRow], alarms: Iterable[AlarmRow], now: datetime
) -> Report:
    """The figures of ``weeks`` (rows of other weeks are left out); open alarms age at ``now``."""
    wanted = set(weeks)
    cells: dict[tuple[str, str | None], Figures] = {(w, ALL): Figures() for w in weeks}
    totals: dict[str | None, Figures] = {ALL: Figures()}
    areas: set[str] = set()

    def targets(week: str, area: str) -> list[Figures]:
        areas.add(area)
        return [
            cells.setdefault((week, area), Figures()),
            cells[(week, ALL)],
            totals.setdefault(area, Figures()),
            totals[ALL],
        ]

    for call in calls:
        if call.week in wanted:
            for figures in targets(call.week, call.area):
                figures.add_call(call)
    for alarm in alarms:
        if alarm.week in wanted:
            for figures in targets(alarm.week, alarm.area):
                figures.add_alarm(alarm, now)
    return Report(tuple(weeks), tuple(sorted(areas)), cells, totals)


# -- CSV and text ----------------------------------------------------------------------------

COLUMNS = (
    "week",
    "area",
    "calls_placed",
    "citizens_called",
    "answered",
    "missed",
    "not_called",
    "answer_rate_pct",
    "alarms_raised",
    "alarms_closed",
    "alarms_open",
    "handle_median_min",
    "handle_max_min",
    "oldest_open_min",
)


def _shown(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}".rstrip("0").rstrip(".")


def shown_area(area: str | None) -> str:
    """The area as the CSV writes it: ``*`` for every area; a typed area starting with ``*``,
    ``'`` or a spreadsheet formula's ``= + - @`` gets a leading apostrophe (never a formula,
    never mistaken for ``*``)."""
    if area is ALL:
        return ALL_SHOWN
    return "'" + area if area[:1] in ("*", "'", "=", "+", "-", "@") else area


def row_values(week: str, area: str | None, f: Figures) -> list[str]:
    return [
        week,
        shown_area(area),
        str(f.calls_placed),
        str(f.citizens_called),
        str(f.answered),
        str(f.missed),
        str(f.not_called),
        _shown(f.answer_rate),
        str(f.alarms_raised),
        str(f.alarms_closed),
        str(f.alarms_open),
        _shown(f.handle_median_min),
        _shown(f.handle_max_min),
        _shown(f.oldest_open_min),
    ]


def rows(report: Report) -> list[list[str]]:
    """The CSV's rows: each week for every area (``*``) then per area, then the period
    (week ``total``) the same way. Empty cells: nothing to measure."""
    out = []
    for week in report.weeks:
        out.append(row_values(week, ALL, report.cell(week)))
        for area in report.areas:
            if (week, area) in report.cells:
                out.append(row_values(week, area, report.cells[(week, area)]))
    out.append(row_values("total", ALL, report.total))
    for area in report.areas:
        out.append(row_values("total", area, report.totals[area]))
    return out


def to_csv(report: Report) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows(rows(report))
    return buffer.getvalue()


def to_text(report: Report) -> str:
    """``ivr teleassistance report``'s table: one line per week and area, then the period."""
    head = (
        f"{'week':9} {'area':16} {'placed':>6} {'called':>6} {'answ':>5} {'miss':>5} "
        f"{'rate':>6} {'alarms':>6} {'closed':>6} {'open':>5} {'median':>7} {'max':>7} "
        f"{'oldest':>7}"
    )
    lines = [head]
    for values in rows(report):
        week, area, placed, called, answ, miss, _, rate, raised, closed, opened, med, mx, old = (
            values
        )
        area = "(all)" if area == ALL_SHOWN else area or "(no area)"
        rate = f"{rate}%" if rate else "-"
        lines.append(
            f"{week:9} {area[:16]:16} {placed:>6} {called:>6} {answ:>5} {miss:>5} {rate:>6} "
            f"{raised:>6} {closed:>6} {opened:>5} {med or '-':>7} {mx or '-':>7} {old or '-':>7}"
        )
    lines.append("times to handle alarms and open alarms' ages in minutes")
    return "\n".join(lines)


# -- The store -------------------------------------------------------------------------------


def query(engine: Engine, first: str, last: str) -> tuple[list[CallRow], list[AlarmRow]]:
    """The week's calls and alarms of weeks ``first`` to ``last`` (keys), with their citizen's
    area: what :func:`build` needs, nothing about who."""
    from sqlalchemy.orm import Session

    from ivr.teleassistance.models import Alarm, CallAttempt, Citizen, WeekCall

    placed = (
        select(CallAttempt.call_id, func.count().label("n"))
        .group_by(CallAttempt.call_id)
        .subquery()
    )
    calls = (
        select(WeekCall.week, Citizen.area, WeekCall.state, func.coalesce(placed.c.n, 0))
        .join(Citizen, Citizen.id == WeekCall.citizen_id)
        .outerjoin(placed, placed.c.call_id == WeekCall.id)
        .where(WeekCall.week >= first, WeekCall.week <= last)
    )
    alarms = (
        select(Alarm.week, Citizen.area, Alarm.raised_at, Alarm.closed_at)
        .join(Citizen, Citizen.id == Alarm.citizen_id)
        .where(Alarm.week >= first, Alarm.week <= last)
    )
    with Session(engine) as db:
        return (
            [CallRow(w, a or "", s, int(n)) for w, a, s, n in db.execute(calls)],
            [AlarmRow(w, a or "", r, c) for w, a, r, c in db.execute(alarms)],
        )


def report(engine: Engine, first: str, last: str, now: datetime) -> Report:
    """The figures of weeks ``first`` to ``last`` from the city database."""
    calls, alarms = query(engine, first, last)
    return build(weeks_between(first, last), calls, alarms, now)
