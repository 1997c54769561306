"""Operator accounts in the city database: every change checked whole (:mod:`ivr.operators.rules`)
and written in one transaction, or refused with the problems and nothing written.

A new or rotated secret is returned once, to be shown once; only its digest is stored. Changes
reach Asterisk when the admin's publish path renders :meth:`OperatorStore.lines` and reloads.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, selectinload

from ivr.asterisk.render import OperatorLine
from ivr.db import writer
from ivr.operators import rules
from ivr.operators.models import Operator, OperatorSkill
from ivr.operators.rules import AccountError, AccountSpec, Problem
from ivr.queues.languages import twins


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class Account:
    """An operator account as pages and commands show it (no secret, no digest)."""

    extension: str
    name: str
    languages: tuple[str, ...]
    skills: tuple[tuple[str, int], ...]
    enabled: bool
    secret_set_at: datetime
    tls: bool = False
    username: str | None = None

    def spec(self) -> AccountSpec:
        return AccountSpec(
            self.extension,
            self.name,
            self.languages,
            self.skills,
            self.enabled,
            self.tls,
            self.username,
        )


def _account(row: Operator) -> Account:
    return Account(
        extension=row.extension,
        name=row.name,
        languages=tuple(filter(None, row.languages.split(","))),
        skills=tuple((s.department, s.priority) for s in row.skills),
        enabled=row.enabled,
        secret_set_at=row.secret_set_at,
        tls=row.tls,
        username=row.username,
    )


class OperatorStore:
    """The operator accounts of one city database, checked against its live dialplan."""

    def __init__(
        self,
        engine: Engine,
        dialplan: Callable[[], Any],
        *,
        taken: Callable[[], Collection[str]] = frozenset,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.engine = engine
        self.write_engine = writer(engine)
        self.dialplan = dialplan  # the live dialplan (departments, languages, city number)
        self.taken = taken  # extensions used elsewhere (the switchboard directory)
        self.clock = clock

    # -- reading --------------------------------------------------------------------------------

    def accounts(self) -> list[Account]:
        with Session(self.engine) as db:
            rows = db.scalars(
                select(Operator).options(selectinload(Operator.skills)).order_by(Operator.extension)
            )
            return [_account(row) for row in rows]

    def for_user(self, username: str) -> Account | None:
        """The account whose desk belongs to admin user ``username``."""
        with Session(self.engine) as db:
            row = db.scalars(
                select(Operator)
                .where(Operator.username == username)
                .options(selectinload(Operator.skills))
            ).first()
            return _account(row) if row is not None else None

    def get(self, extension: str) -> Account | None:
        with Session(self.engine) as db:
            row = self._row(db, extension)
            return _account(row) if row is not None else None

    def lines(self, dialplan: Any | None = None) -> list[OperatorLine]:
        """What Asterisk must run for the enabled accounts: endpoint credentials and, per queue
        of a department they serve, the penalty. A department the dialplan no longer has is left
        out (its skill stays on the account, for when it comes back)."""
        dialplan = dialplan if dialplan is not None else self.dialplan()
        with Session(self.engine) as db:
            return enabled_lines(db, dialplan)

    # -- changing -------------------------------------------------------------------------------

    def add(self, spec: AccountSpec) -> str:
        """Create the account; returns its new secret (shown once)."""
        spec = _normal(spec)
        self._check(spec, others=self._extensions() | set(self.taken()))
        secret = rules.new_secret()
        now = self.clock()
        with Session(self.write_engine) as db, db.begin():
            row = Operator(
                extension=spec.extension,
                name=spec.name,
                languages=",".join(spec.languages),
                enabled=spec.enabled,
                tls=spec.tls,
                username=spec.username,
                secret_digest=rules.digest(spec.extension, secret),
                secret_set_at=now,
                created_at=now,
                updated_at=now,
            )
            row.skills = [OperatorSkill(department=d, priority=p) for d, p in spec.skills]
            db.add(row)
        return secret

    def update(self, extension: str, spec: AccountSpec) -> None:
        """Change name, languages, skills and enabled (the extension is the SIP user name: a
        new extension is a new account)."""
        spec = _normal(spec)
        if spec.extension != extension:
            raise AccountError(
                [Problem("extension", "cannot be changed: add a new account and remove this one")]
            )
        self._check(spec, others=(self._extensions() - {extension}) | set(self.taken()))
        with Session(self.write_engine) as db, db.begin():
            row = self._existing(db, extension)
            row.name, row.languages = spec.name, ",".join(spec.languages)
            row.enabled, row.tls, row.username = spec.enabled, spec.tls, spec.username
            wanted = dict(spec.skills)
            for skill in list(row.skills):  # in place: (operator, department) is unique
                if skill.department in wanted:
                    skill.priority = wanted.pop(skill.department)
                else:
                    row.skills.remove(skill)
            row.skills += [OperatorSkill(department=d, priority=p) for d, p in wanted.items()]
            row.updated_at = self.clock()

    def set_enabled(self, extension: str, enabled: bool) -> None:
        with Session(self.write_engine) as db, db.begin():
            row = self._existing(db, extension)
            row.enabled, row.updated_at = enabled, self.clock()

    def rotate(self, extension: str) -> str:
        """A new secret for the account; the old one stops working when this is published."""
        secret = rules.new_secret()
        with Session(self.write_engine) as db, db.begin():
            row = self._existing(db, extension)
            row.secret_digest = rules.digest(extension, secret)
            row.secret_set_at = row.updated_at = self.clock()
        return secret

    def remove(self, extension: str) -> None:
        with Session(self.write_engine) as db, db.begin():
            db.delete(self._existing(db, extension))

    # -- helpers --------------------------------------------------------------------------------

    def _check(self, spec: AccountSpec, others: Collection[str]) -> None:
        dialplan = self.dialplan()
        problems = rules.check(
            spec,
            departments=set(dialplan.departments),
            languages=set(dialplan.languages),
            city_numbers={dialplan.number},
            taken=others,
        )
        if spec.username:
            with Session(self.engine) as db:
                holder = db.scalar(
                    select(Operator.extension).where(Operator.username == spec.username)
                )
            if holder is not None and holder != spec.extension:
                problems.append(
                    Problem("username", f"{spec.username!r} already has the desk of {holder}")
                )
        if problems:
            raise AccountError(problems)

    def _extensions(self) -> set[str]:
        with Session(self.engine) as db:
            return set(db.scalars(select(Operator.extension)))

    @staticmethod
    def _row(db: Session, extension: str) -> Operator | None:
        return db.scalars(
            select(Operator)
            .where(Operator.extension == extension)
            .options(selectinload(Operator.skills))
        ).first()

    def _existing(self, db: Session, extension: str) -> Operator:
        row = self._row(db, extension)
        if row is None:
            raise AccountError([Problem("extension", f"no operator {extension}")])
        return row


def _normal(spec: AccountSpec) -> AccountSpec:
    return AccountSpec(
        extension=spec.extension.strip(),
        name=rules.normal_name(spec.name),
        languages=tuple(lang.strip().lower() for lang in spec.languages),
        skills=tuple((d.strip(), p) for d, p in spec.skills),
        enabled=spec.enabled,
        tls=spec.tls,
        username=(spec.username or "").strip() or None,
    )


def enabled_lines(db: Session, dialplan: Any) -> list[OperatorLine]:
    """The enabled accounts as Asterisk must run them (``db``: any session on the city
    database; the admin's publisher reads them in its own)."""
    rows = db.scalars(
        select(Operator)
        .where(Operator.enabled.is_(True))
        .options(selectinload(Operator.skills))
        .order_by(Operator.extension)
    ).all()
    return [
        OperatorLine(
            extension=row.extension,
            name=row.name,
            digest=row.secret_digest,
            rights=rights(dialplan, _account(row)),
            tls=row.tls,
        )
        for row in rows
    ]


def rights(dialplan: Any, account: Account) -> tuple[tuple[str, int], ...]:
    """(queue, penalty) for each Asterisk queue the account may join: every department queue
    it serves and that queue's language twins (:mod:`ivr.queues.languages`), the penalty low
    where it speaks the twin's language. Departments sharing a queue give the better one."""
    best: dict[str, int] = {}
    for department, priority in account.skills:
        dept = dialplan.departments.get(department)
        if dept is None:
            continue
        for lang, queue in twins(dept.queue, dialplan.languages, dialplan.default_language):
            penalty = rules.penalty(priority, lang in account.languages)
            best[queue] = min(penalty, best.get(queue, penalty))
    return tuple(best.items())


def operator_lines(url: str, dialplan: Any) -> list[OperatorLine]:
    """The enabled accounts of the city database at ``url`` (migrated first), for a render
    (``ivr asterisk render``, ``ivr up``)."""
    from ivr.db import ready

    with Session(ready(url)) as db:
        return enabled_lines(db, dialplan)
