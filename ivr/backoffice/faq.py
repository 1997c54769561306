"""FAQ entries in the city database: written by staff from a solved request, listed per
department, edited, deleted; the prompt key is noted once the entry is put into the IVR's draft
(:mod:`ivr.admin.faq_draft` does that: the admin owns the draft).

Every change is one transaction. An entry made from a request also leaves a line in that
request's history (``faq``, with the entry's id), in the same transaction. The texts are
checked by :func:`ivr.backoffice.faq_rules.check` (no phone number, no e-mail address) and
never logged: log lines carry ids and departments only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from ivr.backoffice.faq_rules import FaqText, check
from ivr.backoffice.models import BackofficeEvent, BackofficeFaq, BackofficeRequest
from ivr.backoffice.rules import Problem, RequestError
from ivr.db import retrying, writer

log = logging.getLogger("ivr.backoffice.faq")


@dataclass(frozen=True)
class FaqEntry:
    id: int
    department: str
    question: str
    answer: str
    language: str
    from_request: int | None
    prompt_key: str
    created_by: str
    created_at: datetime


def _view(row: BackofficeFaq) -> FaqEntry:
    return FaqEntry(
        row.id,
        row.department,
        row.question,
        row.answer,
        row.language,
        row.from_request,
        row.prompt_key or "",
        row.created_by,
        row.created_at,
    )


def solved(status: str, solved_at: datetime | None) -> bool:
    """Solved, or closed after being solved (closing keeps the solution's time)."""
    return status == "solved" or (status == "closed" and solved_at is not None)


class FaqStore:
    def __init__(self, engine: Engine, *, clock: Callable[[], datetime] = datetime.now) -> None:
        self.engine, self.write_engine, self.clock = engine, writer(engine), clock

    def _run(self, work: Callable[[Session], object], what: str) -> object:
        def attempt() -> object:
            with Session(self.write_engine, expire_on_commit=False) as db, db.begin():
                return work(db)

        return retrying(attempt, what=what)

    def from_request(self, request_id: int, text: FaqText, actor: str) -> FaqEntry:
        """A new entry for the request's department; refused unless the request is solved."""
        problems = check(text)

        def work(db: Session) -> FaqEntry:
            request = db.get(BackofficeRequest, request_id)
            if request is None:
                raise RequestError([Problem("request", f"no request {request_id}")])
            if not solved(request.status, request.solved_at):
                raise RequestError(
                    [Problem("request", f"request {request_id} is {request.status}, not solved")]
                )
            if problems:
                raise RequestError(problems)
            now = self.clock()
            row = BackofficeFaq(
                department=request.department,
                question=text.question.strip(),
                answer=text.answer.strip(),
                language=text.language,
                from_request=request.id,
                prompt_key="",
                created_by=actor[:64],
                created_at=now,
            )
            db.add(row)
            db.flush()
            db.add(
                BackofficeEvent(
                    request_id=request.id,
                    at=now,
                    actor=actor[:64],
                    kind="faq",
                    detail={"faq": row.id},
                )
            )
            return _view(row)

        entry = self._run(work, "backoffice faq")
        assert isinstance(entry, FaqEntry)
        log.info("back office: FAQ %d from request %d (%s)", entry.id, request_id, entry.department)
        return entry

    def entries(self, department: str = "") -> list[FaqEntry]:
        """Every entry (of one department), by department then newest first."""
        stmt = select(BackofficeFaq).order_by(BackofficeFaq.department, BackofficeFaq.id.desc())
        if department:
            stmt = stmt.where(BackofficeFaq.department == department)
        with Session(self.engine) as db:
            return [_view(r) for r in db.scalars(stmt)]

    def departments(self) -> list[str]:
        with Session(self.engine) as db:
            return sorted(set(db.scalars(select(BackofficeFaq.department))))

    def get(self, entry_id: int) -> FaqEntry | None:
        with Session(self.engine) as db:
            row = db.get(BackofficeFaq, entry_id)
            return _view(row) if row is not None else None

    def update(self, entry_id: int, text: FaqText) -> FaqEntry:
        problems = check(text)
        if problems:
            raise RequestError(problems)

        def work(db: Session) -> FaqEntry:
            row = self._existing(db, entry_id)
            row.question, row.answer = text.question.strip(), text.answer.strip()
            row.language = text.language
            return _view(row)

        entry = self._run(work, "backoffice faq edit")
        assert isinstance(entry, FaqEntry)
        return entry

    def set_prompt_key(self, entry_id: int, key: str) -> None:
        """Note the prompt the entry became in the IVR's draft."""

        def work(db: Session) -> None:
            self._existing(db, entry_id).prompt_key = key

        self._run(work, "backoffice faq prompt")

    def delete(self, entry_id: int) -> FaqEntry:
        """Delete an entry (a prompt it became stays in the dialplan until an editor removes
        it: the returned entry says which)."""

        def work(db: Session) -> FaqEntry:
            row = self._existing(db, entry_id)
            entry = _view(row)
            db.delete(row)
            return entry

        entry = self._run(work, "backoffice faq delete")
        assert isinstance(entry, FaqEntry)
        return entry

    def _existing(self, db: Session, entry_id: int) -> BackofficeFaq:
        row = db.get(BackofficeFaq, entry_id)
        if row is None:
            raise RequestError([Problem("faq", f"no FAQ entry {entry_id}")])
        return row
