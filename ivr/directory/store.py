"""Directory entries in the database: searched, changed one at a time or imported whole, and
answered to calls as the ``directory.*`` services.

Every change is checked first (:mod:`ivr.directory.rules`, against the published dialplan and
the other entries) and written in one transaction: an import with one bad row changes nothing
and says what is wrong with every row. What a caller keyed or said never reaches a log line.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from ivr.db import writer
from ivr.directory.csvio import CsvError, read_csv, split_aliases, write_csv
from ivr.directory.matching import (
    Named,
    Reach,
    grammar,
    match_keys,
    match_said,
)
from ivr.directory.models import DirectoryEntry
from ivr.directory.rules import Context, EntryData, Problem, check_entry, fold, parse_hours
from ivr.flow.services import Service


class EntryError(ValueError):
    """An entry that cannot be saved; ``problems`` name each field."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("; ".join(map(str, problems)))


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def as_data(row: DirectoryEntry) -> EntryData:
    return EntryData(
        name=row.name,
        department=row.department,
        kind=row.kind,
        aliases=tuple(a for a in row.aliases.split("|") if a),
        extension=row.extension or "",
        external=row.external or "",
        hours=row.hours,
        enabled=row.enabled,
    )


def describe(row: DirectoryEntry | None) -> str:
    """One line for the audit log (never the staff phone's secret)."""
    if row is None:
        return ""
    d = as_data(row)
    where = f"ext {d.extension}" if d.extension else f"external {d.external}"
    return (
        f"{d.name} ({d.kind}) {where} department={d.department} hours={d.hours or '-'} "
        f"aliases={'|'.join(d.aliases) or '-'} enabled={d.enabled}"
    )


@dataclass(frozen=True)
class ImportResult:
    added: int
    updated: int


@dataclass(frozen=True)
class StaffPhone:
    """An enabled extension entry's SIP account (``pjsip_directory.conf``)."""

    extension: str
    name: str
    secret: str


