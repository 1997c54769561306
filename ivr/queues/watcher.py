"""The queue watcher: AMI events -> :class:`QueueTracker` -> Redis (``ivr queues watch``).

Uses our own AMI client (``ivr/asterisk/ami.py``), not pyst2's manager: pyst2 dies on the
``ChanVariable`` headers our manager.conf sends with every channel event, shares mutable action
defaults between threads and cannot match event-list responses; ours matches ``QueueStatus``'s
event list by ActionID and reconnects cleanly.

Restarts: Asterisk gone -> the loop reconnects and resyncs from a full ``QueueStatus`` (nothing
is trusted from before). Redis gone -> writes fail and are logged; every ``tick_s`` all queues are
rewritten, so Redis (even restarted empty) is whole again within one tick once it is back, and
the ``updated`` stamp tells readers a dead watcher's numbers are stale.

Asterisk wedged (connected but silent: stopped, deadlocked): the connection runs the AMI
client's heartbeat (``heartbeat_s``, ``deadline_s``; :func:`~ivr.asterisk.ami.keep_connected`).
As soon as Asterisk has been silent past a missed Ping (:attr:`AMIClient.answering`) the watcher
stops writing, so ``updated`` stops advancing and readers see the state age instead of trusting
numbers nobody confirms; a warning says so and :attr:`QueueWatcher.answering` turns false. At the
deadline the client drops the connection, the loop reconnects, and the new session resyncs from
``QueueStatus`` before it writes again. Events received on the dead connection still reach the
tracker and ``on_event`` (the KPI records), but the resync decides the state.
"""

from __future__ import annotations

import logging
import queue as queue_mod
import threading
import time
from collections.abc import Callable, Collection
from typing import Any

from ivr.asterisk.ami import keep_connected
from ivr.queues.store import RedisQueueStore
from ivr.queues.tracker import QueueTracker

log = logging.getLogger(__name__)


VAR = "var:"  # channel variables (ChanVariable headers) in a plain event: "var:NU_LANG"


def _plain(message: Any) -> dict[str, str]:
    plain = {k: v for k, v in reversed(message.headers)}  # first value wins, as in Message
    for key, value in message.headers:
        if key == "ChanVariable":
            name, _, val = value.partition("=")
            plain[VAR + name] = val
    return plain


def boot_of(ami: Any) -> str:
    """When this Asterisk started (``CoreStatus``): a restart gives a new value."""
    status = ami.action("CoreStatus")
    return f"{status.get('CoreStartupDate') or ''} {status.get('CoreStartupTime') or ''}".strip()


