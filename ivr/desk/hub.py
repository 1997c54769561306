"""The admin process's live feed for operator desks: one AMI connection (events on, heartbeat,
reconnecting: :func:`ivr.asterisk.ami.keep_connected`) per Asterisk, whatever the number of
desks open, turned into per-operator desk events (:class:`ivr.desk.events.DeskTracker`).

When an operator's phone rings, the event is completed here, once, before it is delivered: the
call's context from Redis (:mod:`ivr.desk.store`) and the citizen's bookings, callbacks and
earlier calls (``lookup``). Only that operator's desk subscribers receive it, so the number is
shown on the desk of the operator who has the call and nowhere else. The AMI reader thread only
queues events; a worker thread does the rest, so a slow database never stalls AMI.
"""

from __future__ import annotations

import contextlib
import logging
import queue as queue_mod
import threading
import time
from collections.abc import Callable
from typing import Any

from ivr.asterisk.ami import AMIClient, keep_connected
from ivr.desk.events import Current, DeskEvent, DeskTracker
from ivr.desk.store import CallContexts

log = logging.getLogger(__name__)

Lookup = Callable[[dict[str, Any]], dict[str, Any]]


def plain(message: Any) -> dict[str, Any]:
    """An AMI message as a dict (headers, first value wins) plus ``vars`` (ChanVariable)."""
    out: dict[str, Any] = {}
    for key, value in message.headers:
        out.setdefault(key, value)
    out["vars"] = message.variables()
    return out


class DeskHub:
    def __init__(
        self,
        connect: Callable[[], AMIClient],
        contexts: CallContexts | None,
        lookup: Lookup | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.connect, self.contexts, self.lookup, self.clock = connect, contexts, lookup, clock
        self.tracker = DeskTracker()
        self.lock = threading.Lock()
        self.subscribers: dict[str, list[queue_mod.Queue[DeskEvent]]] = {}
        self.cards: dict[str, DeskEvent] = {}  # extension -> its call's last ringing card
        self.inbox: queue_mod.Queue[tuple[Any, float]] = queue_mod.Queue()
        self.stopped = False
        self.connected = False
        self.context_wait_s = 1.0
        self._threads: list[threading.Thread] = []

    def start(self) -> DeskHub:
        for target, name in ((self._run_ami, "desk-ami"), (self._work, "desk-events")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        self.stopped = True
        self.inbox.put((None, 0.0))
        for thread in self._threads:
            thread.join(5)

    # -- desks -----------------------------------------------------------------------------------

    def subscribe(self, extension: str) -> queue_mod.Queue[DeskEvent]:
        """A queue of this operator's desk events; the call on their phone now comes first."""
        inbox: queue_mod.Queue[DeskEvent] = queue_mod.Queue(1000)
        with self.lock:
            self.subscribers.setdefault(extension, []).append(inbox)
            card = self.cards.get(extension)
        if card is not None:
            inbox.put(card)
        return inbox

    def unsubscribe(self, extension: str, inbox: queue_mod.Queue[DeskEvent]) -> None:
        with self.lock:
            listeners = self.subscribers.get(extension, [])
            if inbox in listeners:
                listeners.remove(inbox)

    def current(self, extension: str) -> Current | None:
        with self.lock:
            return self.tracker.current.get(extension)

    def card(self, extension: str) -> DeskEvent | None:
        with self.lock:
            return self.cards.get(extension)

    def forget(self, extension: str) -> None:
        """The operator wrapped the call up: its card (and the number) leave the desk."""
        with self.lock:
            self.cards.pop(extension, None)

    # -- AMI ---------------------------------------------------------------------------------------

    def _run_ami(self) -> None:
        keep_connected(self.connect, self._session, lambda: self.stopped, "operator desk")

    def _session(self, ami: AMIClient) -> None:
        ami.add_listener(lambda m: self.inbox.put((m, self.clock())))
        self.connected = True
        try:
            while not self.stopped and ami.connected:
                time.sleep(0.2)
        finally:
            self.connected = False

    def _work(self) -> None:
        while not self.stopped:
            message, at = self.inbox.get()
            if message is None:
                continue
            try:
                with self.lock:
                    events = self.tracker.feed(plain(message), at)
                for event in events:
                    self._deliver(self._complete(event))
            except Exception as exc:  # one bad event must not end the desks' feed
                log.warning("desk event dropped: %s", type(exc).__name__)

    def _complete(self, event: DeskEvent) -> DeskEvent:
        if event.kind != "ringing":
            return event
        data = dict(event.data)
        context = self._context(data["call_id"])
        data["context"] = context
        data["citizen"] = None
        if context is not None and self.lookup is not None:
            try:
                data["citizen"] = self.lookup(context)
            except Exception as exc:  # the database down: the desk shows the context alone
                log.warning("citizen lookup failed: %s", type(exc).__name__)
        return DeskEvent(event.extension, event.kind, data)

    def _context(self, call_id: str) -> dict[str, Any] | None:
        """The call's context; the FastAGI process writes it off the call's thread, so a ring
        that comes first waits for it a little (``context_wait_s``), never longer."""
        if self.contexts is None:
            return None
        deadline = time.monotonic() + self.context_wait_s
        while True:
            context = self.contexts.get(call_id)
            if context is not None or time.monotonic() >= deadline:
                return context
            time.sleep(0.02)

    def _deliver(self, event: DeskEvent) -> None:
        with self.lock:
            if event.kind == "ringing":
                self.cards[event.extension] = event
            elif event.kind == "missed":
                self.cards.pop(event.extension, None)
            listeners = list(self.subscribers.get(event.extension, ()))
        for inbox in listeners:
            with contextlib.suppress(queue_mod.Full):  # a desk that stopped reading
                inbox.put_nowait(event)


_HUBS: dict[Any, DeskHub] = {}
_HUBS_LOCK = threading.Lock()


def hub_for(connect: Callable[[], AMIClient], make: Callable[[], DeskHub] | None = None) -> DeskHub:
    """The running hub of this Asterisk (``connect``), started on first use."""
    with _HUBS_LOCK:
        hub = _HUBS.get(connect)
        if hub is None:
            hub = _HUBS[connect] = (make() if make else DeskHub(connect, None)).start()
        return hub


def stop_hubs() -> None:
    with _HUBS_LOCK:
        hubs = list(_HUBS.values())
        _HUBS.clear()
    for hub in hubs:
        hub.stop()
