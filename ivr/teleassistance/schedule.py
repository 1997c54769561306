"""Teleassistance courtesy calls: the week's plan, retries, the alarm rule and capacity. Pure.

No clock, socket or database: every function takes the week, the city calendar and the enrolled
citizens as plain frozen data, so the dialer, the tests and ``bench/teleassistance_pacing.py``
run the same rules. Times are local naive datetimes, as in :mod:`ivr.flow.calendar`.

* **Calling days** are the city's: :func:`ivr.flow.calendar.holiday_name` (national holidays,
  Easter Monday, the patron saint) and the dialplan's city-wide closures (a whole-day closure, or
  one covering all the calling hours, removes the day; a part-day closure removes its minutes).
* **The plan** gives each active, not suspended citizen exactly one courtesy call per ISO week:
  on a preferred day that is a calling day, inside their window and the calling hours. Capacity
  is counted minute by minute (a call holds a channel, and an operator call an operator, for
  its average length rounded up to whole minutes), and the plan leaves ``retry_reserve`` of the
  channels and operators free so that the day's retries find room. Citizens with the fewest
  possible (day, minute) places are placed first; each goes to the least loaded of
  their days, at the earliest minute that still leaves room for every retry before the window
  closes (retries come later the same day). Everyone left out is reported with a reason.
* **Retries** (:func:`next_attempt`): a miss is retried the same day, ``retry_minutes`` after
  the previous attempt started, up to ``attempts`` in all; when no attempt is left or the window
  is over the week is missed.
* **The alarm** (:func:`raises_alarm`): the third consecutive missed *week* raises one alarm.
  Weeks without a call (suspended, or not fitted by us) are neutral: they neither count nor
  break the streak, because they say nothing about the citizen — a citizen who missed two weeks,
  went to hospital and misses the first week back is still three misses in a row. An answered
  week resets the streak; a fourth, fifth... consecutive miss raises nothing new.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum

from ivr.flow.calendar import holiday_name
from ivr.flow.model import CityCalendar

OPERATOR = "operator"
AUTOMATIC = "automatic"
KINDS = (OPERATOR, AUTOMATIC)

# Why a citizen has no call this week. Skipped: their own situation; not fitted: ours.
NOT_ACTIVE = "not_active"
SUSPENDED = "suspended"
NO_CALLING_DAY = "no_calling_day"
OUTSIDE_HOURS = "window_outside_calling_hours"
WINDOW_FULL = "window_full"


def week_key(day: date) -> str:
    """The ISO week of ``day`` as the tables keep it: ``2026-W48``."""
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


ALARM_AFTER = 3
"""Consecutive missed weeks that raise the alarm ("if the third call got no answer")."""


@dataclass(frozen=True)
class Enrolled:
    """One citizen as the scheduler needs them: when they may be called and by whom.

    ``weekdays`` are ``date.weekday()`` numbers (0 = Monday); ``suspended`` are inclusive date
    ranges (hospital, holidays with family); ``active_until`` is inclusive.
    """

    citizen_id: int  # ``teleassistance_citizens.id``
    weekdays: frozenset[int]
    window_start: time
    window_end: time
    kind: str = OPERATOR
    active_from: date | None = None
    active_until: date | None = None
    suspended: tuple[tuple[date, date], ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"{self.citizen_id}: kind must be one of {KINDS}, not {self.kind!r}")
        if not self.weekdays or not all(0 <= d <= 6 for d in self.weekdays):
            raise ValueError(f"{self.citizen_id}: weekdays must be 0 (Monday) to 6 (Sunday)")
        if self.window_start >= self.window_end:
            raise ValueError(f"{self.citizen_id}: the window must end after it starts")

    def active_on(self, day: date) -> bool:
        return (self.active_from is None or day >= self.active_from) and (
            self.active_until is None or day <= self.active_until
        )

    def suspended_on(self, day: date) -> bool:
        return any(start <= day <= end for start, end in self.suspended)


@dataclass(frozen=True, kw_only=True)
class Pacing:
    """The service's capacity and rules. Call lengths are averages, in seconds.

    The calling hours have no default here: they are the city's ``NU_TELEASSISTANCE_HOURS``
    (``settings.teleassistance_hours``), given by :func:`ivr.teleassistance.plan.pacing`.
    """

    calling_start: time
    calling_end: time
    channels: int = 10
    operators: int = 4
    operator_call_s: int = 180
    automatic_call_s: int = 60
    attempts: int = 3
    """Attempts per week, all on the planned day (the first call and its retries)."""
    retry_minutes: int = 30
    calling_weekdays: frozenset[int] = frozenset(range(7))
    retry_reserve: float = 0.2
    """Share of channels and operators the plan leaves free for retries (see :func:`retry_load`:
    with 20% misses and three attempts, 0.24 retries per citizen, ~19% of all attempts)."""

    def __post_init__(self) -> None:
        if self.channels < 1 or self.attempts < 1 or self.retry_minutes < 1:
            raise ValueError("channels, attempts and retry_minutes must be at least 1")
        if self.calling_start >= self.calling_end:
            raise ValueError("calling hours must end after they start")
        if not 0 <= self.retry_reserve < 1:
            raise ValueError("retry_reserve is a share: 0 to less than 1")

    def call_minutes(self, kind: str) -> int:
        """Whole minutes a call of ``kind`` holds its channel (the average, rounded up)."""
        seconds = self.operator_call_s if kind == OPERATOR else self.automatic_call_s
        return max(1, math.ceil(seconds / 60))

    def planned_limits(self) -> tuple[int, int]:
        """(channels, operators) the first attempts may use; the rest is kept for retries."""
        return (
            max(1, math.floor(self.channels * (1 - self.retry_reserve))),
            max(0, math.floor(self.operators * (1 - self.retry_reserve))),
        )


@dataclass(frozen=True)
class PlannedCall:
    """A citizen's courtesy call this week: the first attempt, and the window retries must fit."""

    citizen_id: int
    kind: str
    start: datetime
    minutes: int
    window_end: datetime
    """Latest moment a call may still be going on (the citizen's window within calling hours)."""

    @property
    def day(self) -> date:
        return self.start.date()


