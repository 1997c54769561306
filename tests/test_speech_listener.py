"""Listeners: FastAGI recording and EAGI stream reach the real vosk service (Korean model)."""

import io
import wave

import pytest

from ivr.agi.adapter import Recording
from ivr.flow.actions import Digits, Heard, Listen, NoInput, Prompt
from ivr.speech.listener import eagi_listener, recording_listener
from ivr.speech.recognizer import load_model, serve_in_thread
from tests.test_speech_recognizer import GRAMMAR, KO_MODEL, speak

ACTION = Listen((Prompt("speech_prompt", "ko"),), "ko", tuple(GRAMMAR), 6000)


class FakeAGI:
    """Stands in for Asterisk: plays nothing (or a key), 'records' the given audio."""

    def __init__(self, audio=b"", key=None, spool=None, then=()):
        self.audio, self.key, self.spool, self.commands = audio, key, spool, []
        self.then = list(then)  # what later recordings hear

    def stream_file(self, path, escape):
        self.commands.append(("STREAM FILE", path))
        return self.key, 0

    def record_file(self, path, fmt, escape, timeout, *, beep, silence_s):
        self.commands.append(("RECORD FILE", path, fmt, timeout, beep, silence_s))
        if self.audio:
            with wave.open(str(self.spool / (path.rsplit("/", 1)[1] + ".wav")), "wb") as w:
                w.setnchannels(1), w.setsampwidth(2), w.setframerate(8000)
                w.writeframes(self.audio)
        heard, self.audio = self.audio, (self.then.pop(0) if self.then else b"")
        return Recording("timeout", None, len(heard) // 2)


@pytest.fixture(scope="module")
def service():
    server = serve_in_thread({"ko": load_model(KO_MODEL)})
    yield server.server_address
    server.shutdown()
    server.server_close()


def test_recording_listener(service, tmp_path):
    listen = recording_listener(service, "/snd", "/spool", tmp_path)
    agi = FakeAGI(speak("주민센터"), spool=tmp_path)
    heard = listen(agi, ACTION)
    assert isinstance(heard, Heard) and heard.text == "주민센터"
    assert agi.commands[0] == ("STREAM FILE", "/snd/ko/speech_prompt")
    fmt, timeout, beep, silence = agi.commands[1][2:]
    assert (fmt, beep, silence) == ("wav", False, 2) and 5900 <= timeout <= 6000
    assert list(tmp_path.iterdir()) == []  # the recording is removed
    assert listen(FakeAGI(spool=tmp_path), ACTION) == NoInput()
    assert listen(FakeAGI(key="3", spool=tmp_path), ACTION) == Digits("3")


def test_eagi_listener_streams_fd3(service):
    audio = io.BytesIO(speak("상담원", silence_s=5))
    heard = eagi_listener(service, "/snd", audio)(FakeAGI(), ACTION)
    assert isinstance(heard, Heard) and heard.text == "상담원"
    # answered at end of speech: the rest of the stream was left unread
    assert audio.tell() < len(audio.getvalue())


def test_service_down_goes_to_a_human(tmp_path):
    listen = recording_listener(("127.0.0.1", 1), "/snd", "/spool", tmp_path)
    assert type(listen(FakeAGI(speak("민원"), spool=tmp_path), ACTION)).__name__ == "ListenFailed"


def test_a_caller_who_starts_late_is_still_heard(service, tmp_path):
    """RECORD FILE ends on 2 s of silence even before the caller speaks: a silent recording is
    followed by another while the Listen's time lasts, and only speech is recognised."""
    quiet = b"\x00\x00" * 16000  # two seconds of line silence
    listen = recording_listener(service, "/snd", "/spool", tmp_path)
    agi = FakeAGI(quiet, spool=tmp_path, then=[speak("주민센터")])
    heard = listen(agi, ACTION)
    assert isinstance(heard, Heard) and heard.text == "주민센터"
    records = [c for c in agi.commands if c[0] == "RECORD FILE"]
    assert len(records) == 2 and records[1][3] < records[0][3]  # within the same time budget
    assert list(tmp_path.iterdir()) == []
    # silence all along: nothing heard once the time is up, never an endless loop
    agi = FakeAGI(quiet, spool=tmp_path, then=[quiet] * 50)
    short = Listen(ACTION.prompts, "ko", ACTION.grammar, 3000)
    assert listen(agi, short) == NoInput()
    assert 1 <= len([c for c in agi.commands if c[0] == "RECORD FILE"]) <= 2
