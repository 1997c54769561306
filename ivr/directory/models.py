"""The ``directory_entries`` table, on the city database (:mod:`ivr.db`).

``name_key`` is the name folded (lowercase, no accents, single spaces): the database keeps two
entries from being the same name written differently. ``extension`` is unique too (NULLs are
not equal, in SQLite and PostgreSQL alike, so external-number entries don't clash).
``sip_secret`` is the staff phone's SIP password for an extension entry (rendered into
``pjsip_directory.conf``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, DateTime, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ivr.db.base import Base

KINDS = ("office", "person")


class DirectoryEntry(Base):
    """An office or a person callers may ask for by name."""

    __tablename__ = "directory_entries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(60))
    name_key: Mapped[str] = mapped_column(String(60), unique=True)
    aliases: Mapped[str] = mapped_column(Text, default="")  # "|"-separated
    kind: Mapped[str] = mapped_column(String(8), default="office")
    extension: Mapped[str | None] = mapped_column(String(6), unique=True)
    external: Mapped[str | None] = mapped_column(String(21))
    department: Mapped[str] = mapped_column(String(40))
    hours: Mapped[str] = mapped_column(Text, default="")  # the dialplan's hours syntax; "": dept
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    sip_secret: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)

    __table_args__ = (
        CheckConstraint("kind IN ('office', 'person')", name="kind"),
        CheckConstraint("(extension IS NULL) <> (external IS NULL)", name="one_destination"),
    )
