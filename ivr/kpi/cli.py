"""``ivr kpi report``: the I/O edge of :mod:`ivr.kpi.report` (dates, database, printing)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from ivr.kpi.models import CallRecord
from ivr.kpi.report import render

DEFAULT_DAYS = 30


def utc_bounds(first: date, last: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The city's local days ``first``..``last`` (inclusive) as naive UTC, like the table."""

    def utc(day: date) -> datetime:
        return datetime.combine(day, time(), zone).astimezone(UTC).replace(tzinfo=None)

    return utc(first), utc(last + timedelta(days=1))


def load_records(engine: Engine, start: datetime, end: datetime) -> list[CallRecord]:
    """Calls that started in [start, end) (naive UTC)."""
    with Session(engine) as session:
        query = select(CallRecord).where(
            CallRecord.started_at >= start, CallRecord.started_at < end
        )
        return list(session.scalars(query))


def report(settings: Any, date_from: str | None, date_to: str | None) -> int:
    from ivr.db import ready
    from ivr.flow.loader import load_dialplan

    zone = ZoneInfo(load_dialplan(settings.dialplan_path).timezone)
    last = date.fromisoformat(date_to) if date_to else datetime.now(zone).date()
    first = date.fromisoformat(date_from) if date_from else last - timedelta(DEFAULT_DAYS - 1)
    records = load_records(ready(settings.database_url), *utc_bounds(first, last, zone))
    print(render(records, f"Calls from {first} to {last} ({zone.key})"))
    return 0