@dataclass(frozen=True)
class NotPlanned:
    citizen_id: int
    reason: str
    detail: str = ""


@dataclass(frozen=True)
class WeekPlan:
    """One ISO week: the calls, citizens skipped (their suspension or enrolment dates) and
    citizens not fitted (no calling day, window outside hours or full), each with a reason."""

    year: int
    week: int
    calls: tuple[PlannedCall, ...]
    skipped: tuple[NotPlanned, ...]
    unfitted: tuple[NotPlanned, ...]

    def by_day(self) -> dict[date, list[PlannedCall]]:
        days: dict[date, list[PlannedCall]] = {}
        for call in self.calls:
            days.setdefault(call.day, []).append(call)
        return days


def week_days(year: int, week: int) -> list[date]:
    """Monday to Sunday of ISO ``week`` of ``year``."""
    monday = date.fromisocalendar(year, week, 1)
    return [monday + timedelta(days=i) for i in range(7)]


def _whole_day(closure_start: time | None, closure_end: time | None, pacing: Pacing) -> bool:
    return (closure_start is None or closure_start <= pacing.calling_start) and (
        closure_end is None or closure_end >= pacing.calling_end
    )


def not_calling_reason(day: date, calendar: CityCalendar, pacing: Pacing) -> str | None:
    """Why ``day`` is no calling day (a holiday, a closure, not a calling weekday), or None."""
    if day.weekday() not in pacing.calling_weekdays:
        return "not a calling weekday"
    name = holiday_name(day, calendar)
    if name:
        return f"holiday: {name}"
    for c in calendar.closures:
        if c.day == day and _whole_day(c.start, c.end, pacing):
            return f"closure: {c.reason or 'city closure'}"
    return None


def calling_days(days: Iterable[date], calendar: CityCalendar, pacing: Pacing) -> list[date]:
    return [d for d in days if not_calling_reason(d, calendar, pacing) is None]


