"""Estimated wait and the saturation decision. Pure: no clock, no socket, no Redis.

Formula (documented because callers hear it): a caller at ``position`` (1 = next) waits for
``position`` operators to free up. With ``available`` idle operators the first ``available``
callers go through at once (wait 0). Otherwise, with ``serving`` operators busy, each one frees up
on average every ``aht_s`` seconds (recent average handling time), so the queue advances one
place every ``aht_s / serving`` seconds and the caller waits about
``(position - available) * aht_s / serving``. No operator logged in at all means no estimate
(``None``): the wait is unbounded, which the policy treats as saturated.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

DEFAULT_AHT_S = 180.0
"""Used until the queue has a measured average handling time (a city desk's usual)."""


@dataclass(frozen=True)
class QueueState:
    """One department queue as the watcher last saw it."""

    logged_in: int = 0
    available: int = 0
    paused: int = 0
    waiting: int = 0
    longest_wait_s: float = 0.0
    aht_s: float = 0.0


@dataclass(frozen=True)
class SaturationPolicy:
    """When a department counts as saturated, and where saturated callers go instead."""

    offer: str
    no_operator: bool = False
    max_waiting: int | None = None
    max_wait_s: float | None = None


def queue_state(raw: object) -> QueueState | None:
    """A :class:`QueueState` from a service's answer (a mapping of numbers); None if unusable."""
    if not isinstance(raw, dict):
        return None
    try:
        return QueueState(
            logged_in=int(raw.get("logged_in", 0)),
            available=int(raw.get("available", 0)),
            paused=int(raw.get("paused", 0)),
            waiting=int(raw.get("waiting", 0)),
            longest_wait_s=float(raw.get("longest_wait_s", 0)),
            aht_s=float(raw.get("aht_s", 0)),
        )
    except (TypeError, ValueError):
        return None


def estimate_wait_s(position: int, state: QueueState) -> float | None:
    """Seconds a caller joining at ``position`` should wait; None when nobody can answer."""
    serving = state.logged_in - state.paused
    if serving <= 0:
        return None
    if position <= state.available:
        return 0.0
    aht = state.aht_s if state.aht_s > 0 else DEFAULT_AHT_S
    busy = max(serving - state.available, 1)
    return (position - state.available) * aht / busy


def minutes_to_say(wait_s: float) -> int:
    """The whole minutes announced: rounded up, at least one ("about 1 minute")."""
    return max(1, math.ceil(wait_s / 60))


def saturated(policy: SaturationPolicy, state: QueueState) -> str | None:
    """Why the department is saturated for a new caller (a reason code), or None when not."""
    position = state.waiting + 1
    wait = estimate_wait_s(position, state)
    if policy.no_operator and state.available <= 0:
        return "no_operator"
    if policy.max_waiting is not None and state.waiting > policy.max_waiting:
        return "max_waiting"
    if policy.max_wait_s is not None and (wait is None or wait > policy.max_wait_s):
        return "max_wait"
    return None
