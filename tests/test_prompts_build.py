"""`ivr prompts build` with the real espeak-ng and sox: files Asterisk can play, rebuilt only
when they change, and failures reported instead of silence."""

from __future__ import annotations

import io
import json
import math
import shutil
import struct
import wave
from pathlib import Path

import pytest
import yaml

from ivr.flow.loader import load_dialplan, parse_dialplan
from ivr.prompts.audio import inspect_wav, telephone_problems
from ivr.prompts.build import (
    ESPEAK_VOICES,
    MANIFEST,
    EspeakSynthesizer,
    build_prompts,
)
from ivr.prompts.catalogue import full_catalogue
from ivr.prompts.hours_text import describe_hours

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "dialplans" / "example-city.yaml"
PROMPTS = ROOT / "prompts"
# Prompts per language in the example city (hand-written texts plus generated hours).
PER_LANG = len(full_catalogue(load_dialplan(EXAMPLE), PROMPTS)["it"])


def expected_names(dialplan) -> list[str]:
    """Every prompt the example city should get: hand-written keys plus one hours prompt per
    department, in each language. Computed from the files, not from the code under test."""
    names = []
    for lang in dialplan.languages:
        keys = set(yaml.safe_load((PROMPTS / f"{lang}.yaml").read_text(encoding="utf-8")))
        keys |= {f"hours_{d}" for d in dialplan.departments}
        names += [f"{lang}/{key}" for key in keys]
    return sorted(names)


def tone(seconds: float = 1.0, rate: int = 22050, amplitude: float = 0.5, freq=440.0) -> bytes:
    n = int(seconds * rate)
    samples = [int(amplitude * 32767 * math.sin(2 * math.pi * freq * i / rate)) for i in range(n)]
    return wav_bytes(samples, rate)


def wav_bytes(samples: list[int], rate: int = 22050, channels: int = 1, width: int = 2) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        fmt = {1: "B", 2: "h"}[width]
        w.writeframes(struct.pack(f"<{len(samples)}{fmt}", *samples))
    return buf.getvalue()


class FakeSynthesizer:
    """Implements the Synthesizer protocol with canned output, or an exception."""

    def __init__(self, output: bytes | Exception, voice: str = "fake v1"):
        self.output = output
        self._voice = voice
        self.calls: list[tuple[str, str]] = []

    def voice(self, lang: str) -> str:
        return f"{self._voice} {lang}"

    def synthesize(self, text: str, lang: str) -> bytes:
        self.calls.append((text, lang))
        if isinstance(self.output, Exception):
            raise self.output
        return self.output


@pytest.fixture(scope="module")
def example():
    return load_dialplan(EXAMPLE, PROMPTS)


@pytest.fixture(scope="module")
def first_build(example, tmp_path_factory):
    """One real build of the example city, shared; tests that change things work on copies."""
    base = tmp_path_factory.mktemp("first")
    shutil.copytree(PROMPTS, base / "prompts")
    lines: list[str] = []
    report = build_prompts(example, base / "prompts", base / "sounds", progress=lines.append)
    return base, report, lines


@pytest.fixture
def work(first_build, tmp_path):
    """A private copy of the first build's prompts and sounds (timestamps kept)."""
    base, _, _ = first_build
    shutil.copytree(base / "prompts", tmp_path / "prompts")
    shutil.copytree(base / "sounds", tmp_path / "sounds")
    return tmp_path


def manifest(sounds: Path) -> dict:
    return json.loads((sounds / MANIFEST).read_text(encoding="utf-8"))["prompts"]


def snapshot(sounds: Path) -> dict[str, tuple[int, bytes]]:
    return {
        str(p.relative_to(sounds)): (p.stat().st_mtime_ns, p.read_bytes())
        for p in sorted(sounds.rglob("*.wav"))
    }


def edit_prompts(folder: Path, lang: str, **changes: str | None) -> None:
    path = folder / f"{lang}.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    for key, text in changes.items():
        if text is None:
            del data[key]
        else:
            data[key] = text
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")


# -- a full build --------------------------------------------------------------------------


def test_full_build_makes_every_prompt(example, first_build):
    base, report, _ = first_build
    names = expected_names(example)
    assert len(names) == 2 * PER_LANG and PER_LANG > 7
    assert sorted(report.built) == names
    assert report.failed == {}
    assert report.missing == []
    assert report.unchanged == [] and report.removed == []
    assert report.ok
    on_disk = sorted(str(p.relative_to(base / "sounds")) for p in (base / "sounds").rglob("*"))
    # Nothing else: no temporary or stray files.
    assert on_disk == sorted([*(f"{n}.wav" for n in names), "en", "it", MANIFEST])


