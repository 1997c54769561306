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

    __table_args__ = (Index("ix_call_records_started_at", "started_at"),)
