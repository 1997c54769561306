"""`ivr prompts build` with the real espeak-ng and sox: files Asterisk can play (8 and 16 kHz),
rebuilt only when they change, and failures reported instead of silence."""

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
from ivr.flow.validate import validate
from ivr.prompts.audio import LOUDNESS_RANGE_DBFS, inspect_wav, prompt_problems
from ivr.prompts.build import (
    ESPEAK_VOICES,
    MANIFEST,
    EspeakSynthesizer,
    build_prompts,
    missing_prompts,
)
from ivr.prompts.catalogue import audio_catalogue, full_catalogue
from ivr.prompts.hours_text import describe_hours
from ivr.prompts.sayings import vocabulary
from tests.prompts_support import example_text

# The module's first build synthesises three of the example city's seven languages, about 450
# prompts instead of 1,210 (the whole catalogue took 400-500 s of two busy cores in CI): Italian
# and English, whose numbers Asterisk says itself, and Mandarin, a script of its own with our own
# sayings vocabulary. Each of the seven voices speaks in test_every_voice_in_the_table_speaks, and
# every language's texts are checked complete without synthesis. Still CPU-bound: past the
# suite's 300 s per-test ceiling on a loaded machine.
pytestmark = pytest.mark.timeout(900)

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "dialplans" / "example-city.yaml"
PROMPTS = ROOT / "prompts"
# Prompts per language in the example city (hand-written texts plus generated hours).
PER_LANG = len(full_catalogue(load_dialplan(EXAMPLE), PROMPTS)["it"])
LANGUAGES = ("it", "en", "fr", "es", "de", "zh", "ar")
BUILT = ("it", "en", "zh")  # the languages the build tests synthesise
# Languages whose numbers, dates and times Asterisk has no sounds for: their vocabulary is built.
OWN_SAYINGS = ("de", "zh", "ar")
EXTS = ("wav", "wav16")


def expected_names(dialplan) -> list[str]:
    """Every prompt the example city should get: hand-written keys plus one hours prompt per
    department, in each language, plus the sayings' vocabulary where Asterisk has no sounds.
    The texts are counted from the files, not from the code under test."""
    names = []
    for lang in dialplan.languages:
        keys = set(yaml.safe_load((PROMPTS / f"{lang}.yaml").read_text(encoding="utf-8")))
        keys |= {f"hours_{d}" for d in dialplan.departments}
        if lang in OWN_SAYINGS:
            keys |= set(vocabulary(lang))
        names += [f"{lang}/{key}" for key in keys]
    return sorted(names)


def files(names: list[str]) -> list[str]:
    return sorted(f"{name}.{ext}" for name in names for ext in EXTS)


def tone(seconds: float = 1.0, rate: int = 22050, amplitude: float = 0.5, freq=440.0) -> bytes:
    """A tone whose loudness swells and fades like a syllable (a steady sine normalised to a
    -3 dBFS peak would sit at the very edge of the loudness range)."""
    n = int(seconds * rate)
    samples = [
        int(
            amplitude
            * 32767
            * math.sin(2 * math.pi * freq * i / rate)
            * (0.55 + 0.45 * math.sin(2 * math.pi * 3 * i / rate))
        )
        for i in range(n)
    ]
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


