"""Who is calling, from the city database, for the desk of the operator whose phone rings: the
citizen's active bookings and callbacks (by their number, which the bookings and callbacks keep
anyway) and their earlier calls of the last days (by the keyed hash: call records never hold
the number). Read-only."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from booking.models import Booking, BookingStatus, Slot
from booking.service import caller_hash as booking_hash
from ivr.callbacks.models import ACTIVE_STATES, CallbackRequest
from ivr.kpi.models import CallRecord

HISTORY_DAYS = 7


def citizen(
    engine: Engine,
    *,
    number: str,
    hashed: str | None,
    call_id: str,
    now: datetime,
    days: int = HISTORY_DAYS,
) -> dict[str, Any]:
    """``{"bookings": [...], "callbacks": [...], "calls": [...]}``; ``now``: UTC, naive."""
    out: dict[str, Any] = {"bookings": [], "callbacks": [], "calls": []}
    with Session(engine) as db:
        who = booking_hash(number) if number else None
        if who is not None:
            rows = db.execute(
                select(Booking, Slot)
                .join(Slot, Slot.id == Booking.slot_id)
                .where(Booking.caller_hash == who, Booking.status == BookingStatus.ACTIVE.value)
                .order_by(Slot.starts_at)
            ).all()
            out["bookings"] = [
                {
                    "code": b.code,
                    "service": b.service_id,
                    "office": s.office_id,
                    "starts_at": s.starts_at.isoformat(timespec="minutes"),
                }
                for b, s in rows
            ]
        if number:
            states = [s.value for s in ACTIVE_STATES]
            callbacks = db.scalars(
                select(CallbackRequest).where(
                    CallbackRequest.number == number, CallbackRequest.state.in_(states)
                )
            ).all()
            out["callbacks"] = [
                {"id": c.id, "department": c.department, "state": c.state} for c in callbacks
            ]
        if hashed:
            calls = db.scalars(
                select(CallRecord)
                .where(
                    CallRecord.caller_hash == hashed,
                    CallRecord.call_id != call_id,
                    CallRecord.started_at >= now - timedelta(days=days),
                )
                .order_by(CallRecord.started_at.desc())
                .limit(20)
            ).all()
            out["calls"] = [
                {
                    "at": c.started_at.isoformat(timespec="minutes") if c.started_at else "",
                    "department": c.department or "",
                    "outcome": c.outcome or "",
                    "wrapup": c.wrapup_outcome or "",
                }
                for c in calls
            ]
    return out
