"""Which entries a caller means: by the first letters keyed on the phone, or by what they said.

Pure: callers' keys and words are matched against the names and aliases (accents and case
folded, so "Anagrafe" and "anagrafé" are one). Keys match the start of the whole name or of any
of its words ("834" finds "Ufficio Matrimoni" by "Ufficio", and "628" by "Matrimoni"), as
telephone directories do with first and last names.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ivr.directory.rules import fold

KEYPAD = {
    **dict.fromkeys("abc", "2"),
    **dict.fromkeys("def", "3"),
    **dict.fromkeys("ghi", "4"),
    **dict.fromkeys("jkl", "5"),
    **dict.fromkeys("mno", "6"),
    **dict.fromkeys("pqrs", "7"),
    **dict.fromkeys("tuv", "8"),
    **dict.fromkeys("wxyz", "9"),
}
KEYS_WANTED = 3  # letters asked before matching
MAX_CHOICES = 8  # "press 1 for ..., press 8 for ..."; more: the caller types more letters


@dataclass(frozen=True)
class Named:
    """An entry as matching sees it: its id, its name and the other ways people say it."""

    id: int
    name: str
    aliases: tuple[str, ...] = ()

    def phrases(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(p for p in (fold(self.name), *map(fold, self.aliases)) if p))


def to_keys(text: str) -> str:
    """The keys that spell ``text``'s letters (digits stay digits, the rest is dropped)."""
    return "".join(KEYPAD.get(ch, ch if ch.isdigit() else "") for ch in fold(text))


def _starts(phrase: str) -> set[str]:
    """Key strings of the phrase and of each of its words (the prefixes a caller may type)."""
    words = phrase.split()
    return {to_keys(" ".join(words[i:])) for i in range(len(words))}


def match_keys(digits: str, entries: Iterable[Named]) -> list[Named]:
    """Entries one of whose phrases (or a word in it) starts with the keyed letters, by name."""
    digits = "".join(ch for ch in digits if ch in "23456789")
    if not digits:
        return []
    found = [
        e for e in entries if any(k.startswith(digits) for p in e.phrases() for k in _starts(p))
    ]
    return sorted(found, key=lambda e: (fold(e.name), e.id))


def grammar(entries: Iterable[Named]) -> tuple[str, ...]:
    """Every phrase worth recognising: names and aliases, folded, once each."""
    return tuple(dict.fromkeys(p for e in entries for p in e.phrases()))


def match_said(text: str, entries: Iterable[Named]) -> list[Named]:
    """Entries named in what the caller said: the longest phrase heard wins; entries tied on
    it are all returned (the caller then chooses)."""
    heard = f" {fold(text)} "
    best: dict[int, int] = {}
    kept: dict[int, Named] = {}
    for e in entries:
        for phrase in e.phrases():
            if f" {phrase} " in heard:
                best[e.id] = max(best.get(e.id, 0), len(phrase))
                kept[e.id] = e
    if not best:
        return []
    top = max(best.values())
    tied = (kept[i] for i, n in best.items() if n == top)
    return sorted(tied, key=lambda e: (fold(e.name), e.id))


def name_prompt(entry_id: int) -> str:
    """The generated prompt that says an entry's name (``audio.py`` builds it)."""
    return f"dir_{entry_id}"


def hours_prompt(entry_id: int) -> str:
    """The generated prompt that says an entry's own hours."""
    return f"dir_{entry_id}_hours"


@dataclass(frozen=True)
class Reach:
    """A matched entry as the ``directory`` node needs it: how to say it, where to dial it,
    its department (the fallback) and its own hours (None: the department's)."""

    id: int
    name: str
    dial: str  # "PJSIP/201", the PBX dial string; "": not dialable (the department instead)
    department: str
    hours: object = None  # WeeklyHours | None (object: the engine layer reads it as data)

    @property
    def prompt(self) -> str:
        return name_prompt(self.id)

    @property
    def hours_prompt(self) -> str | None:
        return hours_prompt(self.id) if self.hours is not None else None
