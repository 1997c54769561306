"""Say a department's weekly opening hours as a sentence, per language.

Days with the same hours are grouped ("from Monday to Friday"), so the sentence stays short
enough to be heard on the phone.
"""

from __future__ import annotations

from datetime import time

from ivr.flow.model import TimeRange, WeeklyHours

_WORDS = {
    "it": {
        "days": ("lunedì", "martedì", "mercoledì", "giovedì", "venerdì", "sabato", "domenica"),
        "open": "{name}: aperto {spans}.",
        "always": "{name}: attivo ventiquattro ore su ventiquattro, tutti i giorni.",
        "never": "{name}: nessun orario di apertura al pubblico.",
        "range": "dal {a} al {b}",
        "single": "il {a}",
        "from_to": "dalle {a} alle {b}",
        "and": " e ",
        "sep": "; ",
    },
    "en": {
        "days": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
        "open": "{name}: open {spans}.",
        "always": "{name}: available twenty-four hours a day, every day.",
        "never": "{name}: no public opening hours.",
        "range": "from {a} to {b}",
        "single": "on {a}",
        "from_to": "from {a} to {b}",
        "and": " and ",
        "sep": "; ",
    },
}


def _clock(moment: time, lang: str) -> str:
    if moment.minute == 0:
        return str(moment.hour)
    sep = " e " if lang == "it" else ":"
    return f"{moment.hour}{sep}{moment.minute:02d}"


def _ranges(ranges: tuple[TimeRange, ...], lang: str) -> str:
    w = _WORDS[lang]
    parts = [w["from_to"].format(a=_clock(r.start, lang), b=_clock(r.end, lang)) for r in ranges]
    return w["and"].join(parts)


def describe_hours(name: str, hours: WeeklyHours, lang: str) -> str | None:
    """The sentence, or None when the language has no wording yet (the catalogue reports it)."""
    w = _WORDS.get(lang)
    if w is None:
        return None
    if hours.always:
        return w["always"].format(name=name)
    groups: list[tuple[int, int, tuple[TimeRange, ...]]] = []
    for day, ranges in enumerate(hours.days):
        if not ranges:
            continue
        if groups and groups[-1][1] == day - 1 and groups[-1][2] == ranges:
            groups[-1] = (groups[-1][0], day, ranges)
        else:
            groups.append((day, day, ranges))
    if not groups:
        return w["never"].format(name=name)
    spans = []
    for first, last, ranges in groups:
        days = w["days"]
        if first == last:
            when = w["single"].format(a=days[first])
        else:
            when = w["range"].format(a=days[first], b=days[last])
        spans.append(f"{when} {_ranges(ranges, lang)}")
    return w["open"].format(name=name, spans=w["sep"].join(spans))
