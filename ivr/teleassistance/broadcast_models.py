"""The ``teleassistance_broadcasts`` tables: a message (heat wave, scam warning, event) sent to
the enrolled citizens of chosen areas, and one delivery row per recipient.

The recipients are fixed when the broadcast is created (the active citizens of its areas then),
one :class:`BroadcastDelivery` each, unique per broadcast and citizen, so a restarted dialler
never calls anyone twice for one broadcast. Deliveries refer to ``teleassistance_citizens.id``
with ``ON DELETE CASCADE``: erasing a citizen (:meth:`ivr.teleassistance.store
.TeleassistanceStore.erase`, which finds tables by that foreign key) erases their deliveries.
Texts are kept per language (JSON ``{"it": "...", "en": "..."}``); their audio lives under
the sounds folder (:mod:`ivr.teleassistance.broadcast_audio`), not here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from ivr.db.base import Base

BROADCAST_KINDS = ("heat_wave", "scam_warning", "event", "other")
BROADCAST_STATES = ("scheduled", "running", "done", "cancelled")
DELIVERY_STATES = ("pending", "dialling", "delivered", "no_answer", "busy", "machine", "failed")


def _in(values: tuple[str, ...]) -> str:  # models.py's, without importing it (it imports us)
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


class Broadcast(Base):
    """One message to the citizens of some areas, within a window of one day (local time)."""

    __tablename__ = "teleassistance_broadcasts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(12))
    title: Mapped[str] = mapped_column(String(120))
    texts: Mapped[dict[str, Any]] = mapped_column(JSON)  # language -> text
    areas: Mapped[list[Any]] = mapped_column(JSON)  # the areas as chosen
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime)  # local time
    window_start: Mapped[datetime] = mapped_column(DateTime)  # local time
    window_end: Mapped[datetime] = mapped_column(DateTime)
    # the audio of every language is built and where Asterisk reads it: only then is it dialled
    audio_ready: Mapped[bool] = mapped_column(Boolean, default=False)
    state: Mapped[str] = mapped_column(String(10), default="scheduled", index=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime)
    cancelled_by: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (
        CheckConstraint(f"kind IN {_in(BROADCAST_KINDS)}", name="kind"),
        CheckConstraint(f"state IN {_in(BROADCAST_STATES)}", name="state"),
        CheckConstraint("window_start < window_end", name="window"),
    )


class BroadcastDelivery(Base):
    """A broadcast to one citizen: its attempts and how it ended. ``key`` is the current (last)
    attempt's Asterisk channel id, ``bc-<id>-<attempt>``; ``next_at`` when the next attempt is
    due (None: nothing more to do, or dialling now)."""

    __tablename__ = "teleassistance_broadcast_deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    broadcast_id: Mapped[int] = mapped_column(
        ForeignKey("teleassistance_broadcasts.id", ondelete="CASCADE"), index=True
    )
    citizen_id: Mapped[int] = mapped_column(
        ForeignKey("teleassistance_citizens.id", ondelete="CASCADE"), index=True
    )
    language: Mapped[str] = mapped_column(String(2))
    state: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_at: Mapped[datetime | None] = mapped_column(DateTime, index=True)
    key: Mapped[str | None] = mapped_column(String(40), unique=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime)

    __table_args__ = (
        UniqueConstraint("broadcast_id", "citizen_id"),
        CheckConstraint(f"state IN {_in(DELIVERY_STATES)}", name="state"),
    )
