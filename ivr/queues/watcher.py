"""The queue watcher: AMI events -> :class:`QueueTracker` -> Redis (``ivr queues watch``).

Uses our own AMI client (``ivr/asterisk/ami.py``), not pyst2's manager: pyst2 dies on the
``ChanVariable`` headers our manager.conf sends with every channel event, shares mutable action
defaults between threads and cannot match event-list responses; ours matches ``QueueStatus``'s
event list by ActionID and reconnects cleanly.

Restarts: Asterisk gone -> the loop reconnects and resyncs from a full ``QueueStatus`` (nothing
is trusted from before). Redis gone -> writes fail and are logged; every ``tick_s`` all queues are
rewritten, so Redis (even restarted empty) is whole again within one tick once it is back, and
the ``updated`` stamp tells readers a dead watcher's numbers are stale.
"""

from __future__ import annotations

import logging
import queue as queue_mod
import time
from collections.abc import Callable
from typing import Any

from ivr.asterisk.ami import keep_connected
from ivr.queues.store import RedisQueueStore
from ivr.queues.tracker import QueueTracker

log = logging.getLogger(__name__)


def _plain(message: Any) -> dict[str, str]:
    return {k: v for k, v in reversed(message.headers)}  # first value wins, as in Message


class QueueWatcher:
    def __init__(
        self,
        connect: Callable[[], Any],
        store: RedisQueueStore,
        queues: set[str] | None = None,
        tick_s: float = 5.0,
        clock: Callable[[], float] = time.time,
        on_event: Callable[[dict[str, str]], object] | None = None,
    ) -> None:
        self.connect, self.store, self.tick_s, self.clock = connect, store, tick_s, clock
        self.on_event = on_event  # every AMI event, after the tracker (e.g. the KPI recorder)
        self.tracker = QueueTracker(queues)
        self.events: queue_mod.Queue[dict[str, str]] = queue_mod.Queue()
        self.stopped = False

    def publish(self, names: set[str] | None = None) -> None:
        now = self.clock()
        for name in sorted(names if names is not None else self.tracker.queues):
            try:
                self.store.write(name, self.tracker.state(name, now), now)
            except Exception as exc:  # Redis down: rewritten at the next tick
                log.warning("queue state not written (%s): %s", name, exc)
                return

    def session(self, ami: Any) -> None:
        """One AMI connection's life: listen, resync, then apply events until it drops."""
        ami.add_listener(lambda m: self.events.put(_plain(m)))
        status = ami.action("QueueStatus")
        self.tracker.resync([_plain(e) for e in status.events], self.clock())
        self.publish()
        last = self.clock()
        while not self.stopped and ami.connected:
            try:
                ev = self.events.get(timeout=min(self.tick_s, 1.0))
                changed = self.tracker.apply(ev, self.clock())
                if changed:
                    self.publish({changed})
                if self.on_event is not None:
                    try:
                        self.on_event(ev)
                    except Exception:  # a listener must not stop the watcher
                        log.exception("queue event listener failed")
            except queue_mod.Empty:
                pass
            if self.clock() - last >= self.tick_s:
                self.publish()
                last = self.clock()

    def run(self, retry_s: float = 1.0) -> None:
        keep_connected(self.connect, self.session, lambda: self.stopped, "queue watcher", retry_s)
