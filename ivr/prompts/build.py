"""``ivr prompts build``: turn the prompt catalogue into the audio files Asterisk plays.

Each prompt becomes ``<sounds_dir>/<lang>/<key>.wav`` (8 kHz) and ``<key>.wav16`` (16 kHz
wideband), mono signed 16-bit PCM: what Asterisk's ``format_wav`` plays without transcoding;
Asterisk picks the one closest to the call's codec. A synthesiser speaks the text (or its SSML)
once into a WAV of any format, then sox converts it to each output format and normalises its
level. Every result is inspected (format, length, silence, loudness); bad audio is a failure,
never a file.

Voices: a cloud voice (Google Cloud Text-to-Speech, :mod:`ivr.prompts.google_tts`) when one is
configured, with espeak-ng as the offline fallback for any prompt the cloud refuses (errors,
quota). Without a cloud voice, espeak-ng speaks everything, offline.

Only prompts whose text, voice or output format changed are rebuilt: ``<sounds_dir>/manifest.json``
keeps a content hash per prompt and per format. Files of prompts that left the catalogue are
removed. A failed prompt keeps its previous audio (if any) and its previous hash, so the next build
retries it; a prompt spoken by the fallback voice is hashed with that voice, so the next build
tries the cloud voice again.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from ivr.flow.model import Dialplan
from ivr.flow.validate import prompt_usage
from ivr.prompts.audio import inspect_wav, prompt_problems, speech_problems
from ivr.prompts.catalogue import audio_catalogue, load_ssml

MANIFEST = "manifest.json"
MANIFEST_VERSION = 2


@dataclass(frozen=True)
class OutputFormat:
    """One audio format Asterisk plays natively: the file extension is Asterisk's format name."""

    ext: str
    rate: int
    # What sox makes of any synthesiser's output; it goes into the hash. Change the recipe ->
    # change its version here: every prompt of that format is rebuilt.
    recipe: str

    @property
    def sox_effects(self) -> list[str]:
        # Mix down and resample first, then normalise: the peak is set on the audio played.
        return ["channels", "1", "rate", str(self.rate), "norm", "-3"]


FORMATS = (
    OutputFormat("wav", 8000, "wav pcm_s16le 8000Hz mono norm-3 v2"),
    OutputFormat("wav16", 16000, "wav pcm_s16le 16000Hz mono norm-3 v1"),
)
FORMAT_NAMES = tuple(f.ext for f in FORMATS)
_SOX_OUTPUT = ["-b", "16", "-e", "signed-integer", "-t", "wav"]

_SAFE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,79}$")
_TIMEOUT = 60  # seconds for one synthesiser or sox run


class SynthesisError(RuntimeError):
    """A prompt could not be spoken; the message says why, for the build report."""


class Synthesizer(Protocol):
    """Speaks text. A synthesiser that understands SSML also has ``synthesize_ssml(ssml, lang)``
    and ``speaks_ssml = True``; it may set ``workers`` (how many prompts at once suit it)."""

    def voice(self, lang: str) -> str:
        """What would speak ``lang`` (engine, version, voice, settings), stable between runs.

        It goes into each prompt's hash: a different voice rebuilds the prompt. Raises
        :class:`SynthesisError` when the language has no voice.
        """
        ...

    def synthesize(self, text: str, lang: str) -> bytes:
        """The spoken text as a PCM WAV file's bytes, at any rate and channel count."""
        ...


# Language code (as in the dialplan) -> espeak-ng voice (`espeak-ng --voices` lists them).
# Mandarin is cmn-latn-pinyin: plain "cmn" reads the pinyin of Chinese characters as English.
ESPEAK_VOICES = {
    "it": "it",
    "en": "en-gb",
    "fr": "fr-fr",
    "es": "es",
    "de": "de",
    "ar": "ar",
    "zh": "cmn-latn-pinyin",
}


