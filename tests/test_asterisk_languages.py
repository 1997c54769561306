"""Seven languages through a real Asterisk 22: the caller picks a language at the first menu and
hears that language's prompts from then on, up to the operator's queue.

What the caller heard is read from Asterisk's own "Playing '<file>' (language '<lang>')" log
lines, so both the file (``<sounds>/fr/main_menu``) and the channel's language are Asterisk's
word, not the service's. The service is the product's FastAGI server on the example city.
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from datetime import datetime
from pathlib import Path

import pytest

from ivr.service import build_server

pytestmark = pytest.mark.asterisk

ROOT = Path(__file__).resolve().parent.parent
MONDAY_10 = datetime(2026, 11, 23, 10, 0)  # every department open
LANGUAGES = {"1": "it", "2": "en", "3": "fr", "4": "es", "5": "de", "6": "zh", "7": "ar"}


@pytest.fixture(scope="module")
def service(asterisk_session):
    settings = dataclasses.replace(asterisk_session.settings, redis_url="")
    server = build_server(settings, clock=lambda zone: MONDAY_10.replace(tzinfo=zone)).start()
    yield server
    server.shutdown()


@pytest.fixture
def city(asterisk, service):
    yield asterisk
    deadline = time.monotonic() + 10
    while service.active_calls and time.monotonic() < deadline:
        time.sleep(0.05)


def test_the_language_menu_offers_all_seven_each_in_its_own_language(city):
    """Nobody presses anything during the first round: every language is announced in turn."""
    call = city.place_call([("ar/choose_language", "1"), ("main_menu", "9")])
    call.wait_queue_join(timeout=30)
    announced = [p for p in call.played() if p.name == "choose_language"]
    assert [p.prompt for p in announced[:7]] == [
        f"{lang}/choose_language" for lang in LANGUAGES.values()
    ]
    # Asterisk's channel language is still the default while the menu speaks.
    assert {p.language for p in announced[:7]} == {"it"}
    call.hangup()


@pytest.mark.parametrize("digit, lang", list(LANGUAGES.items()), ids=list(LANGUAGES.values()))
def test_the_chosen_language_follows_the_call_to_the_operator(city, digit, lang):
    city.add_operator("operatore", answers=False)  # logged in but busy: the caller waits
    call = city.place_call([("choose_language", digit), ("main_menu", "9")])
    assert call.wait_queue_join(timeout=20) == "operatore"
    played = call.played()
    names = [p.prompt for p in played]
    # After the language menu, every file is the chosen language's, and Asterisk plays it with
    # the channel in that language.
    after = played[[p.name for p in played].index("welcome") :]
    assert [p.prompt for p in after] == [
        f"{lang}/welcome",
        f"{lang}/main_menu",
        f"{lang}/transferring",
    ]
    assert {p.language for p in after} == {lang}
    assert all(p.prompt.startswith(f"{lang}/") for p in after)
    assert names.index(f"{lang}/welcome") > names.index("it/choose_language")
    # The operator's side sees the language: the channel variables the queue and screen use.
    assert call.variable("NU_LANG") == lang
    assert call.variable("CHANNEL(language)") == lang
    assert call.variable("NU_DEPARTMENT") == "operatore"
    assert call.variable("NU_PATH") == "lingua>benvenuto>principale>operatore"
    call.hangup()


def test_asterisk_plays_the_built_audio_of_a_new_language(city, tmp_path):
    """The real build's files (not placeholders): Asterisk opens one of the two formats, plays the
    whole welcome (no key during it) and the call goes on to the menu and the operator. Only the
    welcome is built (the one file played), by the same build, voice and formats: the whole
    French catalogue took 20-40 s of this test for files it never used."""
    from ivr.prompts.audio import inspect_wav
    from ivr.prompts.build import build_prompts
    from ivr.prompts.catalogue import audio_catalogue, load_ssml

    welcome = audio_catalogue(city.dialplan, ROOT / "prompts")["fr"]["welcome"]
    assert "welcome" not in load_ssml(ROOT / "prompts").get("fr", {})  # plain text: as built
    only = {"fr": {"welcome": welcome}}
    report = build_prompts(
        city.dialplan, ROOT / "prompts", tmp_path, languages=["fr"], catalogue=only
    )
    assert report.ok
    seconds = inspect_wav(tmp_path / "fr" / "welcome.wav").duration
    target = city.instance.sounds_dir / "fr"
    placeholder = (target / "welcome.wav").read_bytes()
    try:
        for ext in ("wav", "wav16"):
            shutil.copy(tmp_path / "fr" / f"welcome.{ext}", target / f"welcome.{ext}")
        offset = city.log_size()
        call = city.place_call([("choose_language", "3"), ("main_menu", "9")])
        assert call.wait_queue_join(timeout=seconds + 20) == "operatore"
        played = [p for p in call.played() if p.prompt.startswith("fr/")]
        played = [p for p in played if p.name != "choose_language"]  # the menu, before "3"
        assert [p.prompt for p in played] == ["fr/welcome", "fr/main_menu", "fr/transferring"]
        # Asterisk names the channel's format (slin), not the file's: it chose one of ours.
        assert played[0].language == "fr"
        assert call.variable("NU_REASON") == "menu"  # not "prompt": the file played
        log = city.log_text(offset)
        assert "welcome" not in "".join(
            line for line in log.splitlines() if "WARNING" in line or "ERROR" in line
        )
        call.hangup()
    finally:
        (target / "welcome.wav16").unlink(missing_ok=True)
        (target / "welcome.wav").write_bytes(placeholder)
