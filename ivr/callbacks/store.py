"""Callback requests in the database: the ``callbacks.request`` service and the worker's steps.

Every state change is a conditional UPDATE (``WHERE id = … AND state = <expected>``): an event
that arrives twice, late or for a request already finished changes nothing. The rule "one active
request per number" is the database's (a partial unique index); :meth:`CallbackStore.request`
turns its violation into :class:`DuplicateCallback`. Times are naive UTC: only the worker reads
them, to schedule retries. Numbers never reach a log line, only :func:`ivr.logs.mask_number`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from ivr.callbacks.models import ACTIVE_STATES, LANGUAGES, CallbackRequest, CallbackState
from ivr.db import writer
from ivr.flow.services import UNAVAILABLE, Service, ServiceError
from ivr.logs import mask_number

log = logging.getLogger("ivr.callbacks")

# Dial results that count as an attempt the citizen did not answer.
UNANSWERED = {"NOANSWER", "BUSY", "CONGESTION", "CHANUNAVAIL", "CANCEL"}


class DuplicateCallback(ServiceError):
    def __init__(self) -> None:
        super().__init__("duplicate")


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class Policy:
    """How hard the worker tries: calls to the citizen, and the pause between two of them."""

    max_attempts: int = 3
    retry_delay_s: float = 120.0


class CallbackStore:
    def __init__(self, engine: Engine, clock: Callable[[], datetime] = utcnow) -> None:
        self.engine = engine
        self.write_engine = writer(engine)  # SQLite: BEGIN IMMEDIATE, in turn with other writers
        self.clock = clock

    # -- the phone's side ---------------------------------------------------------------------

    def request(
        self,
        number: str,
        language: str,
        department: str,
        queue: str,
        position: int = 0,
        call_id: str = "",
        reason: str | None = None,
    ) -> int:
        """Store a request (state pending, due now); :class:`DuplicateCallback` when the number
        already has an active one — checked first, and kept by the unique index under races.
        ``reason``: why it was made for the caller rather than asked for (``node_lost``: their
        call died with an Asterisk node), kept in ``outcome`` until the worker's outcome."""
        if not number.isdigit() or not queue:
            raise ServiceError("invalid")
        now = self.clock()
        row = CallbackRequest(
            created_at=now,
            updated_at=now,
            number=number,
            language=language if language in LANGUAGES else "it",
            department=department,
            queue=queue,
            position=max(0, int(position)),
            state=CallbackState.PENDING.value,
            attempts=0,
            next_attempt_at=now,
            call_id=call_id[:64] or None,
            outcome=reason,
        )
        with Session(self.write_engine) as session:
            active = session.scalar(
                select(CallbackRequest.id).where(
                    CallbackRequest.number == number,
                    CallbackRequest.state.in_([s.value for s in ACTIVE_STATES]),
                )
            )
            if active is not None:
                raise DuplicateCallback()
            session.add(row)
            try:
                session.commit()
            except IntegrityError as err:
                session.rollback()
                if "uq_callback_requests_one_active" in str(err) or "number" in str(err.orig):
                    raise DuplicateCallback() from None
                raise
            log.info(
                "callback %d requested for %s (queue %s%s)",
                row.id,
                mask_number(number),
                queue,
                f", {reason}" if reason else "",
            )
            return row.id

    # -- the worker's side --------------------------------------------------------------------

    def get(self, request_id: int) -> CallbackRequest | None:
        with Session(self.engine, expire_on_commit=False) as session:
            return session.get(CallbackRequest, request_id)

    def due(self) -> list[CallbackRequest]:
        """Pending requests whose time has come, oldest first (first come, first called)."""
        with Session(self.engine, expire_on_commit=False) as session:
            return list(
                session.scalars(
                    select(CallbackRequest)
                    .where(
                        CallbackRequest.state == CallbackState.PENDING.value,
                        CallbackRequest.next_attempt_at <= self.clock(),
                    )
                    .order_by(CallbackRequest.created_at, CallbackRequest.id)
                )
            )

    def in_asterisk(self) -> list[CallbackRequest]:
        """Requests that should have a placeholder channel (queued or calling)."""
        states = [CallbackState.QUEUED.value, CallbackState.CALLING.value]
        with Session(self.engine, expire_on_commit=False) as session:
            return list(
                session.scalars(select(CallbackRequest).where(CallbackRequest.state.in_(states)))
            )

    def move(self, request_id: int, expected: tuple[CallbackState, ...], **values: Any) -> bool:
        """Conditional state change; False when the request was not in an ``expected`` state."""
        values.setdefault("updated_at", self.clock())
        with self.write_engine.begin() as conn:
            result = conn.execute(
                update(CallbackRequest)
                .where(
                    CallbackRequest.id == request_id,
                    CallbackRequest.state.in_([s.value for s in expected]),
                )
                .values(**values)
            )
            return result.rowcount == 1

    def queued(self, request_id: int) -> bool:
        return self.move(request_id, (CallbackState.PENDING,), state=CallbackState.QUEUED.value)

    def calling(self, request_id: int) -> bool:
        """An operator took the placeholder: one more attempt at the citizen's phone."""
        row = self.get(request_id)
        if row is None:
            return False
        return self.move(
            request_id,
            (CallbackState.QUEUED, CallbackState.PENDING),
            state=CallbackState.CALLING.value,
            attempts=row.attempts + 1,
        )

    def dial_result(self, request_id: int, status: str, policy: Policy) -> str | None:
        """Record one attempt's Dial status; returns the new state (None if nothing changed).

        ANSWER -> done/connected; unanswered -> pending again after ``retry_delay_s`` (its
        placeholder then goes ahead of new callers), or failed/unreachable once the attempts
        are used up; anything else (a number Asterisk refuses) -> failed/failed.
        """
        row = self.get(request_id)
        if row is None:
            return None
        active = ACTIVE_STATES
        if status == "ANSWER":
            done = CallbackState.DONE
            ok = self.move(request_id, active, state=done.value, outcome="connected")
            return done.value if ok else None
        if status in UNANSWERED:
            if row.attempts >= policy.max_attempts:
                failed = CallbackState.FAILED
                ok = self.move(request_id, active, state=failed.value, outcome="unreachable")
                return failed.value if ok else None
            later = self.clock() + timedelta(seconds=policy.retry_delay_s)
            pending = CallbackState.PENDING
            ok = self.move(request_id, active, state=pending.value, next_attempt_at=later)
            return pending.value if ok else None
        failed = CallbackState.FAILED
        ok = self.move(request_id, active, state=failed.value, outcome="failed")
        return failed.value if ok else None

    def requeue(self, request_id: int, delay_s: float = 0.0) -> bool:
        """The placeholder vanished (Asterisk restarted, the queue gave up): queue it again."""
        return self.move(
            request_id,
            (CallbackState.QUEUED, CallbackState.CALLING),
            state=CallbackState.PENDING.value,
            next_attempt_at=self.clock() + timedelta(seconds=delay_s),
        )

    def cancel(self, request_id: int) -> bool:
        """Cancel an active request (the worker then hangs up its placeholder)."""
        return self.move(
            request_id, ACTIVE_STATES, state=CallbackState.CANCELLED.value, outcome="cancelled"
        )

    def for_call(self, call_id: str, reason: str) -> list[CallbackRequest]:
        """Active requests made for the call ``call_id`` with ``reason``."""
        with Session(self.engine, expire_on_commit=False) as session:
            query = select(CallbackRequest).where(
                CallbackRequest.call_id == call_id,
                CallbackRequest.outcome == reason,
                CallbackRequest.state.in_([s.value for s in ACTIVE_STATES]),
            )
            return list(session.scalars(query))

    def recent(self, limit: int = 50, active_only: bool = False) -> list[CallbackRequest]:
        """Requests newest first, for staff (``ivr callbacks list``)."""
        query = select(CallbackRequest).order_by(CallbackRequest.id.desc()).limit(limit)
        if active_only:
            query = query.where(CallbackRequest.state.in_([s.value for s in ACTIVE_STATES]))
        with Session(self.engine, expire_on_commit=False) as session:
            return list(session.scalars(query))


