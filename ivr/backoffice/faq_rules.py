"""What an FAQ entry may say. Pure.

An FAQ entry is an answer worth giving every caller, written by staff from a solved request and,
once published, spoken by the IVR to anyone who presses its key. So it must carry nothing about
the citizen who asked: :func:`check` refuses a text with a phone number or an e-mail address in
it (the two kinds of personal data a clerk pastes by mistake), naming the field, and never
repeats the text it refused. Dates (2026-12-24, 24/12/2026), times (08.30-12.30) and amounts
below a million pass.

Lengths: the spoken prompt is ``question`` then ``answer`` (:func:`spoken`), one prompt text of
at most 1000 characters (the admin's prompt limit).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ivr.backoffice.rules import LANGUAGES, Problem

QUESTION_MAX = 200
ANSWER_MAX = 790  # question + space + answer <= 1000, the admin's limit for one prompt text

_EMAIL = re.compile(r"[^\s@<>()\[\],;:]+@[^\s@<>()\[\],;:]+\.[A-Za-z]{2,}")
# Dates are not numbers to call: 2026-12-24, 24/12/2026, 24.12.2026, 24-12-26.
# Neither is part of a longer run of digit groups (02.12.34.56.78 is a phone number in pairs).
_ALONE_BEFORE, _ALONE_AFTER = r"(?<![\d.:/-])(?<![\d][ ])", r"(?![.:/-]?\d)(?! \d)"
_DATE = re.compile(
    _ALONE_BEFORE
    + r"(?:\d{4}-\d{1,2}-\d{1,2}|\d{1,2}[/.-]\d{1,2}[/.-](?:\d{4}|\d{2}))"
    + _ALONE_AFTER
)
# Times are not numbers to call either: 8.30, 08:30 (and so 08.30-12.30, a range of them).
_TIME = re.compile(_ALONE_BEFORE + r"\d{1,2}[.:]\d{2}" + r"(?![.:/]?\d)(?! \d)")
# A run of digits with the separators people write numbers with (spaces, dots, dashes,
# brackets, a leading + or 00): a phone number when it has 8 digits or more (mobiles have 9 or
# 10), or 6 or more starting with 0 or + (the shortest Italian landlines, a city's 020202).
_DIGITS = re.compile(r"\+?\(?\d[\d\s.\-()/]*\d")


@dataclass(frozen=True)
class FaqText:
    """An FAQ entry as staff typed it (not yet checked)."""

    question: str
    answer: str
    language: str = "it"


def has_phone_number(text: str) -> bool:
    without_dates = _TIME.sub(" ", _DATE.sub(" ", text))
    for found in _DIGITS.finditer(without_dates):
        run = found.group(0)
        # a run of numbers listed with commas/slashes is several numbers, each checked alone
        for part in re.split(r"/", run):
            digits = re.sub(r"\D", "", part)
            start = part.strip().lstrip("(")
            if len(digits) >= 8 or (len(digits) >= 6 and start[:1] in ("0", "+")):
                return True
    return False


def has_email(text: str) -> bool:
    return _EMAIL.search(text) is not None


def check(entry: FaqText) -> list[Problem]:
    """Every problem of an FAQ entry, each naming its field (the text itself never repeated)."""
    problems: list[Problem] = []
    for name, value, most in (
        ("question", entry.question, QUESTION_MAX),
        ("answer", entry.answer, ANSWER_MAX),
    ):
        text = value.strip()
        if not text:
            problems.append(Problem(name, "write it in words a caller understands"))
        elif len(text) > most:
            problems.append(Problem(name, f"at most {most} characters, not {len(text)}"))
        if has_phone_number(value):
            problems.append(
                Problem(name, "no phone numbers: an FAQ is heard by everyone (personal data)")
            )
        if has_email(value):
            problems.append(
                Problem(name, "no e-mail addresses: an FAQ is heard by everyone (personal data)")
            )
    if entry.language not in LANGUAGES:
        problems.append(Problem("language", f"one of {', '.join(LANGUAGES)}"))
    return problems


def spoken(question: str, answer: str) -> str:
    """The prompt text the IVR says: the question (so the caller knows it is theirs), then the
    answer."""
    question, answer = " ".join(question.split()), " ".join(answer.split())
    if question and question[-1] not in ".?!:;":
        question += "."
    return f"{question} {answer}".strip()


def prompt_key(entry_id: int) -> str:
    """The prompt (and the draft node) an entry becomes: ``faq_<id>``."""
    return f"faq_{entry_id}"
