"""Appointment reminders, the rules (pure: no clock, no database, no socket).

The day before an office appointment the citizen is reminded of it: a call that says the time
and takes 1 (confirm) or 2 (cancel), or an SMS when the city prefers them
(``NU_REMINDER_SMS=1``) or the number cannot be called. What is decided here:

* **when**: only inside the reminder calling hours (``NU_REMINDER_HOURS``, 17:00-20:00 by
  default: people are home, and never at night), for the appointments of the next day;
* **how**: :func:`channel` - an SMS to a mobile when SMS is on, else a call when the number can
  be dialled, else an SMS to a mobile, else nothing can reach the citizen;
* **what next** after a call: :func:`after` - a decision (confirmed, cancelled, heard without a
  key) is final; a miss (no answer, busy, a machine, a line that failed) is tried again
  ``NU_REMINDER_RETRY_MIN`` minutes later, at most ``NU_REMINDER_ATTEMPTS`` calls in all, and
  only while the calling hours of the same evening last.

One reminder per booking, ever: the store keeps one row per booking (unique), and a final state
is never left again, so a restart or a second pass never reminds a citizen twice.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum

from ivr.callbacks.node import normalize_number
from ivr.teleassistance.rules import parse_window

KEY_PREFIX = "rem"
_KEY = re.compile(r"^rem-(\d{1,18})-(\d{1,3})$")

# What [nu-reminder] (extensions.conf) reports as the call's outcome, besides the dialler's own.
CONFIRMED = "confirmed"
CANCELLED = "cancelled"
NO_KEY = "no_key"


class State(StrEnum):
    PENDING = "pending"  # to be called (again) from next_at
    DIALLING = "dialling"  # a call is out (its key in the row)
    CONFIRMED = "confirmed"  # the citizen pressed 1
    CANCELLED = "cancelled"  # the citizen pressed 2: the booking is cancelled, its slot free
    HEARD = "heard"  # a person heard the reminder and pressed nothing
    UNANSWERED = "unanswered"  # every attempt missed
    SMS_SENT = "sms_sent"  # reminded by SMS (through the outbox)
    FAILED = "failed"  # no way to reach the citizen, or the evening passed before it was done


FINAL = frozenset(State) - {State.PENDING, State.DIALLING}


class Channel(StrEnum):
    CALL = "call"
    SMS = "sms"


@dataclass(frozen=True)
class Policy:
    """The city's reminder settings (``NU_REMINDER_*``, and whether calls can be placed at all:
    ``NU_TELEASSISTANCE_DIAL`` set)."""

    start: time = time(17, 0)
    end: time = time(20, 0)
    attempts: int = 2
    retry_minutes: int = 60
    sms: bool = False
    calls: bool = True

    def __post_init__(self) -> None:
        if not self.start < self.end:
            raise ValueError("NU_REMINDER_HOURS must end after they start")
        if self.attempts < 1:
            raise ValueError("NU_REMINDER_ATTEMPTS must be at least 1")
        if self.retry_minutes < 1:
            raise ValueError("NU_REMINDER_RETRY_MIN must be at least 1 minute")


def parse_hours(text: str) -> tuple[time, time]:
    """``"17:00-20:00"`` as (start, end), read like the teleassistance calling hours; ValueError
    naming the setting otherwise."""
    window = parse_window(text or "")
    if window is None:
        raise ValueError(f"NU_REMINDER_HOURS must be HH:MM-HH:MM, start before end, not {text!r}")
    return window


def policy(
    hours: str, attempts: int = 2, retry_minutes: int = 60, *, sms: bool = False, calls: bool = True
) -> Policy:
    start, end = parse_hours(hours)
    return Policy(start, end, attempts, retry_minutes, sms, calls)


def in_hours(now: datetime, rules: Policy) -> bool:
    """Whether a reminder may be placed at ``now`` (city local time)."""
    return rules.start <= now.time() < rules.end


def reminder_day(now: datetime) -> date:
    """The day whose appointments are reminded at ``now``: tomorrow."""
    return now.date() + timedelta(days=1)


def wants_reminder(starts_at: datetime, now: datetime, rules: Policy) -> bool:
    """An active appointment at ``starts_at`` is reminded at ``now``: inside the hours, the day
    before."""
    return in_hours(now, rules) and starts_at.date() == reminder_day(now)


def dialable(number: str | None) -> str:
    """The digits to call, or "" when the number cannot be called (none, withheld, malformed)."""
    return normalize_number(number or "")


def channel(number: str | None, mobile: bool, rules: Policy) -> Channel | None:
    """How this citizen is reminded; None when nothing can reach them. ``mobile``: the number
    takes SMS (``booking.service.is_mobile``)."""
    if rules.sms and mobile:
        return Channel.SMS
    if rules.calls and dialable(number):
        return Channel.CALL
    if mobile:
        return Channel.SMS
    return None


@dataclass(frozen=True)
class Retry:
    at: datetime


@dataclass(frozen=True)
class Final:
    state: State


def after(outcome: str, attempt: int, at: datetime, rules: Policy) -> Retry | Final:
    """What follows the call ``attempt`` (1, 2...) placed at ``at`` that ended with ``outcome``."""
    if outcome == CONFIRMED:
        return Final(State.CONFIRMED)
    if outcome == CANCELLED:
        return Final(State.CANCELLED)
    if outcome in (NO_KEY, "answered"):
        return Final(State.HEARD)
    again = at + timedelta(minutes=rules.retry_minutes)
    if attempt < rules.attempts and again.date() == at.date() and in_hours(again, rules):
        return Retry(again)
    return Final(State.FAILED if outcome == "failed" else State.UNANSWERED)


def key(booking_id: int, attempt: int) -> str:
    """The dialler's key (the channel id) of a reminder call: ``rem-<booking>-<attempt>``."""
    return f"{KEY_PREFIX}-{booking_id}-{attempt}"


def parse_key(text: str) -> tuple[int, int] | None:
    """(booking id, attempt) of a reminder key, or None for anyone else's key."""
    found = _KEY.match(text or "")
    return (int(found.group(1)), int(found.group(2))) if found else None


__all__ = [
    "CANCELLED",
    "CONFIRMED",
    "FINAL",
    "NO_KEY",
    "Channel",
    "Final",
    "Policy",
    "Retry",
    "State",
    "after",
    "channel",
    "dialable",
    "in_hours",
    "key",
    "parse_hours",
    "parse_key",
    "policy",
    "reminder_day",
    "wants_reminder",
]
