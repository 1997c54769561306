"""Back-office requests: what a request is, its deadlines, its order in the work queue. Pure.

The INAIL seed's lesson is the reason for this module: when the timeliness of a report drove the
work, not the severity of the problem, nobody could work on priorities. So the work queue is
ordered by **SLA deadline, then severity**, never by arrival (:func:`queue_order`); a deadline
comes from the category's hours for that severity, or the city's defaults (:data:`DEFAULT_SLA`).

Statuses move along :data:`TRANSITIONS`; ``closed`` is final. A new request is checked field by
field (:func:`check`), every problem naming its field, so a web form, the GeoReport API and the
desk all say the same thing. Two submissions of the same citizen, category and text within
:data:`DUPLICATE_MINUTES` are one request (:func:`duplicate_key`).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timedelta

# One rule for a phone number across the city's features (+39 333..., 0039 333... and 333...
# are one phone); the enrolment's, which builds on the callbacks' and the KPIs' rules.
from ivr.teleassistance.rules import canonical_number

SEVERITIES = ("urgent", "high", "normal", "low")
STATUSES = ("new", "in_progress", "waiting_citizen", "solved", "closed")
OPEN = ("new", "in_progress", "waiting_citizen")
CHANNELS = ("phone", "sms", "email")
SOURCES = ("phone", "desk", "open311")
LANGUAGES = ("it", "en", "fr", "es", "de", "zh", "ar")

DEFAULT_SLA = {"urgent": 4, "high": 24, "normal": 72, "low": 168}
"""Hours from the request to its deadline, per severity, for categories that set none."""

TRANSITIONS = {
    "new": {"in_progress", "waiting_citizen", "solved", "closed"},
    "in_progress": {"waiting_citizen", "solved", "closed"},
    "waiting_citizen": {"in_progress", "solved", "closed"},
    "solved": {"in_progress", "closed"},  # reopened when the answer did not help
    "closed": set(),
}

DESCRIPTION_MAX = 4000  # GeoReport v2's limit for a description
DUPLICATE_MINUTES = 10
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_CATEGORY = re.compile(r"^[a-z0-9_]{1,40}$")


@dataclass(frozen=True)
class Problem:
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class RequestError(ValueError):
    """A request, or a change to one, that cannot be stored; every problem names its field."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = problems


@dataclass(frozen=True)
class NewRequest:
    """A request as it arrives (desk form, IVR, GeoReport POST): strings, not yet checked."""

    category: str
    description: str = ""
    severity: str = "normal"
    number: str = ""
    email: str = ""
    channel: str = "phone"
    language: str = "it"
    source: str = "desk"
    transcript: str = ""
    recording: str = ""  # a file name in the back office's recordings folder
    address: str = ""
    lat: float | None = None
    long: float | None = None
    call_id: str = ""  # the call it came from (the desk, the IVR): context, not personal


@dataclass(frozen=True)
class Category:
    """A kind of request a department handles; ``sla`` hours per severity override defaults."""

    code: str
    department: str
    name: str
    description: str = ""
    sla: dict[str, int] = field(default_factory=dict)
    active: bool = True


def check(data: NewRequest, categories: dict[str, Category]) -> list[Problem]:
    """Every problem of a new request, each naming its field."""
    problems: list[Problem] = []
    category = categories.get(data.category)
    if not data.category.strip():
        problems.append(Problem("category", "choose a category"))
    elif category is None or not category.active:
        problems.append(Problem("category", f"no such category: {data.category[:40]!r}"))
    if data.severity not in SEVERITIES:
        problems.append(Problem("severity", f"one of {', '.join(SEVERITIES)}"))
    text = data.description.strip()
    if not text and not data.recording and not data.transcript:
        problems.append(Problem("description", "say what the problem is"))
    if len(data.description) > DESCRIPTION_MAX:
        problems.append(
            Problem("description", f"at most {DESCRIPTION_MAX} characters, not {len(text)}")
        )
    number = canonical_number(data.number)
    if data.number.strip() and not number:
        problems.append(Problem("number", "not a phone number"))
    if data.email.strip() and not _EMAIL.match(data.email.strip()):
        problems.append(Problem("email", "not an e-mail address"))
    if data.channel not in CHANNELS:
        problems.append(Problem("channel", f"one of {', '.join(CHANNELS)}"))
    elif data.channel in ("phone", "sms") and not number:
        problems.append(Problem("number", f"needed to answer by {data.channel}"))
    elif data.channel == "email" and not data.email.strip():
        problems.append(Problem("email", "needed to answer by e-mail"))
    if data.language not in LANGUAGES:
        problems.append(Problem("language", f"one of {', '.join(LANGUAGES)}"))
    if data.source not in SOURCES:
        problems.append(Problem("source", f"one of {', '.join(SOURCES)}"))
    for name, value, low, high in (("lat", data.lat, -90, 90), ("long", data.long, -180, 180)):
        if value is not None and not low <= value <= high:
            problems.append(Problem(name, f"between {low} and {high}"))
    return problems


def check_category(category: Category) -> list[Problem]:
    problems = []
    if not _CATEGORY.match(category.code):
        problems.append(Problem("code", "lowercase letters, digits and _ (at most 40)"))
    if not category.name.strip():
        problems.append(Problem("name", "a name citizens understand"))
    if not category.department.strip():
        problems.append(Problem("department", "the department that handles it"))
    for severity, hours in category.sla.items():
        if severity not in SEVERITIES:
            problems.append(Problem("sla", f"unknown severity {severity!r}"))
        elif not isinstance(hours, int) or hours < 1:
            problems.append(Problem("sla", f"{severity}: whole hours, at least 1"))
    return problems


def deadline(created_at: datetime, severity: str, category: Category | None = None) -> datetime:
    """When the request must be solved: the category's hours for the severity, else defaults."""
    hours = (category.sla if category else {}).get(severity, DEFAULT_SLA[severity])
    return created_at + timedelta(hours=hours)


def queue_order(due_at: datetime, severity: str, created_at: datetime, ident: int) -> tuple:
    """The work queue's sort key: the earliest deadline first, then the most severe, then the
    oldest (a tie-break only: arrival never jumps a deadline)."""
    return (due_at, SEVERITIES.index(severity), created_at, ident)


def overdue(due_at: datetime, status: str, now: datetime) -> bool:
    return status in OPEN and now > due_at


def can_move(status: str, to: str) -> bool:
    return to in TRANSITIONS.get(status, set())


def duplicate_key(number: str, email: str, category: str, description: str) -> str:
    """The same citizen (number or e-mail), category and text: one key. Text compared folded
    (case, accents, spacing, punctuation), so a resubmitted web form matches."""
    who = canonical_number(number) or email.strip().lower()
    text = unicodedata.normalize("NFKD", description).encode("ascii", "ignore").decode()
    text = " ".join(re.sub(r"[^a-z0-9]+", " ", text.lower()).split())
    return hashlib.sha256(f"{who}|{category}|{text}".encode()).hexdigest()[:32]
