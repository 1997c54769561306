"""Writes call records from a background thread: recording never delays or breaks a call.

The FastAGI handler and the queue watcher only :meth:`CallRecorder.submit`; one worker thread
writes, in arrival order (a call's queue events must be applied in order). A database that is
down keeps the pending writes (up to ``max_pending``; beyond that the newest are dropped and
counted) and the worker retries the oldest every ``retry_s``. Each write is an upsert by
``call_id`` in one transaction (the IVR and the queue may write first, even from two processes).
"""

from __future__ import annotations

import logging
import queue as queue_mod
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from ivr.kpi.models import CallRecord
from ivr.kpi.operators import Activity, OperatorActivity, member_extension, row
from ivr.kpi.records import QUEUE_EVENTS, apply_agent_event, apply_ivr, apply_queue_event

log = logging.getLogger("ivr.kpi")

Update = Callable[[CallRecord], object]
_KEPT = ("Event", "Uniqueid", "Queue", "HoldTime", "Context", "TalkTime")
_AGENT = ("AgentConnect", "AgentComplete")


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class CallRecorder:
    """``submit``/``ivr_outcome``/``queue_event`` never raise and never wait for the database."""

    def __init__(
        self,
        url_or_engine: str | Engine,
        *,
        max_pending: int = 10_000,
        retry_s: float = 1.0,
        migrate: bool = True,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._source = url_or_engine
        self._engine: Engine | None = None
        self._migrate = migrate
        self.retry_s, self.clock = retry_s, clock
        # (call id, update of its record), or ("", an operator_events row to add)
        self.pending: queue_mod.Queue[tuple[str, Update | Activity]] = queue_mod.Queue(max_pending)
        self.activity = OperatorActivity()  # the watcher's thread only: events come in order
        self.dropped = 0
        self.written = 0
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="kpi-recorder", daemon=True)
        self._thread.start()

    # -- producers (any thread) -------------------------------------------------------------

    def submit(self, call_id: str, update: Update) -> None:
        """Queue ``update`` for the record of ``call_id``; dropped (and counted) when full."""
        if not call_id or call_id == "-":
            return
        self._put(call_id, update)

    def operator_event(self, activity: Activity) -> None:
        """Queue one ``operator_events`` row (the desk's wrap-up, a transfer...)."""
        self._put("", activity)

    def _put(self, call_id: str, item: Update | Activity) -> None:
        try:
            self.pending.put_nowait((call_id, item))
        except queue_mod.Full:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.warning("call records: %d dropped (database down too long)", self.dropped)

    def ivr_outcome(self, agi: Any, outcome: Any) -> None:
        """The ``on_outcome`` hook of :func:`ivr.agi.runner.make_handler`."""
        try:
            left = self.clock()
            started = datetime.fromtimestamp(outcome.started, UTC).replace(tzinfo=None)
            fields: dict[str, Any] = {
                "started_at": min(started, left),
                "left_at": left,
                "final": outcome.final,
                "hung_up": outcome.hung_up,
                "path": list(outcome.path),
                "language": outcome.language,
                "data": dict(outcome.data),
                "error": outcome.error,
            }
            self.submit(agi.uniqueid, lambda rec: apply_ivr(rec, **fields))
        except Exception:  # a KPI must never hurt a call
            log.exception("call record not queued")

    def queue_event(self, event: Mapping[str, str]) -> None:
        """The queue watcher's ``on_event`` hook: the queue events of one call, by Uniqueid,
        and what the operators did (logins, pauses, answers, talk times)."""
        now = self.clock()
        call_of_agent = ""
        try:
            for activity in self.activity.feed(event, now):
                self.operator_event(activity)
                if activity.kind in ("answer", "hangup"):
                    call_of_agent = activity.call_id or ""
        except Exception:  # a KPI must never hurt the watcher
            log.exception("operator event not queued")
        kind = event.get("Event")
        if kind not in QUEUE_EVENTS and kind not in _AGENT:
            return
        ev = {k: event[k] for k in _KEPT if k in event}  # not the caller id, even in memory
        operator = member_extension(event)

        def update(rec: CallRecord) -> None:  # one write per event
            if kind in QUEUE_EVENTS:
                apply_queue_event(rec, ev, now)
            if kind in _AGENT:
                apply_agent_event(rec, ev, operator)

        self.submit(ev.get("Uniqueid") or call_of_agent, update)

    # -- the worker ----------------------------------------------------------------------------

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything submitted so far is written (tests, shutdown)."""
        deadline = time.monotonic() + timeout
        while self.pending.unfinished_tasks:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True

    @property
    def closed(self) -> bool:
        return self._stopped

    def close(self, timeout: float = 5.0) -> None:
        """Write what is pending (up to ``timeout``) and stop the worker. The engine is not
        disposed: a URL's is the process's shared one, an engine handed in is its owner's."""
        self.flush(timeout)
        self._stopped = True
        self._thread.join(timeout)

    def engine(self) -> Engine:
        """A URL: its shared engine (:func:`ivr.db.ready`, migrated once per process); an
        engine: that one, migrated unless ``migrate=False``. Raises while the database is down."""
        if self._engine is None:
            from ivr.db import engine_for, migrate, ready

            source = self._source
            if isinstance(source, str):
                engine = ready(source) if self._migrate else engine_for(source)
            else:
                if self._migrate:
                    migrate(source)
                engine = source
            self._engine = engine
        return self._engine

    def _run(self) -> None:
        while not self._stopped:
            try:
                call_id, update = self.pending.get(timeout=0.2)
            except queue_mod.Empty:
                continue
            while not self._stopped:
                try:
                    if isinstance(update, Activity):
                        self.write_activity(update)
                    else:
                        self.write(call_id, update)
                    self.written += 1
                    break
                except SQLAlchemyError as exc:  # database down: keep it, retry
                    log.warning("call record not written yet (%s)", type(exc).__name__)
                    time.sleep(self.retry_s)
                except Exception:  # a broken update: drop it, keep going
                    log.exception("call record update failed, dropped")
                    self.dropped += 1
                    break
            self.pending.task_done()

    def write_activity(self, activity: Activity) -> None:
        """Add one ``operator_events`` row now, in this thread."""
        from ivr.db import retrying, writer

        engine = writer(self.engine())

        def attempt() -> None:
            with Session(engine) as session, session.begin():
                session.add(row(activity))

        retrying(attempt, what="operator event")

    def write(self, call_id: str, update: Update) -> None:
        """Upsert now, in this thread: read the row (locked), apply ``update``, commit."""
        from ivr.db import retrying, writer

        engine = writer(self.engine())

        def attempt() -> None:
            with Session(engine) as session, session.begin():
                rec = session.scalars(
                    select(CallRecord).where(CallRecord.call_id == call_id).with_for_update()
                ).first()
                if rec is None:
                    rec = CallRecord(call_id=call_id, path="")
                    session.add(rec)
                update(rec)

        try:
            retrying(attempt, what="call record")
        except IntegrityError:  # the other writer inserted it first: now it is an update
            retrying(attempt, what="call record")


_SHARED: dict[str, CallRecorder] = {}
_SHARED_LOCK = threading.Lock()


def shared_recorder(url: str) -> CallRecorder:
    """One recorder (one thread) per database in this process, on its shared engine: the
    FastAGI service and the queue watcher of ``ivr up`` write through the same one, in order."""
    with _SHARED_LOCK:
        recorder = _SHARED.get(url)
        if recorder is None or recorder.closed:
            recorder = _SHARED[url] = CallRecorder(url)
        return recorder