class DirectoryStore:
    def __init__(self, engine: Engine, pbx_dial: str = "") -> None:
        self.engine = engine
        self.write_engine = writer(engine)
        self.pbx_dial = pbx_dial  # "PJSIP/{number}@city-pbx": NU_PBX_DIAL

    # -- reading ---------------------------------------------------------------------------

    def entries(self, query: str = "", *, enabled_only: bool = False) -> list[DirectoryEntry]:
        """Entries by name; ``query`` keeps those whose name, alias or extension holds it."""
        with Session(self.engine, expire_on_commit=False) as db:
            stmt = select(DirectoryEntry).order_by(DirectoryEntry.name_key)
            if enabled_only:
                stmt = stmt.where(DirectoryEntry.enabled.is_(True))
            rows = list(db.scalars(stmt))
        wanted = fold(query)
        if not wanted:
            return rows
        return [
            r
            for r in rows
            if wanted in fold(r.name)
            or wanted in fold(r.aliases.replace("|", " "))
            or wanted == (r.extension or "")
        ]

    def get(self, entry_id: int) -> DirectoryEntry | None:
        with Session(self.engine, expire_on_commit=False) as db:
            return db.get(DirectoryEntry, entry_id)

    def context(self, dialplan: Any, db: Session | None = None) -> Context:
        """What new entries are checked against: the dialplan and the entries stored now."""
        rows = list((db or Session(self.engine)).scalars(select(DirectoryEntry)))
        return Context(
            departments=frozenset(dialplan.departments),
            city_number=dialplan.number,
            taken_names={r.name_key: r.id for r in rows},
            taken_extensions={r.extension: r.id for r in rows if r.extension},
        )

    def export_csv(self) -> str:
        return write_csv(as_data(r) for r in self.entries())

    def staff_phones(self) -> list[StaffPhone]:
        return [
            StaffPhone(r.extension, r.name, r.sip_secret)
            for r in self.entries(enabled_only=True)
            if r.extension and r.sip_secret
        ]

    # -- changing --------------------------------------------------------------------------

    def save(
        self, data: EntryData, dialplan: Any, entry_id: int | None = None
    ) -> tuple[DirectoryEntry, str]:
        """Add (``entry_id`` None) or change an entry; returns it and how it was before
        (:func:`describe`, "" when new). :class:`EntryError` when it breaks a rule."""
        with Session(self.write_engine, expire_on_commit=False) as db, db.begin():
            row = db.get(DirectoryEntry, entry_id) if entry_id is not None else None
            if entry_id is not None and row is None:
                raise EntryError([Problem("id", f"no entry {entry_id}")])
            problems = check_entry(data, self.context(dialplan, db), entry_id)
            if problems:
                raise EntryError(problems)
            before = describe(row)
            row = self._apply(db, row, data)
        return row, before

    def set_enabled(self, entry_id: int, enabled: bool) -> tuple[DirectoryEntry, str] | None:
        with Session(self.write_engine, expire_on_commit=False) as db, db.begin():
            row = db.get(DirectoryEntry, entry_id)
            if row is None:
                return None
            before = describe(row)
            row.enabled, row.updated_at = enabled, utcnow()
        return row, before

    def import_csv(self, text: str, dialplan: Any) -> ImportResult:
        """Add or update (by name) every row of a CSV file, or nothing: :class:`CsvError`
        with one message per bad row, naming the row and the field."""
        rows, messages = read_csv(text)
        with Session(self.write_engine, expire_on_commit=False) as db, db.begin():
            context = self.context(dialplan, db)
            seen_names: dict[str, int] = {}
            seen_ext: dict[str, int] = {}
            for number, data in rows:
                key = fold(data.name)
                existing = context.taken_names.get(key)
                for problem in check_entry(data, _without_file_rows(context, rows), existing):
                    messages.append(f"row {number}, {problem}")
                if key and key in seen_names:
                    messages.append(
                        f"row {number}, name: '{data.name}' is also row {seen_names[key]}"
                    )
                seen_names.setdefault(key, number)
                if data.extension and data.extension in seen_ext:
                    messages.append(
                        f"row {number}, extension: '{data.extension}' is also row "
                        f"{seen_ext[data.extension]}'s"
                    )
                if data.extension:
                    seen_ext.setdefault(data.extension, number)
            if messages:
                raise CsvError(sorted(messages, key=_row_number))
            added = updated = 0
            by_key = {r.name_key: r for r in db.scalars(select(DirectoryEntry))}
            for _, data in rows:
                row = by_key.get(fold(data.name))
                updated += row is not None
                added += row is None
                self._apply(db, row, data)
                db.flush()  # a moved extension is free before the next row takes it
        return ImportResult(added, updated)

    def _apply(self, db: Session, row: DirectoryEntry | None, data: EntryData) -> DirectoryEntry:
        now = utcnow()
        if row is None:
            row = DirectoryEntry(created_at=now)
            db.add(row)
        row.name = " ".join(data.name.split())
        row.name_key = fold(data.name)
        row.aliases = "|".join(" ".join(a.split()) for a in data.aliases)
        row.kind = data.kind
        row.extension = data.extension or None
        row.external = data.external or None
        row.department = data.department
        row.hours = data.hours.strip()
        row.enabled = data.enabled
        if row.extension and not row.sip_secret:
            row.sip_secret = secrets.token_urlsafe(12)
        row.updated_at = now
        return row

    # -- the phone's side --------------------------------------------------------------------

    def dial_string(self, row: DirectoryEntry) -> str:
        if row.extension:
            return f"PJSIP/{row.extension}"
        if row.external and self.pbx_dial:
            return self.pbx_dial.replace("{number}", row.external)
        return ""

    def _reach(self, rows: Sequence[DirectoryEntry], named: list[Named]) -> list[Reach]:
        by_id = {r.id: r for r in rows}
        return [
            Reach(
                id=n.id,
                name=n.name,
                dial=self.dial_string(by_id[n.id]),
                department=by_id[n.id].department,
                hours=parse_hours(by_id[n.id].hours)[0],
            )
            for n in named
        ]

    def _named(self) -> tuple[list[DirectoryEntry], list[Named]]:
        rows = self.entries(enabled_only=True)
        return rows, [Named(r.id, r.name, split_aliases(r.aliases)) for r in rows]

    def services(self) -> dict[str, Service]:
        """``directory.keys`` {digits}, ``directory.said`` {text} -> matches (:class:`Reach`,
        best first); ``directory.grammar`` {} -> the phrases to listen for."""

        def keys(args: dict[str, Any]) -> list[Reach]:
            rows, named = self._named()
            return self._reach(rows, match_keys(str(args.get("digits", "")), named))

        def said(args: dict[str, Any]) -> list[Reach]:
            rows, named = self._named()
            return self._reach(rows, match_said(str(args.get("text", "")), named))

        def phrases(args: dict[str, Any]) -> tuple[str, ...]:
            return grammar(self._named()[1])

        return {"directory.keys": keys, "directory.said": said, "directory.grammar": phrases}


def _row_number(message: str) -> int:
    digits = message.removeprefix("row ").split(",")[0].split(":")[0]
    return int(digits) if digits.isdigit() else 0


def _without_file_rows(context: Context, rows: list[tuple[int, EntryData]]) -> Context:
    """The context an imported row is checked in: its own stored entry (same name) may keep its
    extension; an extension moved away by another row of the file is free."""
    moving = {fold(d.name) for _, d in rows}
    taken_ext = {
        ext: i
        for ext, i in context.taken_extensions.items()
        if not any(context.taken_names.get(k) == i for k in moving)
    }
    return Context(context.departments, context.city_number, context.taken_names, taken_ext)


__all__ = ["CsvError", "DirectoryStore", "EntryError", "ImportResult", "StaffPhone"]


def database_services(url: str, pbx_dial: str = "") -> dict[str, Service]:
    """The ``directory.*`` services on the city database at ``url``, migrated on first use
    (:func:`ivr.db.ready`, once per process): a database down at start only makes the directory
    answer "unavailable" (the caller is put through to the operator) until it is back."""
    from ivr.db import ready

    def call(name: str) -> Service:
        def service(args: dict[str, Any]) -> Any:
            return DirectoryStore(ready(url), pbx_dial).services()[name](args)

        return service

    return {name: call(name) for name in ("directory.keys", "directory.said", "directory.grammar")}
