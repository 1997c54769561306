"""The enrolment spreadsheet: one row per citizen, read into :class:`CitizenData` with its row.

Columns (header required, any order, comma, semicolon or tab separated):

=============  ========  ==================================================================
column         needed    what
=============  ========  ==================================================================
name           yes       the citizen's name
numbers        yes       their phones, first called first, separated by ``|``:
                         ``0612345678|+39 333 123 4567``
language       yes       it, en, fr, es, de, zh or ar
weekdays       yes       days to call, separated by ``|`` (or spaces): ``mon|thu``
call_kind      yes       ``operator`` (a person calls) or ``automatic``
contacts       yes       emergency contacts separated by ``|``, each
                         ``name/number/relation/channel[/email]``, channel call, sms or
                         email: ``Anna Bianchi/3331112222/daughter/sms|Vicino/0612345679/
                         neighbour/call``
consent_on     yes       the date the citizen consented, ``YYYY-MM-DD``
consent_by     yes       who recorded the consent
window         no        daily call window ``HH:MM-HH:MM`` inside ``NU_TELEASSISTANCE_HOURS``;
                         empty: those whole hours
area           no        district / area (free text)
notes          no        anything the caller should know
=============  ========  ==================================================================

Row 1 is the header, so the first citizen is row 2, as a spreadsheet numbers it. Every row is
enrolled anew: a row naming someone already enrolled is a duplicate, refused like any error.
"""

from __future__ import annotations

import csv
import io

from ivr.teleassistance.rules import (
    CitizenData,
    parse_contacts,
    split_list,
    split_numbers,
)

COLUMNS = (
    "name",
    "numbers",
    "language",
    "weekdays",
    "call_kind",
    "contacts",
    "consent_on",
    "consent_by",
    "window",
    "area",
    "notes",
)
REQUIRED = COLUMNS[:8]


class CsvError(ValueError):
    """A file that cannot be imported, nothing changed: one message per problem, each
    ``row N, field: message``."""

    def __init__(self, messages: list[str]):
        self.messages = messages
        super().__init__("\n".join(messages))


def read_csv(text: str) -> tuple[list[tuple[int, CitizenData]], list[str]]:
    """Rows as enrolments with their row number, and the problems of shape found on the way
    (the enrolments' own rules are the store's to check, against each other and the database,
    so every bad row is reported at once); :class:`CsvError` when the header itself is wrong."""
    text = text.lstrip("\ufeff")  # spreadsheets' UTF-8 byte order mark
    first = text.split("\n", 1)[0]  # the header says the separator (cells may hold any)
    delimiter = max(",;\t", key=first.count)
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    header = [h.strip().lower() for h in next(reader, [])]
    unknown = [h for h in header if h not in COLUMNS]
    missing = [c for c in REQUIRED if c not in header]
    if unknown or missing:
        problems = [f"row 1: unknown column '{h}' (known: {', '.join(COLUMNS)})" for h in unknown]
        problems += [f"row 1: column '{c}' is missing" for c in missing]
        raise CsvError(problems)
    rows: list[tuple[int, CitizenData]] = []
    problems: list[str] = []
    for number, cells in enumerate(reader, start=2):
        if not any(c.strip() for c in cells):
            continue
        if len(cells) > len(header):
            problems.append(f"row {number}: {len(cells)} cells for {len(header)} columns")
            continue
        row = {h: c.strip() for h, c in zip(header, cells, strict=False)}
        rows.append(
            (
                number,
                CitizenData(
                    name=row.get("name", ""),
                    numbers=split_numbers(row.get("numbers", "")),
                    language=row.get("language", ""),
                    weekdays=split_list(row.get("weekdays", "")),
                    call_kind=row.get("call_kind", ""),
                    contacts=parse_contacts(row.get("contacts", "")),
                    consent_on=row.get("consent_on", ""),
                    consent_by=row.get("consent_by", ""),
                    window=row.get("window", ""),
                    area=row.get("area", ""),
                    notes=row.get("notes", ""),
                ),
            )
        )
    return rows, problems
