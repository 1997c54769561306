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

from ivr.directory.csvio import CsvError, table_rows
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


def read_csv(text: str) -> tuple[list[tuple[int, CitizenData]], list[str]]:
    """Rows as enrolments with their row number, and the problems of shape found on the way
    (the enrolments' own rules are the store's to check, against each other and the database,
    so every bad row is reported at once); :class:`CsvError` when the header itself is wrong."""
    text = text.lstrip("\ufeff")  # spreadsheets' UTF-8 byte order mark
    first = text.split("\n", 1)[0]  # the header says the separator (cells may hold any)
    delimiter = max(",;\t", key=first.count)
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    table, problems = table_rows(reader, COLUMNS, REQUIRED)
    rows: list[tuple[int, CitizenData]] = []
    for number, row in table:
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


__all__ = ["COLUMNS", "CsvError", "read_csv"]
