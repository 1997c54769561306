"""Google Cloud Text-to-Speech as the voice of ``ivr prompts build``, espeak-ng behind it.

Used when credentials are configured (``NU_GOOGLE_TTS_CREDENTIALS`` or Google's own
``GOOGLE_APPLICATION_CREDENTIALS``: a service-account JSON file). One voice per language
(:data:`GOOGLE_VOICES`, overridable with ``NU_GOOGLE_TTS_VOICES=it=it-IT-Wavenet-A,...``). Each
prompt is asked once, as LINEAR16 at 16 kHz; the build derives the 8 kHz and 16 kHz files from
it. The endpoint can be overridden (``NU_GOOGLE_TTS_ENDPOINT``, a regional endpoint or, with
``NU_GOOGLE_TTS_INSECURE=1``, a plain-text local server speaking the same gRPC API: the tests).

Failures never stop a build: each becomes a :class:`~ivr.prompts.build.SynthesisError`, and the
build speaks that prompt with espeak-ng instead and reports it. A refused quota or credentials,
or the service unreachable three times in a row, stop the cloud for the rest of the build
(no point asking a thousand times): every later prompt goes straight to the offline voice.
"""

from __future__ import annotations

import io
import threading
import wave
from typing import Any

from ivr.config import Settings
from ivr.prompts.build import EspeakSynthesizer, SynthesisError, Synthesizer

# Language code (as in the dialplan) -> Google voice name; the name starts with its language code.
GOOGLE_VOICES = {
    "it": "it-IT-Standard-A",
    "en": "en-GB-Standard-A",
    "fr": "fr-FR-Standard-A",
    "es": "es-ES-Standard-A",
    "de": "de-DE-Standard-A",
    "zh": "cmn-CN-Standard-A",
    "ar": "ar-XA-Standard-A",
}
SAMPLE_RATE = 16000  # the wideband rate; the 8 kHz file is resampled from it
UNAVAILABLE_LIMIT = 3  # consecutive "unreachable" answers before the cloud is left alone
# Answers that will not change for the rest of the build.
_FINAL = {"RESOURCE_EXHAUSTED", "UNAUTHENTICATED", "PERMISSION_DENIED"}
_UNREACHABLE = {"UNAVAILABLE", "DEADLINE_EXCEEDED"}
_WHAT = {
    "RESOURCE_EXHAUSTED": "quota refused",
    "UNAVAILABLE": "unavailable",
    "DEADLINE_EXCEEDED": "timed out",
}


class GoogleSynthesizer:
    """The Synthesizer protocol over ``google-cloud-texttospeech`` (gRPC)."""

    speaks_ssml = True
    workers = 4  # network-bound: a few prompts in flight at once

    def __init__(
        self,
        *,
        credentials_file: str | None = None,
        endpoint: str | None = None,
        insecure: bool = False,
        voices: dict[str, str] | None = None,
        sample_rate: int = SAMPLE_RATE,
        timeout: float = 30.0,
    ) -> None:
        self.credentials_file = credentials_file or None
        self.endpoint = endpoint or None
        self.insecure = insecure
        self.voices = dict(GOOGLE_VOICES if voices is None else voices)
        self.sample_rate = sample_rate
        self.timeout = timeout
        self._client: Any = None
        self._lock = threading.Lock()
        self._stopped = ""  # why the cloud is no longer asked in this build
        self._unreachable = 0
        self.requests = 0  # sent to the service (for reports and tests)

    def voice(self, lang: str) -> str:
        name = self.voices.get(lang)
        if not name:
            raise SynthesisError(f"no Google voice for language '{lang}'")
        return f"google-tts voice={name} rate={self.sample_rate}"

    def synthesize(self, text: str, lang: str) -> bytes:
        from google.cloud import texttospeech

        return self._ask(lang, texttospeech.SynthesisInput(text=text))

    def synthesize_ssml(self, ssml: str, lang: str) -> bytes:
        from google.cloud import texttospeech

        return self._ask(lang, texttospeech.SynthesisInput(ssml=ssml))

    def client(self) -> Any:
        """The API client, made on first use (importing and connecting costs nothing before)."""
        with self._lock:
            if self._client is None:
                self._client = _make_client(self.credentials_file, self.endpoint, self.insecure)
            return self._client

    def _ask(self, lang: str, synthesis_input: Any) -> bytes:
        from google.api_core import exceptions
        from google.cloud import texttospeech

        self.voice(lang)
        if self._stopped:
            raise SynthesisError(self._stopped)
        name = self.voices[lang]
        request = texttospeech.SynthesizeSpeechRequest(
            input=synthesis_input,
            voice=texttospeech.VoiceSelectionParams(
                language_code="-".join(name.split("-")[:2]), name=name
            ),
            audio_config=texttospeech.AudioConfig(
                audio_encoding=texttospeech.AudioEncoding.LINEAR16,
                sample_rate_hertz=self.sample_rate,
            ),
        )
        try:
            with self._lock:
                self.requests += 1
            # No library retries: a refused prompt goes to the offline voice at once, and the
            # next build asks again.
            response = self.client().synthesize_speech(
                request=request, retry=None, timeout=self.timeout
            )
        except exceptions.GoogleAPICallError as exc:
            code = exc.grpc_status_code.name if exc.grpc_status_code else type(exc).__name__
            what = _WHAT.get(code, "refused")
            raise self._failed(f"Google TTS {what} ({code}): {exc.message}", code) from exc
        except Exception as exc:  # transport-level trouble: treat as unreachable
            raise self._failed(f"Google TTS unreachable: {exc}", "UNAVAILABLE") from exc
        with self._lock:
            self._unreachable = 0
        return _as_wav(bytes(response.audio_content), self.sample_rate)

    def _failed(self, reason: str, code: str) -> SynthesisError:
        with self._lock:
            if code in _UNREACHABLE:
                self._unreachable += 1
                if self._unreachable >= UNAVAILABLE_LIMIT and not self._stopped:
                    self._stopped = (
                        f"Google TTS unreachable {self._unreachable} times in a row; "
                        "not asked again in this build"
                    )
            elif code in _FINAL and not self._stopped:
                self._stopped = f"{reason}; not asked again in this build"
        return SynthesisError(reason)


