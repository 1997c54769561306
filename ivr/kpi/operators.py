"""What operators did, as ``operator_events`` rows: from AMI queue events, and from the desk.

Two sources write the same table, each kind from one of them only (or it would count twice).
Asterisk's queue events, through the queue watcher's KPI recorder, give what Asterisk does
whoever asked it (the desk, a ``*11``/``*13`` code on the phone): login/logout
(``QueueMemberAdded``/``Removed``, per queue), pause/unpause (``QueueMemberPause``, with
``PausedReason``; an unpause carries the pause's reason and length), answer (``AgentConnect``)
and hangup (``AgentComplete``, the talk time). The desk adds only what Asterisk cannot know:
transfer (with its note) and wrapup (outcome, ``seconds`` = the wrap-up's length).

:class:`OperatorActivity` is pure (events and a time in, rows out). Asterisk sends one
``QueueMemberPause`` per queue when a member pauses everywhere (``*13``): the pause is an
operator's, not a queue's, so the first opens it and the rest are ignored until the unpause.
The operator is the member name our ``AddQueueMember`` gives (the endpoint, i.e. the extension),
else the ``PJSIP/<ext>`` interface. Times are the events' own ``Timestamp`` when Asterisk sends
one (``timestampevents``), so a watcher that lags does not stretch a pause. No caller data.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from ivr.kpi.models import OperatorEvent

AMI_EVENTS = (
    "QueueMemberAdded",
    "QueueMemberRemoved",
    "QueueMemberPause",
    "AgentConnect",
    "AgentComplete",
)
EXTENSION_MAX = 6  # operator_events.extension
REASON_MAX = 40


@dataclass(frozen=True)
class Activity:
    """One ``operator_events`` row to write."""

    at: datetime
    extension: str
    kind: str
    queue: str | None = None
    reason: str | None = None
    call_id: str | None = None
    seconds: float | None = None


def member_extension(event: Mapping[str, str]) -> str | None:
    """The operator an AMI queue event is about, or None when it names nobody usable."""
    name = (event.get("MemberName") or "").strip()
    interface = event.get("Interface") or ""
    if interface.startswith("PJSIP/") and not name:
        name = interface.removeprefix("PJSIP/")
    return name if name and len(name) <= EXTENSION_MAX else None


def event_time(event: Mapping[str, str], now: datetime) -> datetime:
    """The event's own time (naive UTC) when it carries one, else ``now``."""
    try:
        return datetime.fromtimestamp(float(event["Timestamp"]), UTC).replace(tzinfo=None)
    except (KeyError, ValueError, OverflowError, OSError):
        return now


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except ValueError:
        return None


class OperatorActivity:
    """AMI queue events in, operator activity out; remembers which operators are paused since
    when (a restart forgets an open pause: its time is lost, never guessed)."""

    def __init__(self) -> None:
        self.paused: dict[str, tuple[datetime, str | None]] = {}
        # The call each operator answered: Asterisk 22's AgentComplete has no channel fields
        # when the caller's channel is already gone, so its call is the AgentConnect's.
        self.on_call: dict[str, str] = {}

    def feed(self, event: Mapping[str, str], now: datetime) -> list[Activity]:
        kind = event.get("Event", "")
        if kind not in AMI_EVENTS:
            return []
        extension = member_extension(event)
        if extension is None:
            return []
        at = event_time(event, now)
        queue = event.get("Queue") or None
        call_id = event.get("Uniqueid") or None
        if kind == "QueueMemberAdded":
            return [Activity(at, extension, "login", queue)]
        if kind == "QueueMemberRemoved":
            return [Activity(at, extension, "logout", queue)]
        if kind == "AgentConnect":
            if call_id:
                self.on_call[extension] = call_id
            return [Activity(at, extension, "answer", queue, call_id=call_id)]
        if kind == "AgentComplete":
            answered = self.on_call.pop(extension, None)
            call_id = call_id or answered
            talk = _seconds(event.get("TalkTime"))
            return [Activity(at, extension, "hangup", queue, call_id=call_id, seconds=talk)]
        reason = (event.get("PausedReason") or "").strip()[:REASON_MAX] or None
        if event.get("Paused") == "1":
            if extension in self.paused:
                return []  # the same pause, told for another queue
            self.paused[extension] = (at, reason)
            return [Activity(at, extension, "pause", reason=reason)]
        opened = self.paused.pop(extension, None)
        if opened is None:
            return []  # the same unpause for another queue, or a pause from before we listened
        since, reason = opened
        length = max(0.0, (at - since).total_seconds())
        return [Activity(at, extension, "unpause", reason=reason, seconds=length)]


def row(activity: Activity) -> OperatorEvent:
    return OperatorEvent(
        at=activity.at,
        extension=activity.extension[:EXTENSION_MAX],
        kind=activity.kind,
        queue=activity.queue,
        reason=activity.reason[:REASON_MAX] if activity.reason else None,
        call_id=activity.call_id,
        seconds=activity.seconds,
    )


def load_operator_events(engine: Engine, start: datetime, end: datetime) -> list[OperatorEvent]:
    """Operator events in [start, end) (naive UTC), oldest first."""
    from sqlalchemy import select

    with Session(engine) as session:
        query = (
            select(OperatorEvent)
            .where(OperatorEvent.at >= start, OperatorEvent.at < end)
            .order_by(OperatorEvent.at, OperatorEvent.id)
        )
        return list(session.scalars(query))