class EspeakSynthesizer:
    """espeak-ng, installed from Debian: robotic but offline, free and in every language we need."""

    speaks_ssml = True

    def __init__(
        self, voices: dict[str, str] | None = None, speed: int = 150, binary: str = "espeak-ng"
    ):
        self.voices = dict(ESPEAK_VOICES if voices is None else voices)
        self.speed = speed  # words per minute; espeak-ng's 175 is hurried on the phone
        self.binary = binary
        self._version: str | None = None

    def version(self) -> str:
        if self._version is None:
            try:
                out = _run([self.binary, "--version"]).stdout.decode(errors="replace")
            except SynthesisError as exc:
                raise SynthesisError(f"espeak-ng unusable: {exc}") from exc
            m = re.search(r"text-to-speech:\s*(\S+)", out)
            self._version = m[1] if m else out.strip()[:40]
        return self._version

    def voice(self, lang: str) -> str:
        name = self.voices.get(lang)
        if name is None:
            raise SynthesisError(f"no espeak-ng voice for language '{lang}'")
        return f"espeak-ng {self.version()} voice={name} speed={self.speed}"

    def synthesize(self, text: str, lang: str) -> bytes:
        return self._speak(text, lang, [])

    def synthesize_ssml(self, ssml: str, lang: str) -> bytes:
        return self._speak(ssml, lang, ["-m"])

    def _speak(self, text: str, lang: str, options: list[str]) -> bytes:
        self.voice(lang)  # fail early on an unknown language
        with tempfile.TemporaryDirectory(prefix="nu-espeak-") as tmp:
            out = Path(tmp) / "speech.wav"
            # Text on stdin (-b 1: UTF-8) so a text starting with '-' is not read as an option.
            cmd = [self.binary, "-b", "1", *options, "-v", self.voices[lang], "-s", str(self.speed)]
            _run([*cmd, "-w", str(out)], stdin=text.encode("utf-8"))
            return out.read_bytes()


@dataclass
class BuildReport:
    """What a build did. Prompts are named ``<lang>/<key>``, like their files minus extension."""

    built: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # prompt -> reason
    missing: list[str] = field(default_factory=list)  # reachable, but no text in that language
    # Built, but by the fallback (offline) voice because the first voice refused: prompt -> why.
    fallback: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failed and not self.missing

    def summary(self) -> str:
        offline = f" ({len(self.fallback)} by the offline voice)" if self.fallback else ""
        return (
            f"{len(self.built)} built{offline}, {len(self.unchanged)} unchanged, "
            f"{len(self.removed)} removed, {len(self.failed)} failed, "
            f"{len(self.missing)} missing in {self.seconds:.1f} s"
        )


@dataclass(frozen=True)
class _Job:
    name: str
    lang: str
    text: str
    ssml: str | None
    formats: tuple[OutputFormat, ...]  # the formats out of date


@dataclass(frozen=True)
class _Outcome:
    seconds: float = 0.0
    error: str = ""
    voice: str = ""
    fallback: str = ""  # why the first voice was not used


Tick = Callable[[int, int, str], None]  # (prompts done, prompts in all, last prompt)


