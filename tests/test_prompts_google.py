"""The cloud voice of `ivr prompts build`: Google Cloud Text-to-Speech over gRPC, tested against
a local server speaking the same API (tests/google_tts_fake.py), never the cloud. Errors and
quota refusals fall back to espeak-ng, prompt by prompt, and are reported.

The builds are of a small city (tests/prompts_support.py: the example city's own texts, ten
prompts per language, each one in use): what is asked, in which voice, what falls back and what
gets installed is the same for ten prompts as for the whole catalogue, with a fraction of the
espeak-ng and sox runs (the whole catalogue is built in tests/test_prompts_build.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import grpc
import pytest

from ivr import config
from ivr.flow.loader import load_dialplan
from ivr.prompts.audio import inspect_wav, prompt_problems
from ivr.prompts.build import MANIFEST, EspeakSynthesizer, SynthesisError, build_prompts
from ivr.prompts.catalogue import full_catalogue
from ivr.prompts.google_tts import (
    GOOGLE_VOICES,
    UNAVAILABLE_LIMIT,
    GoogleSynthesizer,
    parse_voices,
    synthesizers,
)
from tests.google_tts_fake import FakeServer, FakeTextToSpeech
from tests.prompts_support import SmallCity, small_city

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = load_dialplan(ROOT / "dialplans" / "example-city.yaml", ROOT / "prompts")
PROMPTS = ROOT / "prompts"
LINEAR16 = 1


def example_texts(lang: str) -> dict[str, str]:
    return full_catalogue(EXAMPLE, PROMPTS)[lang]


@pytest.fixture(scope="module")
def city(tmp_path_factory) -> SmallCity:
    """Greeting, menu, transfer: ten prompts in each of it, en, fr and es. Tests only read it."""
    return small_city(tmp_path_factory.mktemp("small-city"))


@pytest.fixture
def server():
    with FakeServer() as running:
        yield running


def google(server: FakeServer, **kw) -> GoogleSynthesizer:
    return GoogleSynthesizer(endpoint=server.endpoint, insecure=True, **kw)


def manifest(sounds: Path, ext: str = "wav") -> dict:
    return json.loads((sounds / MANIFEST).read_text(encoding="utf-8"))["formats"][ext]


def build(server: FakeServer, city: SmallCity, sounds: Path, languages=("it",), **kw):
    lines: list[str] = []
    report = build_prompts(
        city.dialplan,
        city.prompts,
        sounds,
        languages=list(languages),
        synthesizer=kw.pop("synthesizer", None) or google(server),
        fallback=EspeakSynthesizer(),
        progress=lines.append,
        **kw,
    )
    return report, lines


# -- the cloud voice answers -----------------------------------------------------------------


def test_every_prompt_is_asked_once_with_the_languages_voice_as_linear16(server, city, tmp_path):
    languages = ("it", "en", "fr", "es")
    report, _ = build(server, city, tmp_path, languages=languages)
    assert report.ok and report.fallback == {} and report.failed == {}
    seen = server.fake.seen
    expected = sum(len(city.texts(lang)) for lang in languages)
    assert len(seen) == len(report.built) == expected  # one request per prompt, both formats
    assert {(s.voice, s.language_code) for s in seen} == {
        ("it-IT-Standard-A", "it-IT"),
        ("en-GB-Standard-A", "en-GB"),
        ("fr-FR-Standard-A", "fr-FR"),
        ("es-ES-Standard-A", "es-ES"),
    }
    assert {(s.encoding, s.rate) for s in seen} == {(LINEAR16, 16000)}
    for lang in languages:  # each text of the language, once
        sent = sorted(s.text for s in seen if s.language_code.startswith(f"{lang}-"))
        assert sent == sorted(city.texts(lang).values())
    entries = manifest(tmp_path)
    assert entries["fr/welcome"]["voice"] == "google-tts voice=fr-FR-Standard-A rate=16000"
    for ext, rate in (("wav", 8000), ("wav16", 16000)):
        info = inspect_wav(tmp_path / "es" / f"welcome.{ext}")
        assert prompt_problems(info, rate) == [] and info.duration > 1


@pytest.mark.parametrize(
    "lang, voice, code",
    [
        ("de", "de-DE-Standard-A", "de-DE"),
        ("zh", "cmn-CN-Standard-A", "cmn-CN"),
        ("ar", "ar-XA-Standard-A", "ar-XA"),
    ],
)
def test_each_of_the_other_languages_has_its_voice(server, lang, voice, code):
    audio = google(server).synthesize(example_texts(lang)["goodbye"], lang)
    assert prompt_problems(inspect_wav(audio), 16000) == []
    assert [(s.voice, s.language_code, s.text) for s in server.fake.seen] == [
        (voice, code, example_texts(lang)["goodbye"])
    ]


def test_the_cloud_audio_is_what_gets_installed(server, city, tmp_path):
    """The fake speaks with a voice variant of its own: the file is the cloud's, not espeak's."""
    build(server, city, tmp_path, languages=("en",))
    cloud = inspect_wav(tmp_path / "en" / "goodbye.wav")
    offline = tmp_path / "offline"
    build_prompts(city.dialplan, city.prompts, offline, languages=["en"])
    assert (tmp_path / "en" / "goodbye.wav").read_bytes() != (
        offline / "en" / "goodbye.wav"
    ).read_bytes()
    assert cloud.duration > 1 and not cloud.silent


def test_an_unchanged_catalogue_asks_the_cloud_nothing(server, city, tmp_path):
    build(server, city, tmp_path)
    asked = len(server.fake.seen)
    report, _ = build(server, city, tmp_path)
    assert report.built == [] and len(report.unchanged) == len(city.texts("it"))
    assert len(server.fake.seen) == asked


def test_ssml_is_sent_as_ssml(server, city, tmp_path):
    prompts = tmp_path / "prompts"
    shutil.copytree(city.prompts, prompts)
    ssml = '<speak>Benvenuto. <break time="300ms"/> Comune di Esempio.</speak>'
    with open(prompts / "it.yaml", "a", encoding="utf-8") as f:
        f.write(f"\nwelcome_ssml:\n  text: Benvenuto. Comune di Esempio.\n  ssml: '{ssml}'\n")
    report = build_prompts(
        city.dialplan, prompts, tmp_path / "s", languages=["it"], synthesizer=google(server)
    )
    assert "it/welcome_ssml" in report.built and report.fallback == {}
    sent = [s for s in server.fake.seen if s.ssml]
    assert [(s.ssml, s.text) for s in sent] == [(ssml, "")]


# -- the cloud refuses: the offline voice speaks, and the report says so --------------------


def test_unavailable_service_falls_back_to_espeak_and_stops_asking(server, city, tmp_path):
    server.fake.mode = "unavailable"
    report, lines = build(server, city, tmp_path, workers=1)
    assert report.ok and report.failed == {}
    assert (
        sorted(report.fallback)
        == sorted(report.built)
        == sorted(f"it/{k}" for k in city.texts("it"))
    )
    reasons = list(report.fallback.values())
    assert all("UNAVAILABLE" in r or "unreachable" in r for r in reasons)
    assert "Google TTS unavailable (UNAVAILABLE)" in reasons[0]
    # After a few refusals in a row the cloud is left alone for the rest of the build.
    assert len(server.fake.seen) == UNAVAILABLE_LIMIT
    assert "not asked again in this build" in reasons[-1]
    assert {e["voice"].split()[0] for e in manifest(tmp_path).values()} == {"espeak-ng"}
    assert "by the offline voice" in report.summary()
    assert sum("built by the offline voice" in line for line in lines) == len(city.texts("it"))
    info = inspect_wav(tmp_path / "it" / "main_menu.wav")
    assert prompt_problems(info, 8000) == [] and info.duration > 5


def test_quota_refusal_falls_back_for_the_rest_of_the_build(server, city, tmp_path):
    server.fake.quota = 5
    report, _ = build(server, city, tmp_path, workers=1)
    assert report.ok and len(report.built) == len(city.texts("it"))
    by_cloud = [n for n in report.built if n not in report.fallback]
    assert len(by_cloud) == 5
    assert len(report.fallback) == len(city.texts("it")) - 5
    assert all("quota refused (RESOURCE_EXHAUSTED)" in r for r in report.fallback.values())
    assert len(server.fake.seen) == 6  # five answers, one refusal, then no more requests
    entries = manifest(tmp_path)
    assert {entries[n]["voice"].split()[0] for n in by_cloud} == {"google-tts"}
    assert {entries[n]["voice"].split()[0] for n in report.fallback} == {"espeak-ng"}


def test_a_refused_prompt_alone_falls_back_and_the_next_build_retries_it(server, city, tmp_path):
    server.fake.fail_words = {"Arrivederci": grpc.StatusCode.INVALID_ARGUMENT}
    report, _ = build(server, city, tmp_path)
    assert list(report.fallback) == ["it/goodbye"]
    assert "Google TTS refused (INVALID_ARGUMENT)" in report.fallback["it/goodbye"]
    assert len(report.built) == len(city.texts("it")) and report.ok
    assert manifest(tmp_path)["it/goodbye"]["voice"].startswith("espeak-ng")
    # The cloud accepts it now: the next build redoes that prompt only, with the cloud voice.
    server.fake.fail_words = {}
    asked = len(server.fake.seen)
    again, _ = build(server, city, tmp_path)
    assert again.built == ["it/goodbye"] and again.fallback == {}
    assert len(server.fake.seen) == asked + 1
    for ext in ("wav", "wav16"):
        assert manifest(tmp_path, ext)["it/goodbye"]["voice"].startswith("google-tts")


def test_refused_credentials_fall_back(server, city, tmp_path):
    server.fake.mode = "unauthenticated"
    report, _ = build(server, city, tmp_path, workers=1)
    assert report.ok and len(report.fallback) == len(city.texts("it"))
    assert len(server.fake.seen) == 1
    assert "UNAUTHENTICATED" in next(iter(report.fallback.values()))


def test_without_a_fallback_a_refusal_is_a_failure(server, city, tmp_path):
    server.fake.mode = "quota"
    report = build_prompts(
        city.dialplan, city.prompts, tmp_path, languages=["en"], synthesizer=google(server)
    )
    assert report.built == [] and not report.ok
    assert len(report.failed) == len(city.texts("en"))
    assert list((tmp_path / "en").iterdir()) == []


def test_silent_cloud_audio_falls_back(city, tmp_path):
    """The cloud answering silence is caught before normalising, like any synthesiser."""
    silent = FakeTextToSpeech()
    with FakeServer(silent) as server:
        import tests.google_tts_fake as fake_module

        original = fake_module.speak
        fake_module.speak = lambda text, voice, rate: _silence(rate)
        try:
            report, _ = build(server, city, tmp_path, languages=("en",))
        finally:
            fake_module.speak = original
    assert report.ok and len(report.fallback) == len(city.texts("en"))
    assert all("silent" in r for r in report.fallback.values())


def _silence(rate: int) -> bytes:
    import io
    import wave

    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"\0\0" * rate)
    return out.getvalue()


def test_a_language_without_a_google_voice_is_spoken_offline(server, city, tmp_path):
    synth = google(server, voices={"it": "it-IT-Standard-A"})
    report, _ = build(server, city, tmp_path, languages=("it", "en"), synthesizer=synth)
    assert report.ok
    assert sorted(report.fallback) == sorted(f"en/{k}" for k in city.texts("en"))
    assert set(report.fallback.values()) == {"no Google voice for language 'en'"}
    assert all(s.language_code == "it-IT" for s in server.fake.seen)
    # Stable: the offline voice is that language's voice, so nothing is redone next time.
    again, _ = build(server, city, tmp_path, languages=("it", "en"), synthesizer=synth)
    assert again.built == []


def test_nothing_listening_is_unreachable(tmp_path):
    synth = GoogleSynthesizer(endpoint="127.0.0.1:1", insecure=True)
    with pytest.raises(SynthesisError, match="UNAVAILABLE"):
        synth.synthesize("Ciao", "it")


# -- configuration -----------------------------------------------------------------------------


def test_espeak_alone_without_credentials(monkeypatch):
    for name in (
        "NU_GOOGLE_TTS_CREDENTIALS",
        "GOOGLE_APPLICATION_CREDENTIALS",
        "NU_GOOGLE_TTS_INSECURE",
    ):
        monkeypatch.delenv(name, raising=False)
    first, fallback = synthesizers(config.load())
    assert isinstance(first, EspeakSynthesizer) and fallback is None


@pytest.mark.parametrize(
    "variable", ["NU_GOOGLE_TTS_CREDENTIALS", "GOOGLE_APPLICATION_CREDENTIALS"]
)
def test_google_first_when_credentials_are_configured(monkeypatch, tmp_path, variable):
    monkeypatch.delenv("NU_GOOGLE_TTS_CREDENTIALS", raising=False)
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.setenv(variable, str(tmp_path / "service-account.json"))
    monkeypatch.setenv("NU_GOOGLE_TTS_VOICES", "it=it-IT-Wavenet-C, zh=cmn-CN-Wavenet-B")
    first, fallback = synthesizers(config.load())
    assert isinstance(first, GoogleSynthesizer) and isinstance(fallback, EspeakSynthesizer)
    assert first.credentials_file == str(tmp_path / "service-account.json")
    assert first.voices["it"] == "it-IT-Wavenet-C" and first.voices["zh"] == "cmn-CN-Wavenet-B"
    assert first.voices["ar"] == GOOGLE_VOICES["ar"]
    # An unreadable credentials file is a refusal like any other, reported per prompt.
    with pytest.raises(SynthesisError, match="Google credentials unusable"):
        first.synthesize("Ciao", "it")


def test_voices_setting_is_checked():
    assert parse_voices("") == GOOGLE_VOICES
    with pytest.raises(ValueError, match="lang=voice"):
        parse_voices("it-IT-Wavenet-A")


def test_ivr_prompts_build_uses_the_configured_endpoint(server, tmp_path, monkeypatch, capsys):
    from ivr.cli import main

    city = small_city(tmp_path / "city", ("en",))
    monkeypatch.setenv("NU_PROMPTS_DIR", str(city.prompts))
    monkeypatch.setenv("NU_SOUNDS_DIR", str(tmp_path / "sounds"))
    monkeypatch.setenv("NU_GOOGLE_TTS_ENDPOINT", server.endpoint)
    monkeypatch.setenv("NU_GOOGLE_TTS_INSECURE", "1")
    server.fake.quota = 3
    assert main(["prompts", "build", "--dialplan", str(city.path)]) == 0
    out = capsys.readouterr().out
    assert "by the offline voice" in out and "0 failed" in out
    entries = manifest(tmp_path / "sounds")
    assert sorted(entries) == sorted(f"en/{key}" for key in city.texts("en"))
    voices = {e["voice"].split()[0] for e in entries.values()}
    assert voices == {"google-tts", "espeak-ng"}
    assert {s.voice for s in server.fake.seen} == {"en-GB-Standard-A"}
    assert config.load().google_tts_insecure