def test_every_file_is_8khz_mono_16bit_speech(example, first_build):
    base, _, _ = first_build
    for name in expected_names(example):
        path = base / "sounds" / f"{name}.wav"
        info = inspect_wav(path)
        assert (info.rate, info.channels, info.sample_width) == (8000, 1, 2), name
        assert info.duration > 1.0, name  # the shortest text is still a sentence
        assert info.rms_dbfs > -35, name
        assert -3.2 < info.peak_dbfs < -2.8, name  # normalised to -3 dBFS
        assert telephone_problems(info) == []
        # Plain RIFF/WAVE with a 16-byte PCM fmt chunk: what Asterisk's format_wav reads.
        head = path.read_bytes()[:44]
        assert head[:4] == b"RIFF" and head[8:16] == b"WAVEfmt "
        size, tag, channels, rate, _, align, bits = struct.unpack("<IHHIIHH", head[16:36])
        assert (size, tag, channels, rate, align, bits) == (16, 1, 1, 8000, 2, 16)
        assert head[36:40] == b"data"
        assert struct.unpack("<I", head[40:44])[0] == info.frames * 2


def test_longer_text_makes_longer_audio(first_build):
    base, _, _ = first_build
    sounds = base / "sounds"
    menu = inspect_wav(sounds / "it" / "main_menu.wav").duration
    short = inspect_wav(sounds / "it" / "invalid_choice.wav").duration
    assert menu > 4 * short


def test_hours_prompts_for_every_department(example, first_build):
    base, _, _ = first_build
    entries = manifest(base / "sounds")
    for lang in ("it", "en"):
        for dept in example.departments.values():
            name = f"{lang}/hours_{dept.id}"
            assert (base / "sounds" / f"{name}.wav").is_file()
            assert entries[name]["text"] == describe_hours(dept.names[lang], dept.hours, lang)


def test_progress_has_one_line_per_prompt(example, first_build):
    _, _, lines = first_build
    assert len(lines) == len(expected_names(example))
    assert "it/welcome: built" in "\n".join(lines)
    assert all(": built (" in line for line in lines)


# -- incremental builds --------------------------------------------------------------------


def test_second_build_rebuilds_nothing(example, work):
    before = snapshot(work / "sounds")
    lines: list[str] = []
    report = build_prompts(example, work / "prompts", work / "sounds", progress=lines.append)
    assert report.built == [] and report.removed == [] and report.failed == {}
    assert sorted(report.unchanged) == expected_names(example)
    assert snapshot(work / "sounds") == before
    assert all(line.endswith(": unchanged") for line in lines)


def test_changing_one_text_rebuilds_exactly_that_file(example, work):
    sounds = work / "sounds"
    before, old = snapshot(sounds), manifest(sounds)
    edit_prompts(work / "prompts", "en", goodbye="Thank you for calling the city. Goodbye!")
    report = build_prompts(example, work / "prompts", sounds)
    assert report.built == ["en/goodbye"]
    assert len(report.unchanged) == len(expected_names(example)) - 1
    new = manifest(sounds)
    assert new["en/goodbye"]["hash"] != old["en/goodbye"]["hash"]
    assert new["en/goodbye"]["text"] == "Thank you for calling the city. Goodbye!"
    assert {k: v for k, v in new.items() if k != "en/goodbye"} == {
        k: v for k, v in old.items() if k != "en/goodbye"
    }
    after = snapshot(sounds)
    changed = {name for name in before if before[name] != after[name]}
    assert changed == {"en/goodbye.wav"}
    assert (
        inspect_wav(sounds / "en" / "goodbye.wav").duration
        > inspect_wav(before["en/goodbye.wav"][1]).duration
    )


def test_changing_department_hours_rebuilds_its_hours_prompts(work):
    text = EXAMPLE.read_text(encoding="utf-8").replace(
        'mon-sat: ["07:30-19:30"]', 'mon-fri: ["07:30-19:30"]'
    )
    dialplan, issues = parse_dialplan(text, "changed.yaml")
    assert issues == []
    report = build_prompts(dialplan, work / "prompts", work / "sounds")
    assert sorted(report.built) == ["en/hours_rifiuti", "it/hours_rifiuti"]
    assert "dal lunedì al venerdì" in manifest(work / "sounds")["it/hours_rifiuti"]["text"]


