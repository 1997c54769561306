"""The rules that fill a :class:`CallRecord`, pure (no clock, no database): testable by hand.

Two writers, in any order, on the same row:

* :func:`apply_ivr` when a call leaves the IVR: language, path, speech, department, reason,
  saturation and the estimate, and an outcome (``hung_up``, ``self_served``, ``callback``,
  ``transferred``, ``error``);
* :func:`apply_queue_event` for each AMI queue event of the call (``QueueCallerJoin``,
  ``QueueCallerLeave``, ``QueueCallerAbandon``, ``AgentConnect``): the wait and the final
  outcome (``queued``, ``no_operator``, ``abandoned``, ``answered``).

What a queue says wins over the IVR's "transferred" (it knows more, and the watcher may write
first); ``answered`` and ``abandoned`` are final. The wait is summed over the queues a call went
through (a department that timed out, then the general operator): Asterisk's ``HoldTime`` (whole
seconds) for a segment still open when the operator answers or the caller hangs up, else our own
clock between join and leave. Asterisk 22 sends ``QueueCallerAbandon`` before the leave, but
``QueueCallerLeave`` just before ``AgentConnect``: an answered wait is usually our clock's.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol

from ivr.flow.actions import Hangup, Transfer
from ivr.queues.languages import department_queue

IVR_OUTCOMES = ("hung_up", "self_served", "callback", "transferred", "error")
# lost_with_node: queued on an Asterisk node that died (ivr/queues/lost.py)
LOST_WITH_NODE = "lost_with_node"
QUEUE_OUTCOMES = ("queued", "no_operator", "abandoned", "answered", LOST_WITH_NODE)
FINAL = ("answered", "abandoned")
QUEUE_EVENTS = ("QueueCallerJoin", "QueueCallerLeave", "QueueCallerAbandon", "AgentConnect")
# The callback worker's placeholder waits in the queue from this context (extensions.conf): its
# row is a kept place, not a call, and carries this reason so reports can leave it out.
CALLBACK_CONTEXT, PLACEHOLDER = "nu-callback", "callback"

SAID_MAX = 200
# What a caller may say that identifies them: fiscal codes, long numbers, e-mail addresses.
_FISCAL = re.compile(r"\b[A-Za-z]{6}\s?\d{2}\s?[A-Za-z]\s?\d{2}\s?[A-Za-z]\s?\d{3}\s?[A-Za-z]\b")
_DIGITS = re.compile(r"\d[\d\s./-]{4,}\d")
_EMAIL = re.compile(r"\S+@\S+")


class Record(Protocol):
    """The fields the rules touch (a :class:`ivr.kpi.models.CallRecord`, or a stand-in)."""

    started_at: datetime | None
    left_ivr_at: datetime | None
    ended_at: datetime | None
    language: str | None
    path: str
    said: str | None
    confidence: float | None
    department: str | None
    queue: str | None
    reason: str | None
    saturation: str | None
    est_position: int | None
    est_wait_s: float | None
    outcome: str | None
    queue_joined_at: datetime | None
    queue_wait_s: float | None
    error: str | None
    operator: str | None
    talk_s: float | None


def mask_said(text: str) -> str:
    """The recognised text without what would identify the caller, cut to the column's size."""
    text = _EMAIL.sub("***", _FISCAL.sub("***", text))
    return _DIGITS.sub("***", text).strip()[:SAID_MAX]


def ivr_outcome(final: Any, hung_up: bool, data: Mapping[str, Any]) -> str:
    """How the call left the IVR, in KPI words."""
    if hung_up:
        return "hung_up"
    if isinstance(final, Transfer):
        return "transferred"
    if isinstance(final, Hangup):
        # the callback node marks a goodbye after a request (booked, or already booked)
        return "callback" if data.get("callback") else "self_served"
    return "error"


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def apply_ivr(
    rec: Record,
    *,
    started_at: datetime,
    left_at: datetime,
    final: Any,
    hung_up: bool,
    path: list[str],
    language: str | None,
    data: Mapping[str, Any],
    error: str | None = None,
) -> None:
    """Fill the IVR's part. Only named keys of ``data`` are read: it also holds personal data."""
    rec.started_at = min(started_at, rec.started_at) if rec.started_at else started_at
    rec.left_ivr_at = left_at
    rec.ended_at = max(left_at, rec.ended_at) if rec.ended_at else left_at
    rec.language = language
    rec.path = ">".join(path)
    said = data.get("said")
    rec.said = mask_said(said) if isinstance(said, str) and said else None
    rec.confidence = _number(data.get("said_confidence")) if rec.said else None
    if isinstance(final, Transfer):
        rec.department, rec.reason = final.department, final.reason
        rec.queue = rec.queue or final.queue  # a queue event already knows the real one
    saturation = data.get("saturation")
    rec.saturation = str(saturation)[:40] if saturation else None
    position = _number(data.get("queue_position"))
    rec.est_position = int(position) if position is not None else None
    rec.est_wait_s = _number(data.get("queue_wait_s"))
    rec.error = error[:60] if error else None
    if rec.outcome not in QUEUE_OUTCOMES:  # the queue already spoke: it knows more
        rec.outcome = ivr_outcome(final, hung_up, data)
    _department_queue(rec)


