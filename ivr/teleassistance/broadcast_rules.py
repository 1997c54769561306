"""What a broadcast must be, and what to do with its deliveries, without I/O.

A broadcast is checked whole against the enrolment as it is now (:class:`Audience`: the areas
citizens are enrolled in and the languages the active ones of each area speak) and the city's
calling hours (``NU_TELEASSISTANCE_HOURS``); every problem names its field (``kind``,
``title``, ``areas``, ``day``, ``window``, ``text_<lang>``), like the enrolment's rules, and
never repeats a name or a number.

Deliveries: an attempt that reached a person who heard the message is ``delivered``; an
answering machine got the message left on it (``machine``, final: calling again would leave it
twice); no answer, busy, a failed line or a person who hung up before the message ended are
tried again ``retry_minutes`` later, at most ``attempts`` times, and only inside the
broadcast's window and the calling hours.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta

from ivr.callbacks.models import LANGUAGES
from ivr.teleassistance.broadcast_models import BROADCAST_KINDS
from ivr.teleassistance.rules import Problem, name_key, parse_date, parse_window, show_window

TITLE_MAX, TEXT_MAX, AREAS_MAX = 120, 1000, 50

# How an attempt ended (ivr.outbound.dialler's outcomes and [nu-teleassistance-broadcast]'s)
DELIVERED = "delivered"
MACHINE = "machine"
RETRIED = {"no_answer": "no_answer", "busy": "busy", "failed": "failed", "hangup": "no_answer"}
FINAL = {DELIVERED: "delivered", MACHINE: "machine"}


@dataclass(frozen=True)
class BroadcastData:
    """A broadcast as typed: ``day`` ``YYYY-MM-DD``, ``window`` ``HH:MM-HH:MM`` (local time),
    ``texts`` language -> text (languages nobody in the areas speaks may stay empty)."""

    kind: str
    title: str
    areas: tuple[str, ...]
    day: str
    window: str
    texts: Mapping[str, str] = field(default_factory=dict)
    recorded: frozenset[str] = frozenset()  # languages whose message is a recording instead


@dataclass(frozen=True)
class Audience:
    """The enrolment a broadcast is checked against: every area's key (:func:`name_key`) ->
    the languages its active citizens speak (an area whose citizens are all suspended maps to
    an empty set)."""

    areas: Mapping[str, Collection[str]]


@dataclass(frozen=True)
class Policy:
    """Retries: ``attempts`` dialings at most, ``retry_minutes`` apart; calls only in
    ``hours`` (the calling hours, local time)."""

    hours: tuple[time, time]
    attempts: int = 3
    retry_minutes: int = 30


def check(
    data: BroadcastData, audience: Audience, hours: tuple[time, time], now: datetime
) -> list[Problem]:
    """Every problem with ``data``, checked at local time ``now``."""
    problems = []
    if data.kind not in BROADCAST_KINDS:
        problems.append(Problem("kind", f"must be one of {', '.join(BROADCAST_KINDS)}"))
    title = unicodedata.normalize("NFC", data.title).strip()
    if not title:
        problems.append(Problem("title", "a title is needed (what the message is about)"))
    elif len(title) > TITLE_MAX:
        problems.append(Problem("title", f"at most {TITLE_MAX} characters"))
    areas = [" ".join(a.split()) for a in data.areas if a.strip()]
    speaking: set[str] = set()
    if not areas:
        problems.append(Problem("areas", "choose at least one area"))
    elif len(areas) > AREAS_MAX:
        problems.append(Problem("areas", f"at most {AREAS_MAX} areas"))
    else:
        unknown = [a for a in areas if name_key(a) not in audience.areas]
        if unknown:
            problems.append(
                Problem("areas", f"nobody is enrolled in {', '.join(map(repr, unknown))}")
            )
        for area in areas:
            speaking |= set(audience.areas.get(name_key(area), ()))
        if not unknown and not speaking:
            problems.append(Problem("areas", "every citizen of these areas is suspended"))
    problems += _when_problems(data, hours, now)
    for lang, text in data.texts.items():
        if lang not in LANGUAGES:
            problems.append(Problem(f"text_{lang}", f"{lang!r} is not one of the city's"))
        elif len(text.strip()) > TEXT_MAX:
            problems.append(Problem(f"text_{lang}", f"at most {TEXT_MAX} characters"))
    for lang in sorted(data.recorded - set(LANGUAGES)):
        problems.append(Problem(f"audio_{lang}", f"{lang!r} is not one of the city's"))
    for lang in sorted(speaking - data.recorded):
        if not data.texts.get(lang, "").strip():
            problems.append(
                Problem(f"text_{lang}", f"the message in {lang}: citizens of these areas speak it")
            )
    return problems


def _when_problems(data: BroadcastData, hours: tuple[time, time], now: datetime) -> list[Problem]:
    problems = []
    day = parse_date(data.day)
    if day is None:
        problems.append(Problem("day", "the day to call, YYYY-MM-DD"))
    elif day < now.date():
        problems.append(Problem("day", "a day in the past"))
    window = parse_window(data.window)
    if window is None:
        problems.append(
            Problem("window", f"{data.window.strip()!r}: a start-end time such as 10:00-12:00")
        )
    elif window[0] < hours[0] or window[1] > hours[1]:
        problems.append(
            Problem(
                "window",
                f"{show_window(window)} is outside the calling hours {show_window(hours)}",
            )
        )
    elif day is not None and day >= now.date() and datetime.combine(day, window[1]) <= now:
        problems.append(Problem("window", f"{show_window(window)} is already over today"))
    return problems


def window_of(data: BroadcastData) -> tuple[datetime, datetime]:
    """The checked broadcast's window as local datetimes."""
    day, window = parse_date(data.day), parse_window(data.window)
    assert day is not None and window is not None  # checked
    return datetime.combine(day, window[0]), datetime.combine(day, window[1])


