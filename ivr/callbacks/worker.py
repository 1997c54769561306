"""The callback worker (``ivr callbacks run``): keeps each requester's place in Asterisk's own
queue, and calls them back when an operator takes it.

Design: as soon as a request is stored, a *placeholder* channel ``Local/<id>@nu-callback`` is
originated (AMI, async) and waits in the department's queue (extensions.conf ``nu-callback``).
The place is Asterisk's, not a number we recompute: the placeholder is served in turn with live
callers, counted by the queue watcher like them (new callers hear a true position), and cannot
jump ahead — it enters at the *fair* position: behind only the callers who were already waiting
when the request was made (``Wait`` in QueueStatus longer than the request's age), never further
ahead than the place the caller had at the offer. When an operator answers the placeholder, the
dialplan plays "this is a callback" to them and dials the citizen; the citizen is greeted in the
language they chose — but not while the original call is still up (hearing our goodbye: they
would be busy), 30 s at most. A retry (no answer, busy) re-enters with ``QUEUE_PRIO`` 1: ahead
of new callers, first come first served among retries, so the place is not lost twice.

Why the dial string and ring time travel as channel variables (``NU_CB_DIAL``) rather than being
rendered into the Asterisk configuration: they are this worker's settings, changing them needs
no reload, and the only variable part (the number) is checked to be digits here.

The worker learns outcomes from UserEvents (``NuCallbackCalling``, ``NuCallbackResult``) and is
restart safe: every ``reconcile_s`` it lists channels, and a request that should have a
placeholder but has none (Asterisk or the worker restarted, the queue gave up) is queued again.
Numbers never reach a log line (:func:`~ivr.logs.mask_number`).

A wedged Asterisk (connected but silent) is caught by the AMI client's heartbeat
(``heartbeat_s``/``deadline_s``, through :func:`~ivr.asterisk.ami.keep_connected`): while it is
silent nothing is originated (a placeholder sent into the void would only come back as a failed
attempt); at the deadline the connection is dropped, pending actions fail, and the next session
starts with :meth:`CallbackWorker.reconcile`, which re-queues any placeholder lost meanwhile.
"""

from __future__ import annotations

import contextlib
import logging
import queue as queue_mod
import re
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from ivr.asterisk import variables as V
from ivr.asterisk.ami import keep_connected
from ivr.asterisk.dial import dial_string
from ivr.asterisk.variables import assign
from ivr.callbacks.models import CallbackRequest, CallbackState
from ivr.callbacks.store import CallbackStore, Policy

log = logging.getLogger("ivr.callbacks")

GRACE_S = 3.0  # a placeholder just originated may not be listed yet


def fair_position(waits_s: list[float], age_s: float, kept: int) -> int:
    """Where the placeholder enters: after everyone who was waiting before the request was made,
    and never behind the place the caller had (``kept``, 0 when unknown)."""
    ahead = sum(1 for w in waits_s if w > age_s)
    return min(ahead + 1, kept) if kept > 0 else ahead + 1


