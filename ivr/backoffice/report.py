"""Back-office figures over a range of days (issue 14's reports): requests open and overdue by
team and by severity, median hours to the first contact and to the solution, per department and
overall. Counts, teams, severities and departments only: never a citizen or a request's text.

:func:`build` is pure (rows in, a :class:`Report` out) so the admin page, its CSV and the tests
compute the same figures; :func:`query` reads the rows from ``backoffice_requests``.

What each figure means, for the requests **created** in the range (the city's local days,
both included):

* **created**: how many; **open**: still new, in progress or waiting for the citizen at ``now``;
  **overdue**: open and past their deadline at ``now``; **solved**: with a solution time
  (solved, or closed after being solved);
* **first contact** (hours): ``first_contact_at - created_at`` of those contacted (a call back,
  an SMS, an e-mail), median; **solve** (hours): ``solved_at - created_at``, median.

Times are compared as stored (naive, the city's local clock).
"""

from __future__ import annotations

import csv
import io
import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import Engine, select

from ivr.backoffice.rules import OPEN, SEVERITIES

MAX_DAYS = 366
"""The longest range a report covers: the page refuses more."""
ALL = "*"
"""The key of the figures over every team, severity or department (in the CSV too)."""


class RangeError(ValueError):
    """A range of days that cannot be read; ``field`` is the form field to fix."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


def parse_day(text: str, field: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise RangeError(field, f"{text[:20]!r} is not a day like 2026-11-30") from None


def day_range(first: str, last: str) -> tuple[date, date]:
    """Two typed days, checked: each readable, in order, at most :data:`MAX_DAYS` apart."""
    start, end = parse_day(first, "from"), parse_day(last, "to")
    if end < start:
        raise RangeError("to", f"{end} is before {start}")
    if (end - start).days + 1 > MAX_DAYS:
        raise RangeError("to", f"at most {MAX_DAYS} days at a time")
    return start, end


@dataclass(frozen=True)
class RequestRow:
    """One request as the report needs it: no id, no contact, no text."""

    department: str
    team: str
    severity: str
    status: str
    created_at: datetime
    due_at: datetime
    first_contact_at: datetime | None = None
    solved_at: datetime | None = None


@dataclass
class Figures:
    created: int = 0
    open: int = 0
    overdue: int = 0
    solved: int = 0
    contact_hours: list[float] = field(default_factory=list, repr=False)
    solve_hours: list[float] = field(default_factory=list, repr=False)

    @property
    def contact_median_h(self) -> float | None:
        return statistics.median(self.contact_hours) if self.contact_hours else None

    @property
    def solve_median_h(self) -> float | None:
        return statistics.median(self.solve_hours) if self.solve_hours else None

    def add(self, row: RequestRow, now: datetime) -> None:
        self.created += 1
        if row.status in OPEN:
            self.open += 1
            self.overdue += now > row.due_at
        if row.first_contact_at is not None:
            self.contact_hours.append(_hours(row.first_contact_at - row.created_at))
        if row.solved_at is not None and row.status in ("solved", "closed"):
            self.solved += 1
            self.solve_hours.append(_hours(row.solved_at - row.created_at))


def _hours(delta: timedelta) -> float:
    return max(0.0, delta.total_seconds() / 3600)


DIMENSIONS = ("team", "severity", "department")


@dataclass(frozen=True)
class Report:
    first: date
    last: date
    total: Figures
    by: dict[str, dict[str, Figures]]  # dimension -> key -> figures ("" team: unassigned)


def build(rows: Iterable[RequestRow], first: date, last: date, now: datetime) -> Report:
    """The figures of the requests created from ``first`` to ``last`` (days, both included);
    rows outside the range are left out. Every severity is listed, even with no request."""
    start = datetime.combine(first, datetime.min.time())
    end = datetime.combine(last + timedelta(days=1), datetime.min.time())
    total = Figures()
    by: dict[str, dict[str, Figures]] = {d: {} for d in DIMENSIONS}
    by["severity"] = {s: Figures() for s in SEVERITIES}
    for row in rows:
        if not start <= row.created_at < end:
            continue
        total.add(row, now)
        for dimension, key in zip(
            DIMENSIONS, (row.team, row.severity, row.department), strict=True
        ):
            by[dimension].setdefault(key, Figures()).add(row, now)
    by["team"] = dict(sorted(by["team"].items()))
    by["department"] = dict(sorted(by["department"].items()))
    return Report(first, last, total, by)


# -- CSV -----------------------------------------------------------------------------------------

COLUMNS = (
    "dimension",
    "key",
    "created",
    "open",
    "overdue",
    "solved",
    "first_contact_median_h",
    "solve_median_h",
)


def shown(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}".rstrip("0").rstrip(".")


def _cell(text: str) -> str:
    """A team or department as a spreadsheet cell: never read as a formula or as ``*``."""
    return "'" + text if text[:1] in ("*", "'", "=", "+", "-", "@") else text


def rows(report: Report) -> list[list[str]]:
    """The CSV's rows: the total (``total``, ``*``), then each team, severity and department."""

    def values(dimension: str, key: str, f: Figures) -> list[str]:
        return [
            dimension,
            key,
            str(f.created),
            str(f.open),
            str(f.overdue),
            str(f.solved),
            shown(f.contact_median_h),
            shown(f.solve_median_h),
        ]

    out = [values("total", ALL, report.total)]
    for dimension in DIMENSIONS:
        for key, figures in report.by[dimension].items():
            out.append(values(dimension, _cell(key), figures))
    return out


def to_csv(report: Report) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows(rows(report))
    return buffer.getvalue()


# -- The store ---------------------------------------------------------------------------------


def query(engine: Engine, first: date, last: date) -> list[RequestRow]:
    """The requests created from ``first`` to ``last`` (days, both included), as report rows."""
    from sqlalchemy.orm import Session

    from ivr.backoffice.models import BackofficeRequest as R

    start = datetime.combine(first, datetime.min.time())
    end = datetime.combine(last + timedelta(days=1), datetime.min.time())
    stmt = select(
        R.department,
        R.team,
        R.severity,
        R.status,
        R.created_at,
        R.due_at,
        R.first_contact_at,
        R.solved_at,
    ).where(R.created_at >= start, R.created_at < end)
    with Session(engine) as db:
        return [
            RequestRow(dept, team or "", severity, status, created, due, contact, solved)
            for dept, team, severity, status, created, due, contact, solved in db.execute(stmt)
        ]


def report(engine: Engine, first: date, last: date, now: datetime) -> Report:
    return build(query(engine, first, last), first, last, now)