def normal(data: BroadcastData) -> BroadcastData:
    """The broadcast as stored (after :func:`check`): single spaces, areas once each (first
    spelling kept), only the texts that say something, a recorded language's as "" (its
    message is the recording)."""
    areas: dict[str, str] = {}
    for area in data.areas:
        clean = " ".join(area.split())
        if clean:
            areas.setdefault(name_key(clean), clean)
    return BroadcastData(
        kind=data.kind,
        title=" ".join(unicodedata.normalize("NFC", data.title).split()),
        areas=tuple(areas.values()),
        day=data.day.strip(),
        window=data.window.strip(),
        texts={
            **{k: v.strip() for k, v in data.texts.items() if v.strip()},
            **dict.fromkeys(data.recorded, ""),
        },
        recorded=data.recorded,
    )


# -- when to call ------------------------------------------------------------------------------


def callable_at(now: datetime, window: tuple[datetime, datetime], hours: tuple[time, time]) -> bool:
    """Whether a broadcast with ``window`` may place a call at ``now``: inside both."""
    return window[0] <= now < window[1] and hours[0] <= now.time() < hours[1]


def first_attempt(window: tuple[datetime, datetime], hours: tuple[time, time]) -> datetime:
    """When a delivery's first attempt is due: the window's start, or the calling hours' start
    that day if later."""
    return max(window[0], datetime.combine(window[0].date(), hours[0]))


def after_attempt(
    outcome: str,
    attempts: int,
    now: datetime,
    window: tuple[datetime, datetime],
    policy: Policy,
) -> tuple[str, datetime | None]:
    """A delivery's state after its ``attempts``-th attempt ended in ``outcome`` at ``now``,
    and when to try again (None: never)."""
    if outcome in FINAL:
        return FINAL[outcome], None
    state = RETRIED.get(outcome, "failed")
    if attempts >= policy.attempts:
        return state, None
    again = now + timedelta(minutes=policy.retry_minutes)
    end = min(window[1], datetime.combine(again.date(), policy.hours[1]))
    return state, (again if again < end else None)


__all__ = [
    "Audience",
    "BroadcastData",
    "Policy",
    "after_attempt",
    "callable_at",
    "check",
    "first_attempt",
    "normal",
    "window_of",
]