class CountingEspeak(EspeakSynthesizer):
    """The real espeak-ng, counting what it is asked to say."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, str]] = []

    def synthesize(self, text: str, lang: str) -> bytes:
        self.calls.append((text, lang))
        return super().synthesize(text, lang)


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


def example_in(languages: tuple[str, ...]):
    """The example city offering only ``languages``, validated like a loaded file."""
    dialplan, issues = parse_dialplan(example_text(languages), "example.yaml")
    assert dialplan is not None and issues == []
    assert validate(dialplan, prompts_dir=PROMPTS) == []
    assert dialplan.languages == languages
    return dialplan


@pytest.fixture(scope="module")
def example():
    return example_in(BUILT)


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


def manifest(sounds: Path, ext: str = "wav") -> dict:
    return json.loads((sounds / MANIFEST).read_text(encoding="utf-8"))["formats"][ext]


def snapshot(sounds: Path) -> dict[str, tuple[int, bytes]]:
    return {
        str(p.relative_to(sounds)): (p.stat().st_mtime_ns, p.read_bytes())
        for p in sorted(sounds.rglob("*.wav*"))
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


def test_every_language_of_the_example_city_has_every_text():
    """What the full build needs, without synthesising it: a text for every prompt a caller can
    hear, in each of the seven languages."""
    full = load_dialplan(EXAMPLE, PROMPTS)
    assert full.languages == LANGUAGES
    catalogue = audio_catalogue(full, PROMPTS)
    assert missing_prompts(full, catalogue, LANGUAGES) == []
    assert sum(map(len, catalogue.values())) == len(expected_names(full))


def test_full_build_makes_every_prompt(example, first_build):
    base, report, _ = first_build
    names = expected_names(example)
    assert example.languages == BUILT
    vocabulary_size = len(vocabulary("zh"))
    assert vocabulary_size > 200
    assert len(names) == 3 * PER_LANG + vocabulary_size and PER_LANG > 7
    assert sorted(report.built) == names
    assert report.failed == {} and report.fallback == {}
    assert report.missing == []
    assert report.unchanged == [] and report.removed == []
    assert report.ok
    on_disk = sorted(str(p.relative_to(base / "sounds")) for p in (base / "sounds").rglob("*"))
    # Nothing else: no temporary or stray files.
    assert on_disk == sorted([*files(names), *BUILT, MANIFEST])


@pytest.mark.parametrize("ext, rate", [("wav", 8000), ("wav16", 16000)])
def test_every_file_is_mono_16bit_speech_at_its_rate(example, first_build, ext, rate):
    base, _, _ = first_build
    low, high = LOUDNESS_RANGE_DBFS
    # single words: the sayings vocabulary and the queue announcement's "minute(s)"
    # and the directory's fragments said around an entry's name ("Per" <name> "premi" 1)
    words = set(vocabulary("zh")) | {"minute", "minutes"}
    words |= {"directory_you_said", "directory_for", "directory_press"}
    for name in expected_names(example):
        path = base / "sounds" / f"{name}.{ext}"
        info = inspect_wav(path)
        assert (info.rate, info.channels, info.sample_width) == (rate, 1, 2), name
        # The shortest sentence lasts more than a second; a single word ("5") less.
        shortest = 0.3 if name.split("/")[1] in words else 1.0
        assert info.duration > shortest, name
        assert low < info.rms_dbfs < high, name
        assert -3.2 < info.peak_dbfs < -2.8, name  # normalised to -3 dBFS
        assert prompt_problems(info, rate) == []
        # Plain RIFF/WAVE with a 16-byte PCM fmt chunk: what Asterisk's format_wav reads.
        head = path.read_bytes()[:44]
        assert head[:4] == b"RIFF" and head[8:16] == b"WAVEfmt "
        size, tag, channels, file_rate, _, align, bits = struct.unpack("<IHHIIHH", head[16:36])
        assert (size, tag, channels, file_rate, align, bits) == (16, 1, 1, rate, 2, 16)
        assert head[36:40] == b"data"
        assert struct.unpack("<I", head[40:44])[0] == info.frames * 2


def test_narrowband_and_wideband_say_the_same(first_build):
    sounds = first_build[0] / "sounds"
    for name in ("it/main_menu", "zh/welcome", "en/goodbye", "zh/say_mday_23"):
        narrow = inspect_wav(sounds / f"{name}.wav")
        wide = inspect_wav(sounds / f"{name}.wav16")
        assert abs(narrow.duration - wide.duration) < 0.01, name
        assert wide.frames == pytest.approx(2 * narrow.frames, abs=2)


def test_longer_text_makes_longer_audio(first_build):
    base, _, _ = first_build
    sounds = base / "sounds"
    menu = inspect_wav(sounds / "it" / "main_menu.wav").duration
    short = inspect_wav(sounds / "it" / "invalid_choice.wav").duration
    assert menu > 4 * short


def test_hours_prompts_for_every_department(example, first_build):
    base, _, _ = first_build
    entries = manifest(base / "sounds")
    for lang in BUILT:
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


def test_changing_one_text_rebuilds_exactly_that_prompt(example, work):
    """One text changed: one synthesis, and only that prompt's files (its 8 and 16 kHz
    versions) are rewritten."""
    sounds = work / "sounds"
    before = snapshot(sounds)
    old = {ext: manifest(sounds, ext) for ext in EXTS}
    edit_prompts(work / "prompts", "en", goodbye="Thank you for calling the city. Goodbye!")
    synth = CountingEspeak()
    report = build_prompts(example, work / "prompts", sounds, synthesizer=synth)
    assert report.built == ["en/goodbye"]
    assert synth.calls == [("Thank you for calling the city. Goodbye!", "en")]
    assert len(report.unchanged) == len(expected_names(example)) - 1
    for ext in EXTS:
        new = manifest(sounds, ext)
        assert new["en/goodbye"]["hash"] != old[ext]["en/goodbye"]["hash"]
        assert new["en/goodbye"]["text"] == "Thank you for calling the city. Goodbye!"
        assert {k: v for k, v in new.items() if k != "en/goodbye"} == {
            k: v for k, v in old[ext].items() if k != "en/goodbye"
        }
    after = snapshot(sounds)
    changed = {name for name in before if before[name] != after[name]}
    assert changed == {"en/goodbye.wav", "en/goodbye.wav16"}
    assert (
        inspect_wav(sounds / "en" / "goodbye.wav").duration
        > inspect_wav(before["en/goodbye.wav"][1]).duration
    )


def test_changing_one_translation_rebuilds_only_that_language(example, work):
    sounds = work / "sounds"
    before = snapshot(sounds)
    edit_prompts(work / "prompts", "zh", goodbye="谢谢您的来电，再见。")
    report = build_prompts(example, work / "prompts", sounds)
    assert report.built == ["zh/goodbye"]
    after = snapshot(sounds)
    assert {n for n in before if before[n] != after[n]} == {"zh/goodbye.wav", "zh/goodbye.wav16"}


def test_a_missing_wideband_file_rebuilds_only_that_file(example, work):
    sounds = work / "sounds"
    (sounds / "en" / "welcome.wav16").unlink()
    before = snapshot(sounds)
    synth = CountingEspeak()
    report = build_prompts(example, work / "prompts", sounds, synthesizer=synth)
    assert report.built == ["en/welcome"] and len(synth.calls) == 1
    after = snapshot(sounds)
    assert set(after) - set(before) == {"en/welcome.wav16"}
    assert {n for n in before if before[n] != after[n]} == set()
    assert inspect_wav(sounds / "en" / "welcome.wav16").rate == 16000


def test_changing_department_hours_rebuilds_its_hours_prompts(work):
    text = example_text(BUILT).replace('mon-sat: ["07:30-19:30"]', 'mon-fri: ["07:30-19:30"]')
    dialplan, issues = parse_dialplan(text, "changed.yaml")
    assert issues == []
    report = build_prompts(dialplan, work / "prompts", work / "sounds")
    assert sorted(report.built) == sorted(f"{lang}/hours_rifiuti" for lang in BUILT)
    texts = manifest(work / "sounds")
    assert "dal lunedì al venerdì" in texts["it/hours_rifiuti"]["text"]
    assert "Monday to Friday" in texts["en/hours_rifiuti"]["text"]
    assert "星期一至星期五" in texts["zh/hours_rifiuti"]["text"]


def test_removing_a_key_removes_its_file(example, work):
    edit_prompts(work / "prompts", "en", welcome=None)
    lines: list[str] = []
    report = build_prompts(example, work / "prompts", work / "sounds", progress=lines.append)
    assert report.removed == ["en/welcome"]
    assert report.built == []
    assert not (work / "sounds" / "en" / "welcome.wav").exists()
    assert not (work / "sounds" / "en" / "welcome.wav16").exists()
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
    dialplan = example_in(("it", "en"))  # Mandarin dropped
    report = build_prompts(dialplan, work / "prompts", work / "sounds")
    assert len(report.removed) == PER_LANG + len(vocabulary("zh"))
    assert all(n.startswith("zh/") for n in report.removed)
    assert list((work / "sounds" / "zh").iterdir()) == []
    assert report.built == [] and report.ok


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
    assert list((tmp_path / "sounds").rglob("*.wav*")) == []
    assert len(synth.calls) == len(expected_names(example))
    assert all("FAILED" in line and "engine down" in line for line in lines)


def test_failed_prompt_keeps_old_audio_and_is_retried(example, work):
    before = snapshot(work / "sounds")
    # A different voice changes every hash, so everything is rebuilt, and everything fails.
    report = build_prompts(
        example, work / "prompts", work / "sounds", synthesizer=FakeSynthesizer(OSError("boom"))
    )
    assert 2 * len(report.failed) == len(before) and report.built == []  # 8 and 16 kHz
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
    assert list(tmp_path.rglob("*.wav*")) == []
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
    for ext, rate in (("wav", 8000), ("wav16", 16000)):
        info = inspect_wav(tmp_path / "it" / f"welcome.{ext}")
        assert (info.rate, info.channels, info.sample_width) == (rate, 1, 2)
        assert abs(info.duration - 1.0) < 0.01


def test_language_without_a_voice_fails_its_prompts_only(example, tmp_path):
    synth = EspeakSynthesizer(voices={"it": "it"})
    report = build_prompts(
        example, PROMPTS, tmp_path, synthesizer=synth, workers=2, languages=["it", "en"]
    )
    assert len(report.built) == PER_LANG and all(n.startswith("it/") for n in report.built)
    assert len(report.failed) == PER_LANG
    assert set(report.failed.values()) == {"no espeak-ng voice for language 'en'"}


def test_new_language_builds_and_reports_missing_hours_wording(tmp_path):
    """An eighth language (Russian): a prompt file and an espeak-ng voice are enough to build;
    the hours wording it lacks is reported, not invented."""
    city = """