def _make_client(credentials_file: str | None, endpoint: str | None, insecure: bool) -> Any:
    from google.cloud import texttospeech

    if insecure:
        if not endpoint:
            raise SynthesisError("an insecure Google TTS connection needs an endpoint")
        import grpc
        from google.cloud.texttospeech_v1.services.text_to_speech.transports import (
            TextToSpeechGrpcTransport,
        )

        # A plain-text channel to a local server: the transport ignores credentials then.
        transport = TextToSpeechGrpcTransport(channel=grpc.insecure_channel(endpoint))
        return texttospeech.TextToSpeechClient(transport=transport)
    credentials = None
    if credentials_file:
        from google.oauth2 import service_account

        try:
            credentials = service_account.Credentials.from_service_account_file(
                credentials_file, scopes=["https://www.googleapis.com/auth/cloud-platform"]
            )
        except Exception as exc:  # unreadable or not a service-account key
            raise SynthesisError(f"Google credentials unusable: {exc}") from exc
    options = {"api_endpoint": endpoint} if endpoint else None
    return texttospeech.TextToSpeechClient(credentials=credentials, client_options=options)


def _as_wav(audio: bytes, rate: int) -> bytes:
    """LINEAR16 comes with a WAV header; wrap bare PCM samples in one if it did not."""
    if audio[:4] == b"RIFF":
        return audio
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(audio[: len(audio) - len(audio) % 2])
    return out.getvalue()


def google_configured(settings: Settings) -> bool:
    return bool(settings.google_tts_credentials or settings.google_tts_insecure)


def parse_voices(text: str) -> dict[str, str]:
    """``it=it-IT-Wavenet-A,en=en-GB-Wavenet-B`` -> mapping (over the defaults)."""
    voices = dict(GOOGLE_VOICES)
    for item in filter(None, (part.strip() for part in text.split(","))):
        lang, sep, name = item.partition("=")
        if not sep or not lang.strip() or not name.strip():
            raise ValueError(f"NU_GOOGLE_TTS_VOICES: expected lang=voice, got {item!r}")
        voices[lang.strip()] = name.strip()
    return voices


def synthesizers(settings: Settings) -> tuple[Synthesizer, Synthesizer | None]:
    """(first voice, fallback voice) for ``ivr prompts build``: Google then espeak-ng when
    Google is configured, else espeak-ng alone."""
    if not google_configured(settings):
        return EspeakSynthesizer(), None
    google = GoogleSynthesizer(
        credentials_file=settings.google_tts_credentials,
        endpoint=settings.google_tts_endpoint,
        insecure=settings.google_tts_insecure,
        voices=parse_voices(settings.google_tts_voices),
    )
    return google, EspeakSynthesizer()
