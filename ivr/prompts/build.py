"""``ivr prompts build``: turn the prompt catalogue into the audio files Asterisk plays, offline.

Each prompt becomes ``<sounds_dir>/<lang>/<key>.wav``, 8 kHz mono signed 16-bit PCM (what
Asterisk's ``format_wav`` plays without transcoding). A synthesiser speaks the text into a WAV
of any format, then sox converts it to the telephone format and normalises its level. Every
result is inspected; short or silent audio is a failure, never a file.

Only prompts whose text, voice or output format changed are rebuilt: ``<sounds_dir>/manifest.json``
keeps a content hash per prompt. Files of prompts that left the catalogue are removed. A failed
prompt keeps its previous audio (if any) and its previous hash, so the next build retries it.
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

from ivr.flow.model import ENGINE_PROMPTS, Dialplan, LanguageNode
from ivr.flow.validate import reachable_nodes
from ivr.prompts.audio import inspect_wav, speech_problems, telephone_problems
from ivr.prompts.catalogue import full_catalogue

MANIFEST = "manifest.json"
MANIFEST_VERSION = 1
# What sox makes of any synthesiser's output. Change the recipe -> bump the version: all rebuild.
OUTPUT_FORMAT = "wav pcm_s16le 8000Hz mono norm-3 v2"
_SOX_OUTPUT = ["-b", "16", "-e", "signed-integer", "-t", "wav"]
# Mix down and resample first, then normalise: the peak is set on the audio Asterisk plays.
_SOX_EFFECTS = ["channels", "1", "rate", "8000", "norm", "-3"]

_SAFE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,79}$")
_TIMEOUT = 60  # seconds for one synthesiser or sox run


class SynthesisError(RuntimeError):
    """A prompt could not be spoken; the message says why, for the build report."""


class Synthesizer(Protocol):
    """Speaks text. espeak-ng is the offline default; a cloud voice can come first later."""

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
ESPEAK_VOICES = {
    "it": "it",
    "en": "en-gb",
    "fr": "fr-fr",
    "es": "es",
    "de": "de",
    "ar": "ar",
    "zh": "cmn",
}


class EspeakSynthesizer:
    """espeak-ng, installed from Debian: robotic but offline, free and in every language we need."""

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
        self.voice(lang)  # fail early on an unknown language
        with tempfile.TemporaryDirectory(prefix="nu-espeak-") as tmp:
            out = Path(tmp) / "speech.wav"
            # Text on stdin (-b 1: UTF-8) so a text starting with '-' is not read as an option.
            cmd = [self.binary, "-b", "1", "-v", self.voices[lang], "-s", str(self.speed)]
            _run([*cmd, "-w", str(out)], stdin=text.encode("utf-8"))
            return out.read_bytes()


@dataclass
class BuildReport:
    """What a build did. Prompts are named ``<lang>/<key>``, like their file minus ``.wav``."""

    built: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # prompt -> reason
    missing: list[str] = field(default_factory=list)  # reachable, but no text in that language
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failed and not self.missing

    def summary(self) -> str:
        return (
            f"{len(self.built)} built, {len(self.unchanged)} unchanged, "
            f"{len(self.removed)} removed, {len(self.failed)} failed, "
            f"{len(self.missing)} missing in {self.seconds:.1f} s"
        )


def build_prompts(
    dialplan: Dialplan,
    prompts_dir: str | Path,
    sounds_dir: str | Path,
    *,
    languages: Iterable[str] | None = None,
    progress: Callable[[str], None] | None = None,
    synthesizer: Synthesizer | None = None,
    workers: int | None = None,
) -> BuildReport:
    """Build every changed prompt of the dialplan's languages (or only ``languages``).

    ``progress`` receives one line per prompt (``it/welcome: built``). Raises ValueError when
    the catalogue cannot be read; a prompt that cannot be built is reported, not raised.
    """
    started = time.monotonic()
    say = progress or (lambda line: None)
    synth = synthesizer or EspeakSynthesizer()
    sounds = Path(sounds_dir)
    langs = list(dict.fromkeys(languages if languages is not None else dialplan.languages))
    catalogue = full_catalogue(dialplan, prompts_dir)
    report = BuildReport()

    manifest = _read_manifest(sounds / MANIFEST)
    entries: dict[str, dict] = manifest["prompts"]

    # Work out what to do for every (lang, key) of the catalogue.
    todo: list[tuple[str, str, str, str]] = []  # (name, lang, text, hash)
    wanted: set[str] = set()
    for lang in langs:
        if not _SAFE_NAME.match(lang):
            report.failed[f"{lang}/*"] = "language code cannot be a folder name"
            continue
        try:
            voice = synth.voice(lang)
        except Exception as exc:  # a synthesiser may fail any way; report it
            voice, voice_error = "", _reason(exc)
        else:
            voice_error = ""
        for key, text in sorted(catalogue.get(lang, {}).items()):
            name = f"{lang}/{key}"
            wanted.add(name)
            if not _SAFE_NAME.match(key):
                report.failed[name] = "key cannot be a file name (use a-z, 0-9, '_', '-')"
                continue
            if voice_error:
                report.failed[name] = voice_error
                continue
            digest = prompt_hash(text, voice)
            entry = entries.get(name)
            if entry and entry.get("hash") == digest and (sounds / f"{name}.wav").is_file():
                report.unchanged.append(name)
                say(f"{name}: unchanged")
            else:
                todo.append((name, lang, text, digest))

    # Remove what left the catalogue: within the languages built, plus languages the
    # dialplan dropped (only when building them all).
    for name in sorted(entries):
        lang = name.split("/", 1)[0]
        in_scope = lang in langs or (languages is None and lang not in dialplan.languages)
        if in_scope and name not in wanted:
            (sounds / f"{name}.wav").unlink(missing_ok=True)
            del entries[name]
            report.removed.append(name)
            say(f"{name}: removed")

    # Build, in parallel: the work is in subprocesses, so threads are enough.
    for lang in {lang for _, lang, _, _ in todo}:
        (sounds / lang).mkdir(parents=True, exist_ok=True)
    n_workers = workers or max(1, min(2, os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=n_workers) as pool:
        results = pool.map(lambda job: _build_one(synth, sounds, *job), todo)
        for (name, _lang, text, digest), (seconds, error) in zip(todo, results, strict=True):
            if error:
                report.failed[name] = error
                say(f"{name}: FAILED: {error}")
                continue
            entries[name] = {"hash": digest, "text": text, "seconds": round(seconds, 2)}
            report.built.append(name)
            say(f"{name}: built ({seconds:.1f} s of audio)")

    report.missing = missing_prompts(dialplan, catalogue, langs)
    for name in report.missing:
        say(f"{name}: MISSING: no text in prompts/{name.split('/')[0]}.yaml")
    if todo or report.removed or not (sounds / MANIFEST).exists():
        _write_manifest(sounds / MANIFEST, manifest)
    report.seconds = time.monotonic() - started
    return report


def prompt_hash(text: str, voice: str) -> str:
    """Content hash of a prompt's audio: the text, who speaks it, and the output format."""
    blob = json.dumps({"text": text, "voice": voice, "format": OUTPUT_FORMAT}, sort_keys=True)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def missing_prompts(
    dialplan: Dialplan, catalogue: dict[str, dict[str, str]], languages: Iterable[str]
) -> list[str]:
    """``<lang>/<key>`` the call flow can play (engine prompts, reachable nodes) with no text."""
    needed: dict[str, set[str]] = {lang: set(ENGINE_PROMPTS) for lang in dialplan.languages}
    for node_id in reachable_nodes(dialplan):
        node = dialplan.nodes[node_id]
        spoken_in = (
            set(node.options.values()) if isinstance(node, LanguageNode) else dialplan.languages
        )
        for lang in spoken_in:
            needed.setdefault(lang, set()).update(node.prompt_keys())
    return sorted(
        f"{lang}/{key}"
        for lang in languages
        for key in needed.get(lang, ())
        if key not in catalogue.get(lang, {})
    )