def _department_queue(rec: Record) -> None:
    """Asterisk names the language twin a caller waited in (``tributi_en``); the record keeps
    the department's queue, like every other reader (:mod:`ivr.queues.languages`)."""
    if rec.queue and rec.language:
        rec.queue = department_queue(rec.queue, (rec.language,))


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except ValueError:
        return None


def apply_queue_event(rec: Record, event: Mapping[str, str], now: datetime) -> bool:
    """Apply one AMI queue event to the call's record; False when it is not one we use."""
    kind = event.get("Event", "")
    if kind not in QUEUE_EVENTS:
        return False
    rec.started_at = rec.started_at or now  # a call that never saw the IVR (fallback)
    if event.get("Context") == CALLBACK_CONTEXT:
        rec.reason = PLACEHOLDER
    rec.ended_at = max(now, rec.ended_at) if rec.ended_at else now
    wait = rec.queue_wait_s or 0.0
    if kind == "QueueCallerJoin":
        if rec.outcome in FINAL:
            return True
        if rec.queue_joined_at is not None:  # never saw the previous queue's leave
            wait += max(0.0, (now - rec.queue_joined_at).total_seconds())
        rec.queue, rec.queue_joined_at = event.get("Queue") or rec.queue, now
        rec.outcome, rec.queue_wait_s = "queued", wait
        _department_queue(rec)
    elif kind == "QueueCallerLeave":
        if rec.outcome in FINAL or rec.queue_joined_at is None:
            return True
        # Timed out or left for another queue; an operator's AgentConnect may still follow.
        rec.queue_wait_s = wait + max(0.0, (now - rec.queue_joined_at).total_seconds())
        rec.queue_joined_at = None
        rec.outcome = "no_operator"
    else:  # AgentConnect / QueueCallerAbandon: final, with Asterisk's own HoldTime
        if rec.outcome in FINAL:
            return True
        hold = _seconds(event.get("HoldTime"))
        if rec.queue_joined_at is not None:  # segment still open: Asterisk's figure
            if hold is None:
                hold = max(0.0, (now - rec.queue_joined_at).total_seconds())
            wait += hold
        elif hold is not None and rec.queue_wait_s is None:
            wait = hold  # joined before we were listening
        rec.queue_wait_s, rec.queue_joined_at = wait, None
        rec.queue = event.get("Queue") or rec.queue
        rec.outcome = "answered" if kind == "AgentConnect" else "abandoned"
    _department_queue(rec)
    return True


def apply_agent_event(rec: Record, event: Mapping[str, str], operator: str | None) -> None:
    """Who answered (``AgentConnect``) and how long they talked (``AgentComplete``'s TalkTime).
    After a transfer the last operator's figures stand: the call record says who had it last;
    each operator's own calls are in ``operator_events``."""
    if event.get("Event") == "AgentConnect":
        rec.operator = operator or rec.operator
        rec.talk_s = None  # a new operator, a new talk
    elif event.get("Event") == "AgentComplete":
        rec.operator = operator or rec.operator
        rec.talk_s = _seconds(event.get("TalkTime"))


def apply_node_lost(rec: Record, at: datetime) -> None:
    """The call was waiting in a queue of a node that died (``at``: when it was last heard):
    its wait ends there, its outcome is ``lost_with_node``. An answered or abandoned call
    keeps its outcome (the node's last events came first)."""
    if rec.outcome in FINAL:
        return
    rec.started_at = rec.started_at or at
    if rec.queue_joined_at is not None:
        gone = max(0.0, (at - rec.queue_joined_at).total_seconds())
        rec.queue_wait_s = (rec.queue_wait_s or 0.0) + gone
        rec.queue_joined_at = None
    rec.ended_at = max(at, rec.ended_at) if rec.ended_at else at
    rec.outcome = LOST_WITH_NODE


def apply_node_revived(rec: Record) -> None:
    """Declared lost, found waiting again (the node was frozen past the grace): queued."""
    if rec.outcome == LOST_WITH_NODE:
        rec.outcome = "queued"
