"""Each entry's name (and its own hours) as prompt audio, spoken by the prompts' pipeline.

Names are data, not catalogue texts: they change whenever the directory does. They are built by
:func:`ivr.prompts.build.build_prompts` itself (same voices, formats, checks and paths Asterisk
reads: ``<sounds>/<lang>/dir_<id>``) with a catalogue made here and a manifest of their own
(``directory.json``), so ``ivr prompts build`` and this build never remove each other's files.
Hours are said with the dialplan's own wording (:func:`ivr.prompts.hours_text.describe_hours`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from ivr.directory.matching import hours_prompt, name_prompt
from ivr.directory.models import DirectoryEntry
from ivr.directory.rules import parse_hours
from ivr.prompts.build import BuildReport, Synthesizer, build_prompts
from ivr.prompts.hours_text import describe_hours

MANIFEST = "directory.json"


def directory_texts(
    entries: Iterable[DirectoryEntry], languages: Iterable[str]
) -> dict[str, dict[str, str]]:
    """language -> prompt key -> text, for every enabled entry."""
    rows = [r for r in entries if r.enabled]
    catalogue: dict[str, dict[str, str]] = {}
    for lang in languages:
        texts = catalogue.setdefault(lang, {})
        for row in rows:
            texts[name_prompt(row.id)] = row.name
            hours, _ = parse_hours(row.hours)
            said = describe_hours(row.name, hours, lang) if hours is not None else None
            if said:
                texts[hours_prompt(row.id)] = said
    return catalogue


def build_directory_audio(
    entries: Iterable[DirectoryEntry],
    dialplan: Any,
    sounds_dir: str | Path,
    *,
    synthesizer: Synthesizer | None = None,
    fallback: Synthesizer | None = None,
    progress: Callable[[str], None] | None = None,
) -> BuildReport:
    """Build what changed, remove what left the directory; failures are reported, not raised."""
    return build_prompts(
        dialplan,
        "",
        sounds_dir,
        catalogue=directory_texts(entries, dialplan.languages),
        manifest_name=MANIFEST,
        synthesizer=synthesizer,
        fallback=fallback,
        progress=progress,
    )
