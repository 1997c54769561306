"""Asterisk's queue events as the operator desk needs them, pure (no socket, no clock).

:class:`DeskTracker` is fed every AMI event with the time it arrived and answers what each
operator's desk must be told: the phone rings (which call, how long the citizen waited, the
language and reason the channel carries now), it was answered (the citizen's channel, to
transfer it), it ended, a login, logout or pause. An operator is known by their extension: the
member interface ``PJSIP/<ext>`` (or its member name, for other kinds of members).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

Event = Mapping[str, Any]  # AMI headers; "vars": the ChanVariable pairs


@dataclass(frozen=True)
class DeskEvent:
    extension: str
    kind: str  # ringing, missed, connected, ended, member
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class Current:
    """The call an operator's phone has now (or had last: for the wrap-up)."""

    call_id: str
    queue: str
    channel: str = ""  # the citizen's channel: what a transfer moves
    ringing_at: float = 0.0
    connected_at: float | None = None
    ended_at: float | None = None
    ta_call: int | None = None  # a teleassistance week call (NU_TA_CALL): its sheet on the desk


def extension_of(event: Event) -> str | None:
    interface = str(event.get("Interface") or "")
    if interface.startswith("PJSIP/"):
        return interface[len("PJSIP/") :]
    return str(event.get("MemberName") or "") or None


class DeskTracker:
    """Follows queue callers (join times) and each operator's current call."""

    def __init__(self) -> None:
        self.joined: dict[str, float] = {}  # caller uniqueid -> when it joined its queue
        self.current: dict[str, Current] = {}  # extension -> its call

    def feed(self, event: Event, now: float) -> list[DeskEvent]:
        kind = event.get("Event")
        uid = str(event.get("Uniqueid") or "")
        if kind == "QueueCallerJoin":
            self.joined[uid] = now
            return []
        if kind == "Hangup":
            self.joined.pop(uid, None)
            return []
        if kind not in (
            "AgentCalled",
            "AgentRingNoAnswer",
            "AgentConnect",
            "AgentComplete",
            "AgentDump",
            "QueueMemberAdded",
            "QueueMemberRemoved",
            "QueueMemberPause",
        ):
            return []
        ext = extension_of(event)
        if not ext:
            return []
        queue = str(event.get("Queue") or "")
        if kind.startswith("QueueMember"):
            return [DeskEvent(ext, "member", _member(kind, event, queue))]
        variables = event.get("vars") or {}
        if kind == "AgentCalled":
            ta_call = teleassistance_call(variables)
            self.current[ext] = Current(
                uid, queue, str(event.get("Channel") or ""), now, ta_call=ta_call
            )
            joined = self.joined.get(uid)
            return [
                DeskEvent(
                    ext,
                    "ringing",
                    {
                        "call_id": uid,
                        "queue": queue,
                        "language": variables.get("NU_LANG", ""),
                        "reason": variables.get("NU_REASON", ""),
                        "department": variables.get("NU_DEPARTMENT", ""),
                        "ta_call": ta_call,
                        "waited_s": round(now - joined, 1) if joined is not None else None,
                        "asterisk_at": _float(event.get("Timestamp")),  # for the latency bench
                    },
                )
            ]
        current = self.current.get(ext)
        # AgentComplete after the caller hung up carries no caller channel (no Uniqueid)
        if current is None or (uid and current.call_id != uid):
            return []
        uid = current.call_id
        if kind == "AgentRingNoAnswer":
            del self.current[ext]
            return [DeskEvent(ext, "missed", {"call_id": uid})]
        if kind == "AgentConnect":
            current.connected_at = now
            current.channel = str(event.get("Channel") or current.channel)
            self.joined.pop(uid, None)
            hold = _float(event.get("HoldTime"))
            return [DeskEvent(ext, "connected", {"call_id": uid, "waited_s": hold})]
        current.ended_at = now  # AgentComplete / AgentDump: the operator is free again
        talk = _float(event.get("TalkTime"))
        return [DeskEvent(ext, "ended", {"call_id": uid, "talk_s": talk})]


def teleassistance_call(variables: Mapping[str, Any]) -> int | None:
    """The week call id a teleassistance call carries (``NU_TA_CALL``), or None."""
    value = str(variables.get("NU_TA_CALL") or "")
    return int(value) if value.isdigit() else None


def _member(kind: str, event: Event, queue: str) -> dict[str, Any]:
    return {
        "queue": queue,
        "in": kind != "QueueMemberRemoved",
        "paused": str(event.get("Paused") or "0") == "1",
        "pause_reason": str(event.get("PausedReason") or event.get("Reason") or ""),
    }


def _float(value: Any) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None
