"""Queue state from AMI messages (pure: messages in, :class:`QueueState` out; no socket).

The watcher feeds it a full ``QueueStatus`` listing on every (re)connect (:meth:`resync`
replaces what it knew, so an Asterisk restart cannot leave ghosts) and then each event:
``QueueMemberStatus``/``QueueMemberAdded``/``QueueMemberRemoved``/``QueueMemberPause`` for the
operators, ``QueueCallerJoin``/``QueueCallerLeave``/``QueueCallerAbandon`` for the callers,
``AgentComplete`` for the handling time. Messages are plain ``dict[str, str]`` of AMI headers.

Member ``Status`` 1 (AST_DEVICE_NOT_INUSE) and not paused and not in a call = available.
Average handling time: exponential moving average of ``TalkTime`` from AgentComplete
(weight ``ALPHA``), seeded with QueueParams' ``TalkTime`` — recent calls count most.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

from ivr.queues.estimate import QueueState
from ivr.queues.languages import department_queue

ALPHA = 0.2
NOT_INUSE = "1"
UNAVAILABLE = ("0", "4", "5")  # unknown, invalid, unavailable: not logged in for us


@dataclass
class _Queue:
    members: dict[str, tuple[str, bool, bool]] = field(default_factory=dict)
    callers: dict[str, float] = field(default_factory=dict)  # uniqueid -> join time
    aht_s: float = 0.0


class QueueTracker:
    """``languages``: the city's; a department queue's language twins (``tributi_en``, see
    :mod:`ivr.queues.languages`) are folded into it: one state per department queue."""

    def __init__(self, queues: set[str] | None = None, languages: Collection[str] = ()) -> None:
        self.only = queues
        self.languages = frozenset(languages)
        self.queues: dict[str, _Queue] = {}

    def name(self, queue: str | None) -> str | None:
        """The department queue an Asterisk queue stands for."""
        return department_queue(queue, self.languages) if queue else queue

    def _q(self, name: str | None) -> _Queue | None:
        name = self.name(name)
        if not name or (self.only is not None and name not in self.only):
            return None
        return self.queues.setdefault(name, _Queue())

    def resync(self, events: list[dict[str, str]], now: float) -> None:
        """Replace everything with a ``QueueStatus`` listing."""
        old = {name: q.aht_s for name, q in self.queues.items()}
        self.queues = {}
        for ev in events:
            kind, q = ev.get("Event"), self._q(ev.get("Queue"))
            if q is None:
                continue
            if kind == "QueueParams":
                q.aht_s = old.get(self.name(ev["Queue"]) or "") or float(ev.get("TalkTime") or 0)
            elif kind == "QueueMember":
                self._member(q, ev)
            elif kind == "QueueEntry":
                q.callers[ev.get("Uniqueid", "")] = now - float(ev.get("Wait") or 0)

    def apply(self, ev: dict[str, str], now: float) -> str | None:
        """One event; returns the queue it changed (None when it was not about a queue)."""
        kind, q = ev.get("Event", ""), self._q(ev.get("Queue"))
        if q is None:
            return None
        if kind in ("QueueMemberStatus", "QueueMemberAdded", "QueueMemberPause"):
            self._member(q, ev)
        elif kind == "QueueMemberRemoved":
            q.members.pop(ev.get("Interface", ""), None)
        elif kind == "QueueCallerJoin":
            q.callers[ev.get("Uniqueid", "")] = now
        elif kind in ("QueueCallerLeave", "QueueCallerAbandon"):
            q.callers.pop(ev.get("Uniqueid", ""), None)
        elif kind == "AgentComplete":
            talk = float(ev.get("TalkTime") or 0)
            q.aht_s = talk if q.aht_s <= 0 else (1 - ALPHA) * q.aht_s + ALPHA * talk
        else:
            return None
        return self.name(ev["Queue"])

    @staticmethod
    def _member(q: _Queue, ev: dict[str, str]) -> None:
        status = ev.get("Status", "0")
        paused = ev.get("Paused", "0") == "1"
        in_call = ev.get("InCall", "0") == "1"
        q.members[ev.get("Interface") or ev.get("Location", "")] = (status, paused, in_call)

    def state(self, name: str, now: float) -> QueueState:
        q = self.queues.get(name) or _Queue()
        logged = [m for m in q.members.values() if m[0] not in UNAVAILABLE]
        return QueueState(
            logged_in=len(logged),
            available=sum(1 for s, p, c in logged if s == NOT_INUSE and not p and not c),
            paused=sum(1 for _, p, _ in logged if p),
            waiting=len(q.callers),
            longest_wait_s=max((now - t for t in q.callers.values()), default=0.0),
            aht_s=q.aht_s,
        )
