"""A local server speaking Google Cloud Text-to-Speech's gRPC API, for tests (no cloud).

A real gRPC server on 127.0.0.1 implementing ``google.cloud.texttospeech.v1.TextToSpeech/
SynthesizeSpeech`` with the message classes of the installed ``google-cloud-texttospeech``. It
answers with real speech (espeak-ng in a voice variant of its own, resampled by sox to the rate
asked, LINEAR16 with its WAV header, as the service does), checks requests the way the service
would, and can be told to fail: ``UNAVAILABLE``, ``RESOURCE_EXHAUSTED`` (quota) after a number
of answers, or for texts containing a word.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
import threading
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from google.cloud.texttospeech_v1.types import cloud_tts

SERVICE = "google.cloud.texttospeech.v1.TextToSpeech"
# The fake's voices: espeak-ng voices with a female variant, so its audio differs from the
# offline voice's.
ESPEAK_FOR = {
    "it-IT": "it",
    "en-GB": "en-gb",
    "fr-FR": "fr-fr",
    "es-ES": "es",
    "de-DE": "de",
    "cmn-CN": "cmn-latn-pinyin",
    "ar-XA": "ar",
}


@dataclass
class Seen:
    """One request as the server received it."""

    voice: str
    language_code: str
    text: str
    ssml: str
    encoding: int
    rate: int


@dataclass
class FakeTextToSpeech:
    mode: str = "ok"  # "ok", "unavailable", "quota", "unauthenticated"
    quota: int | None = None  # answers before RESOURCE_EXHAUSTED
    fail_words: dict[str, grpc.StatusCode] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    answered: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def synthesize(
        self, request: cloud_tts.SynthesizeSpeechRequest, context: grpc.ServicerContext
    ) -> cloud_tts.SynthesizeSpeechResponse:
        item = Seen(
            voice=request.voice.name,
            language_code=request.voice.language_code,
            text=request.input.text,
            ssml=request.input.ssml,
            encoding=int(request.audio_config.audio_encoding),
            rate=request.audio_config.sample_rate_hertz,
        )
        with self._lock:
            self.seen.append(item)
            if self.mode == "unavailable":
                context.abort(grpc.StatusCode.UNAVAILABLE, "The service is currently unavailable.")
            if self.mode == "unauthenticated":
                context.abort(grpc.StatusCode.UNAUTHENTICATED, "Request had invalid credentials.")
            if self.mode == "quota" or (self.quota is not None and self.answered >= self.quota):
                context.abort(
                    grpc.StatusCode.RESOURCE_EXHAUSTED,
                    "Quota exceeded for quota metric 'Characters' of service "
                    "'texttospeech.googleapis.com'.",
                )
        for word, code in self.fail_words.items():
            if word in item.text or word in item.ssml:
                context.abort(code, f"refused for {word!r}")
        if item.encoding != int(cloud_tts.AudioEncoding.LINEAR16) or item.rate not in (
            8000,
            16000,
            22050,
            24000,
        ):
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "unsupported audio config")
        if not item.voice.startswith(item.language_code + "-"):
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "voice does not match language")
        espeak = ESPEAK_FOR.get(item.language_code)
        if espeak is None or not (item.text or item.ssml):
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "no such voice or empty input")
        text = item.text or re.sub(r"<[^>]+>", " ", item.ssml)
        audio = speak(text, espeak, item.rate)
        with self._lock:
            self.answered += 1
        return cloud_tts.SynthesizeSpeechResponse(audio_content=audio)


def speak(text: str, espeak_voice: str, rate: int) -> bytes:
    """LINEAR16 speech with a WAV header at ``rate``: espeak-ng (female variant) then sox."""
    with tempfile.TemporaryDirectory(prefix="nu-fake-tts-") as tmp:
        raw, out = Path(tmp) / "raw.wav", Path(tmp) / "out.wav"
        subprocess.run(
            ["espeak-ng", "-b", "1", "-v", f"{espeak_voice}+f3", "-w", str(raw)],
            input=text.encode("utf-8"),
            check=True,
            capture_output=True,
        )
        subprocess.run(
            ["sox", str(raw), "-b", "16", "-e", "signed-integer", "-r", str(rate), str(out)],
            check=True,
            capture_output=True,
        )
        return out.read_bytes()


class FakeServer:
    """``with FakeServer() as server``: ``server.endpoint`` is ``127.0.0.1:<port>``."""

    def __init__(self, fake: FakeTextToSpeech | None = None) -> None:
        self.fake = fake or FakeTextToSpeech()
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        handler = grpc.method_handlers_generic_handler(
            SERVICE,
            {
                "SynthesizeSpeech": grpc.unary_unary_rpc_method_handler(
                    self.fake.synthesize,
                    request_deserializer=cloud_tts.SynthesizeSpeechRequest.deserialize,
                    response_serializer=cloud_tts.SynthesizeSpeechResponse.serialize,
                )
            },
        )
        self.server.add_generic_rpc_handlers((handler,))
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.endpoint = f"127.0.0.1:{self.port}"

    def __enter__(self) -> FakeServer:
        self.server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stop(grace=None).wait()
