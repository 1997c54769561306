"""What the admin web keeps in the database: accounts, the audit log, dialplan versions, the draft.

Why these tables and not more:

* ``admin_dialplan_versions`` holds every dialplan ever published as its full YAML text. A row is
  immutable (an ORM hook refuses updates and deletes): a rollback re-publishes an old row, it
  never edits one, so "what was live on 3 March at 10:02" always has one answer.
* ``admin_publications`` is the log of going live: which version, who, when, whether Asterisk
  confirmed the reload, and why not. The live version is the last successful row.
* ``admin_drafts`` is the one shared draft the office works on (staff take turns; the audit log
  says who changed what). It remembers the version it started from.
* Prompt texts are not here: they stay in ``prompts/<lang>.yaml`` because the FastAGI service and
  ``ivr dialplan check`` validate against those files; a second copy in the database could drift.

Tables are prefixed ``admin_``, declared on the city database's one base (:mod:`ivr.db`) and
migrated by its one history; the admin's revisions are in ``migrations/versions`` here.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    event,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ivr.db.base import Base

ROLES = ("admin", "editor", "viewer", "operator", "teleassistance", "back_office")


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class User(Base):
    __tablename__ = "admin_users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    password_hash: Mapped[str] = mapped_column(String(255), nullable=False)
    role: Mapped[str] = mapped_column(String(16), nullable=False, default="viewer")
    language: Mapped[str] = mapped_column(String(8), nullable=False, default="it")
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)


class AuditEntry(Base):
    """One change: who, when, what (action + target) and the value before and after."""

    __tablename__ = "admin_audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow, index=True)
    username: Mapped[str] = mapped_column(String(64), nullable=False)
    action: Mapped[str] = mapped_column(String(64), nullable=False)
    target: Mapped[str] = mapped_column(String(255), nullable=False, default="")
    before: Mapped[str | None] = mapped_column(Text, nullable=True)
    after: Mapped[str | None] = mapped_column(Text, nullable=True)
    ip: Mapped[str] = mapped_column(String(64), nullable=False, default="")


class DialplanVersion(Base):
    """An immutable published (or attempted) dialplan: full YAML text, author, time and note."""

    __tablename__ = "admin_dialplan_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    yaml_text: Mapped[str] = mapped_column(Text, nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    author: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    note: Mapped[str] = mapped_column(Text, nullable=False, default="")


class Publication(Base):
    """One attempt to make a version live (publish, rollback or import of the file on disk)."""

    __tablename__ = "admin_publications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version_id: Mapped[int] = mapped_column(
        ForeignKey("admin_dialplan_versions.id"), nullable=False
    )
    at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    username: Mapped[str] = mapped_column(String(64), nullable=False)
    action: Mapped[str] = mapped_column(String(16), nullable=False)  # publish/rollback/import
    ok: Mapped[bool] = mapped_column(Boolean, nullable=False)
    message: Mapped[str] = mapped_column(Text, nullable=False, default="")
    seconds: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)

    version: Mapped[DialplanVersion] = relationship()


class Draft(Base):
    """The dialplan being edited (one row, id 1)."""

    __tablename__ = "admin_drafts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    yaml_text: Mapped[str] = mapped_column(Text, nullable=False)
    base_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("admin_dialplan_versions.id"), nullable=True
    )
    updated_by: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    updated_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)


class ImmutableVersionError(RuntimeError):
    pass


@event.listens_for(DialplanVersion, "before_update")
def _no_update(mapper, connection, target) -> None:  # SQLAlchemy hook
    raise ImmutableVersionError("dialplan versions are immutable: publish a new one")


@event.listens_for(DialplanVersion, "before_delete")
def _no_delete(mapper, connection, target) -> None:
    raise ImmutableVersionError("dialplan versions are immutable: they are never deleted")
