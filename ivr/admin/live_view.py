"""The live view: calls in the IVR, callers and operators per queue, and how saturated each is.

Read straight from Asterisk over AMI (``QueueStatus``, ``CoreShowChannels``) at each refresh: it
is the source of truth and costs two actions. When a Redis-fed queue state exists (the
saturation work), this is the one place to switch to it. If Asterisk cannot be reached the page
says so instead of showing zeros.

Saturation, per queue: ``ok`` (nobody waits, or enough free operators), ``busy`` (more callers
than free operators), ``saturated`` (busy and someone has waited over ``SATURATED_WAIT`` s),
``unstaffed`` (callers wait and nobody is logged in).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ivr.asterisk.ami import AMIClient, AMIError

SATURATED_WAIT = 60
FREE = {"0", "1"}  # AST_DEVICE_UNKNOWN (Local/ members), AST_DEVICE_NOT_INUSE


@dataclass
class QueueState:
    name: str
    label: str = ""
    waiting: int = 0
    longest_wait: int = 0
    members: int = 0
    available: int = 0
    paused: int = 0
    state: str = "ok"


@dataclass
class LiveSnapshot:
    ok: bool
    error: str = ""
    in_ivr: int = 0
    channels: int = 0
    queues: list[QueueState] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "error": self.error,
            "in_ivr": self.in_ivr,
            "channels": self.channels,
            "queues": [q.__dict__ for q in self.queues],
        }


def saturation(q: QueueState) -> str:
    if q.waiting == 0:
        return "ok"
    if q.members == 0:
        return "unstaffed"
    if q.waiting > q.available:
        return "saturated" if q.longest_wait >= SATURATED_WAIT else "busy"
    return "ok"


def snapshot(connect: Callable[[], AMIClient] | None, labels: dict[str, str]) -> LiveSnapshot:
    """Queues in ``labels`` order (queue name -> label), then any other queue Asterisk has."""
    if connect is None:
        return LiveSnapshot(False, "no Asterisk is configured for this admin")
    try:
        client = connect()
    except (OSError, AMIError) as err:
        return LiveSnapshot(False, f"Asterisk cannot be reached: {err}")
    try:
        status = client.action("QueueStatus", timeout=5)
        channels = client.action("CoreShowChannels", timeout=5)
    except (OSError, AMIError) as err:
        return LiveSnapshot(False, f"Asterisk did not answer: {err}")
    finally:
        client.close()
    queues: dict[str, QueueState] = {
        name: QueueState(name, label) for name, label in labels.items()
    }
    for event in status.events:
        name = event.get("Queue") or ""
        if not name or name.startswith("nu-"):  # templates, not queues
            continue
        q = queues.setdefault(name, QueueState(name, name))
        if event.name == "QueueMember":
            q.members += 1
            paused = event.get("Paused") == "1"
            q.paused += paused
            if not paused and event.get("Status") in FREE and event.get("InCall", "0") == "0":
                q.available += 1
        elif event.name == "QueueEntry":
            q.waiting += 1
            q.longest_wait = max(q.longest_wait, int(event.get("Wait") or 0))
    snap = LiveSnapshot(True, queues=list(queues.values()))
    for q in snap.queues:
        q.state = saturation(q)
    for event in channels.events:
        if event.name != "CoreShowChannel":
            continue
        snap.channels += 1
        if (event.get("Application") or "").upper() == "AGI":
            snap.in_ivr += 1
    return snap
