"""The service-level figures over time, for plots (pure: records and a time zone in, figures out).

Each point is a :class:`ivr.kpi.report.Kpis` computed by :func:`ivr.kpi.report.kpis` on a slice
of the records, so a plot can never disagree with the report's tables: per hour of the city's
local day (all days of the period together), per local day of the period, and the answered
calls' waits in buckets of :data:`BUCKET_S` seconds (the wait the AGCOM/ARERA averages use:
``docs/targets.md``), each including its upper edge like the report's "within 20 s" (≤ 20 s).
Records without a start time have no hour or day: they count only in the waits.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from ivr.kpi.report import Kpis, is_placeholder, kpis

BUCKET_S = 10  # 20, 150 and 240 s (the targets' lines) are bucket edges
LAST_BUCKET_S = 300  # waits over this share one last bucket


@dataclass(frozen=True)
class WaitBucket:
    """Answered calls that waited ``low`` < wait <= ``high`` seconds (the first bucket includes
    0; ``high`` None: no end)."""

    low: float
    high: float | None
    calls: int


@dataclass(frozen=True)
class Series:
    hours: tuple[Kpis, ...]  # 24: hour 0..23 of the city's local day
    days: tuple[tuple[date, Kpis], ...]  # every local day of the period, in order
    waits: tuple[WaitBucket, ...]  # empty when no call was answered
    answered: int  # answered calls behind ``waits``


def local(started_at: datetime, zone: ZoneInfo) -> datetime:
    """A record's naive-UTC time as the city's wall-clock time."""
    return started_at.replace(tzinfo=UTC).astimezone(zone)


def wait_buckets(waits: Iterable[float]) -> tuple[WaitBucket, ...]:
    """Waits in 10 s buckets up to the longest, and one ``> 300 s`` bucket if any waited so
    long; nothing at all for no waits (a plot says "no calls" rather than drawing zeros)."""
    last = LAST_BUCKET_S // BUCKET_S
    counts: dict[int, int] = {}
    for wait in waits:
        index = min(max(math.ceil(wait / BUCKET_S) - 1, 0), last)
        counts[index] = counts.get(index, 0) + 1
    if not counts:
        return ()
    return tuple(
        WaitBucket(i * BUCKET_S, None if i == last else (i + 1) * BUCKET_S, counts.get(i, 0))
        for i in range(max(counts) + 1)
    )


def series(records: Iterable[Any], zone: ZoneInfo, first: date, last: date) -> Series:
    """Per-hour, per-day and wait figures of ``records`` for the local days ``first``..``last``."""
    hours: list[list[Any]] = [[] for _ in range(24)]
    days: dict[date, list[Any]] = {}
    day = first
    while day <= last:
        days[day] = []
        day += timedelta(days=1)
    waits: list[float] = []
    for rec in records:
        if is_placeholder(rec):
            continue
        if rec.outcome == "answered":
            waits.append(rec.queue_wait_s or 0.0)  # as the report counts it
        if rec.started_at is None:
            continue
        when = local(rec.started_at, zone)
        hours[when.hour].append(rec)
        if when.date() in days:  # the period's records only; a stray one stays out
            days[when.date()].append(rec)
    return Series(
        hours=tuple(kpis(recs) for recs in hours),
        days=tuple((d, kpis(recs)) for d, recs in days.items()),
        waits=wait_buckets(waits),
        answered=len(waits),
    )
