"""A broadcast's message as audio, one file per language, spoken by the prompts' pipeline.

Like the directory's names (:mod:`ivr.directory.audio`), a broadcast's texts are data: they are
built by :func:`ivr.prompts.build.build_prompts` itself (the same voices — Google's when
configured, espeak-ng offline —, formats, checks and paths Asterisk reads) into
``<sounds>/<lang>/broadcast_<id>``, under a manifest of the broadcast's own
(``broadcasts/<id>.json``), so ``ivr prompts build``, the directory and other broadcasts never
remove each other's files. ``[nu-teleassistance-broadcast]`` plays the file named by the
channel variable ``NU_BC_AUDIO`` (``<lang>/broadcast_<id>``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import SimpleNamespace

from ivr.prompts.build import BuildReport, Synthesizer, build_prompts


def audio_name(broadcast_id: int) -> str:
    """The prompt key of a broadcast's message (the same in every language's folder)."""
    return f"broadcast_{int(broadcast_id)}"


def audio_path(broadcast_id: int, language: str) -> str:
    """What ``NU_BC_AUDIO`` holds: the file under the sounds folder, without extension."""
    return f"{language}/{audio_name(broadcast_id)}"


def build_broadcast_audio(
    broadcast_id: int,
    texts: Mapping[str, str],
    sounds_dir: str | Path,
    *,
    synthesizer: Synthesizer | None = None,
    fallback: Synthesizer | None = None,
) -> BuildReport:
    """Speak every language's text (``texts``: language -> text); failures are reported (the
    broadcast must not be dialled then), not raised."""
    languages = [lang for lang, text in texts.items() if text.strip()]
    key = audio_name(broadcast_id)
    return build_prompts(
        SimpleNamespace(languages=tuple(languages)),  # type: ignore[arg-type]  # only languages
        "",
        sounds_dir,
        languages=languages,
        catalogue={lang: {key: texts[lang].strip()} for lang in languages},
        manifest_name=f"broadcasts/{int(broadcast_id)}.json",
        synthesizer=synthesizer,
        fallback=fallback,
    )


__all__ = ["audio_name", "audio_path", "build_broadcast_audio"]