def _build_one(
    synth: Synthesizer, sounds: Path, name: str, lang: str, text: str, digest: str
) -> tuple[float, str]:
    """Speak, convert, check and install one prompt. Returns (seconds of audio, error or '')."""
    target = sounds / f"{name}.wav"
    try:
        with tempfile.TemporaryDirectory(prefix="nu-prompt-") as tmp:
            raw = Path(tmp) / "raw.wav"
            raw.write_bytes(synth.synthesize(text, lang))
            # Check before normalising: `norm` would turn near-silence into loud noise.
            problems = speech_problems(inspect_wav(raw))
            if problems:
                raise SynthesisError("synthesiser output " + ", ".join(problems))
            # Write next to the target, then rename: Asterisk never sees half a file.
            partial = target.with_name(f".{target.name}.{os.getpid()}.tmp")
            try:
                _run(["sox", "-R", "-V1", str(raw), *_SOX_OUTPUT, str(partial), *_SOX_EFFECTS])
                info = inspect_wav(partial)
                problems = telephone_problems(info)
                if problems:
                    raise SynthesisError("converted audio " + ", ".join(problems))
                os.replace(partial, target)
            finally:
                partial.unlink(missing_ok=True)
            return info.duration, ""
    except Exception as exc:  # one bad prompt must not stop the build
        return 0.0, _reason(exc)


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
        return {"version": MANIFEST_VERSION, "prompts": {}}
    if not isinstance(data.get("prompts"), dict):
        data["prompts"] = {}
    return data


def _write_manifest(path: Path, manifest: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    manifest["prompts"] = dict(sorted(manifest["prompts"].items()))
    partial = path.with_name(f".{path.name}.tmp")
    partial.write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(partial, path)
