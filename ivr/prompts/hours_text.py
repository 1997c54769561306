"""Say a department's weekly opening hours as a sentence, per language.

Days with the same hours are grouped ("from Monday to Friday"), so the sentence stays short
enough to be heard on the phone.
"""

from __future__ import annotations

from datetime import time

from ivr.flow.model import TimeRange, WeeklyHours


def _clock_it(moment: time) -> str:
    return str(moment.hour) if moment.minute == 0 else f"{moment.hour} e {moment.minute:02d}"


def _clock_en(moment: time) -> str:
    """Callers in English expect a 12-hour clock."""
    if moment == time(12):
        return "noon"
    if moment == time(0):
        return "midnight"
    hour = moment.hour % 12 or 12
    suffix = "a.m." if moment.hour < 12 else "p.m."
    minutes = f":{moment.minute:02d}" if moment.minute else ""
    return f"{hour}{minutes} {suffix}"


def _clock_fr(moment: time) -> str:
    # "8 heures 30": espeak-ng reads the written abbreviation "8 h 30" as the letter h.
    unit = "heure" if moment.hour <= 1 else "heures"
    minutes = f" {moment.minute}" if moment.minute else ""
    return f"{moment.hour} {unit}{minutes}"


def _clock_es(moment: time) -> str:
    article = "la" if moment.hour == 1 else "las"
    minutes = f" y {moment.minute}" if moment.minute else ""
    return f"{article} {moment.hour}{minutes}"


def _clock_de(moment: time) -> str:
    minutes = f" {moment.minute}" if moment.minute else ""
    return f"{moment.hour} Uhr{minutes}"


def _clock_zh(moment: time) -> str:
    return f"{moment.hour}点{moment.minute}分" if moment.minute else f"{moment.hour}点"


def _clock_ar(moment: time) -> str:
    # espeak-ng's Arabic reads "8:30" as "ثمانية ثلاثون".
    return f"{moment.hour}:{moment.minute:02d}" if moment.minute else str(moment.hour)


# Times stay digits in every language: espeak-ng reads them in the voice's own language.
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
        "clock": _clock_it,
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
        "clock": _clock_en,
    },
    "fr": {
        "days": ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"),
        "open": "{name} : ouvert {spans}.",
        "always": "{name} : ouvert vingt-quatre heures sur vingt-quatre, tous les jours.",
        "never": "{name} : pas d'horaires d'ouverture au public.",
        "range": "du {a} au {b}",
        "single": "le {a}",
        "from_to": "de {a} à {b}",
        "and": " et ",
        "sep": " ; ",
        "clock": _clock_fr,
    },
    "es": {
        "days": ("lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo"),
        "open": "{name}: abierto {spans}.",
        "always": "{name}: disponible las veinticuatro horas, todos los días.",
        "never": "{name}: sin horario de atención al público.",
        "range": "de {a} a {b}",
        "single": "el {a}",
        "from_to": "de {a} a {b}",
        "and": " y ",
        "sep": "; ",
        "clock": _clock_es,
    },
    "de": {
        "days": (
            "Montag",
            "Dienstag",
            "Mittwoch",
            "Donnerstag",
            "Freitag",
            "Samstag",
            "Sonntag",
        ),
        "open": "{name}: geöffnet {spans}.",
        "always": "{name}: rund um die Uhr erreichbar, jeden Tag.",
        "never": "{name}: keine Öffnungszeiten für die Öffentlichkeit.",
        "range": "von {a} bis {b}",
        "single": "am {a}",
        "from_to": "von {a} bis {b}",
        "and": " und ",
        "sep": "; ",
        "clock": _clock_de,
    },
    "zh": {
        "days": ("星期一", "星期二", "星期三", "星期四", "星期五", "星期六", "星期日"),
        "open": "{name}开放时间：{spans}。",
        "always": "{name}：全天二十四小时服务，每天开放。",
        "never": "{name}：不对公众开放。",
        "range": "{a}至{b}",
        "single": "{a}",
        "from_to": "{a}至{b}",
        "and": "和",
        "sep": "；",
        "gap": "，",  # between the days and their hours
        "list": "、",
        "clock": _clock_zh,
    },
    "ar": {
        "days": (
            "الاثنين",
            "الثلاثاء",
            "الأربعاء",
            "الخميس",
            "الجمعة",
            "السبت",
            "الأحد",
        ),
        "open": "{name}: مفتوح {spans}.",
        "always": "{name}: متاح على مدار الساعة، كل يوم.",
        "never": "{name}: لا توجد ساعات استقبال للجمهور.",
        "range": "من يوم {a} إلى يوم {b}",
        "single": "يوم {a}",
        "from_to": "من الساعة {a} إلى الساعة {b}",
        "and": " و ",  # detached: espeak-ng reads "ومن" without its vowel
        "sep": "؛ ",
        "list": "، ",
        "clock": _clock_ar,
    },
}


def _clock(moment: time, lang: str) -> str:
    return _WORDS[lang]["clock"](moment)


def _join(parts: list[str], lang: str) -> str:
    if len(parts) == 1:
        return parts[0]
    w = _WORDS[lang]
    return w.get("list", ", ").join(parts[:-1]) + w["and"] + parts[-1]


def day_names(lang: str) -> tuple[str, ...]:
    """Monday..Sunday in ``lang`` (also the sayings vocabulary's weekdays)."""
    return tuple(_WORDS[lang]["days"])


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
        spans.append(_days(days, lang) + w.get("gap", " ") + _join(times, lang))
    sentence = w["open"].format(name=name, spans=w["sep"].join(spans))
    return sentence.replace("..", ".")  # "p.m." closing the sentence
