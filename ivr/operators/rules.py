"""What an operator account must be, and how it becomes queue penalties. Pure: no database, no
Asterisk, so the admin page, the CLI and the tests all get the same messages.

A problem names the field it is about (``extension``, ``name``, ``languages``, ``skills``), so a
form can put it beside the input and a CSV import beside the row.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import unicodedata
from collections.abc import Collection, Iterable
from dataclasses import dataclass

# The realm Asterisk challenges with (pjsip.conf's default_realm, every operator's auth): the
# digest stored for an operator is MD5(extension:REALM:secret), so changing it voids every secret.
REALM = "numero-unico"

# 3 to 6 digits. Not 0 (reserved for an outside line), not 8 (8NN are the department transfer
# codes), not 9; feature codes start with * and so can never clash with digits only.
EXTENSION = re.compile(r"^[1-7][0-9]{2,5}$")
NAME_MAX = 60
PRIORITY_RANGE = range(1, 10)

# Language first: an operator who speaks the caller's language is tried before any who does not,
# whatever the department priority (Asterisk rings the lowest penalty first and a higher one
# only when every lower one is busy or away).
NOT_SPEAKING = 10


@dataclass(frozen=True)
class Problem:
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class AccountError(ValueError):
    """An account that cannot be saved; nothing was changed."""

    def __init__(self, problems: Iterable[Problem]):
        self.problems = list(problems)
        super().__init__("; ".join(str(p) for p in self.problems))


@dataclass(frozen=True)
class AccountSpec:
    """An account as a form or a command line gives it."""

    extension: str
    name: str
    languages: tuple[str, ...]
    skills: tuple[tuple[str, int], ...]  # (department id, priority 1..9)
    enabled: bool = True
    tls: bool = False  # off the city's network: TLS + SRTP
    username: str | None = None  # the admin account (role operator) whose desk this is


def check(
    spec: AccountSpec,
    *,
    departments: Collection[str],
    languages: Collection[str],
    city_numbers: Collection[str],
    taken: Collection[str] = (),
) -> list[Problem]:
    """Every problem with ``spec`` against the live dialplan's departments and languages, the
    city's numbers and the extensions ``taken`` by other accounts (or directory entries)."""
    problems: list[Problem] = []
    ext = spec.extension
    if not EXTENSION.fullmatch(ext):
        problems.append(
            Problem(
                "extension",
                f"{ext!r} must be 3 to 6 digits starting with 1-7 "
                "(0 is the outside line, 8NN are department codes)",
            )
        )
    elif ext in city_numbers:
        problems.append(Problem("extension", f"{ext} is the city's number"))
    elif ext in taken:
        problems.append(Problem("extension", f"{ext} is already in use"))
    problems += [Problem("name", m) for m in _name_problems(spec.name)]
    if not spec.languages:
        problems.append(Problem("languages", "at least one language the operator speaks"))
    for lang in spec.languages:
        if lang not in languages:
            problems.append(
                Problem(
                    "languages",
                    f"{lang!r} is not a language of the city's dialplan "
                    f"({', '.join(sorted(languages))})",
                )
            )
    if len(set(spec.languages)) != len(spec.languages):
        problems.append(Problem("languages", "a language is given twice"))
    seen: set[str] = set()
    for department, priority in spec.skills:
        if department not in departments:
            problems.append(Problem("skills", f"{department!r} is not a department"))
        if department in seen:
            problems.append(Problem("skills", f"{department!r} is given twice"))
        seen.add(department)
        if priority not in PRIORITY_RANGE:
            problems.append(Problem("skills", f"priority {priority} for {department!r}: 1 to 9"))
    return problems


def _name_problems(name: str) -> list[str]:
    """A name shown on phones (SIP caller-id) and the desk: letters, digits, spaces, ``.'-``."""
    text = unicodedata.normalize("NFC", name)
    if not text.strip():
        return ["a name is needed"]
    if len(text) > NAME_MAX:
        return [f"at most {NAME_MAX} characters"]
    bad = sorted(
        {ch for ch in text if not (ch.isalnum() or ch in " .'-") or ch.isspace() and ch != " "}
    )
    if bad:
        shown = " ".join(repr(ch) for ch in bad)
        return [f"characters not allowed in a name shown on phones: {shown}"]
    return []


def normal_name(name: str) -> str:
    return " ".join(unicodedata.normalize("NFC", name).split())


def new_secret() -> str:
    """A SIP secret for one operator: 24 URL-safe characters (144 bits)."""
    return secrets.token_urlsafe(18)


def digest(extension: str, secret: str, realm: str = REALM) -> str:
    """What Asterisk checks a REGISTER against (pjsip ``password_digest = MD5:<this>``)."""
    return hashlib.md5(f"{extension}:{realm}:{secret}".encode(), usedforsecurity=False).hexdigest()


def penalty(priority: int, speaks_language: bool) -> int:
    """The queue penalty for an operator in a department, for callers of one language."""
    return (0 if speaks_language else NOT_SPEAKING) + priority - 1


def parse_skills(text: str) -> tuple[tuple[str, int], ...]:
    """``"tributi:1, anagrafe:2, waste"`` (priority 1 when left out) as skills; a malformed
    item raises :class:`AccountError` naming it."""
    skills = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        department, _, priority = item.partition(":")
        if priority and not priority.strip().isdigit():
            raise AccountError([Problem("skills", f"{item!r}: the priority must be a number")])
        skills.append((department.strip(), int(priority) if priority.strip() else 1))
    return tuple(skills)


def parse_languages(text: str) -> tuple[str, ...]:
    return tuple(filter(None, (part.strip().lower() for part in text.split(","))))
