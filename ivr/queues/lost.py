"""Calls lost with a node: who waited in a queue of an Asterisk that died, and what to do.

A call waiting on a node that dies cannot be saved, but it can be known. The queue watcher (one
per node) records each caller who joins a queue outside Asterisk (:class:`Waiting`, kept in
Redis by :mod:`ivr.queues.waiting` only while they wait: it holds their number) and forgets them
when they leave (answered, abandoned, timed out). When the node goes (the AMI connection drops,
the heartbeat's deadline passes), :class:`NodeGuard` waits ``grace_s``:

* the node answers again with the **same** boot (a network blip, a short freeze): callers still
  in its queues keep waiting; those no longer there left while nobody watched: forgotten;
* the node answers again with a **new** boot (Asterisk restarted): every caller recorded on the
  old boot is lost — at once, no need to wait for the grace;
* the node does not answer within ``grace_s``: every caller recorded is lost.

Each lost caller is handed to ``lost`` (the watcher's edge: a callback request marked
``node_lost`` through the callback store, whose one-active-per-number rule keeps a caller who
already called again from being called twice, and the call record's outcome
``lost_with_node``). A node frozen longer than the grace that then resumes with the same boot
still has those callers: ``revived`` is told, to withdraw the callback they no longer need.

This module is pure (no clock, no socket): times come in, decisions go out.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import asdict, dataclass

from ivr.queues.languages import department_queue

CALLBACK_CONTEXT = "nu-callback"  # the callback worker's placeholders: a kept place, not a call


@dataclass(frozen=True)
class Waiting:
    """One caller waiting in a queue of ``node``. ``number`` is personal data: never logged."""

    call_id: str
    node: str
    boot: str
    queue: str  # the department's queue (language twins folded)
    department: str
    language: str
    number: str  # digits only; "" when the caller withheld it (no callback possible)
    position: int
    joined: float

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> Waiting:
        return cls(
            call_id=str(data["call_id"]),
            node=str(data["node"]),
            boot=str(data["boot"]),
            queue=str(data["queue"]),
            department=str(data.get("department") or data["queue"]),
            language=str(data.get("language") or ""),
            number=str(data.get("number") or ""),
            position=int(data.get("position") or 0),  # type: ignore[call-overload]
            joined=float(data.get("joined") or 0.0),  # type: ignore[arg-type]
        )


def _digits(value: str | None) -> str:
    value = (value or "").strip()
    plain = value[1:] if value.startswith("+") else value
    return plain if plain.isdigit() else ""


def _language_of(queue: str, department: str, languages: Collection[str]) -> str:
    """The twin's suffix (``tributi_en`` -> ``en``) when it names a language, else ""."""
    suffix = queue[len(department) + 1 :] if queue.startswith(department + "_") else ""
    return suffix if suffix in languages else ""


def waiting_from(
    event: Mapping[str, str],
    node: str,
    boot: str,
    now: float,
    languages: Collection[str] = (),
    variables: Mapping[str, str] | None = None,
) -> Waiting | None:
    """A caller from a ``QueueCallerJoin`` event or a ``QueueStatus`` ``QueueEntry``; None for a
    callback placeholder or an event without a call. ``variables``: the channel's ``NU_*``
    (manager.conf ``channelvars``), when the event carried them."""
    call_id = event.get("Uniqueid") or ""
    raw_queue = event.get("Queue") or ""
    if not call_id or not raw_queue or event.get("Context") == CALLBACK_CONTEXT:
        return None
    if (event.get("Channel") or "").startswith("Local/") and "@nu-callback" in event.get(
        "Channel", ""
    ):
        return None
    variables = variables or {}
    queue = variables.get("NU_QUEUE") or department_queue(raw_queue, languages) or raw_queue
    department = variables.get("NU_DEPARTMENT") or queue
    language = variables.get("NU_LANG") or _language_of(raw_queue, queue, languages)
    try:
        position = int(event.get("Position") or 0)
    except ValueError:
        position = 0
    wait = float(event.get("Wait") or 0) if event.get("Event") == "QueueEntry" else 0.0
    return Waiting(
        call_id=call_id,
        node=node,
        boot=boot,
        queue=queue,
        department=department,
        language=language,
        number=_digits(event.get("CallerIDNum")),
        position=position,
        joined=now - wait,
    )


@dataclass(frozen=True)
class Verdict:
    """What a node's return means for the callers recorded on it."""

    lost: tuple[Waiting, ...]  # recorded on an older boot: Asterisk restarted
    gone: tuple[Waiting, ...]  # same boot, no longer in a queue: left while nobody watched
    still: tuple[Waiting, ...]  # same boot, still waiting


