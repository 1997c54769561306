"""The operator desk's own KPI writes: what an operator did (``operator_events``: login,
logout, pause with its reason, unpause, transfer, wrapup) and a call's wrap-up outcome and time
(``call_records.wrapup_outcome``/``wrapup_s``). Small synchronous writes from an admin request,
in one transaction each; nothing personal (extensions, queue names, call ids, codes)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from ivr.db import retrying, writer
from ivr.kpi.models import CallRecord, OperatorEvent

KINDS = ("login", "logout", "pause", "unpause", "transfer", "wrapup")


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def operator_event(
    engine: Engine,
    extension: str,
    kind: str,
    *,
    queue: str | None = None,
    reason: str | None = None,
    call_id: str | None = None,
    seconds: float | None = None,
    at: datetime | None = None,
) -> None:
    if kind not in KINDS:
        raise ValueError(f"operator event kind {kind!r}")

    def attempt() -> None:
        with Session(writer(engine)) as db, db.begin():
            db.add(
                OperatorEvent(
                    at=at or utcnow(),
                    extension=extension,
                    kind=kind,
                    queue=queue,
                    reason=(reason or None) and reason[:40],
                    call_id=call_id,
                    seconds=seconds,
                )
            )

    retrying(attempt, what="operator event")


def wrapup(
    engine: Engine, call_id: str, extension: str, outcome: str, wrapup_s: float | None
) -> None:
    """The call's wrap-up (its record made if the queue's writer has not yet) and the event."""

    def attempt() -> None:
        with Session(writer(engine)) as db, db.begin():
            rec = db.scalars(
                select(CallRecord).where(CallRecord.call_id == call_id).with_for_update()
            ).first()
            if rec is None:
                rec = CallRecord(call_id=call_id, path="")
                db.add(rec)
            rec.wrapup_outcome, rec.wrapup_s = outcome[:30], wrapup_s
            rec.operator = rec.operator or extension

    retrying(attempt, what="wrap-up")
    operator_event(engine, extension, "wrapup", reason=outcome, call_id=call_id, seconds=wrapup_s)
