"""What an enrolment must be, checked without I/O: the admin page, the CLI, the CSV import and
the tests all get the same messages, each naming its field (``name``, ``numbers``,
``language``, ``area``, ``weekdays``, ``window``, ``call_kind``, ``contacts``, ``consent_on``,
``consent_by``, ``notes``; a suspension's ``reason``, ``from``, ``to``).

Messages never repeat a phone number, an e-mail address or a name: they reach terminals and
import reports, and a number is only ever shown masked. Numbers are the project's: the typed
separators (spaces, ``-./()``) go, then :func:`ivr.callbacks.node.normalize_number` decides
whether it is a number at all and :func:`ivr.kpi.caller_hash.normal_number` drops Italy's
prefix, so ``+39 333 123 4567`` and ``3331234567`` are one phone.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, time

from booking.service import is_mobile
from ivr.callbacks.models import LANGUAGES
from ivr.callbacks.node import MIN_DIGITS, normalize_number
from ivr.directory.rules import fold
from ivr.kpi.caller_hash import normal_number
from ivr.operators.rules import normal_name
from ivr.teleassistance.models import CHANNELS, KINDS

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
SUSPENSION_REASONS = ("holiday", "hospital", "other")
NAME_MAX, AREA_MAX, RELATION_MAX, BY_MAX, EMAIL_MAX, NOTES_MAX = 80, 60, 40, 64, 120, 2000
_SEPARATORS = re.compile(r"[\s\-./()]")
_WINDOW = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
_EMAIL = re.compile(r"^[^@\s/|]+@[^@\s/|]+\.[^@\s/|]+$")


@dataclass(frozen=True)
class Problem:
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class CitizenError(ValueError):
    """An enrolment or a change that cannot be saved; nothing was changed."""

    def __init__(self, problems: Iterable[Problem]):
        self.problems = list(problems)
        super().__init__("; ".join(str(p) for p in self.problems))


@dataclass(frozen=True)
class ContactData:
    """Someone to alert: ``channel`` call, sms (a mobile number) or email (``email`` needed)."""

    name: str
    number: str
    relation: str
    channel: str = "call"
    email: str = ""


@dataclass(frozen=True)
class CitizenData:
    """An enrolment as typed (form, command line, CSV row): strings, not yet checked.

    ``window`` is ``HH:MM-HH:MM`` local time, "" for the whole calling hours; ``consent_on``
    is ``YYYY-MM-DD``."""

    name: str
    numbers: tuple[str, ...]
    language: str
    weekdays: tuple[str, ...]
    call_kind: str
    contacts: tuple[ContactData, ...]
    consent_on: str
    consent_by: str
    window: str = ""
    area: str = ""
    notes: str = ""


@dataclass(frozen=True)
class Context:
    """What an enrolment is checked against: the calling hours, today, the city's languages and
    who is enrolled already (canonical number -> citizen id; (name key, first number) -> id)."""

    hours: tuple[time, time]
    today: date
    languages: Collection[str] = LANGUAGES
    taken_numbers: Mapping[str, int] = field(default_factory=dict)
    taken_names: Mapping[tuple[str, str], int] = field(default_factory=dict)


# -- parsing what was typed --------------------------------------------------------------------


def canonical_number(raw: str) -> str:
    """The digits a number is stored and compared as; "" when it is not a phone number."""
    dialable = normalize_number(_SEPARATORS.sub("", raw))
    number = normal_number(dialable) if dialable else ""
    return number if len(number) >= MIN_DIGITS else ""


def parse_window(text: str) -> tuple[time, time] | None:
    """``"09:00-20:00"`` as (start, end), start before end; None when it is not one."""
    found = _WINDOW.match(text)
    if not found:
        return None
    h1, m1, h2, m2 = (int(g) for g in found.groups())
    if h1 > 23 or h2 > 23 or m1 > 59 or m2 > 59:
        return None
    start, end = time(h1, m1), time(h2, m2)
    return (start, end) if start < end else None


def show_window(window: tuple[time, time]) -> str:
    return f"{window[0]:%H:%M}-{window[1]:%H:%M}"


def split_list(text: str) -> tuple[str, ...]:
    """``"a|b"``, ``"a, b"`` or ``"a b"``: how numbers and weekdays are typed in one cell."""
    return tuple(part for part in re.split(r"[|,;\s]+", text) if part)


def split_numbers(text: str) -> tuple[str, ...]:
    """Numbers are separated by ``|`` or ``,`` only: spaces may be inside a number."""
    return tuple(part.strip() for part in re.split(r"[|,]", text) if part.strip())


def parse_contact(text: str) -> ContactData:
    """``name/number/relation/channel[/email]`` (channel call when left out)."""
    parts = [part.strip() for part in text.split("/")]
    parts += [""] * (5 - len(parts))
    name, number, relation, channel, email = parts[:5]
    extra = "/".join(parts[5:])
    return ContactData(name, number, relation, channel.lower() or "call", email + extra)


def parse_contacts(text: str) -> tuple[ContactData, ...]:
    """Contacts separated by ``|``, each :func:`parse_contact`."""
    return tuple(parse_contact(part) for part in text.split("|") if part.strip())


def show_contact(contact: ContactData) -> str:
    fields = [contact.name, contact.number, contact.relation, contact.channel]
    return "/".join([*fields, contact.email] if contact.email else fields)


def parse_date(text: str) -> date | None:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        return None


# -- checking ----------------------------------------------------------------------------------


def check(data: CitizenData, ctx: Context, citizen_id: int | None = None) -> list[Problem]:
    """Every problem with ``data``; ``citizen_id`` is the citizen being edited (not a duplicate
    of themselves)."""
    problems = [Problem("name", m) for m in _text_problems(data.name, NAME_MAX, "a name")]
    numbers, wrong = _numbers(data.numbers)
    problems += [Problem("numbers", m) for m in wrong]
    problems += _duplicate_problems(data.name, numbers, ctx, citizen_id)
    language = data.language.strip().lower()
    if language not in ctx.languages:
        problems.append(
            Problem(
                "language",
                f"{data.language.strip()!r} is not one of the city's languages "
                f"({', '.join(ctx.languages)})",
            )
        )
    if len(" ".join(data.area.split())) > AREA_MAX:
        problems.append(Problem("area", f"at most {AREA_MAX} characters"))
    problems += [Problem("weekdays", m) for m in _weekday_problems(data.weekdays)]
    problems += [Problem("window", m) for m in _window_problems(data.window, ctx.hours)]
    if data.call_kind.strip().lower() not in KINDS:
        problems.append(Problem("call_kind", f"must be one of {', '.join(KINDS)}"))
    problems += [Problem("contacts", m) for m in _contact_problems(data.contacts, numbers)]
    consent = parse_date(data.consent_on)
    if consent is None:
        problems.append(Problem("consent_on", "the date of the consent, YYYY-MM-DD"))
    elif consent > ctx.today:
        problems.append(Problem("consent_on", "a consent cannot be given in the future"))
    problems += [
        Problem("consent_by", m)
        for m in _text_problems(data.consent_by, BY_MAX, "who recorded the consent", names=False)
    ]
    if len(data.notes) > NOTES_MAX:
        problems.append(Problem("notes", f"at most {NOTES_MAX} characters"))
    return problems


def check_suspension(reason: str, start: date | None, end: date | None) -> list[Problem]:
    problems = []
    if reason not in SUSPENSION_REASONS:
        problems.append(Problem("reason", f"must be one of {', '.join(SUSPENSION_REASONS)}"))
    if start is not None and end is not None and end < start:
        problems.append(Problem("to", "the suspension ends before it starts"))
    return problems


def suspended_on(status: str, start: date | None, end: date | None, day: date) -> bool:
    """Whether a citizen is not to be called on ``day``: suspended, and ``day`` inside the
    suspension (no start: from when it was recorded; no end: until resumed)."""
    if status != "suspended":
        return False
    return (start is None or start <= day) and (end is None or day <= end)


def normal(data: CitizenData, hours: tuple[time, time]) -> CitizenData:
    """The enrolment as stored (call after :func:`check` found nothing): canonical numbers,
    weekdays in week order, the window written out, names and area with single spaces."""
    window = parse_window(data.window) if data.window.strip() else hours
    days = {d.strip().lower() for d in data.weekdays}
    return replace(
        data,
        name=normal_name(data.name),
        numbers=tuple(canonical_number(n) for n in data.numbers),
        language=data.language.strip().lower(),
        weekdays=tuple(d for d in WEEKDAYS if d in days),
        call_kind=data.call_kind.strip().lower(),
        contacts=tuple(
            ContactData(
                name=normal_name(c.name),
                number=canonical_number(c.number),
                relation=" ".join(c.relation.split()),
                channel=c.channel.strip().lower(),
                email=c.email.strip(),
            )
            for c in data.contacts
        ),
        consent_on=data.consent_on.strip(),
        consent_by=" ".join(data.consent_by.split()),
        window=show_window(window) if window else "",
        area=" ".join(data.area.split()),
        notes=data.notes.strip(),
    )


def name_key(name: str) -> str:
    """How names are compared: lowercase, accents off, single spaces (the directory's fold)."""
    return fold(name)


# -- the pieces ----------------------------------------------------------------------------------


def _text_problems(text: str, most: int, what: str, *, names: bool = True) -> list[str]:
    """A name: letters, spaces and ``.'-`` (``/`` and ``|`` are the CSV's separators)."""
    clean = unicodedata.normalize("NFC", text).strip()
    if not clean:
        return [f"{what} is needed"]
    if len(clean) > most:
        return [f"at most {most} characters"]
    allowed = " .'-" if names else " .'-_@"
    if any(not (ch.isalnum() or ch in allowed) for ch in clean):
        return [f"only letters, digits, spaces and {allowed.strip()} are allowed"]
    return []


def _numbers(typed: tuple[str, ...]) -> tuple[dict[str, int], list[str]]:
    """The canonical numbers (-> their place as typed), and what is wrong with the rest (never
    echoing what was typed)."""
    numbers: dict[str, int] = {}
    problems = [] if typed else ["at least one phone number"]
    for i, raw in enumerate(typed, start=1):
        number = canonical_number(raw)
        if not number:
            problems.append(f"number {i} is not a phone number (6 to 15 digits, + first)")
        elif number in numbers:
            problems.append(f"number {i} is given twice")
        else:
            numbers[number] = i
    return numbers, problems


def _duplicate_problems(
    name: str, numbers: dict[str, int], ctx: Context, citizen_id: int | None
) -> list[Problem]:
    problems = []
    first = next(iter(numbers), "")
    twin = ctx.taken_names.get((name_key(name), first))
    if first and twin is not None and twin != citizen_id:
        problems.append(
            Problem("name", f"already enrolled as citizen {twin} (same name and first number)")
        )
    for number, i in numbers.items():
        holder = ctx.taken_numbers.get(number)
        if holder is not None and holder != citizen_id and not (number == first and holder == twin):
            problems.append(
                Problem("numbers", f"number {i} is already enrolled (citizen {holder})")
            )
    return problems


def _weekday_problems(days: tuple[str, ...]) -> list[str]:
    if not days:
        return [f"at least one day ({', '.join(WEEKDAYS)})"]
    unknown = [d for d in days if d.strip().lower() not in WEEKDAYS]
    if unknown:
        return [f"{', '.join(map(repr, unknown))}: days are {', '.join(WEEKDAYS)}"]
    return []


def _window_problems(text: str, hours: tuple[time, time]) -> list[str]:
    if not text.strip():
        return []
    window = parse_window(text)
    if window is None:
        return [f"{text.strip()!r} is not a start-end time such as 10:00-12:00"]
    if window[0] < hours[0] or window[1] > hours[1]:
        return [f"{show_window(window)} is outside the calling hours {show_window(hours)}"]
    return []


def _contact_problems(contacts: tuple[ContactData, ...], own: Collection[str]) -> list[str]:
    if not contacts:
        return ["at least one emergency contact (a relative, a neighbour, social services)"]
    problems = []
    for i, c in enumerate(contacts, start=1):
        problems += [f"contact {i}, name: {m}" for m in _text_problems(c.name, NAME_MAX, "a name")]
        number = canonical_number(c.number)
        channel = c.channel.strip().lower()
        if not number:
            problems.append(f"contact {i}, number: not a phone number")
        elif number in own:
            problems.append(f"contact {i}, number: is the citizen's own number")
        elif channel == "sms" and not is_mobile(number):
            problems.append(f"contact {i}, number: an SMS needs a mobile number")
        relation = " ".join(c.relation.split())
        if not relation:
            problems.append(f"contact {i}, relation: who they are (daughter, neighbour...)")
        elif len(relation) > RELATION_MAX:
            problems.append(f"contact {i}, relation: at most {RELATION_MAX} characters")
        if channel not in CHANNELS:
            problems.append(f"contact {i}, channel: must be one of {', '.join(CHANNELS)}")
        email = c.email.strip()
        if channel == "email" and not email:
            problems.append(f"contact {i}, email: an e-mail address is needed for channel email")
        if email and (len(email) > EMAIL_MAX or not _EMAIL.match(email)):
            problems.append(f"contact {i}, email: not an e-mail address")
    return problems
