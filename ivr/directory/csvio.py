"""The directory as CSV: read a file into entries (row numbers kept for messages), write one.

Columns (header required, any order; only ``name`` and ``department`` must be there):
``name, kind, aliases, extension, external, department, hours, enabled``. ``aliases`` are
separated by ``|``; ``hours`` uses the dialplan's syntax (``mon-fri: ["08:30-12:30"]``, quoted
as CSV needs) or ``always``, empty for the department's hours; ``enabled`` is yes/no (default
yes). Row 1 is the header, so the first entry is row 2, as a spreadsheet numbers it.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence

from ivr.directory.rules import EntryData

COLUMNS = ("name", "kind", "aliases", "extension", "external", "department", "hours", "enabled")
REQUIRED = ("name", "department")
_YES = {"", "yes", "y", "true", "1", "si", "sì"}
_NO = {"no", "n", "false", "0"}


def split_aliases(text: str) -> tuple[str, ...]:
    return tuple(a.strip() for a in text.split("|") if a.strip())


class CsvError(ValueError):
    """A file that cannot be imported: one message per problem, each naming row and field."""

    def __init__(self, messages: list[str]):
        self.messages = messages
        super().__init__("\n".join(messages))


def table_rows(
    reader: Iterator[list[str]], columns: Sequence[str], required: Iterable[str]
) -> tuple[list[tuple[int, dict[str, str]]], list[str]]:
    """A CSV's rows as ``{column: cell}`` with their row number (blank rows skipped), and the
    rows with too many cells as problems; :class:`CsvError` when the header is wrong. Shared by
    every all-or-nothing import (the directory, teleassistance enrolment)."""
    header = [h.strip().lower() for h in next(reader, [])]
    unknown = [h for h in header if h not in columns]
    missing = [c for c in required if c not in header]
    if unknown or missing:
        problems = [f"row 1: unknown column '{h}' (known: {', '.join(columns)})" for h in unknown]
        problems += [f"row 1: column '{c}' is missing" for c in missing]
        raise CsvError(problems)
    rows: list[tuple[int, dict[str, str]]] = []
    problems = []
    for number, cells in enumerate(reader, start=2):
        if not any(c.strip() for c in cells):
            continue
        if len(cells) > len(header):
            problems.append(f"row {number}: {len(cells)} cells for {len(header)} columns")
            continue
        rows.append((number, {h: c.strip() for h, c in zip(header, cells, strict=False)}))
    return rows, problems


def read_csv(text: str) -> tuple[list[tuple[int, EntryData]], list[str]]:
    """Rows as entries, with their row number, and the rows' problems of shape (the entries'
    own rules are checked by the store, against the dialplan and each other, so that every bad
    row is reported at once); :class:`CsvError` when the header itself is wrong."""
    text = text.lstrip("\ufeff")  # spreadsheets' UTF-8 byte order mark
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(text[:2048], ",;\t")
    except csv.Error:
        dialect = csv.excel
    table, problems = table_rows(csv.reader(io.StringIO(text), dialect), COLUMNS, REQUIRED)
    rows: list[tuple[int, EntryData]] = []
    for number, row in table:
        enabled = row.get("enabled", "").lower()
        if enabled not in _YES | _NO:
            problems.append(f"row {number}, enabled: '{row['enabled']}' is not yes or no")
        rows.append(
            (
                number,
                EntryData(
                    name=row.get("name", ""),
                    department=row.get("department", ""),
                    kind=row.get("kind", "") or "office",
                    aliases=split_aliases(row.get("aliases", "")),
                    extension=row.get("extension", ""),
                    external=row.get("external", ""),
                    hours=row.get("hours", ""),
                    enabled=enabled not in _NO,
                ),
            )
        )
    return rows, problems


def write_csv(entries: Iterable[EntryData]) -> str:
    """The entries as a CSV file :func:`read_csv` reads back."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for e in entries:
        writer.writerow(
            [
                e.name,
                e.kind,
                "|".join(e.aliases),
                e.extension,
                e.external,
                e.department,
                e.hours,
                "yes" if e.enabled else "no",
            ]
        )
    return out.getvalue()
