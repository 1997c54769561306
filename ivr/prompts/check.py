"""``ivr prompts check``: every prompt a call can reach, in every language, has text and audio.

For each prompt the dialplan can play (the engine's own, those of reachable nodes, and the
vocabulary for sayings in languages Asterisk cannot say) and each language it is played in:
is there a text, and is there audio in every built format, made from that text? Each gap names
the prompt, the language and where it is used (node id and line), so whoever fixes it knows
what a caller would miss.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ivr.flow.model import Dialplan
from ivr.flow.validate import prompt_usage
from ivr.prompts.build import FORMAT_NAMES, audio_path, read_manifest
from ivr.prompts.catalogue import audio_catalogue
from ivr.prompts.sayings import has_wording, needs_vocabulary, said_by_asterisk, vocabulary

ENGINE = "the engine (any call)"
SAYINGS = "numbers, dates and times"


@dataclass(frozen=True)
class Gap:
    """One prompt a caller could miss: no text, no audio, or audio of an older text."""

    lang: str
    key: str
    problem: str  # "no text", "no audio (wav16)", "audio out of date"
    used_by: tuple[str, ...]

    @property
    def name(self) -> str:
        return f"{self.lang}/{self.key}"

    def __str__(self) -> str:
        return f"{self.name}: {self.problem}; used by {', '.join(self.used_by)}"


@dataclass
class CheckResult:
    gaps: list[Gap]
    checked: int  # (language, prompt) pairs looked at
    warnings: list[str]

    @property
    def ok(self) -> bool:
        return not self.gaps

    def summary(self) -> str:
        if self.ok:
            return f"all {self.checked} prompts in use have text and audio"
        texts = sum(1 for g in self.gaps if g.problem == "no text")
        return (
            f"{len(self.gaps)} of {self.checked} prompts in use are incomplete: "
            f"{texts} without text, {len(self.gaps) - texts} without current audio"
        )


def where_used(dialplan: Dialplan) -> dict[str, dict[str, tuple[str, ...]]]:
    """language -> key -> where it is played ("benvenuto (line 62)", the engine, sayings)."""
    result: dict[str, dict[str, tuple[str, ...]]] = {}
    for lang, keys in prompt_usage(dialplan).items():
        result[lang] = {
            key: tuple(
                ENGINE if node is None else f"{node.id} (line {node.line})" for node in users
            )
            for key, users in keys.items()
        }
    for lang in dialplan.languages:
        if needs_vocabulary(lang):
            for key in vocabulary(lang):
                result.setdefault(lang, {}).setdefault(key, (SAYINGS,))
    return result


def check_prompts(
    dialplan: Dialplan,
    prompts_dir: str | Path,
    sounds_dir: str | Path,
    formats: tuple[str, ...] = FORMAT_NAMES,
) -> CheckResult:
    """Gaps in text or audio of every prompt in use. Raises ValueError on an unreadable
    catalogue (like the build)."""
    catalogue = audio_catalogue(dialplan, prompts_dir)
    built = read_manifest(sounds_dir)
    gaps: list[Gap] = []
    checked = 0
    for lang, keys in sorted(where_used(dialplan).items()):
        for key, used_by in sorted(keys.items()):
            checked += 1
            text = catalogue.get(lang, {}).get(key)
            if text is None:
                gaps.append(Gap(lang, key, "no text", used_by))
                continue
            name = f"{lang}/{key}"
            absent = [ext for ext in formats if not audio_path(sounds_dir, name, ext).is_file()]
            if absent:
                gaps.append(Gap(lang, key, f"no audio ({', '.join(absent)})", used_by))
                continue
            # Audio made by the build from another text: the caller hears the old words.
            made_from = {built.get(ext, {}).get(name, {}).get("text") for ext in formats}
            if any(old is not None and old != text for old in made_from):
                gaps.append(Gap(lang, key, "audio out of date (run ivr prompts build)", used_by))
    warnings = [
        f"{lang}: Asterisk cannot say numbers, dates and times in this language and "
        "ivr/prompts/sayings.py has no wording for it"
        for lang in dialplan.languages
        if not said_by_asterisk(lang) and not has_wording(lang)
    ]
    return CheckResult(gaps, checked, warnings)
