"""What a directory entry may hold, checked without I/O: every message names its field.

Names and aliases reach Asterisk (a staff phone's caller id, ``pjsip_directory.conf``) and the
speech grammar, so they are letters (accents included), digits, spaces and ``. ' - /`` only:
anything SIP- or config-hostile (``" < > ; , = @ $ { } |`` newlines...) is refused, not cleaned.
An extension must not be a number the city's Asterisk already answers: the city number, a
feature code (``*``/``#``), an operator's ``1XX`` or a department's ``8NN``
(``asterisk-conf/extensions.conf`` [from-operators], ``ivr/asterisk/render.py``). Hours use the
dialplan's own weekly-hours syntax, parsed by the dialplan's own reader.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

import yaml

from ivr.flow.calendar import department_open
from ivr.flow.loader import FieldReader, _LineLoader, _Map
from ivr.flow.model import WeeklyHours

KINDS = ("office", "person")
EXTENSION = re.compile(r"^[0-9]{2,6}$")
EXTERNAL = re.compile(r"^\+?[0-9]{3,20}$")
MAX_NAME = 60


@dataclass(frozen=True)
class EntryData:
    """An entry as typed (admin form, CSV row): strings, not yet checked."""

    name: str
    department: str
    kind: str = "office"
    aliases: tuple[str, ...] = ()
    extension: str = ""
    external: str = ""
    hours: str = ""
    enabled: bool = True


@dataclass(frozen=True)
class Problem:
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


@dataclass(frozen=True)
class Context:
    """What entries are checked against: the published dialplan's departments and number."""

    departments: frozenset[str]
    city_number: str = ""
    taken_names: dict[str, int] = field(default_factory=dict)  # name key -> entry id
    taken_extensions: dict[str, int] = field(default_factory=dict)  # extension -> entry id


def fold(text: str) -> str:
    """Lowercase, accents off, single spaces: how names are compared and matched."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(plain.casefold().replace("'", " ").split())


def safe_text(text: str) -> bool:
    return all(
        (ch.isalnum() and unicodedata.category(ch)[0] in "LN") or ch in " .'-/" for ch in text
    )


def parse_hours(text: str) -> tuple[WeeklyHours | None, str]:
    """``always``, or the dialplan's map (``mon-fri: ["08:30-12:30"], sat: [...]``, braces
    optional); "" means "the department's hours" (None). Returns (hours, error message)."""
    text = text.strip()
    if not text:
        return None, ""
    if text == "always":
        return WeeklyHours(always=True), ""
    body = text if text.startswith("{") else "{" + text + "}"
    loader = _LineLoader(f"hours: {body}")
    try:
        doc = loader.get_single_data()
    except yaml.YAMLError:
        doc = None
    finally:
        loader.dispose()
    if not isinstance(doc, _Map):
        return None, 'not hours like mon-fri: ["08:30-12:30"], sat: ["09:00-12:00"] or always'
    reader = FieldReader("hours")
    hours = reader.hours(doc, "")
    if reader.issues:
        return None, "; ".join(issue.message for issue in reader.issues)
    return hours, ""


def extension_clash(extension: str, city_number: str) -> str:
    """Why Asterisk already uses this number ("" when it is free)."""
    if extension == city_number:
        return "is the city number"
    if len(extension) == 3 and extension[0] == "1":
        return "clashes with the operators' extensions (1XX)"
    if len(extension) == 3 and extension[0] == "8":
        return "clashes with the department transfer codes (8NN)"
    return ""


def check_entry(data: EntryData, context: Context, entry_id: int | None = None) -> list[Problem]:
    """Every problem of ``data`` (an existing entry ``entry_id`` may keep its own name and
    extension)."""
    problems: list[Problem] = []
    name = data.name.strip()
    if not name:
        problems.append(Problem("name", "is required"))
    elif len(name) > MAX_NAME:
        problems.append(Problem("name", f"is longer than {MAX_NAME} characters"))
    elif not safe_text(name):
        problems.append(Problem("name", "may hold only letters, digits, spaces and . ' - /"))
    elif context.taken_names.get(fold(name), entry_id) != entry_id:
        problems.append(Problem("name", f"'{name}' is already in the directory"))
    for alias in data.aliases:
        if not safe_text(alias) or len(alias) > MAX_NAME:
            problems.append(
                Problem("aliases", f"'{alias}' may hold only letters, digits, spaces and . ' - /")
            )
    if data.kind not in KINDS:
        problems.append(Problem("kind", f"'{data.kind}' is not office or person"))
    problems += _destination(data, context, entry_id)
    if not data.department:
        problems.append(Problem("department", "is required (the fallback when nobody answers)"))
    elif data.department not in context.departments:
        problems.append(Problem("department", f"'{data.department}' is not a department"))
    _, error = parse_hours(data.hours)
    if error:
        problems.append(Problem("hours", error))
    return problems


def _destination(data: EntryData, context: Context, entry_id: int | None) -> list[Problem]:
    if bool(data.extension) == bool(data.external):
        return [Problem("extension", "give either an extension or an external number")]
    if data.external:
        if not EXTERNAL.match(data.external):
            return [Problem("external", f"'{data.external}' is not a phone number (digits, +)")]
        return []
    ext = data.extension
    if not EXTENSION.match(ext):
        return [Problem("extension", f"'{ext}' is not 2 to 6 digits")]
    clash = extension_clash(ext, context.city_number)
    if clash:
        return [Problem("extension", f"'{ext}' {clash}")]
    if context.taken_extensions.get(ext, entry_id) != entry_id:
        return [Problem("extension", f"'{ext}' is already another entry's")]
    return []


def open_at(department: Any, hours: Any, calendar: Any, now: Any, switches: Any) -> bool:
    """Whether an entry is open at ``now``: its own weekly ``hours`` (None: its department's),
    with the city's holidays, closures and switches. The IVR's node and the desk both ask here."""
    own = dataclasses.replace(department, hours=hours if hours is not None else department.hours)
    return department_open(own, calendar, now, switches).open
