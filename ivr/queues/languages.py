"""Language-first routing: the operator who speaks the caller's language answers first.

Asterisk rings a queue's lowest penalty first and a higher one only when every lower one is
busy, paused or away; but a member has one penalty per queue, whoever the caller. So each
department queue ``<queue>`` (the city's default language) has a twin per other language,
``<queue>_<lang>``, with the same operators in it: an operator's penalty in each twin is low when
they speak that language (:func:`ivr.operators.rules.penalty`). The dialplan sends a caller to
their language's twin (``nu-enqueue``); everything above Asterisk — saturation, waits, the
admin — sees the department: :func:`department_queue` folds the twins back (the queue tracker).
Pure: names in, names out.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable


def language_queue(queue: str, language: str, default: str) -> str:
    """The queue a caller speaking ``language`` waits in for department queue ``queue``."""
    return queue if language == default else f"{queue}_{language}"


def twins(queue: str, languages: Iterable[str], default: str) -> list[tuple[str, str]]:
    """(language, queue) for every language of the city, the department queue first."""
    langs = [default] + [lang for lang in languages if lang != default]
    return [(lang, language_queue(queue, lang, default)) for lang in langs]


def department_queue(name: str, languages: Collection[str]) -> str:
    """``tributi_en`` -> ``tributi`` when ``en`` is one of ``languages``; else ``name``."""
    base, sep, lang = name.rpartition("_")
    return base if sep and base and lang in languages else name