class QueueWatcher:
    def __init__(
        self,
        connect: Callable[[], Any],
        store: RedisQueueStore,
        queues: set[str] | None = None,
        tick_s: float = 5.0,
        clock: Callable[[], float] = time.time,
        on_event: Callable[[dict[str, str]], object] | None = None,
        *,
        heartbeat_s: float | None = 2.0,
        deadline_s: float = 5.0,
        languages: Collection[str] = (),
        guard: Any = None,
        roster: Any = None,
    ) -> None:
        self.connect, self.store, self.tick_s, self.clock = connect, store, tick_s, clock
        self.on_event = on_event  # every AMI event, after the tracker (e.g. the KPI recorder)
        self.heartbeat_s, self.deadline_s = heartbeat_s, deadline_s
        self.tracker = QueueTracker(queues, languages)  # language twins fold into departments
        self.events: queue_mod.Queue[dict[str, str]] = queue_mod.Queue()
        self.stopped = False
        # Health, for whoever runs the watcher: Asterisk answers on the current connection and
        # the state is being written; when the last full write was; how many resyncs so far.
        self.answering = False
        self.fresh_at: float | None = None
        self.resyncs = 0
        self.guard = guard  # calls lost with the node (ivr/queues/lost.py), when given
        self.roster = roster  # operators' membership outside the node (ivr/queues/roster.py)
        self._echoes: set[tuple[str, str, bool, bool]] = set()  # our own re-applied changes

    def publish(self, names: set[str] | None = None) -> bool:
        """Write these queues (default: all); False when Redis refused a write."""
        now = self.clock()
        for name in sorted(names if names is not None else self.tracker.queues):
            try:
                self.store.write(name, self.tracker.state(name, now), now)
            except Exception as exc:  # Redis down: rewritten at the next tick
                log.warning("queue state not written (%s): %s", name, exc)
                return False
        if names is None:
            self.fresh_at = now
        return True

    def session(self, ami: Any) -> None:
        """One AMI connection's life: listen, resync, then apply events until it drops.

        State is written only while Asterisk answers (see the module docstring)."""
        ami.add_listener(lambda m: self.events.put(_plain(m)))
        boot = boot_of(ami) if self.guard is not None else ""
        status = ami.action("QueueStatus")
        listing = [_plain(e) for e in status.events]
        self.tracker.resync(listing, self.clock())
        if self.guard is not None:
            try:
                self.guard.up(boot, listing, self.clock())
            except Exception as exc:  # Redis or the database down: the queue state goes on
                # the class only: a database error's text may carry a caller's number
                log.warning("waiting callers not checked against the node (%s)", type(exc).__name__)
        self.resyncs += 1
        self._health(True)
        self._members(ami, listing)
        self.publish()
        last = self.clock()
        try:
            while not self.stopped and ami.connected:
                try:
                    changed = self._apply(self.events.get(timeout=min(self.tick_s, 1.0)))
                except queue_mod.Empty:
                    changed = None
                answering = ami.answering and ami.connected
                self._health(answering)
                if not answering:
                    continue  # no write: ``updated`` ages, readers stop trusting it
                if changed:
                    self.publish({changed})
                if self.clock() - last >= self.tick_s:
                    if self.roster is not None:
                        status = ami.action("QueueStatus")
                        self._members(ami, [_plain(e) for e in status.events])
                    self.publish()
                    last = self.clock()
        finally:
            self._health(False)
            self._drain()
            if self.guard is not None:
                self.guard.down(self.clock())

    def _members(self, ami: Any, listing: list[dict[str, str]]) -> None:
        """The recorded operators' membership and pauses re-applied to this node."""
        if self.roster is None:
            return
        try:
            self._echoes = self.roster.apply(ami, listing)
        except Exception as exc:  # Redis down: the node keeps what it has
            log.warning("operators' membership not re-applied (%s)", type(exc).__name__)

    def _apply(self, ev: dict[str, str]) -> str | None:
        changed = self.tracker.apply(ev, self.clock())
        if self.roster is not None:
            from ivr.queues.roster import echo_of, from_event

            member = from_event(ev) if ev.get("Event") != "QueueMember" else None
            if member is not None and echo_of(member) in self._echoes:
                self._echoes.discard(echo_of(member))  # our re-apply's event: already recorded
            elif member is not None:
                try:
                    self.roster.record(member)
                except Exception as exc:  # Redis down: re-recorded from the next event
                    log.warning("operator's membership not recorded (%s)", type(exc).__name__)
        if self.guard is not None:
            try:
                variables = {k[len(VAR) :]: v for k, v in ev.items() if k.startswith(VAR)}
                self.guard.event(ev, self.clock(), variables)
            except Exception as exc:  # Redis down: the caller is not known outside the node
                log.warning("waiting caller not recorded (%s)", type(exc).__name__)
        if self.on_event is not None:
            try:
                self.on_event(ev)
            except Exception:  # a listener must not stop the watcher
                log.exception("queue event listener failed")
        return changed

    def _drain(self) -> None:
        """Events the ended connection delivered but the loop had not applied yet."""
        while True:
            try:
                self._apply(self.events.get_nowait())
            except queue_mod.Empty:
                return

    def _health(self, answering: bool) -> None:
        if answering == self.answering:
            return
        if answering:
            log.info("queue watcher: Asterisk answering, queue state resynced and written")
        elif not self.stopped:
            age = "never" if self.fresh_at is None else f"{self.clock() - self.fresh_at:.1f} s ago"
            log.warning(
                "queue watcher: Asterisk not answering: queue state no longer written "
                "(last full write %s); readers will see it age",
                age,
            )
        self.answering = answering  # after the log line: whoever sees the flag finds it

    def watch_node(self, every_s: float = 0.5) -> None:
        """Tick the guard until stopped: its grace runs out whether or not AMI connects."""
        while not self.stopped:
            try:
                self.guard.tick(self.clock())
            except Exception as exc:  # Redis or the database down: the next tick tries again
                # the class only: a database error's text may carry a caller's number
                log.warning("calls lost with the node not handled yet (%s)", type(exc).__name__)
            time.sleep(every_s)

    def run(self, retry_s: float = 1.0) -> None:
        if self.guard is not None:
            threading.Thread(target=self.watch_node, name="node-guard", daemon=True).start()
        keep_connected(
            self.connect,
            self.session,
            lambda: self.stopped,
            "queue watcher",
            retry_s,
            heartbeat_s=self.heartbeat_s,
            deadline_s=self.deadline_s,
        )
