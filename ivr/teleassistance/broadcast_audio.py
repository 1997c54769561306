"""A broadcast's message as audio, one file per language, spoken by the prompts' pipeline.

Like the directory's names (:mod:`ivr.directory.audio`), a broadcast's texts are data: they are
built by :func:`ivr.prompts.build.build_prompts` itself (the same voices — Google's when
configured, espeak-ng offline —, formats, checks and paths Asterisk reads) into
``<sounds>/<lang>/broadcast_<id>``, under a manifest of the broadcast's own
(``broadcasts/<id>.json``), so ``ivr prompts build``, the directory and other broadcasts never
remove each other's files. ``[nu-teleassistance-broadcast]`` plays the file named by the
channel variable ``NU_BC_AUDIO`` (``<lang>/broadcast_<id>``).

A language may have a recording instead (a WAV a person spoke, uploaded in the admin): it goes
through the same pipeline as a voice whose speech is that file (:class:`Recordings`), so it is
converted to the formats Asterisk plays, levelled and refused when silent or too short, exactly
as a synthesised message would be.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from types import SimpleNamespace

from ivr.prompts.audio import inspect_wav, speech_problems
from ivr.prompts.build import BuildReport, EspeakSynthesizer, Synthesizer, build_prompts

RECORDED = "(recording)"  # the catalogue text of a recorded language (it goes into the hash)


class Recordings:
    """A voice that "speaks" the uploaded WAV of a language, and ``voice`` for the others."""

    def __init__(self, recordings: Mapping[str, bytes], voice: Synthesizer) -> None:
        self.recordings, self.other = dict(recordings), voice

    def voice(self, lang: str) -> str:
        if lang in self.recordings:
            return "recording sha256:" + hashlib.sha256(self.recordings[lang]).hexdigest()
        return self.other.voice(lang)

    def synthesize(self, text: str, lang: str) -> bytes:
        if lang in self.recordings:
            return self.recordings[lang]
        return self.other.synthesize(text, lang)


def recording_problems(wav: bytes) -> list[str]:
    """Why an uploaded recording cannot be a message (not a PCM WAV, silent, too short)."""
    try:
        return speech_problems(inspect_wav(wav))
    except ValueError as err:
        return [str(err)]


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
    recordings: Mapping[str, bytes] | None = None,
) -> BuildReport:
    """Speak every language's text (``texts``: language -> text), or install its recording
    (``recordings``: language -> WAV bytes, which win over a text); failures are reported
    (the broadcast must not be dialled then), not raised."""
    recorded = dict(recordings or {})
    spoken = {lang: text.strip() for lang, text in texts.items() if text.strip()}
    catalogue_texts = {**spoken, **dict.fromkeys(recorded, RECORDED)}
    languages = list(catalogue_texts)
    key = audio_name(broadcast_id)
    voice = synthesizer or EspeakSynthesizer()
    return build_prompts(
        SimpleNamespace(languages=tuple(languages)),  # type: ignore[arg-type]  # only languages
        "",
        sounds_dir,
        languages=languages,
        catalogue={lang: {key: text} for lang, text in catalogue_texts.items()},
        manifest_name=f"broadcasts/{int(broadcast_id)}.json",
        synthesizer=Recordings(recorded, voice) if recorded else voice,
        fallback=None if recorded else fallback,
    )


__all__ = ["Recordings", "audio_name", "audio_path", "build_broadcast_audio", "recording_problems"]