def test_removing_a_key_removes_its_file(example, work):
    edit_prompts(work / "prompts", "en", welcome=None)
    lines: list[str] = []
    report = build_prompts(example, work / "prompts", work / "sounds", progress=lines.append)
    assert report.removed == ["en/welcome"]
    assert report.built == []
    assert not (work / "sounds" / "en" / "welcome.wav").exists()
    assert (work / "sounds" / "it" / "welcome.wav").is_file()
    assert "en/welcome" not in manifest(work / "sounds")
    # The call flow still plays it: the report says so, and the build is not ok.
    assert report.missing == ["en/welcome"]
    assert not report.ok
    assert "en/welcome: removed" in lines
    assert any(line.startswith("en/welcome: MISSING") for line in lines)


def test_deleted_file_is_rebuilt_even_if_manifest_matches(example, work):
    (work / "sounds" / "it" / "no_input.wav").unlink()
    report = build_prompts(example, work / "prompts", work / "sounds")
    assert report.built == ["it/no_input"]
    assert inspect_wav(work / "sounds" / "it" / "no_input.wav").duration > 1


def test_languages_option_builds_and_prunes_only_those(example, work):
    edit_prompts(work / "prompts", "en", goodbye="Bye now.", welcome=None)
    edit_prompts(work / "prompts", "it", goodbye="Ciao.")
    report = build_prompts(example, work / "prompts", work / "sounds", languages=["it"])
    assert report.built == ["it/goodbye"] and report.removed == []
    assert (work / "sounds" / "en" / "welcome.wav").is_file()
    assert manifest(work / "sounds")["en/goodbye"]["text"] == "Thank you for calling. Goodbye."


def test_a_language_dropped_from_the_dialplan_is_removed(work):
    text = EXAMPLE.read_text(encoding="utf-8").replace("languages: [it, en]", "languages: [it]")
    text = text.replace('"2": en', '"2": it')
    dialplan, issues = parse_dialplan(text, "it-only.yaml")
    assert issues == []
    report = build_prompts(dialplan, work / "prompts", work / "sounds")
    assert len(report.removed) == PER_LANG and all(n.startswith("en/") for n in report.removed)
    assert list((work / "sounds" / "en").iterdir()) == []
    assert len(report.unchanged) == PER_LANG


# -- failures are reported, never silent ---------------------------------------------------


def test_failing_synthesizer_is_reported_not_raised(example, tmp_path):
    synth = FakeSynthesizer(RuntimeError("engine down"))
    lines: list[str] = []
    report = build_prompts(
        example, PROMPTS, tmp_path / "sounds", synthesizer=synth, progress=lines.append
    )
    assert sorted(report.failed) == expected_names(example)
    assert all("engine down" in reason for reason in report.failed.values())
    assert report.built == [] and not report.ok
    assert list((tmp_path / "sounds").rglob("*.wav")) == []
    assert len(synth.calls) == len(expected_names(example))
    assert all("FAILED" in line and "engine down" in line for line in lines)


def test_failed_prompt_keeps_old_audio_and_is_retried(example, work):
    before = snapshot(work / "sounds")
    # A different voice changes every hash, so everything is rebuilt, and everything fails.
    report = build_prompts(
        example, work / "prompts", work / "sounds", synthesizer=FakeSynthesizer(OSError("boom"))
    )
    assert len(report.failed) == len(before) and report.built == []
    assert snapshot(work / "sounds") == before
    # The manifest still describes the espeak-ng audio on disk: nothing to redo with espeak-ng.
    again = build_prompts(example, work / "prompts", work / "sounds")
    assert again.built == [] and again.failed == {}


@pytest.mark.parametrize(
    "output, reason",
    [
        (wav_bytes([0] * 22050), "silent"),
        # ±1 LSB of dither: sox's `norm` would blow it up to full-scale noise if not caught.
        (wav_bytes([(-1) ** i for i in range(22050)]), "silent"),
        (tone(seconds=0.1), "too short"),
        (b"ID3 this is an mp3, not a wav", "not a PCM WAV"),
        (b"", "not a PCM WAV"),
    ],
)
def test_silent_short_or_garbage_audio_is_a_failure(example, tmp_path, output, reason):
    report = build_prompts(
        example, PROMPTS, tmp_path, synthesizer=FakeSynthesizer(output), languages=["en"]
    )
    assert len(report.failed) == PER_LANG and report.built == []
    assert all(reason in why for why in report.failed.values()), report.failed
    assert list(tmp_path.rglob("*.wav")) == []
    assert list((tmp_path / "en").iterdir()) == []  # no temporary files left behind