def build_prompts(
    dialplan: Dialplan,
    prompts_dir: str | Path,
    sounds_dir: str | Path,
    *,
    languages: Iterable[str] | None = None,
    progress: Callable[[str], None] | None = None,
    synthesizer: Synthesizer | None = None,
    fallback: Synthesizer | None = None,
    workers: int | None = None,
    formats: Iterable[str] | None = None,
    tick: Tick | None = None,
    catalogue: dict[str, dict[str, str]] | None = None,
    manifest_name: str = MANIFEST,
) -> BuildReport:
    """Build every changed prompt of the dialplan's languages (or only ``languages``).

    ``synthesizer`` speaks first (default espeak-ng); ``fallback`` speaks a prompt the first one
    could not. ``progress`` receives one line per prompt (``it/welcome: built``), ``tick`` the
    count of prompts done, for a progress bar. ``formats`` limits the output formats (default:
    all of :data:`FORMATS`). Raises ValueError when the catalogue cannot be read; a prompt that
    cannot be built is reported, not raised.

    ``catalogue`` and ``manifest_name``: build these texts instead, kept in a manifest of their
    own (prompts generated from data that changes apart from the dialplan, such as the
    directory's names: ``ivr/directory/audio.py``); each build removes only its own leftovers.
    """
    started = time.monotonic()
    say = progress or (lambda line: None)
    synth = synthesizer or EspeakSynthesizer()
    sounds = Path(sounds_dir)
    langs = list(dict.fromkeys(languages if languages is not None else dialplan.languages))
    wanted_formats = tuple(f for f in FORMATS if formats is None or f.ext in set(formats))
    own = catalogue is None
    if catalogue is None:
        catalogue = audio_catalogue(dialplan, prompts_dir)
    ssml_of = load_ssml(prompts_dir) if own else {}
    report = BuildReport()

    manifest = _read_manifest(sounds / manifest_name)
    sections: dict[str, dict[str, dict]] = manifest["formats"]

    # Work out what to do for every (lang, key) of the catalogue.
    todo: list[_Job] = []
    wanted: set[str] = set()
    for lang in langs:
        if not _SAFE_NAME.match(lang):
            report.failed[f"{lang}/*"] = "language code cannot be a folder name"
            continue
        voice, voice_error = _voice(synth, lang)
        if voice_error and fallback is not None:
            voice, voice_error = _voice(fallback, lang)
        for key, text in sorted(catalogue.get(lang, {}).items()):
            name = f"{lang}/{key}"
            wanted.add(name)
            if not _SAFE_NAME.match(key):
                report.failed[name] = "key cannot be a file name (use a-z, 0-9, '_', '-')"
                continue
            if voice_error:
                report.failed[name] = voice_error
                continue
            ssml = ssml_of.get(lang, {}).get(key)
            stale = []
            for fmt in wanted_formats:
                digest = prompt_hash(text, voice, fmt.recipe, ssml)
                entry = sections.setdefault(fmt.ext, {}).get(name)
                if not (
                    entry and entry.get("hash") == digest and _file(sounds, name, fmt).is_file()
                ):
                    stale.append(fmt)
            if stale:
                todo.append(_Job(name, lang, text, ssml, tuple(stale)))
            else:
                report.unchanged.append(name)
                say(f"{name}: unchanged")

    # Remove what left the catalogue: within the languages built, plus languages the
    # dialplan dropped (only when building them all).
    removed: set[str] = set()
    for fmt in wanted_formats:
        entries = sections.setdefault(fmt.ext, {})
        for name in sorted(entries):
            lang = name.split("/", 1)[0]
            in_scope = lang in langs or (languages is None and lang not in dialplan.languages)
            if in_scope and name not in wanted:
                _file(sounds, name, fmt).unlink(missing_ok=True)
                del entries[name]
                removed.add(name)
    for name in sorted(removed):
        report.removed.append(name)
        say(f"{name}: removed")

    total = len(report.unchanged) + len(todo)
    done = len(report.unchanged)
    if tick is not None and total:
        tick(done, total, "")

    # Build, in parallel: the work is in subprocesses or the network, so threads are enough.
    for lang in {job.lang for job in todo}:
        (sounds / lang).mkdir(parents=True, exist_ok=True)
    n_workers = workers or getattr(synth, "workers", None) or max(1, min(2, os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=n_workers) as pool:
        results = pool.map(lambda job: _build_one(synth, fallback, sounds, job), todo)
        for job, outcome in zip(todo, results, strict=True):
            done += 1
            if tick is not None:
                tick(done, total, job.name)
            if outcome.error:
                report.failed[job.name] = outcome.error
                say(f"{job.name}: FAILED: {outcome.error}")
                continue
            for fmt in job.formats:
                sections[fmt.ext][job.name] = {
                    "hash": prompt_hash(job.text, outcome.voice, fmt.recipe, job.ssml),
                    "text": job.text,
                    "voice": outcome.voice,
                    "seconds": round(outcome.seconds, 2),
                }
            report.built.append(job.name)
            if outcome.fallback:
                report.fallback[job.name] = outcome.fallback
                say(
                    f"{job.name}: built by the offline voice ({outcome.seconds:.1f} s of audio): "
                    f"{outcome.fallback}"
                )
            else:
                say(f"{job.name}: built ({outcome.seconds:.1f} s of audio)")

    report.missing = missing_prompts(dialplan, catalogue, langs) if own else []
    for name in report.missing:
        say(f"{name}: MISSING: no text in prompts/{name.split('/')[0]}.yaml")
    if todo or report.removed or not (sounds / manifest_name).exists():
        _write_manifest(sounds / manifest_name, manifest)
    report.seconds = time.monotonic() - started
    return report


def prompt_hash(
    text: str, voice: str, recipe: str = FORMATS[0].recipe, ssml: str | None = None
) -> str:
    """Content hash of a prompt's audio: the text (and SSML), who speaks it, the output format."""
    content = {"text": text, "voice": voice, "format": recipe}
    if ssml:
        content["ssml"] = ssml
    blob = json.dumps(content, sort_keys=True)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def missing_prompts(
    dialplan: Dialplan, catalogue: dict[str, dict[str, str]], languages: Iterable[str]
) -> list[str]:
    """``<lang>/<key>`` the call flow can play (engine prompts, reachable nodes) with no text."""
    usage = prompt_usage(dialplan)
    return sorted(
        f"{lang}/{key}"
        for lang in languages
        for key in usage.get(lang, {})
        if key not in catalogue.get(lang, {})
    )


def audio_path(sounds_dir: str | Path, name: str, ext: str = "wav") -> Path:
    """Where the build puts ``<lang>/<key>`` in format ``ext``."""
    return Path(sounds_dir) / f"{name}.{ext}"


def read_manifest(sounds_dir: str | Path) -> dict[str, dict[str, dict]]:
    """The built prompts per format: ``{"wav": {"it/welcome": {"hash", "text", ...}}, ...}``."""
    return _read_manifest(Path(sounds_dir) / MANIFEST)["formats"]


def _file(sounds: Path, name: str, fmt: OutputFormat) -> Path:
    return sounds / f"{name}.{fmt.ext}"


def _voice(synth: Synthesizer, lang: str) -> tuple[str, str]:
    try:
        return synth.voice(lang), ""
    except Exception as exc:  # a synthesiser may fail any way; report it
        return "", _reason(exc)


def _speak(synth: Synthesizer, job: _Job, raw: Path) -> str:
    """Speak ``job`` with ``synth`` into ``raw`` and check it is speech. Returns the voice."""
    voice = synth.voice(job.lang)
    if job.ssml and getattr(synth, "speaks_ssml", False):
        audio = synth.synthesize_ssml(job.ssml, job.lang)  # type: ignore[attr-defined]
    else:
        audio = synth.synthesize(job.text, job.lang)
    raw.write_bytes(audio)
    # Check before normalising: `norm` would turn near-silence into loud noise.
    problems = speech_problems(inspect_wav(raw))
    if problems:
        raise SynthesisError("synthesiser output " + ", ".join(problems))
    return voice


def _build_one(
    synth: Synthesizer, fallback: Synthesizer | None, sounds: Path, job: _Job
) -> _Outcome:
    """Speak once, convert to each format, check and install. Never raises."""
    partials: list[tuple[Path, Path]] = []
    try:
        with tempfile.TemporaryDirectory(prefix="nu-prompt-") as tmp:
            raw = Path(tmp) / "raw.wav"
            why = ""
            try:
                voice = _speak(synth, job, raw)
            except Exception as exc:
                if fallback is None:
                    raise
                why = _reason(exc)
                voice = _speak(fallback, job, raw)
            seconds = 0.0
            # Write next to the targets, then rename: Asterisk never sees half a file, and a
            # prompt is installed in all its formats or in none.
            for fmt in job.formats:
                target = _file(sounds, job.name, fmt)
                partial = target.with_name(f".{target.name}.{os.getpid()}.tmp")
                partials.append((partial, target))
                _run(["sox", "-R", "-V1", str(raw), *_SOX_OUTPUT, str(partial), *fmt.sox_effects])
                info = inspect_wav(partial)
                problems = prompt_problems(info, fmt.rate)
                if problems:
                    raise SynthesisError(f"converted audio ({fmt.ext}) " + ", ".join(problems))
                seconds = info.duration
            for partial, target in partials:
                os.replace(partial, target)
            return _Outcome(seconds=seconds, voice=voice, fallback=why)
    except Exception as exc:  # one bad prompt must not stop the build
        return _Outcome(error=_reason(exc))
    finally:
        for partial, _ in partials:
            partial.unlink(missing_ok=True)


def _reason(exc: Exception) -> str:
    if isinstance(exc, SynthesisError | ValueError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def _run(cmd: list[str], stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    if shutil.which(cmd[0]) is None:
        raise SynthesisError(f"{cmd[0]} is not installed (apt-get install {cmd[0]})")
    try:
        done = subprocess.run(cmd, input=stdin, capture_output=True, timeout=_TIMEOUT, check=False)
    except subprocess.TimeoutExpired as exc:
        raise SynthesisError(f"{cmd[0]} took more than {_TIMEOUT} s") from exc
    if done.returncode != 0:
        err = done.stderr.decode(errors="replace").strip().splitlines()
        raise SynthesisError(f"{cmd[0]} failed ({done.returncode}): {err[-1] if err else ''}")
    return done


def _read_manifest(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        data = None  # missing or damaged: rebuild everything, it is only slower
    if not isinstance(data, dict) or data.get("version") != MANIFEST_VERSION:
        return {"version": MANIFEST_VERSION, "formats": {}}
    formats = data.get("formats")
    if not isinstance(formats, dict):
        data["formats"] = formats = {}
    for ext in list(formats):
        if not isinstance(formats[ext], dict):
            formats[ext] = {}
    return data


def _write_manifest(path: Path, manifest: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    manifest["formats"] = {
        ext: dict(sorted(entries.items())) for ext, entries in sorted(manifest["formats"].items())
    }
    partial = path.with_name(f".{path.name}.tmp")
    partial.write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(partial, path)