class DatabaseCallbacks:
    """``callbacks.request`` on the city database's shared engine, migrated on first use
    (:func:`ivr.db.ready`: the phone starts even when the database is down; a request then
    answers ``unavailable`` and the caller is put through to the department)."""

    def __init__(self, url: str) -> None:
        from ivr.db import engine_for

        self.url = url
        self.store = CallbackStore(engine_for(url))

    def ready(self) -> None:
        from ivr.db import ready

        ready(self.url)

    def request(self, args: dict[str, Any]) -> dict[str, Any]:
        try:
            self.ready()
            request_id = self.store.request(
                str(args.get("number") or ""),
                str(args.get("language") or "it"),
                str(args.get("department") or ""),
                str(args.get("queue") or ""),
                int(args.get("position") or 0),
                str(args.get("call_id") or ""),
            )
        except ServiceError:
            raise
        except SQLAlchemyError as err:  # the class only: SQLAlchemy's text holds the number
            log.warning("callbacks.request: database unavailable (%s)", type(err).__name__)
            raise ServiceError(UNAVAILABLE) from None
        except Exception as err:  # answer an error, keep the call
            log.error("callbacks.request failed: %s", type(err).__name__)
            raise ServiceError(UNAVAILABLE) from None
        return {"id": request_id}

    def services(self) -> dict[str, Service]:
        return {"callbacks.request": self.request}