def judge(recorded: Iterable[Waiting], boot: str, present: Collection[str]) -> Verdict:
    """The node answers again with ``boot`` and these call ids in its queues."""
    lost, gone, still = [], [], []
    for w in recorded:
        if w.boot != boot:
            lost.append(w)
        elif w.call_id in present:
            still.append(w)
        else:
            gone.append(w)
    return Verdict(tuple(lost), tuple(gone), tuple(still))


class NodeGuard:
    """One node's watch over its waiting callers (see the module docstring).

    The edges are injected: ``store`` (``add``/``remove``/``all`` of :class:`Waiting` for this
    node, :mod:`ivr.queues.waiting`), ``lost(waiting, at)`` for each caller lost with the node
    (``at``: when the node was last heard), ``revived(call_id)`` for a caller declared lost who
    is found waiting again. Thread-safe: events come from the watcher's loop, ``tick`` from a
    timer. The node is "down" from the start until the first resync says otherwise, so callers
    a previous watcher recorded are judged too.
    """

    def __init__(
        self,
        node: str,
        store: object,
        lost: Callable[[Waiting, float], object],
        *,
        grace_s: float = 10.0,
        languages: Collection[str] = (),
        revived: Callable[[str], object] | None = None,
        now: float = 0.0,
    ) -> None:
        self.node, self.store, self.lost, self.revived = node, store, lost, revived
        self.grace_s, self.languages = grace_s, frozenset(languages)
        self.boot: str | None = None  # the boot the node answered with last
        self.down_since: float | None = now
        self.declared: dict[str, str] = {}  # call id -> boot, lost after the grace
        self._lock = threading.Lock()

    # -- while the node answers ------------------------------------------------------------------

    def event(self, event: Mapping[str, str], now: float, variables: Mapping[str, str]) -> None:
        """One AMI event of the node: a caller joins (recorded) or leaves (forgotten)."""
        kind = event.get("Event")
        if kind == "QueueCallerJoin" and self.boot is not None:
            waiting = waiting_from(event, self.node, self.boot, now, self.languages, variables)
            if waiting is not None:
                self.store.add(waiting)  # type: ignore[attr-defined]
        elif kind in ("QueueCallerLeave", "QueueCallerAbandon"):
            call_id = event.get("Uniqueid") or ""
            if call_id:
                self.store.remove(self.node, call_id)  # type: ignore[attr-defined]

    def up(self, boot: str, entries: Iterable[Mapping[str, str]], now: float) -> Verdict:
        """The node answers (a new AMI session) with ``boot`` and its ``QueueStatus`` entries."""
        with self._lock:
            entries = [e for e in entries if e.get("Event") == "QueueEntry"]
            present = {e.get("Uniqueid") or "" for e in entries}
            recorded = self.store.all(self.node)  # type: ignore[attr-defined]
            verdict = judge(recorded, boot, present)
            at = self.down_since if self.down_since is not None else now
            for w in verdict.lost:
                self._lose(w, at)
            for w in verdict.gone:
                self.store.remove(self.node, w.call_id)  # type: ignore[attr-defined]
            known = {w.call_id for w in verdict.still}
            for entry in entries:  # joined while nobody watched, or revived after a freeze
                waiting = waiting_from(entry, self.node, boot, now, self.languages)
                if waiting is None or waiting.call_id in known:
                    continue
                self.store.add(waiting)  # type: ignore[attr-defined]
                if self.declared.get(waiting.call_id) == boot and self.revived is not None:
                    self.revived(waiting.call_id)
            self.declared = {}
            self.boot, self.down_since = boot, None
            return verdict

    # -- while it does not ------------------------------------------------------------------------

    def down(self, now: float) -> None:
        """The AMI session ended: the grace starts (once: failed reconnects do not restart it)."""
        with self._lock:
            if self.down_since is None:
                self.down_since = now

    def tick(self, now: float) -> list[Waiting]:
        """Past the grace with the node still gone: every recorded caller is lost (once)."""
        with self._lock:
            since = self.down_since
            if since is None or now - since < self.grace_s:
                return []
            recorded = self.store.all(self.node)  # type: ignore[attr-defined]
            for w in recorded:
                self._lose(w, since)
                self.declared[w.call_id] = w.boot
            return list(recorded)

    def _lose(self, waiting: Waiting, at: float) -> None:
        self.lost(waiting, at)  # first: a failure keeps the caller for the next tick
        self.store.remove(self.node, waiting.call_id)  # type: ignore[attr-defined]