class DayBook:
    """Channels and operators in use, minute by minute, over one day's calling hours.

    Working state of the plan and of the retries (mutable, but no I/O). Minutes inside a
    part-day city closure are closed: nothing may be in flight then.
    """

    def __init__(self, day: date, pacing: Pacing, calendar: CityCalendar) -> None:
        self.day = day
        self.pacing = pacing
        self.origin = datetime.combine(day, pacing.calling_start)
        end = datetime.combine(day, pacing.calling_end)
        self.size = int((end - self.origin).total_seconds() // 60)
        self.channels = [0] * self.size
        self.operators = [0] * self.size
        self.closed = [False] * self.size
        self.booked = 0
        for c in calendar.closures:
            if c.day != day:
                continue
            first = self.index(datetime.combine(day, c.start)) if c.start else 0
            last = self.index(datetime.combine(day, c.end), up=True) if c.end else self.size
            for i in range(max(0, first), min(self.size, last)):
                self.closed[i] = True

    def index(self, moment: datetime, up: bool = False) -> int:
        """The minute of ``moment`` from the start of calling hours (``up``: rounded up)."""
        seconds = (moment - self.origin).total_seconds()
        return math.ceil(seconds / 60) if up else math.floor(seconds / 60)

    def at(self, index: int) -> datetime:
        return self.origin + timedelta(minutes=index)

    def free(self, index: int, minutes: int, kind: str, limits: tuple[int, int]) -> bool:
        if index < 0 or index + minutes > self.size:
            return False
        channels, operators = limits
        for i in range(index, index + minutes):
            if self.closed[i] or self.channels[i] >= channels:
                return False
            if kind == OPERATOR and self.operators[i] >= operators:
                return False
        return True

    def first_free(
        self, first: int, last: int, minutes: int, kind: str, limits: tuple[int, int]
    ) -> int | None:
        """The earliest start in ``first..last`` (inclusive) with room for the whole call."""
        for i in range(max(first, 0), last + 1):
            if self.free(i, minutes, kind, limits):
                return i
        return None

    def take(self, index: int, minutes: int, kind: str) -> None:
        self.booked += minutes
        for i in range(index, index + minutes):
            self.channels[i] += 1
            if kind == OPERATOR:
                self.operators[i] += 1

    def release(self, index: int, minutes: int, kind: str) -> None:
        """Give back minutes a call did not use (a miss is shorter than the call it booked)."""
        for i in range(max(index, 0), min(index + minutes, self.size)):
            self.booked -= 1
            self.channels[i] -= 1
            if kind == OPERATOR:
                self.operators[i] -= 1

    def load(self) -> float:
        """Channel-minutes booked per open minute: how full the day is."""
        return self.booked / max(1, self.closed.count(False))


def book_for(
    day: date, calls: Iterable[PlannedCall], pacing: Pacing, calendar: CityCalendar
) -> DayBook:
    """The day's occupancy with the plan's first attempts booked: where the dialer starts."""
    book = DayBook(day, pacing, calendar)
    for call in calls:
        if call.day == day:
            book.take(book.index(call.start), call.minutes, call.kind)
    return book


def _span(citizen: Enrolled, book: DayBook, minutes: int) -> tuple[int, int] | None:
    """(first, last) start minutes for this citizen's call in ``book``'s day, or None."""
    first = book.index(datetime.combine(book.day, citizen.window_start), up=True)
    end = book.index(datetime.combine(book.day, citizen.window_end))
    last = min(end, book.size) - minutes
    first = max(first, 0)
    return (first, last) if first <= last else None


def plan_week(
    year: int,
    week: int,
    citizens: Iterable[Enrolled],
    calendar: CityCalendar,
    pacing: Pacing,
) -> WeekPlan:
    """One courtesy call per active, not suspended citizen in ISO ``week``; see the module doc.

    Deterministic: the same citizens (in any order), calendar and pacing give the same plan.
    """
    days = week_days(year, week)
    reasons = {d: not_calling_reason(d, calendar, pacing) for d in days}
    books = {d: DayBook(d, pacing, calendar) for d in days if reasons[d] is None}
    limits = pacing.planned_limits()
    skipped: list[NotPlanned] = []
    unfitted: list[NotPlanned] = []
    todo: list[tuple[int, int, int, Enrolled, list[date]]] = []  # (slack, span, id, ...)

    for citizen in sorted(citizens, key=lambda c: c.citizen_id):
        preferred = [d for d in days if d.weekday() in citizen.weekdays]
        active = [d for d in preferred if citizen.active_on(d)]
        if not active:
            skipped.append(NotPlanned(citizen.citizen_id, NOT_ACTIVE, "not enrolled this week"))
            continue
        available = [d for d in active if not citizen.suspended_on(d)]
        if not available:
            skipped.append(NotPlanned(citizen.citizen_id, SUSPENDED, "suspended this week"))
            continue
        usable = [d for d in available if d in books]
        if not usable:
            why = "; ".join(f"{d.isoformat()} {reasons[d]}" for d in available)
            unfitted.append(NotPlanned(citizen.citizen_id, NO_CALLING_DAY, why))
            continue
        minutes = pacing.call_minutes(citizen.kind)
        if _span(citizen, books[usable[0]], minutes) is None:
            why = (
                f"window {citizen.window_start:%H:%M}-{citizen.window_end:%H:%M} leaves no "
                f"{minutes} min inside calling hours "
                f"{pacing.calling_start:%H:%M}-{pacing.calling_end:%H:%M}"
            )
            unfitted.append(NotPlanned(citizen.citizen_id, OUTSIDE_HOURS, why))
            continue
        if citizen.kind == OPERATOR and limits[1] < 1:
            unfitted.append(NotPlanned(citizen.citizen_id, WINDOW_FULL, "no operator planned"))
            continue
        window = _span(citizen, books[usable[0]], minutes)
        assert window is not None
        # Least slack first: the fewer (day, minute) places a citizen has, the sooner.
        span = window[1] - window[0] + 1
        todo.append((len(usable) * span, span, citizen.citizen_id, citizen, usable))

    calls: list[PlannedCall] = []
    retry_room = (pacing.attempts - 1) * pacing.retry_minutes
    for _, _, _, citizen, usable in sorted(todo, key=lambda t: t[:3]):
        minutes = pacing.call_minutes(citizen.kind)
        by_load = sorted(usable, key=lambda d: (books[d].load(), d))
        placed = None
        for with_room in (True, False):  # first leaving room for every retry, then any minute
            for day in by_load:
                book = books[day]
                span = _span(citizen, book, minutes)
                if span is None:
                    continue
                first, last = span
                start = book.first_free(
                    first, last - retry_room if with_room else last, minutes, citizen.kind, limits
                )
                if start is not None:
                    placed = (book, start, last + minutes)
                    break
            if placed:
                break
        if placed is None:
            days_text = ", ".join(d.isoformat() for d in usable)
            why = (
                f"no free channel{' or operator' if citizen.kind == OPERATOR else ''} in "
                f"{citizen.window_start:%H:%M}-{citizen.window_end:%H:%M} on {days_text}"
            )
            unfitted.append(NotPlanned(citizen.citizen_id, WINDOW_FULL, why))
            continue
        book, start, end = placed
        book.take(start, minutes, citizen.kind)
        calls.append(
            PlannedCall(citizen.citizen_id, citizen.kind, book.at(start), minutes, book.at(end))
        )

    calls.sort(key=lambda c: (c.start, c.citizen_id))
    unfitted.sort(key=lambda n: n.citizen_id)
    return WeekPlan(year, week, tuple(calls), tuple(skipped), tuple(unfitted))


# -- Retries ---------------------------------------------------------------------------------


class Outcome(StrEnum):
    """How one attempt ended."""

    ANSWERED = "answered"
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    MACHINE = "machine"
    FAILED = "failed"


@dataclass(frozen=True)
class Attempt:
    at: datetime
    outcome: Outcome


@dataclass(frozen=True)
class Retry:
    at: datetime


@dataclass(frozen=True)
class Answered:
    at: datetime


@dataclass(frozen=True)
class WeekMissed:
    reason: str  # "attempts_exhausted", "window_over", "no_free_channel"


def next_attempt(
    call: PlannedCall,
    attempts: Sequence[Attempt],
    pacing: Pacing,
    book: DayBook | None = None,
) -> Retry | Answered | WeekMissed:
    """After ``attempts`` (in order), when to call again — or that the week is answered/missed.

    The retry comes ``retry_minutes`` after the previous attempt started and must end inside
    the call's window. With ``book`` (the day's occupancy) it is the first minute from then with
    a free channel (and operator) out of all of them, not only the plan's share; the caller
    books it with ``book.take``. Without attempts the answer is the planned start.
    """
    if not attempts:
        return Retry(call.start)
    for a in attempts:
        if a.outcome is Outcome.ANSWERED:
            return Answered(a.at)
    if len(attempts) >= pacing.attempts:
        return WeekMissed("attempts_exhausted")
    earliest = attempts[-1].at + timedelta(minutes=pacing.retry_minutes)
    latest = call.window_end - timedelta(minutes=call.minutes)
    if earliest > latest:
        return WeekMissed("window_over")
    if book is None:
        return Retry(earliest)
    limits = (pacing.channels, pacing.operators)
    start = book.first_free(
        book.index(earliest, up=True), book.index(latest), call.minutes, call.kind, limits
    )
    return WeekMissed("no_free_channel") if start is None else Retry(book.at(start))


# -- The alarm -------------------------------------------------------------------------------


class WeekOutcome(StrEnum):
    ANSWERED = "answered"
    MISSED = "missed"
    SUSPENDED = "suspended"
    NOT_CALLED = "not_called"
    """Not fitted by us (holiday, full window): neutral, like a suspension."""


def week_outcome(attempts: Sequence[Attempt]) -> WeekOutcome:
    """A planned week's outcome: answered if any attempt was; missed otherwise (per week)."""
    if any(a.outcome is Outcome.ANSWERED for a in attempts):
        return WeekOutcome.ANSWERED
    return WeekOutcome.MISSED if attempts else WeekOutcome.NOT_CALLED


def missed_streak(history: Sequence[WeekOutcome]) -> int:
    """Consecutive missed weeks up to the last one, skipping neutral weeks."""
    streak = 0
    for outcome in reversed(history):
        if outcome is WeekOutcome.ANSWERED:
            break
        if outcome is WeekOutcome.MISSED:
            streak += 1
    return streak


def raises_alarm(history: Sequence[WeekOutcome]) -> bool:
    """Whether the last week (``history[-1]``) raises a new alarm: one per streak."""
    return (
        bool(history)
        and history[-1] is WeekOutcome.MISSED
        and missed_streak(history) == ALARM_AFTER
    )


# -- Capacity --------------------------------------------------------------------------------


def retry_load(miss_rate: float, attempts: int) -> float:
    """Expected retries per citizen: a miss is retried up to ``attempts`` in all."""
    return sum(miss_rate**k for k in range(1, attempts))


def calls_fitting(
    hours: float,
    channels: int,
    call_s: float,
    miss_rate: float = 0.0,
    attempts: int = 1,
    missed_call_s: float | None = None,
) -> int:
    """Courtesy calls (citizens, with their retries) that fit ``hours`` on ``channels``.

    Each attempt is answered (``call_s`` on the channel) or missed (``missed_call_s``: ringing
    out, busy, a machine; the full ``call_s`` if not given); attempt k+1 happens with
    probability ``miss_rate**k``. Channel time only: no rounding to minutes, no windows.
    """
    missed = call_s if missed_call_s is None else missed_call_s
    per_attempt = (1 - miss_rate) * call_s + miss_rate * missed
    per_citizen = per_attempt * (1 + retry_load(miss_rate, attempts))
    return math.floor(hours * 3600 * channels / per_citizen)
