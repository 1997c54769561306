"""Enrolled citizens in the city database: every change checked whole
(:mod:`ivr.teleassistance.rules`, against the others enrolled, inside the writing transaction)
and written in one transaction, or refused with every problem and nothing written. A CSV
import is one transaction too: one bad row, nothing imported.

:meth:`TeleassistanceStore.export` answers a data-access request (everything held about one
citizen, as a dict) and :meth:`TeleassistanceStore.erase` the right to erasure: it deletes the
citizen and every row of any table that refers to them, including tables added later (the
weekly outcomes), found by their foreign keys. Nothing here logs a name or a number.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy import Engine, Table, and_, delete, not_, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from ivr.db import writer
from ivr.teleassistance import rules
from ivr.teleassistance.csvio import CsvError, read_csv
from ivr.teleassistance.models import Citizen, CitizenNumber, EmergencyContact
from ivr.teleassistance.rules import CitizenData, CitizenError, ContactData, Context, Problem

DEFAULT_HOURS = "09:00-20:00"  # ivr.config's default for NU_TELEASSISTANCE_HOURS


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class Enrolment:
    """A citizen as pages and commands show them."""

    id: int
    data: CitizenData
    status: str
    suspended_from: date | None
    suspended_to: date | None
    suspension_reason: str | None

    def suspended_on(self, day: date) -> bool:
        return rules.suspended_on(self.status, self.suspended_from, self.suspended_to, day)


def _data(row: Citizen) -> CitizenData:
    return CitizenData(
        name=row.name,
        numbers=tuple(n.number for n in row.numbers),
        language=row.language,
        weekdays=tuple(filter(None, row.weekdays.split(","))),
        call_kind=row.call_kind,
        contacts=tuple(
            ContactData(c.name, c.number, c.relation, c.channel, c.email or "")
            for c in row.contacts
        ),
        consent_on=row.consent_on.isoformat(),
        consent_by=row.consent_by,
        window=rules.show_window((row.window_start, row.window_end)),
        area=row.area,
        notes=row.notes,
    )


def _enrolment(row: Citizen) -> Enrolment:
    return Enrolment(
        row.id,
        _data(row),
        row.status,
        row.suspended_from,
        row.suspended_to,
        row.suspension_reason,
    )


class TeleassistanceStore:
    """The enrolled citizens of one city database (``engine``: :func:`ivr.db.ready`'s)."""

    def __init__(
        self,
        engine: Engine,
        hours: str = DEFAULT_HOURS,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        window = rules.parse_window(hours)
        if window is None:
            raise ValueError(f"NU_TELEASSISTANCE_HOURS must be HH:MM-HH:MM, not {hours!r}")
        self.engine = engine
        self.write_engine = writer(engine)
        self.hours = window
        self.clock = clock

    # -- reading ---------------------------------------------------------------------------

    def get(self, citizen_id: int) -> Enrolment | None:
        with Session(self.engine) as db:
            row = self._row(db, citizen_id)
            return _enrolment(row) if row is not None else None

    def citizens(self, *, area: str = "", active: bool | None = None) -> list[Enrolment]:
        """Citizens by name; ``area`` (any spelling of it) keeps that area's, ``active`` True
        those to be called today, False those suspended today."""
        stmt = select(Citizen).options(*_loads()).order_by(Citizen.name_key, Citizen.id)
        if area.strip():
            stmt = stmt.where(Citizen.area_key == rules.name_key(area))
        if active is not None:
            today = self.clock().date()
            suspended = and_(
                Citizen.status == "suspended",
                or_(Citizen.suspended_from.is_(None), Citizen.suspended_from <= today),
                or_(Citizen.suspended_to.is_(None), Citizen.suspended_to >= today),
            )
            stmt = stmt.where(not_(suspended) if active else suspended)
        with Session(self.engine) as db:
            return [_enrolment(row) for row in db.scalars(stmt)]

    def export(self, citizen_id: int) -> dict[str, Any]:
        """Everything held about one citizen (a data-access request), JSON-ready; the rows of
        any other table referring to them under ``records``."""
        with Session(self.engine) as db:
            row = self._existing(db, citizen_id)
            data = _data(row)
            found: dict[str, Any] = {
                "id": row.id,
                "name": data.name,
                "numbers": list(data.numbers),
                "language": data.language,
                "area": data.area,
                "weekdays": list(data.weekdays),
                "window": data.window,
                "call_kind": data.call_kind,
                "contacts": [
                    {
                        "name": c.name,
                        "number": c.number,
                        "relation": c.relation,
                        "channel": c.channel,
                        "email": c.email or None,
                    }
                    for c in data.contacts
                ],
                "consent": {"on": data.consent_on, "recorded_by": data.consent_by},
                "notes": data.notes,
                "status": row.status,
                "suspension": None
                if row.status != "suspended"
                else {
                    "from": _json(row.suspended_from),
                    "to": _json(row.suspended_to),
                    "reason": row.suspension_reason,
                },
                "created_at": _json(row.created_at),
                "updated_at": _json(row.updated_at),
                "records": {},
            }
            for table, column in _referring(_OWN):
                rows = db.execute(select(table).where(column == citizen_id)).mappings()
                found["records"][table.name] = [{k: _json(v) for k, v in r.items()} for r in rows]
            return found

    # -- changing --------------------------------------------------------------------------

    def add(self, data: CitizenData) -> int:
        """Enrol a citizen; returns their id. :class:`CitizenError` naming every field."""
        with self._writing() as db:
            problems = rules.check(data, self._context(db))
            if problems:
                raise CitizenError(problems)
            row = self._apply(db, Citizen(created_at=self.clock()), rules.normal(data, self.hours))
            db.add(row)
            db.flush()
            return row.id

    def edit(self, citizen_id: int, data: CitizenData) -> None:
        """Replace a citizen's enrolment (status and suspension stay as they are)."""
        with self._writing() as db:
            row = self._existing(db, citizen_id)
            problems = rules.check(data, self._context(db), citizen_id)
            if problems:
                raise CitizenError(problems)
            row.numbers.clear()
            row.contacts.clear()
            db.flush()  # a number kept in another place is free before it is added again
            self._apply(db, row, rules.normal(data, self.hours))

    def suspend(
        self, citizen_id: int, reason: str, start: date | None = None, end: date | None = None
    ) -> None:
        """No calls from ``start`` (today when None) to ``end`` (until resumed when None)."""
        start = start or self.clock().date()
        problems = rules.check_suspension(reason, start, end)
        if problems:
            raise CitizenError(problems)
        with self._writing() as db:
            row = self._existing(db, citizen_id)
            row.status, row.suspension_reason = "suspended", reason
            row.suspended_from, row.suspended_to = start, end
            row.updated_at = self.clock()

    def resume(self, citizen_id: int) -> None:
        with self._writing() as db:
            row = self._existing(db, citizen_id)
            row.status, row.suspension_reason = "active", None
            row.suspended_from = row.suspended_to = None
            row.updated_at = self.clock()

    def remove(self, citizen_id: int) -> None:
        """Unenrol: the citizen, their numbers and contacts (and, by cascade, what refers to
        them). For a request under the right to erasure use :meth:`erase`, which says what
        it deleted."""
        with self._writing() as db:
            db.delete(self._existing(db, citizen_id))

    def erase(self, citizen_id: int) -> dict[str, int]:
        """Delete everything about a citizen, in one transaction: every row of every table
        referring to them, then the citizen. Returns the rows deleted per table. On SQLite the
        freed pages are overwritten (``secure_delete``); PostgreSQL's dead rows go at its next
        (auto)vacuum."""
        with self._writing() as db:
            self._existing(db, citizen_id)
            db.expunge_all()
            sqlite = db.get_bind().dialect.name == "sqlite"
            if sqlite:  # SQLite keeps deleted rows in free pages unless told to overwrite them
                db.connection().exec_driver_sql("PRAGMA secure_delete=ON")
            counts = {}
            for table, column in _referring():
                counts[table.name] = db.execute(delete(table).where(column == citizen_id)).rowcount
            counts[Citizen.__tablename__] = db.execute(
                delete(Citizen).where(Citizen.id == citizen_id)
            ).rowcount
            if sqlite:  # the pooled connection goes back as it was
                db.connection().exec_driver_sql("PRAGMA secure_delete=OFF")
            return counts

    def import_csv(self, text: str) -> int:
        """Enrol every row of a CSV file (:mod:`ivr.teleassistance.csvio`), or nobody:
        :class:`CsvError` listing every problem as ``row N, field: message``. Returns how many
        were enrolled."""
        rows, messages = read_csv(text)
        with self._writing() as db:
            context = self._context(db)
            numbers, names = dict(context.taken_numbers), dict(context.taken_names)
            pending = Context(self.hours, context.today, context.languages, numbers, names)
            for number, data in rows:
                messages += [f"row {number}, {p}" for p in rules.check(data, pending)]
                # later rows are checked against this one: -row means "row N of this file"
                for i, phone in enumerate(rules.canonical_number(n) for n in data.numbers):
                    if phone:
                        numbers.setdefault(phone, -number)
                        if i == 0:
                            names.setdefault((rules.name_key(data.name), phone), -number)
            if messages:
                raise CsvError(sorted(_file_rows(messages), key=_row_number))
            for _, data in rows:
                db.add(
                    self._apply(
                        db, Citizen(created_at=self.clock()), rules.normal(data, self.hours)
                    )
                )
                db.flush()
            return len(rows)

    # -- helpers ---------------------------------------------------------------------------

    @contextmanager
    def _writing(self) -> Iterator[Session]:
        """One writing transaction. A number taken by a concurrent writer (the database's
        unique index sees it, the rules could not) is the same refusal the rules give."""
        try:
            with Session(self.write_engine, expire_on_commit=False) as db, db.begin():
                yield db
        except IntegrityError as clash:
            raise CitizenError(
                [Problem("numbers", "a number was enrolled meanwhile: check and try again")]
            ) from clash

    def _context(self, db: Session) -> Context:
        numbers = db.execute(
            select(CitizenNumber.number, CitizenNumber.citizen_id, CitizenNumber.position)
        ).all()
        names = {cid: key for cid, key in db.execute(select(Citizen.id, Citizen.name_key))}
        firsts = {cid: n for n, cid, position in numbers if position == 1}
        return Context(
            hours=self.hours,
            today=self.clock().date(),
            taken_numbers={n: cid for n, cid, _ in numbers},
            taken_names={(names[cid], n): cid for cid, n in firsts.items() if cid in names},
        )

    def _apply(self, db: Session, row: Citizen, data: CitizenData) -> Citizen:
        window = rules.parse_window(data.window) or self.hours
        consent = rules.parse_date(data.consent_on)
        assert consent is not None  # checked
        row.name, row.name_key = data.name, rules.name_key(data.name)
        row.language, row.area, row.area_key = data.language, data.area, rules.name_key(data.area)
        row.weekdays = ",".join(data.weekdays)
        row.window_start, row.window_end = window
        row.call_kind, row.notes = data.call_kind, data.notes
        row.consent_on, row.consent_by = consent, data.consent_by
        if row.status is None:
            row.status = "active"
        row.numbers = [CitizenNumber(position=i, number=n) for i, n in enumerate(data.numbers, 1)]
        row.contacts = [
            EmergencyContact(
                position=i,
                name=c.name,
                number=c.number,
                relation=c.relation,
                channel=c.channel,
                email=c.email or None,
            )
            for i, c in enumerate(data.contacts, 1)
        ]
        row.updated_at = self.clock()
        return row

    @staticmethod
    def _row(db: Session, citizen_id: int) -> Citizen | None:
        return db.scalars(
            select(Citizen).where(Citizen.id == citizen_id).options(*_loads())
        ).first()

    def _existing(self, db: Session, citizen_id: int) -> Citizen:
        row = self._row(db, citizen_id)
        if row is None:
            raise CitizenError([Problem("id", f"no citizen {citizen_id}")])
        return row


_OWN = ("teleassistance_numbers", "teleassistance_contacts")


def _referring(leave_out: tuple[str, ...] = ()) -> list[tuple[Table, Any]]:
    """(table, column) for every table of the city database with a foreign key to a citizen,
    every feature's models loaded, children before parents."""
    from ivr.db.migrations import target_metadata

    citizens = Citizen.__table__
    found = []
    for table in reversed(target_metadata().sorted_tables):
        if table.name in leave_out:
            continue
        for fk in table.foreign_keys:
            if fk.column.table is citizens:
                found.append((table, fk.parent))
    return found


def _loads() -> tuple[Any, ...]:
    return (selectinload(Citizen.numbers), selectinload(Citizen.contacts))


def _json(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date | datetime | time) else value


def _file_rows(messages: list[str]) -> list[str]:
    """A clash with an earlier row of the same file (``citizen -N``) said as ``row N``."""
    clash = re.compile(r"already enrolled (?:as )?\(?citizen -(\d+)\)?")
    return [clash.sub(r"also in row \1", m) for m in messages]


def _row_number(message: str) -> int:
    digits = message.removeprefix("row ").split(",")[0].split(":")[0]
    return int(digits) if digits.isdigit() else 0


__all__ = ["CitizenError", "CsvError", "Enrolment", "TeleassistanceStore"]
