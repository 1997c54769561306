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
    if lang == "en":  # callers in English expect a 12-hour clock
        if moment == time(12):
            return "noon"
        if moment == time(0):
            return "midnight"
        hour = moment.hour % 12 or 12
        suffix = "a.m." if moment.hour < 12 else "p.m."
        minutes = f":{moment.minute:02d}" if moment.minute else ""
        return f"{hour}{minutes} {suffix}"
    if moment.minute == 0:
        return str(moment.hour)
    return f"{moment.hour} e {moment.minute:02d}"


def _join(parts: list[str], lang: str) -> str:
    if len(parts) == 1:
        return parts[0]
    return ", ".join(parts[:-1]) + _WORDS[lang]["and"] + parts[-1]


def _days(days: tuple[int, ...], lang: str) -> str:
    """Runs of three or more days become a range; the rest are named one by one."""
    w = _WORDS[lang]
    runs: list[list[int]] = []
    for day in days:
        if runs and runs[-1][-1] == day - 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    parts: list[str] = []
    for run in runs:
        if len(run) >= 3:
            parts.append(w["range"].format(a=w["days"][run[0]], b=w["days"][run[-1]]))
        else:
            parts.extend(w["single"].format(a=w["days"][d]) for d in run)
    return _join(parts, lang)


def describe_hours(name: str, hours: WeeklyHours, lang: str) -> str | None:
    """The sentence, or None when the language has no wording yet (the catalogue reports it).

    Hours are grouped by time range, then ranges sharing the same days are said together:
    "from Monday to Friday 9 a.m. to 1 p.m.; on Tuesday and on Thursday 2:30 to 4:30 p.m.".
    """
    w = _WORDS.get(lang)
    if w is None:
        return None
    if hours.always:
        return w["always"].format(name=name)
    days_of: dict[TimeRange, list[int]] = {}
    for day, ranges in enumerate(hours.days):
        for r in ranges:
            days_of.setdefault(r, []).append(day)
    if not days_of:
        return w["never"].format(name=name)
    groups: dict[tuple[int, ...], list[TimeRange]] = {}
    for r in sorted(days_of, key=lambda r: (r.start, r.end)):
        groups.setdefault(tuple(days_of[r]), []).append(r)
    ordered = sorted(groups.items(), key=lambda g: (g[0][0], g[1][0].start))
    spans = []
    for days, ranges in ordered:
        times = [
            w["from_to"].format(a=_clock(r.start, lang), b=_clock(r.end, lang)) for r in ranges
        ]
        spans.append(f"{_days(days, lang)} {_join(times, lang)}")
    sentence = w["open"].format(name=name, spans=w["sep"].join(spans))
    return sentence.replace("..", ".")  # "p.m." closing the sentence
