"""The prompt catalogue: each prompt's text per language (and optional SSML).

Two sources, one lookup: hand-written texts in ``prompts/<lang>.yaml`` and texts generated from
the dialplan (each department's opening hours), so the hours callers hear can never drift from
the hours the engine applies. A hand-written prompt is ``key: text``, or
``key: {text: ..., ssml: "<speak>...</speak>"}`` when a voice should get markup (pauses, how
to read a number); the text is what screens show and what a voice without SSML reads.

What is turned into audio (:func:`audio_catalogue`) adds the vocabulary for sayings (numbers,
dates, times) in the languages Asterisk cannot say itself (:mod:`ivr.prompts.sayings`).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import yaml

from ivr.flow.loader import FAST_SAFE_LOADER
from ivr.flow.model import Department, Dialplan, hours_prompt
from ivr.prompts.hours_text import describe_hours
from ivr.prompts.sayings import needs_vocabulary, vocabulary

Catalogue = dict[str, dict[str, str]]  # language -> key -> text


def load_texts(prompts_dir: str | Path) -> Catalogue:
    """Read every ``<lang>.yaml`` in the folder. Raises ValueError naming a malformed file."""
    return {
        lang: {k: text for k, (text, _) in entries.items()}
        for lang, entries in _load(prompts_dir).items()
    }


def load_ssml(prompts_dir: str | Path) -> Catalogue:
    """The SSML of the prompts that have one: language -> key -> ``<speak>...</speak>``."""
    return {
        lang: {k: ssml for k, (_, ssml) in entries.items() if ssml}
        for lang, entries in _load(prompts_dir).items()
    }


Entries = dict[str, tuple[str, str | None]]  # key -> (text, SSML or None)

# Parsed files by path, with the text they were parsed from: the admin reads the texts on most
# requests; reading a file is cheap, parsing it is not, and an edited file is parsed again.
_PARSED: dict[Path, tuple[str, Entries]] = {}
_PARSED_MAX = 64  # files; a city has one per language


def _load(prompts_dir: str | Path) -> dict[str, Entries]:
    result: dict[str, Entries] = {}
    for path in sorted(Path(prompts_dir).glob("*.yaml")):
        result[path.stem] = dict(_load_file(path))
    return result


def _load_file(path: Path) -> Entries:
    text = path.read_text(encoding="utf-8")
    cached = _PARSED.get(path)
    if cached is not None and cached[0] == text:
        return cached[1]
    try:
        data = yaml.load(text, Loader=FAST_SAFE_LOADER) or {}
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected 'key: text' lines")
    entries: Entries = {}
    for key, value in data.items():
        if not isinstance(key, str):
            raise ValueError(f"{path}: expected 'key: text' lines")
        entries[key] = _entry(path, key, value)
    _PARSED.pop(path, None)
    while len(_PARSED) >= _PARSED_MAX:
        _PARSED.pop(next(iter(_PARSED)))  # the one parsed longest ago
    _PARSED[path] = (text, entries)
    return entries


def _entry(path: Path, key: str, value: object) -> tuple[str, str | None]:
    if isinstance(value, str):
        return " ".join(value.split()), None
    if (
        not isinstance(value, dict)
        or not set(value) <= {"text", "ssml"}
        or not isinstance(value.get("text"), str)
        or not isinstance(value.get("ssml", ""), str)
    ):
        raise ValueError(
            f"{path}: expected 'key: text' lines ('{key}' is neither a text nor "
            "{text: ..., ssml: ...})"
        )
    ssml = " ".join(str(value.get("ssml", "")).split()) or None
    if ssml is not None:
        try:
            root = ET.fromstring(ssml)
        except ET.ParseError as exc:
            raise ValueError(f"{path}: '{key}': SSML is not well-formed: {exc}") from exc
        if root.tag != "speak":
            raise ValueError(f"{path}: '{key}': SSML must be one <speak> element")
    return " ".join(value["text"].split()), ssml


def generated_texts(dialplan: Dialplan) -> Catalogue:
    """Texts derived from the dialplan itself: each department's opening hours."""
    result: Catalogue = {}
    for lang in dialplan.languages:
        texts = result.setdefault(lang, {})
        for dept in dialplan.departments.values():
            text = _hours_text(dept, lang)
            if text:
                texts[hours_prompt(dept.id)] = text
    return result


def _hours_text(dept: Department, lang: str) -> str | None:
    name = dept.names.get(lang)
    if name is None:
        return None
    return describe_hours(name, dept.hours, lang)


def full_catalogue(dialplan: Dialplan, prompts_dir: str | Path) -> Catalogue:
    """Hand-written texts overlaid with generated ones, for every language of the dialplan."""
    result = load_texts(prompts_dir)
    for lang, texts in generated_texts(dialplan).items():
        result.setdefault(lang, {}).update(texts)
    return result


def audio_catalogue(dialplan: Dialplan, prompts_dir: str | Path) -> Catalogue:
    """Everything that becomes audio: :func:`full_catalogue` plus the sayings' vocabulary of
    the languages whose numbers, dates and times Asterisk cannot say."""
    result = full_catalogue(dialplan, prompts_dir)
    for lang in dialplan.languages:
        if needs_vocabulary(lang):
            result.setdefault(lang, {}).update(vocabulary(lang))
    return result
