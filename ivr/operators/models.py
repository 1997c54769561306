"""The ``operators`` and ``operator_skills`` tables, on the city database (:mod:`ivr.db`).

No clear secret is stored: ``secret_digest`` is the SIP digest ``MD5(extension:realm:secret)``
Asterisk checks a REGISTER against (pjsip ``password_digest``); the secret itself is shown once
when generated and never again.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ivr.db.base import Base


class Operator(Base):
    """A person who answers citizens on a SIP softphone."""

    __tablename__ = "operators"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    extension: Mapped[str] = mapped_column(String(6), unique=True)
    name: Mapped[str] = mapped_column(String(60))
    languages: Mapped[str] = mapped_column(String(40))  # "it,en": spoken, in the caller's codes
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # Off the city's network: SIP over TLS with SRTP (pjsip.conf's operator-endpoint-tls).
    tls: Mapped[bool] = mapped_column(Boolean, default=False)
    # The admin account (role operator) whose desk this phone is; None: phone only.
    username: Mapped[str | None] = mapped_column(String(64), unique=True)
    secret_digest: Mapped[str] = mapped_column(String(64))
    secret_set_at: Mapped[datetime] = mapped_column(DateTime)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)
    skills: Mapped[list[OperatorSkill]] = relationship(
        back_populates="operator",
        cascade="all, delete-orphan",
        order_by="OperatorSkill.priority, OperatorSkill.department",
    )


class OperatorSkill(Base):
    """A department an operator may serve; priority 1 is their first department."""

    __tablename__ = "operator_skills"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    operator_id: Mapped[int] = mapped_column(ForeignKey("operators.id", ondelete="CASCADE"))
    department: Mapped[str] = mapped_column(String(40))
    priority: Mapped[int] = mapped_column(Integer, default=1)
    operator: Mapped[Operator] = relationship(back_populates="skills")

    __table_args__ = (UniqueConstraint("operator_id", "department", name="operator_department"),)
