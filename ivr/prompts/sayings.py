"""Dynamic parts of a call (codes, numbers, dates, times) in the caller's language.

Asterisk says them itself (``SAY DIGITS/NUMBER/DATE/TIME`` in the channel's language) where it has
the sound files: Debian ships ``asterisk-core-sounds-*`` for Italian, English, French and Spanish
(:data:`ASTERISK_SAYS`). For the other languages of the city (German, Chinese, Arabic) the same
sayings are put together from a small vocabulary of prompts written here: numbers 0 to 99, the
hours, the minutes, weekdays, days of the month and months. ``ivr prompts build`` synthesises
them like any other prompt (cached, rebuilt only when a wording changes) and the FastAGI runner
plays them in place of Asterisk's sayings (:func:`saying_prompts`). Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, tzinfo

from ivr.flow.actions import Prompt, Saying
from ivr.prompts.hours_text import day_names

# Languages whose sayings Asterisk speaks from its own core sounds (installed with Asterisk).
ASTERISK_SAYS = frozenset({"it", "en", "fr", "es"})

PREFIX = "say_"
NUMBERS = range(0, 100)  # said whole; larger numbers are said digit by digit
HOURS = range(0, 24)
MINUTES = range(1, 60)  # minute 0 is not said: "10 Uhr"
MONTH_DAYS = range(1, 32)

_DE_UNITS = ("", "ein", "zwei", "drei", "vier", "fünf", "sechs", "sieben", "acht", "neun")
_DE_TEENS = (
    "zehn",
    "elf",
    "zwölf",
    "dreizehn",
    "vierzehn",
    "fünfzehn",
    "sechzehn",
    "siebzehn",
    "achtzehn",
    "neunzehn",
)
_DE_ORDINAL_IRREGULAR = {1: "ersten", 3: "dritten", 7: "siebten", 8: "achten"}


def _de_day(day: int) -> str:
    """German ordinal of a day of the month, as said after "den": "den dreiundzwanzigsten".

    Written out because espeak-ng reads "23." as a cardinal number."""
    if day in _DE_ORDINAL_IRREGULAR:
        word = _DE_ORDINAL_IRREGULAR[day]
    elif day < 10:
        word = _DE_UNITS[day] + "ten"
    elif day < 20:
        word = _DE_TEENS[day - 10] + "ten"
    else:
        tens = "zwanzig" if day < 30 else "dreißig"
        unit = day % 10
        word = (f"{_DE_UNITS[unit]}und" if unit else "") + tens + "sten"
    return f"den {word}"


# Per language: how each part is worded, and in which order a date's parts are said.
_WORDING: dict[str, dict] = {
    "de": {
        "number": str,
        "hour": lambda h: f"{h} Uhr",
        "minute": str,
        "weekdays": day_names("de"),
        "month_day": _de_day,
        "months": (
            "Januar",
            "Februar",
            "März",
            "April",
            "Mai",
            "Juni",
            "Juli",
            "August",
            "September",
            "Oktober",
            "November",
            "Dezember",
        ),
        "date": ("weekday", "month_day", "month"),  # Montag, den 23. November
    },
    "zh": {
        "number": str,  # espeak-ng's Mandarin reads 23 as 二十三
        "hour": lambda h: f"{h}点",
        "minute": lambda m: f"{m}分" if m >= 10 else f"零{m}分",
        "weekdays": day_names("zh"),
        "month_day": lambda d: f"{d}号",
        "months": tuple(f"{m}月" for m in range(1, 13)),
        "date": ("month", "month_day", "weekday"),  # 11月23号 星期一
    },
    "ar": {
        "number": str,
        "hour": lambda h: f"الساعة {h}",
        "minute": lambda m: f"و {m} دقيقة",
        "weekdays": tuple(f"يوم {day}" for day in day_names("ar")),  # "the day of ..."
        "month_day": str,
        "months": (
            "يناير",
            "فبراير",
            "مارس",
            "أبريل",
            "مايو",
            "يونيو",
            "يوليو",
            "أغسطس",
            "سبتمبر",
            "أكتوبر",
            "نوفمبر",
            "ديسمبر",
        ),
        "date": ("weekday", "month_day", "month"),  # يوم الاثنين 23 نوفمبر
    },
}


def said_by_asterisk(lang: str) -> bool:
    return lang in ASTERISK_SAYS


def has_wording(lang: str) -> bool:
    """True when this module can put the language's sayings together itself."""
    return lang in _WORDING


def needs_vocabulary(lang: str) -> bool:
    """True when the language's sayings are played from our own vocabulary prompts."""
    return not said_by_asterisk(lang) and has_wording(lang)


def vocabulary(lang: str) -> dict[str, str]:
    """Key -> text of every vocabulary prompt of ``lang`` (empty when it has no wording)."""
    w = _WORDING.get(lang)
    if w is None:
        return {}
    words: dict[str, str] = {}
    number: Callable[[int], str] = w["number"]
    words.update({f"{PREFIX}num_{n}": number(n) for n in NUMBERS})
    words.update({f"{PREFIX}hour_{h}": w["hour"](h) for h in HOURS})
    words.update({f"{PREFIX}min_{m}": w["minute"](m) for m in MINUTES})
    words.update({f"{PREFIX}wday_{i}": name for i, name in enumerate(w["weekdays"])})
    words.update({f"{PREFIX}mday_{d}": w["month_day"](d) for d in MONTH_DAYS})
    words.update({f"{PREFIX}month_{i}": name for i, name in enumerate(w["months"], start=1)})
    return words


def saying_prompts(saying: Saying, zone: tzinfo | None = None) -> tuple[Prompt, ...]:
    """The vocabulary prompts that say ``saying`` in its language.

    Dates and times are epoch seconds shown in ``zone`` (the city's time zone; None: the
    machine's). Raises ValueError for a language without wording or a malformed value.
    """
    lang = saying.language
    w = _WORDING.get(lang)
    if w is None:
        raise ValueError(f"no wording for sayings in language '{lang}'")

    def p(*keys: str) -> tuple[Prompt, ...]:
        return tuple(Prompt(PREFIX + k, lang) for k in keys)

    def digits(text: str) -> tuple[Prompt, ...]:
        return p(*(f"num_{c}" for c in text if c.isdigit()))

    if saying.kind == "digits":
        return digits(saying.value)
    if saying.kind == "number":
        n = int(saying.value)
        return p(f"num_{n}") if n in NUMBERS else digits(str(abs(n)))
    if saying.kind not in ("date", "time", "datetime"):
        raise ValueError(f"unknown saying {saying.kind!r}")
    moment = datetime.fromtimestamp(int(saying.value), zone)
    parts = {
        "weekday": f"wday_{moment.weekday()}",
        "month_day": f"mday_{moment.day}",
        "month": f"month_{moment.month}",
    }
    date = p(*(parts[name] for name in w["date"]))
    time = p(f"hour_{moment.hour}") + (p(f"min_{moment.minute}") if moment.minute else ())
    if saying.kind == "date":
        return date
    if saying.kind == "time":
        return time
    return date + time
