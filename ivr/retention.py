"""Keep personal data only as long as the city decided (``NU_RETENTION_DAYS``, 180 by default).

:func:`purge` deletes, in one transaction (all of it or none), what is older than the retention
period and finished:

* ``call_records`` by when the call ended (``ended_at``; ``started_at`` when no end is known;
  a row with neither has no age and is kept);
* ``callback_requests`` in a final state (done, failed, cancelled) by when they reached it
  (``updated_at``); a request still waiting or being called is never deleted, however old;
* ``outbox`` messages that were sent, by ``sent_at``; pending, sending and failed ones (still to
  be sent, or for staff to look at) are never deleted.

* ``backoffice_requests`` that were **closed**, by their last change (``updated_at``, local
  time), with their history; their files (the voice message, the answer spoken for the phone)
  go after the transaction through ``on_erased`` (:func:`ivr.backoffice.spool.erase_files`).
  Open, waiting and solved-but-not-closed requests are kept, however old.

Bookings, slots and certificate requests are the offices' records and are not touched.

Times: ``call_records`` and ``callback_requests`` hold naive UTC (:mod:`ivr.kpi.models`,
:mod:`ivr.callbacks.store`); the outbox holds the city's naive local time, like all booking
tables (:mod:`booking.models`). So the cut-off is one instant, ``now - days``, written twice:
as naive UTC for the first two tables and as naive local time in ``timezone`` for the outbox.

:func:`run` purges at once and then every ``every_s`` seconds until its stop event is set
(``ivr retention run``): a failed purge (database down) is logged and tried again sooner.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Connection, Engine, delete, func, select

from booking.models import MessageStatus, Outbox
from ivr.backoffice.models import BackofficeEvent, BackofficeRequest
from ivr.callbacks.models import CallbackRequest, CallbackState
from ivr.db import ready, retrying, writer
from ivr.kpi.models import CallRecord

log = logging.getLogger("ivr.retention")

DEFAULT_TIMEZONE = "Europe/Rome"
# Listed, not "everything but the active states": a state added later is kept until someone
# decides it is final.
FINISHED_CALLBACKS = (CallbackState.DONE, CallbackState.FAILED, CallbackState.CANCELLED)
TABLES = ("call_records", "callback_requests", "outbox", "backoffice_requests")


@dataclass(frozen=True)
class PurgeReport:
    """Rows deleted per table (or, with ``dry_run``, rows that would be)."""

    call_records: int
    callback_requests: int
    outbox: int
    backoffice_requests: int
    cutoff_utc: datetime  # naive UTC: older than this is gone
    dry_run: bool = False

    @property
    def total(self) -> int:
        return sum(self.counts().values())

    def counts(self) -> dict[str, int]:
        return {table: getattr(self, table) for table in TABLES}

    def lines(self) -> list[str]:
        verb = "would be deleted (dry run)" if self.dry_run else "deleted"
        return [f"{table}: {count} {verb}" for table, count in self.counts().items()]


def cutoffs(days: int, now: datetime | None, timezone: str) -> tuple[datetime, datetime]:
    """``now - days`` as (naive UTC, naive local time in ``timezone``). A naive ``now`` is UTC."""
    if days < 1:
        raise ValueError(f"retention days must be at least 1, not {days}")
    moment = now or datetime.now(UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    cutoff = moment - timedelta(days=days)
    utc = cutoff.astimezone(UTC).replace(tzinfo=None)
    local = cutoff.astimezone(ZoneInfo(timezone)).replace(tzinfo=None)
    return utc, local


def _conditions(cutoff_utc: datetime, cutoff_local: datetime) -> dict[str, tuple[Any, Any]]:
    """Per table: the mapped class and the WHERE clause of what is due for deletion."""
    ended = func.coalesce(CallRecord.ended_at, CallRecord.started_at)
    callbacks: ColumnElement[bool] = CallbackRequest.state.in_(
        [s.value for s in FINISHED_CALLBACKS]
    ) & (CallbackRequest.updated_at < cutoff_utc)
    sent: ColumnElement[bool] = (
        (Outbox.status == MessageStatus.SENT.value)
        & Outbox.sent_at.is_not(None)
        & (Outbox.sent_at < cutoff_local)
    )
    closed: ColumnElement[bool] = (BackofficeRequest.status == "closed") & (
        BackofficeRequest.updated_at < cutoff_local
    )
    return {
        "call_records": (CallRecord, ended < cutoff_utc),
        "callback_requests": (CallbackRequest, callbacks),
        "outbox": (Outbox, sent),
        "backoffice_requests": (BackofficeRequest, closed),
    }


def purge(
    engine_or_url: Engine | str,
    days: int,
    *,
    now: datetime | None = None,
    dry_run: bool = False,
    timezone: str = DEFAULT_TIMEZONE,
    on_erased: Callable[[int, str], object] | None = None,
) -> PurgeReport:
    """Delete what is older than ``days`` and finished (see the module docstring), in one
    transaction; ``dry_run`` only counts. ``now`` (aware, or naive UTC) defaults to the current
    time; ``timezone`` is the city's (the dialplan's), in which the outbox's times are written.
    A URL means its shared engine, migrated first (:func:`ivr.db.ready`, once per process, like
    the other commands); an engine is used as is. ``on_erased(request id, recording)`` is told
    of each back-office request deleted, once the transaction committed (its files)."""
    cutoff_utc, cutoff_local = cutoffs(days, now, timezone)
    engine = ready(engine_or_url) if isinstance(engine_or_url, str) else engine_or_url
    where = _conditions(cutoff_utc, cutoff_local)

    def count(conn: Connection) -> dict[str, int]:
        return {
            table: int(conn.scalar(select(func.count()).select_from(model).where(cond)) or 0)
            for table, (model, cond) in where.items()
        }

    erased: list[tuple[int, str]] = []

    def remove(conn: Connection) -> dict[str, int]:
        _, closed = where["backoffice_requests"]
        gone = conn.execute(
            select(BackofficeRequest.id, BackofficeRequest.recording).where(closed)
        ).all()
        erased[:] = [(int(i), str(r or "")) for i, r in gone]
        if erased:  # the history first: no database-level cascade is assumed
            ids = [i for i, _ in erased]
            conn.execute(delete(BackofficeEvent).where(BackofficeEvent.request_id.in_(ids)))
        return {
            table: conn.execute(delete(model).where(cond)).rowcount
            for table, (model, cond) in where.items()
        }

    def attempt() -> dict[str, int]:
        # SQLite: a writer's BEGIN IMMEDIATE (ivr.db), so the deletes never meet a lock
        # they cannot wait for; any error rolls every table back.
        with (engine if dry_run else writer(engine)).begin() as conn:
            return count(conn) if dry_run else remove(conn)

    counts = retrying(attempt, what="retention purge")
    for request_id, recording in erased if on_erased is not None else ():
        try:
            on_erased(request_id, recording)  # type: ignore[misc]
        except OSError as exc:  # a file left is logged, the rows stay gone
            log.warning("retention: files of request %d not removed (%s)", request_id, exc)
    report = PurgeReport(**counts, cutoff_utc=cutoff_utc, dry_run=dry_run)
    log.info(
        "retention (%d days, before %s UTC)%s: %s",
        days,
        f"{cutoff_utc:%Y-%m-%d %H:%M}",
        " dry run" if dry_run else "",
        ", ".join(report.lines()),
    )
    return report


def run(
    engine_or_url: Engine | str,
    days: int,
    *,
    every_s: float,
    stop: threading.Event,
    timezone: str = DEFAULT_TIMEZONE,
    retry_s: float = 300.0,
    on_report: Callable[[PurgeReport], object] | None = None,
    on_erased: Callable[[int, str], object] | None = None,
) -> int:
    """Purge now, then every ``every_s`` seconds, until ``stop`` is set; returns the purges
    done. Waits on ``stop`` (never a long sleep), so setting it ends the wait at once. A failed
    purge is logged and tried again after ``retry_s`` (at most ``every_s``)."""
    if every_s <= 0:
        raise ValueError(f"the purge interval must be positive, not {every_s}")
    done = 0
    while not stop.is_set():
        try:
            report = purge(engine_or_url, days, timezone=timezone, on_erased=on_erased)
        except Exception as exc:  # a long-lived process: try again later
            wait = min(retry_s, every_s)
            log.warning("retention purge failed (%s); again in %.0f s", type(exc).__name__, wait)
        else:
            done += 1
            wait = every_s
            if on_report is not None:
                on_report(report)
        stop.wait(wait)
    return done


@contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[threading.Event]:
    """Within the block, SIGTERM and SIGINT set ``stop`` (main thread only; elsewhere a no-op).
    The previous handlers are restored on leaving."""
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}

    def handler(signum: int, _frame: Any) -> None:
        log.info("retention: %s, stopping", signal.Signals(signum).name)
        stop.set()

    for sig in previous:
        signal.signal(sig, handler)
    try:
        yield stop
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def city_timezone(settings: Any) -> str:
    """The dialplan's timezone: the one the booking tables' (and the outbox's) times are in.

    A dialplan that cannot be read does not stop the purge: it uses Europe/Rome and says so
    (at worst the outbox's cut-off moves by the difference, hours against months)."""
    from ivr.flow.loader import load_dialplan

    try:
        return load_dialplan(settings.dialplan_path).timezone
    except Exception as exc:  # DialplanError, OSError, a bad YAML...
        log.warning(
            "retention: dialplan %s not readable (%s); times taken as %s",
            settings.dialplan_path,
            type(exc).__name__,
            DEFAULT_TIMEZONE,
        )
        return DEFAULT_TIMEZONE


def backoffice_files(settings: Any) -> Callable[[int, str], object]:
    """``on_erased`` for these settings: a purged request's voice message and spoken answer."""
    from pathlib import Path

    from ivr.backoffice.spool import erase_files, folder

    sounds = {settings.sounds_dir, settings.asterisk_sounds_sync_dir} - {"", None}

    def erase(request_id: int, recording: str) -> None:
        for place in sounds:
            erase_files(folder(settings), Path(place), request_id, recording)

    return erase
