"""The ``call_records`` table: what each call did, for the KPI reports. No personal data.

One row per call, keyed by Asterisk's ``Uniqueid`` (the same id the logs carry). Two writers
fill it, in any order: the FastAGI service when the call leaves the IVR (language, path, speech,
where it was sent and why) and the queue watcher from AMI queue events (wait, answered or
abandoned). No caller number, fiscal code or name: the KPIs need none of them. Times are UTC
(naive), so reports of several cities or daylight-saving nights add up.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Float, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ivr.db.base import Base


class CallRecord(Base):
    __tablename__ = "call_records"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_id: Mapped[str] = mapped_column(String(64), unique=True)  # Asterisk Uniqueid
    started_at: Mapped[datetime | None] = mapped_column(DateTime)  # entered the IVR
    left_ivr_at: Mapped[datetime | None] = mapped_column(DateTime)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime)  # last thing we heard of it
    language: Mapped[str | None] = mapped_column(String(8))
    path: Mapped[str] = mapped_column(Text, default="")  # node ids joined with ">"
    said: Mapped[str | None] = mapped_column(String(200))  # recognised text (masked)
    confidence: Mapped[float | None] = mapped_column(Float)
    department: Mapped[str | None] = mapped_column(String(40))
    queue: Mapped[str | None] = mapped_column(String(80))  # the last queue joined
    reason: Mapped[str | None] = mapped_column(String(20))  # menu, retries, prompt, error...
    saturation: Mapped[str | None] = mapped_column(String(40))
    est_position: Mapped[int | None] = mapped_column(Integer)
    est_wait_s: Mapped[float | None] = mapped_column(Float)
    # hung_up, self_served, callback, transferred, error (IVR); queued, no_operator,
    # abandoned, answered (queue events; they win over the IVR's "transferred")
    outcome: Mapped[str | None] = mapped_column(String(20))
    queue_joined_at: Mapped[datetime | None] = mapped_column(DateTime)  # open wait segment
    queue_wait_s: Mapped[float | None] = mapped_column(Float)  # all queues, summed
    error: Mapped[str | None] = mapped_column(String(60))  # exception class when it broke
    # Keyed hash (HMAC) of the caller's number: the desk finds a citizen's earlier calls without
    # the number ever being stored here. Never the number itself.
    caller_hash: Mapped[str | None] = mapped_column(String(64))
    operator: Mapped[str | None] = mapped_column(String(6))  # extension that answered (last)
    talk_s: Mapped[float | None] = mapped_column(Float)  # answered to hung up / moved on
    wrapup_outcome: Mapped[str | None] = mapped_column(String(30))  # the desk's outcome code
    wrapup_s: Mapped[float | None] = mapped_column(Float)  # call end to wrap-up saved

    __table_args__ = (
        Index("ix_call_records_started_at", "started_at"),
        Index("ix_call_records_caller_hash", "caller_hash"),
    )


class OperatorEvent(Base):
    """What an operator did, for per-operator KPIs and the audit: login, logout, pause (with
    its reason: break, backoffice, training), unpause, answer, hangup, transfer, wrapup."""

    __tablename__ = "operator_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime)
    extension: Mapped[str] = mapped_column(String(6))
    kind: Mapped[str] = mapped_column(String(20))
    queue: Mapped[str | None] = mapped_column(String(80))
    reason: Mapped[str | None] = mapped_column(String(40))
    call_id: Mapped[str | None] = mapped_column(String(64))
    seconds: Mapped[float | None] = mapped_column(Float)  # a pause's or a call's length

    __table_args__ = (Index("ix_operator_events_extension_at", "extension", "at"),)
