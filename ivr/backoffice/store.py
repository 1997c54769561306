"""Back-office requests in the city database: created (merged when a duplicate), worked in the
queue's order, answered, with every change in the history. All-or-nothing: each method is one
transaction, and a refusal (:class:`RequestError`, every problem naming its field) changes
nothing.

Times are the city's local naive datetimes (the outbox's convention). Numbers and e-mail
addresses are personal data: they stay in the request row, never in an event, a log line or
an audit entry.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from booking.codes import CERTIFICATE_FIRST, is_valid, new_code, normalize
from booking.models import MessageKind, Outbox
from ivr.backoffice import rules
from ivr.backoffice.models import (
    BackofficeCategory,
    BackofficeEvent,
    BackofficeRequest,
)
from ivr.backoffice.rules import Category, NewRequest, Problem, RequestError
from ivr.db import retrying, writer

log = logging.getLogger("ivr.backoffice")

# Request codes share the certificates' first digits ("requests" to the city, read back the same
# way); a code is looked up in the table of what the caller asked about.
CODE_FIRST = CERTIFICATE_FIRST


@dataclass(frozen=True)
class Created:
    id: int
    code: str
    merged: bool  # a duplicate of a request made minutes before: that one is returned


@dataclass(frozen=True)
class RequestView:
    """A request detached from the database, as pages and the IVR read it."""

    id: int
    code: str
    category: str
    department: str
    severity: str
    status: str
    due_at: datetime
    team: str
    assignee: str
    number: str
    email: str
    channel: str
    language: str
    source: str
    description: str
    transcript: str
    recording: str
    answer: str
    call_id: str
    created_at: datetime
    updated_at: datetime
    first_contact_at: datetime | None
    solved_at: datetime | None

    def overdue(self, now: datetime) -> bool:
        return rules.overdue(self.due_at, self.status, now)

    @property
    def order(self) -> tuple:
        return rules.queue_order(self.due_at, self.severity, self.created_at, self.id)


@dataclass(frozen=True)
class EventView:
    at: datetime
    actor: str
    kind: str
    detail: dict


def _view(row: BackofficeRequest) -> RequestView:
    return RequestView(
        **{f: getattr(row, f) for f in RequestView.__dataclass_fields__}  # type: ignore[arg-type]
    )


def _category(row: BackofficeCategory) -> Category:
    return Category(
        row.code, row.department, row.name, row.description, dict(row.sla or {}), row.active
    )


class BackofficeStore:
    def __init__(self, engine: Engine, *, clock: Callable[[], datetime] = datetime.now) -> None:
        self.engine, self.write_engine, self.clock = engine, writer(engine), clock

    @contextmanager
    def _writing(self) -> Iterator[Session]:
        with Session(self.write_engine, expire_on_commit=False) as db, db.begin():
            yield db

    def _run(self, work: Callable[[Session], Any], what: str) -> Any:
        def attempt() -> Any:
            with self._writing() as db:
                return work(db)

        return retrying(attempt, what=what)

    # -- categories --------------------------------------------------------------------------

    def categories(self, active_only: bool = True) -> dict[str, Category]:
        with Session(self.engine) as db:
            rows = db.scalars(select(BackofficeCategory).order_by(BackofficeCategory.code))
            found = {r.code: _category(r) for r in rows}
        return {c: v for c, v in found.items() if v.active or not active_only}

    def save_category(self, category: Category) -> None:
        """Add or change a category (its code is its identity)."""
        problems = rules.check_category(category)
        if problems:
            raise RequestError(problems)

        def work(db: Session) -> None:
            row = db.get(BackofficeCategory, category.code) or BackofficeCategory(
                code=category.code
            )
            row.department, row.name = category.department, category.name
            row.description, row.sla, row.active = (
                category.description,
                dict(category.sla),
                category.active,
            )
            db.add(row)

        self._run(work, "backoffice category")

    # -- requests ------------------------------------------------------------------------------

    def create(self, data: NewRequest, actor: str) -> Created:
        """Store a new request, or return the one it duplicates (same citizen, category and
        text within :data:`rules.DUPLICATE_MINUTES`), noting the repeat in its history."""
        categories = self.categories()
        problems = rules.check(data, categories)
        if problems:
            raise RequestError(problems)
        category = categories[data.category]
        number = rules.canonical_number(data.number)
        key = rules.duplicate_key(number, data.email, data.category, data.description)

        def work(db: Session) -> Created:
            now = self.clock()
            since = now - timedelta(minutes=rules.DUPLICATE_MINUTES)
            same = db.scalar(
                select(BackofficeRequest).where(
                    BackofficeRequest.duplicate_key == key,
                    BackofficeRequest.created_at >= since,
                    BackofficeRequest.status.in_(rules.OPEN),
                )
            )
            if same is not None and (number or data.email.strip()):
                same.events.append(_event(now, actor, "merged", {"source": data.source}))
                if data.recording and not same.recording:
                    same.recording = data.recording
                return Created(same.id, same.code, True)
            row = BackofficeRequest(
                code=new_code(CODE_FIRST),
                category=category.code,
                department=category.department,
                severity=data.severity,
                status="new",
                due_at=rules.deadline(now, data.severity, category),
                number=number,
                email=data.email.strip(),
                channel=data.channel,
                language=data.language,
                source=data.source,
                description=data.description.strip(),
                transcript=data.transcript,
                recording=data.recording,
                address=data.address.strip(),
                lat=data.lat,
                long=data.long,
                call_id=data.call_id,
                duplicate_key=key,
                created_at=now,
                updated_at=now,
            )
            row.events.append(
                _event(now, actor, "created", {"source": data.source, "severity": data.severity})
            )
            db.add(row)
            db.flush()
            return Created(row.id, row.code, False)

        for _ in range(5):  # a random code taken already: draw again
            try:
                created = self._run(work, "backoffice create")
            except IntegrityError:
                continue
            log.info(
                "back office: request %d %s (%s, %s)",
                created.id,
                "merged" if created.merged else "created",
                data.category,
                data.source,
            )
            return created
        raise RuntimeError("no free request code after five draws")

    def get(self, request_id: int) -> RequestView | None:
        with Session(self.engine) as db:
            row = db.get(BackofficeRequest, request_id)
            return _view(row) if row is not None else None

    def by_code(self, typed: str) -> RequestView | None:
        code = normalize(typed)
        if not is_valid(code):
            return None
        with Session(self.engine) as db:
            row = db.scalar(select(BackofficeRequest).where(BackofficeRequest.code == code))
            return _view(row) if row is not None else None

    def queue(
        self,
        *,
        team: str = "",
        category: str = "",
        department: str = "",
        statuses: Iterable[str] = rules.OPEN,
        limit: int = 500,
    ) -> list[RequestView]:
        """The work queue: by deadline, then severity (:func:`rules.queue_order`)."""
        stmt = select(BackofficeRequest).where(BackofficeRequest.status.in_(tuple(statuses)))
        if team:
            stmt = stmt.where(BackofficeRequest.team == team)
        if category:
            stmt = stmt.where(BackofficeRequest.category == category)
        if department:
            stmt = stmt.where(BackofficeRequest.department == department)
        with Session(self.engine) as db:
            rows = [_view(r) for r in db.scalars(stmt.order_by(BackofficeRequest.due_at))]
        return sorted(rows, key=lambda r: r.order)[:limit]

    def history(self, request_id: int) -> list[EventView]:
        with Session(self.engine) as db:
            rows = db.scalars(
                select(BackofficeEvent)
                .where(BackofficeEvent.request_id == request_id)
                .order_by(BackofficeEvent.id)
            )
            return [EventView(e.at, e.actor, e.kind, dict(e.detail or {})) for e in rows]

    # -- changes -------------------------------------------------------------------------------

    def assign(self, ids: Iterable[int], team: str, assignee: str, actor: str) -> int:
        """Give requests to a team (and a person); all of them or, if one is unknown or
        closed, none."""
        wanted = sorted(set(ids))
        if not wanted:
            raise RequestError([Problem("requests", "choose at least one request")])
        if not team.strip() and not assignee.strip():
            raise RequestError([Problem("team", "a team or a person to assign to")])

        def work(db: Session) -> int:
            rows = {
                r.id: r
                for r in db.scalars(
                    select(BackofficeRequest).where(BackofficeRequest.id.in_(wanted))
                )
            }
            missing = [i for i in wanted if i not in rows]
            closed = [i for i in wanted if i in rows and rows[i].status == "closed"]
            if missing or closed:
                bad = ", ".join(str(i) for i in missing + closed)
                raise RequestError([Problem("requests", f"unknown or closed: {bad}")])
            now = self.clock()
            for row in rows.values():
                row.team, row.assignee = team.strip(), assignee.strip()
                row.updated_at = now
                row.events.append(
                    _event(now, actor, "assigned", {"team": row.team, "assignee": row.assignee})
                )
            return len(rows)

        return self._run(work, "backoffice assign")

    def move(self, request_id: int, status: str, actor: str, note: str = "") -> None:
        """Change the status along :data:`rules.TRANSITIONS`."""

        def work(db: Session) -> None:
            row = self._existing(db, request_id)
            if status not in rules.STATUSES or not rules.can_move(row.status, status):
                raise RequestError(
                    [Problem("status", f"a {row.status} request cannot become {status!r}")]
                )
            now = self.clock()
            row.events.append(
                _event(now, actor, "status", {"from": row.status, "to": status, "note": note})
            )
            row.status, row.updated_at = status, now
            if status == "solved":
                row.solved_at = now
            elif status == "in_progress":
                row.solved_at = None

        self._run(work, "backoffice status")

    def set_answer(self, request_id: int, text: str, actor: str) -> None:
        """The answer the citizen hears when they ask by phone (and reads in a message)."""
        if len(text) > rules.DESCRIPTION_MAX:
            raise RequestError([Problem("answer", f"at most {rules.DESCRIPTION_MAX} characters")])

        def work(db: Session) -> None:
            row = self._existing(db, request_id)
            now = self.clock()
            row.answer, row.updated_at = text.strip(), now
            row.events.append(_event(now, actor, "answer", {"length": len(row.answer)}))

        self._run(work, "backoffice answer")

    def contact_attempt(
        self, request_id: int, channel: str, outcome: str, actor: str, note: str = ""
    ) -> None:
        """A call back (its outcome), an SMS or an e-mail sent: logged on the request; the
        first one is the request's first contact."""

        def work(db: Session) -> None:
            row = self._existing(db, request_id)
            now = self.clock()
            row.events.append(
                _event(
                    now, actor, "contact", {"channel": channel, "outcome": outcome, "note": note}
                )
            )
            if row.first_contact_at is None:
                row.first_contact_at = now
            row.updated_at = now

        self._run(work, "backoffice contact")

    def send_message(self, request_id: int, channel: str, text: str, actor: str) -> None:
        """Answer by SMS or e-mail through the outbox (written in this transaction)."""
        if channel not in ("sms", "email"):
            raise RequestError([Problem("channel", "sms or email")])
        if not text.strip():
            raise RequestError([Problem("text", "write the message")])

        def work(db: Session) -> None:
            row = self._existing(db, request_id)
            to = row.number if channel == "sms" else row.email
            if not to:
                field = "number" if channel == "sms" else "email"
                raise RequestError([Problem(field, f"the request has no {field} to write to")])
            now = self.clock()
            db.add(
                Outbox(
                    kind=(MessageKind.SMS if channel == "sms" else MessageKind.EMAIL).value,
                    recipient=to,
                    subject=f"Comune - richiesta {row.code}" if channel == "email" else "",
                    body=text.strip(),
                    ref=f"backoffice:{row.id}",
                    attempts=0,
                    next_attempt_at=now,
                    created_at=now,
                )
            )
            row.events.append(
                _event(now, actor, "contact", {"channel": channel, "outcome": "sent"})
            )
            if row.first_contact_at is None:
                row.first_contact_at = now
            row.updated_at = now

        self._run(work, "backoffice message")

    def erase(self, request_id: int) -> int:
        """Delete a request and its history (a citizen's erasure request)."""

        def work(db: Session) -> int:
            row = self._existing(db, request_id)
            db.delete(row)
            return 1

        return self._run(work, "backoffice erase")

    def export(self, request_id: int) -> dict[str, Any]:
        """Everything held about one request, JSON-ready (a data-access request)."""
        view = self.get(request_id)
        if view is None:
            raise RequestError([Problem("request", f"no request {request_id}")])
        data = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in vars(view).items()}
        data["history"] = [
            {"at": e.at.isoformat(), "actor": e.actor, "kind": e.kind, "detail": e.detail}
            for e in self.history(request_id)
        ]
        return data

    def _existing(self, db: Session, request_id: int) -> BackofficeRequest:
        row = db.get(BackofficeRequest, request_id)
        if row is None:
            raise RequestError([Problem("request", f"no request {request_id}")])
        return row


def _event(at: datetime, actor: str, kind: str, detail: dict[str, Any]) -> BackofficeEvent:
    return BackofficeEvent(at=at, actor=actor[:64], kind=kind, detail=detail)