class CallbackWorker:
    def __init__(
        self,
        connect: Callable[[], Any],
        store: CallbackStore,
        *,
        dial_template: str,
        policy: Policy | None = None,
        ring_s: int = 30,
        tick_s: float = 0.5,
        reconcile_s: float = 5.0,
        max_wait_s: int = 4 * 3600,
        clock: Callable[[], datetime] | None = None,
        heartbeat_s: float | None = 2.0,
        deadline_s: float = 5.0,
    ) -> None:
        self.connect, self.store = connect, store
        self.heartbeat_s, self.deadline_s = heartbeat_s, deadline_s
        self.dial_template = dial_template
        self.policy = policy or Policy()
        self.ring_s, self.tick_s, self.reconcile_s = ring_s, tick_s, reconcile_s
        self.max_wait_s = max_wait_s
        self.clock = clock or store.clock
        self.events: queue_mod.Queue[dict[str, str]] = queue_mod.Queue()
        self.stopped = False

    # -- AMI events (reader thread: only queued here) --------------------------------------------

    def listen(self, message: Any) -> None:
        kind = message.get("UserEvent") or ""
        if message.name == "UserEvent" and kind.startswith("NuCallback"):
            self.events.put({k: v for k, v in reversed(message.headers)})

    def handle(self, ami: Any, event: dict[str, str]) -> None:
        """Apply one NuCallback* event to its request."""
        try:
            request_id = int(event.get("Id", ""))
        except ValueError:
            return
        kind = event.get("UserEvent")
        if kind == "NuCallbackCalling":
            if not self.store.calling(request_id):
                # finished or cancelled meanwhile: never call anyone twice
                log.warning("callback %d taken by an operator but not active: dropped", request_id)
                with contextlib.suppress(Exception):
                    ami.action("Hangup", Channel=event.get("Channel", ""))
            return
        if kind != "NuCallbackResult":
            return
        status = (event.get("Status") or "").upper()
        if status.startswith("QUEUE_"):
            if status in ("QUEUE_", "QUEUE_UNKNOWN"):
                self.store.move(
                    request_id,
                    (CallbackState.QUEUED, CallbackState.PENDING),
                    state=CallbackState.FAILED.value,
                    outcome="failed",
                )
            else:  # the queue gave up (timeout, empty): queue again, place kept by priority
                self.store.requeue(request_id, self.policy.retry_delay_s)
            log.info("callback %d: placeholder left the queue (%s)", request_id, status)
            return
        state = self.store.dial_result(request_id, status, self.policy)
        log.info("callback %d: dial %s -> %s", request_id, status, state)

    # -- the loop ---------------------------------------------------------------------------------

    def drain(self, ami: Any) -> None:
        while True:
            try:
                event = self.events.get_nowait()
            except queue_mod.Empty:
                return
            try:
                self.handle(ami, event)
            except Exception:  # one bad event must not stop the callbacks
                log.exception("callback event not applied")

    def originate_due(self, ami: Any) -> None:
        for request in self.store.due():
            try:
                self.originate(ami, request)
            except Exception as err:  # Asterisk refused: try again later
                log.warning("callback %d: placeholder not originated: %s", request.id, err)
                self.store.move(
                    request.id,
                    (CallbackState.PENDING, CallbackState.QUEUED),
                    state=CallbackState.PENDING.value,
                    next_attempt_at=self.clock()
                    + timedelta(seconds=max(self.policy.retry_delay_s, self.tick_s)),
                )

    def originate(self, ami: Any, request: CallbackRequest) -> None:
        """Put the request's placeholder in its queue (state queued first: an event that comes
        back fast finds it)."""
        try:
            dial = dial_string(self.dial_template, request.number)
        except ValueError:
            self.store.move(
                request.id,
                (CallbackState.PENDING,),
                state=CallbackState.FAILED.value,
                outcome="failed",
            )
            log.error("callback %d: no usable dial string: failed", request.id)
            return
        retry = request.attempts > 0 or request.updated_at > request.created_at
        position = 0 if retry else self._position(ami, request)
        if not self.store.queued(request.id):
            return
        ami.action(
            "Originate",
            Channel=f"Local/{request.id}@nu-callback/n",
            Context="nu-callback-dial",
            Exten=str(request.id),
            Priority="1",
            Async="true",
            Timeout=str(self.max_wait_s * 1000),
            Variable=[
                assign(V.CB_NUMBER, request.number),
                assign(V.CB_DIAL, dial),
                assign(V.CB_RING, int(self.ring_s)),
                assign(V.LANG, request.language),
                assign(V.QUEUE, request.queue),
                assign(V.DEPARTMENT, request.department),
                assign(V.CB_POSITION, position or ""),
                assign(V.CB_PRIO, 1 if retry else ""),
                assign(V.CB_CALL, re.sub(r"[^A-Za-z0-9.-]", "", request.call_id or "")),
            ],
        )
        log.info(
            "callback %d: placeholder in %s (%s)",
            request.id,
            request.queue,
            "retry, ahead of new callers" if retry else f"position {position}",
        )

    def _position(self, ami: Any, request: CallbackRequest) -> int:
        age_s = (self.clock() - request.created_at).total_seconds()
        try:
            listing = ami.action("QueueStatus", Queue=request.queue).events
            waits = [float(e.get("Wait") or 0) for e in listing if e.name == "QueueEntry"]
        except Exception:  # unknown: the place the caller had
            return request.position
        return fair_position(waits, age_s, request.position)

    def reconcile(self, ami: Any) -> None:
        """Requests that should have a placeholder but have none are queued again."""
        listing = ami.action("CoreShowChannels").events
        channels = [e.get("Channel") or "" for e in listing if e.name == "CoreShowChannel"]
        self.drain(ami)  # events that came before the listing (a result, then the hang-up)
        now = self.clock()
        for request in self.store.in_asterisk():
            if (now - request.updated_at).total_seconds() < GRACE_S:
                continue
            prefix = f"Local/{request.id}@nu-callback-"
            gone = not any(c.startswith(prefix) for c in channels)
            if gone and self.store.requeue(request.id):
                log.warning("callback %d: placeholder gone, queued again", request.id)

    def session(self, ami: Any) -> None:
        """One AMI connection's life."""
        ami.add_listener(self.listen)
        self.reconcile(ami)
        last = time.monotonic()
        while not self.stopped and ami.connected:
            if not ami.answering:  # silent Asterisk: wait for it, or for the heartbeat's verdict
                time.sleep(self.tick_s)
                continue
            self.drain(ami)
            self.originate_due(ami)
            if time.monotonic() - last >= self.reconcile_s:
                self.reconcile(ami)
                last = time.monotonic()
            time.sleep(self.tick_s)

    def run(self, retry_s: float = 1.0) -> None:
        keep_connected(
            self.connect,
            self.session,
            lambda: self.stopped,
            "callback worker",
            retry_s,
            heartbeat_s=self.heartbeat_s,
            deadline_s=self.deadline_s,
        )


def build_worker(settings: Any, connect: Callable[[], Any]) -> CallbackWorker | None:
    """The worker for these settings (``ivr callbacks run``, ``ivr up``), its database migrated;
    None when no outbound dial string is configured (callbacks are then never offered)."""
    if not settings.callback_dial:
        return None
    from ivr.db import ready

    return CallbackWorker(
        connect,
        CallbackStore(ready(settings.database_url)),
        dial_template=settings.callback_dial,
        policy=Policy(settings.callback_attempts, settings.callback_retry_s),
        ring_s=settings.callback_ring_s,
    )