def test_any_synthesizer_output_format_is_converted(example, tmp_path):
    mono = struct.unpack("<44100h", tone(seconds=1.0, rate=44100)[44:])
    stereo_44k = wav_bytes([s for sample in mono for s in (sample, sample)], 44100, channels=2)
    report = build_prompts(
        example,
        PROMPTS,
        tmp_path,
        synthesizer=FakeSynthesizer(stereo_44k),
        languages=["it"],
    )
    assert report.failed == {} and len(report.built) == PER_LANG
    info = inspect_wav(tmp_path / "it" / "welcome.wav")
    assert (info.rate, info.channels, info.sample_width) == (8000, 1, 2)
    assert abs(info.duration - 1.0) < 0.01


def test_language_without_a_voice_fails_its_prompts_only(example, tmp_path):
    synth = EspeakSynthesizer(voices={"it": "it"})
    report = build_prompts(example, PROMPTS, tmp_path, synthesizer=synth, workers=2)
    assert len(report.built) == PER_LANG and all(n.startswith("it/") for n in report.built)
    assert len(report.failed) == PER_LANG
    assert set(report.failed.values()) == {"no espeak-ng voice for language 'en'"}


def test_new_language_builds_and_reports_missing_hours_wording(tmp_path):
    city = """
city: Ville
number: "0101"
languages: [it, fr]
general_operator: op
departments:
  op: {names: {it: Operatore, fr: Opérateur}, hours: always}
start: orari
nodes:
  orari: {type: hours, department: op, open: passa, closed: passa}
  passa: {type: transfer, department: op}
"""
    dialplan, issues = parse_dialplan(city, "ville.yaml")
    assert issues == []
    prompts = tmp_path / "prompts"
    shutil.copytree(PROMPTS, prompts)
    fr = {
        "invalid_choice": "Ce choix n'est pas valable.",
        "no_input": "Je n'ai reçu aucun choix.",
        "too_many_attempts": "Je vous passe un opérateur.",
        "transferring": "Veuillez patienter, je vous passe un opérateur.",
        "closed_now": "Le bureau est fermé en ce moment.",
        "goodbye": "Merci de votre appel. Au revoir.",
        "service_unavailable": "Le service automatique n'est pas disponible.",
    }
    (prompts / "fr.yaml").write_text(yaml.safe_dump(fr, allow_unicode=True), encoding="utf-8")
    report = build_prompts(dialplan, prompts, tmp_path / "sounds")
    assert report.failed == {}
    assert report.missing == ["fr/hours_op"]
    assert sorted(n for n in report.built if n.startswith("fr/")) == sorted(f"fr/{k}" for k in fr)
    assert inspect_wav(tmp_path / "sounds" / "fr" / "goodbye.wav").duration > 1
    assert not (tmp_path / "sounds" / "en").exists()  # en.yaml exists, but not in the dialplan


@pytest.mark.parametrize(
    "lang, text",
    [
        ("it", "Buongiorno"),
        ("en", "Good morning"),
        ("fr", "Bonjour"),
        ("es", "Buenos días"),
        ("de", "Guten Morgen"),
        ("ar", "صباح الخير"),
        ("zh", "早上好"),
    ],
)
def test_every_voice_in_the_table_speaks(lang, text):
    assert lang in ESPEAK_VOICES
    synth = EspeakSynthesizer()
    assert synth.voice(lang).startswith("espeak-ng ")
    info = inspect_wav(synth.synthesize(text, lang))
    assert info.duration > 0.4 and not info.silent


def test_text_starting_with_a_dash_is_spoken_not_parsed():
    info = inspect_wav(EspeakSynthesizer().synthesize("-v xx --help", "en"))
    assert info.duration > 0.5 and not info.silent


def test_damaged_manifest_means_full_rebuild(example, work):
    (work / "sounds" / MANIFEST).write_text("{not json", encoding="utf-8")
    report = build_prompts(example, work / "prompts", work / "sounds")
    assert sorted(report.built) == expected_names(example)
    assert sorted(manifest(work / "sounds")) == expected_names(example)


def test_unreadable_catalogue_raises_value_error_naming_the_file(example, tmp_path):
    (tmp_path / "it.yaml").write_text("welcome: [unclosed\n", encoding="utf-8")
    with pytest.raises(ValueError, match="it.yaml"):
        build_prompts(example, tmp_path, tmp_path / "sounds")
    assert not (tmp_path / "sounds").exists()
