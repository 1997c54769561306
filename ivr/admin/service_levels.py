"""The service levels page's data: a period of the city's calls, summarised by the KPI report.

No Flask here, and no computation of its own: the figures and the targets are
:func:`ivr.kpi.report.summarise`'s (the same as ``ivr kpi report``), the period is read like the
CLI's (the city's local days, inclusive, as naive UTC) and the rows are read with the CLI's
:func:`ivr.kpi.cli.load_records`. Only aggregates leave this module: no call id, no text said.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from ivr.kpi.cli import DEFAULT_DAYS, load_records, utc_bounds
from ivr.kpi.operators import load_operator_events
from ivr.kpi.report import OperatorFigures, Report, by_operator, summarise
from ivr.kpi.series import Series, series

# Every row of the period is loaded: a bound keeps one request from reading years of calls.
MAX_DAYS = 366


class PeriodError(ValueError):
    """A period the page cannot show; ``key`` is the interface text that says why."""

    def __init__(self, key: str):
        super().__init__(key)
        self.key = key


def period(date_from: str | None, date_to: str | None, today: date) -> tuple[date, date]:
    """``from``..``to`` as typed (YYYY-MM-DD, both included); the last 30 days by default."""
    try:
        last = date.fromisoformat(date_to) if date_to else today
        first = date.fromisoformat(date_from) if date_from else last - timedelta(DEFAULT_DAYS - 1)
    except ValueError:
        raise PeriodError("bad_date") from None
    if first > last:
        raise PeriodError("from_after_to")
    if (last - first).days >= MAX_DAYS:
        raise PeriodError("period_too_long")
    return first, last


class CallRecords:
    """The city database's ``call_records``, read-only, on the process's shared engine. It is
    migrated on first use (:func:`ivr.db.ready`), so a fresh database shows an empty period
    instead of an error, and an admin started while the database is down still starts."""

    def __init__(self, url: str):
        self.url = url

    def engine(self) -> Engine:
        from ivr.db import ready

        return ready(self.url)

    def summary(self, first: date, last: date, zone: ZoneInfo) -> Report:
        return self.overview(first, last, zone).report

    def overview(self, first: date, last: date, zone: ZoneInfo) -> Overview:
        """The tables' figures and the plots' series, from one read of the period's rows."""
        bounds = utc_bounds(first, last, zone)
        records = load_records(self.engine(), *bounds)
        operators = by_operator(load_operator_events(self.engine(), *bounds))
        return Overview(summarise(records), series(records, zone, first, last), operators)


@dataclass(frozen=True)
class Overview:
    report: Report  # the tables: departments and targets
    series: Series  # the plots: per hour, per day, waits
    operators: dict[str, OperatorFigures]  # per operator (extension): admins see it