city: Ville
number: "0101"
languages: [it, ru]
general_operator: op
departments:
  op: {names: {it: Operatore, ru: Оператор}, hours: always}
start: orari
nodes:
  orari: {type: hours, department: op, open: passa, closed: passa}
  passa: {type: transfer, department: op}
"""
    dialplan, issues = parse_dialplan(city, "ville.yaml")
    assert issues == []
    prompts = tmp_path / "prompts"
    shutil.copytree(PROMPTS, prompts)
    ru = {
        "invalid_choice": "Неверный выбор.",
        "no_input": "Я не получил ответа.",
        "too_many_attempts": "Соединяю вас с оператором.",
        "transferring": "Пожалуйста, подождите: соединяю вас с оператором.",
        "closed_now": "Сейчас офис закрыт.",
        "goodbye": "Спасибо за звонок. До свидания.",
        "service_unavailable": "Автоматическая служба недоступна.",
    }
    (prompts / "ru.yaml").write_text(yaml.safe_dump(ru, allow_unicode=True), encoding="utf-8")
    synth = EspeakSynthesizer(voices={**ESPEAK_VOICES, "ru": "ru"})
    report = build_prompts(dialplan, prompts, tmp_path / "sounds", synthesizer=synth)
    assert report.failed == {}
    assert report.missing == ["ru/hours_op"]
    assert sorted(n for n in report.built if n.startswith("ru/")) == sorted(f"ru/{k}" for k in ru)
    assert inspect_wav(tmp_path / "sounds" / "ru" / "goodbye.wav").duration > 1
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
    report = build_prompts(example, work / "prompts", work / "sounds", languages=["en"])
    english = [n for n in expected_names(example) if n.startswith("en/")]
    assert sorted(report.built) == english
    assert sorted(manifest(work / "sounds")) == english
    assert sorted(manifest(work / "sounds", "wav16")) == english


def test_unreadable_catalogue_raises_value_error_naming_the_file(example, tmp_path):
    (tmp_path / "it.yaml").write_text("welcome: [unclosed\n", encoding="utf-8")
    with pytest.raises(ValueError, match="it.yaml"):
        build_prompts(example, tmp_path, tmp_path / "sounds")
    assert not (tmp_path / "sounds").exists()


def test_mandarin_voice_reads_characters_not_english_pinyin():
    """espeak-ng's plain "cmn" voice spells the pinyin of most characters in English; the
    voice in the table must say every sentence of zh.yaml in Mandarin."""
    import subprocess

    texts = yaml.safe_load((PROMPTS / "zh.yaml").read_text(encoding="utf-8"))
    for key in ("choose_language", "welcome", "main_menu", "transferring"):
        phonemes = subprocess.run(
            ["espeak-ng", "-q", "-x", "-b", "1", "-v", ESPEAK_VOICES["zh"]],
            input=texts[key].encode(),
            capture_output=True,
            check=True,
        ).stdout.decode()
        assert phonemes.strip() and "(en)" not in phonemes, (key, phonemes)


# -- sayings' vocabulary, loudness, SSML, fallback voice, progress -------------------------


def test_vocabulary_for_sayings_is_built_where_asterisk_has_no_sounds(first_build):
    sounds = first_build[0] / "sounds"
    entries = manifest(sounds)
    assert entries["zh/say_hour_10"]["text"] == "10点"
    assert entries["zh/say_month_11"]["text"] == vocabulary("zh")["say_month_11"]
    assert (sounds / "zh" / "say_num_0.wav").is_file()
    for lang in ("it", "en"):  # Asterisk says them with its own sounds
        assert not list((sounds / lang).glob("say_*"))


def square(seconds: float = 1.0, rate: int = 16000) -> bytes:
    return wav_bytes([8000 if (i // 20) % 2 else -8000 for i in range(int(seconds * rate))], rate)


def test_audio_outside_the_loudness_range_is_a_failure(example, tmp_path):
    """A square wave normalised like speech has an RMS level as high as its peak: not speech."""
    report = build_prompts(
        example, PROMPTS, tmp_path, synthesizer=FakeSynthesizer(square()), languages=["en"]
    )
    assert report.built == [] and len(report.failed) == PER_LANG
    assert all("too loud" in why for why in report.failed.values()), report.failed
    assert list(tmp_path.rglob("*.wav*")) == []


class SsmlSynthesizer(FakeSynthesizer):
    speaks_ssml = True

    def __init__(self) -> None:
        super().__init__(tone())
        self.ssml: list[tuple[str, str]] = []

    def synthesize_ssml(self, ssml: str, lang: str) -> bytes:
        self.ssml.append((ssml, lang))
        return self.output  # type: ignore[return-value]


def test_ssml_goes_to_voices_that_speak_it_and_into_the_hash(tmp_path):
    city = """
