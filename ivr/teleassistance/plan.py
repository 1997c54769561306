"""From the enrolment to the scheduler: the store's citizens as :class:`schedule.Enrolled` and the
city's calling hours (``NU_TELEASSISTANCE_HOURS``, ``settings.teleassistance_hours``) as the
:class:`schedule.Pacing`'s. Pure but for :func:`week_input`, which reads the store.

What an enrolment means for the plan: the preferred weekdays and the daily window as stored
(the rules keep the window inside the calling hours), the call kind, calls only from the day
of the consent, and a suspension (holiday, hospital) as an inclusive date range, open-ended
("until resumed") as far as the plan can see.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from ivr.teleassistance import rules
from ivr.teleassistance.schedule import Enrolled, Pacing
from ivr.teleassistance.store import Enrolment, TeleassistanceStore


def pacing(hours: str, **kw: Any) -> Pacing:
    """A :class:`Pacing` calling in ``hours`` (``HH:MM-HH:MM``, the settings' text); ``kw``
    the rest of the capacity (channels, operators, call lengths...)."""
    window = rules.parse_window(hours)
    if window is None:
        raise ValueError(f"NU_TELEASSISTANCE_HOURS must be HH:MM-HH:MM, not {hours!r}")
    return Pacing(calling_start=window[0], calling_end=window[1], **kw)


def enrolled(enrolment: Enrolment, hours: str = "") -> Enrolled:
    """One stored citizen as the scheduler needs them. ``hours`` is the window of an enrolment
    stored without one (the store always stores one; kept for enrolments built by hand)."""
    data = enrolment.data
    window = rules.parse_window(data.window or hours)
    if window is None:
        raise ValueError(f"citizen {enrolment.id}: no daily window")
    suspended: tuple[tuple[date, date], ...] = ()
    if enrolment.status == "suspended":
        suspended = ((enrolment.suspended_from or date.min, enrolment.suspended_to or date.max),)
    return Enrolled(
        citizen_id=enrolment.id,
        weekdays=frozenset(rules.WEEKDAYS.index(d) for d in data.weekdays),
        window_start=window[0],
        window_end=window[1],
        kind=data.call_kind,
        active_from=rules.parse_date(data.consent_on),
        suspended=suspended,
    )


def week_input(store: TeleassistanceStore) -> list[Enrolled]:
    """Every enrolled citizen (suspended ones too: the plan reports them as skipped)."""
    return [enrolled(e, rules.show_window(store.hours)) for e in store.citizens()]


__all__ = ["enrolled", "pacing", "week_input"]