number: "0101"
languages: [en]
general_operator: op
departments:
  op: {names: {en: Operator}, hours: always}
nodes:
  start: {type: play, prompts: [code_help], next: op}
  op: {type: transfer, department: op}
"""
    dialplan, issues = parse_dialplan(city, "ssml.yaml")
    assert issues == []
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    shutil.copy(PROMPTS / "en.yaml", prompts / "en.yaml")
    ssml = '<speak>Your code has <say-as interpret-as="cardinal">8</say-as> digits.</speak>'
    with open(prompts / "en.yaml", "a", encoding="utf-8") as f:
        f.write(f"code_help:\n  text: Your code has 8 digits.\n  ssml: '{ssml}'\n")
    smart, plain = SsmlSynthesizer(), FakeSynthesizer(tone())
    report = build_prompts(dialplan, prompts, tmp_path / "a", synthesizer=smart)
    assert report.ok and "en/code_help" in report.built
    assert smart.ssml == [(ssml, "en")]
    assert ("Your code has 8 digits.", "en") not in smart.calls
    build_prompts(dialplan, prompts, tmp_path / "b", synthesizer=plain)
    assert ("Your code has 8 digits.", "en") in plain.calls  # no SSML: the text is read
    # A change of SSML alone rebuilds the prompt.
    text = (prompts / "en.yaml").read_text(encoding="utf-8").replace(">8<", ">eight<")
    (prompts / "en.yaml").write_text(text, encoding="utf-8")
    again = build_prompts(dialplan, prompts, tmp_path / "a", synthesizer=smart)
    assert again.built == ["en/code_help"]
    # espeak-ng reads SSML too (-m): the markup is not spoken.
    spoken = EspeakSynthesizer().synthesize_ssml(ssml, "en")
    assert (
        inspect_wav(spoken).duration
        < inspect_wav(EspeakSynthesizer().synthesize(ssml, "en")).duration
    )


def test_prompts_the_first_voice_refuses_are_spoken_by_the_fallback(example, tmp_path):
    class Flaky(FakeSynthesizer):
        def synthesize(self, text: str, lang: str) -> bytes:
            self.calls.append((text, lang))
            if "operator" in text:
                raise RuntimeError("cloud said no")
            return self.output  # type: ignore[return-value]

    first, spare = Flaky(tone(), voice="cloud v1"), FakeSynthesizer(tone(), voice="spare v1")
    lines: list[str] = []
    report = build_prompts(
        example,
        PROMPTS,
        tmp_path,
        synthesizer=first,
        fallback=spare,
        languages=["en"],
        progress=lines.append,
    )
    refused = sorted(f"en/{key}" for text, key in _texts("en") if "operator" in text)
    assert refused and report.ok and len(report.built) == PER_LANG
    assert sorted(report.fallback) == refused
    assert all("cloud said no" in why for why in report.fallback.values())
    assert "by the offline voice" in report.summary()
    assert any("built by the offline voice" in line for line in lines)
    entries = manifest(tmp_path)
    assert {entries[name]["voice"] for name in refused} == {"spare v1 en"}
    assert entries["en/welcome"]["voice"] == "cloud v1 en"
    # The next build asks the first voice again for those prompts only.
    again = build_prompts(
        example, PROMPTS, tmp_path, synthesizer=first, fallback=spare, languages=["en"]
    )
    assert sorted(again.built) == refused and sorted(again.fallback) == refused


def _texts(lang: str) -> list[tuple[str, str]]:
    catalogue = full_catalogue(load_dialplan(EXAMPLE), PROMPTS)[lang]
    return [(text, key) for key, text in catalogue.items()]


def test_progress_ticks_count_every_prompt(example, work):
    edit_prompts(work / "prompts", "en", goodbye="Goodbye, and thank you.")
    ticks: list[tuple[int, int, str]] = []
    build_prompts(example, work / "prompts", work / "sounds", tick=lambda *t: ticks.append(t))
    total = len(expected_names(example))
    assert ticks[0] == (total - 1, total, "")  # everything unchanged is done at once
    assert ticks[-1] == (total, total, "en/goodbye")


def test_progress_bar_on_a_terminal_and_lines_elsewhere():
    import io

    from ivr.prompts.progress import BuildProgress

    out = io.StringIO()
    bar = BuildProgress(out, tty=True, width=10)
    bar.tick(0, 4, "")
    bar.line("it/welcome: built (2.0 s of audio)")
    bar.tick(2, 4, "it/welcome")
    bar.line("it/goodbye: FAILED: espeak-ng failed")
    bar.tick(4, 4, "it/goodbye")
    bar.close()
    text = out.getvalue()
    assert "[#####.....] 2/4 it/welcome" in text and "[##########] 4/4 it/goodbye" in text
    assert "it/goodbye: FAILED" in text and "it/welcome: built" not in text
    assert text.endswith("\n") and "\r" in text
    plain = io.StringIO()
    lines = BuildProgress(plain, tty=False)
    lines.tick(1, 2, "it/welcome")
    lines.line("it/welcome: built (2.0 s of audio)")
    lines.close()
    assert plain.getvalue() == "it/welcome: built (2.0 s of audio)\n"
