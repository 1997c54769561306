"""Listeners for the runner: how a call's speech reaches the recognition service.

Two ways in, chosen by how the call runs:
- FastAGI (``ivr serve`` on another host or process): Asterisk records the answer with
  ``RECORD FILE`` (silence detection, no beep, a maximum time) into a spool directory shared
  with us (``spool_asterisk`` as Asterisk sees it, ``spool_host`` as we see it), and the file is
  streamed to the service once the caller stops. A key pressed instead ends it as ``Digits``.
- EAGI (``EAGI(ivr-agi)`` on the Asterisk host): the caller's audio arrives on file descriptor
  3, 8 kHz s16le, and is streamed to the service while the caller speaks: the service answers
  at vosk's end of utterance, the fastest decision.
A turn that cannot be listened to (the service failing, Asterisk unable to record, a prompt that
cannot be played) is answered :class:`~ivr.flow.actions.ListenFailed`: the speech node hands the
caller to a human.
"""

from __future__ import annotations

import array
import logging
import math
import os
import time
import uuid
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from ivr.agi.adapter import AGIAppError, CityAGI, PlaybackFailed
from ivr.flow.actions import Digits, Event, Heard, Listen, ListenFailed, NoInput, Prompt
from ivr.speech.recognizer import ask_service

log = logging.getLogger(__name__)
KEYS = "0123456789*#"
CHUNK = 1600  # 0.1 s at 8 kHz s16le
SILENCE_S = 2  # RECORD FILE stops after this much silence: the end of the caller's turn
SPEECH_FLOOR = 500  # RMS of 0.1 s above which someone is speaking (about -36 dBFS)


def _play_prompts(agi: CityAGI, sounds_dir: str, action: Listen) -> str | None:
    """Play the Listen's prompts; a key pressed stops them and is returned."""
    for piece in action.prompts:
        if isinstance(piece, Prompt):
            key, _ = agi.stream_file(f"{sounds_dir}/{piece.language}/{piece.key}", KEYS)
            if key:
                return key
    return None


def _prompts_or_key(agi: CityAGI, sounds_dir: str, action: Listen) -> Event | None:
    """Play the Listen's prompts: a key pressed (or a prompt that fails) ends the turn here."""
    try:
        key = _play_prompts(agi, sounds_dir, action)
    except PlaybackFailed:
        return ListenFailed("prompt")
    return Digits(key) if key else None


def _listen_s(action: Listen) -> float:
    """How long the caller may speak: the Listen's timeout, at least 3 s."""
    return max(action.timeout_ms, 3000) / 1000


def wav_chunks(path: Path) -> Iterator[bytes]:
    with wave.open(str(path)) as w:
        while data := w.readframes(CHUNK // 2):
            yield data


def _listen_to(path: Path, floor: int = SPEECH_FLOOR) -> tuple[float, bool]:
    """The recording's length, and whether it is silent (no 0.1 s louder than line noise)."""
    with wave.open(str(path)) as w:
        seconds = w.getnframes() / (w.getframerate() or 8000)
        while data := w.readframes(CHUNK // 2):
            samples = array.array("h", data)
            if samples and math.sqrt(sum(x * x for x in samples) / len(samples)) > floor:
                return seconds, False
    return seconds, True


def _record_once(
    agi: CityAGI, spool_asterisk: str, spool_host: Path, timeout_ms: int
) -> Event | Path:
    """One RECORD FILE into the spool: the file as we see it, or the event that ends the turn
    (a key, nothing recorded, Asterisk unable to write)."""
    name = f"nu-speech-{uuid.uuid4().hex}"
    try:
        rec = agi.record_file(
            f"{spool_asterisk}/{name}", "wav", KEYS, timeout_ms, beep=False, silence_s=SILENCE_S
        )
    except AGIAppError:  # Asterisk can't write into the spool: a human takes over
        log.error("RECORD FILE failed: is %s writable by Asterisk?", spool_asterisk)
        return ListenFailed("record")
    path = spool_host / f"{name}.wav"
    if rec.digit:
        path.unlink(missing_ok=True)
        return Digits(rec.digit)
    return path if path.exists() else NoInput()


def recording_listener(
    service: tuple[str, int], sounds_dir: str, spool_asterisk: str, spool_host: Path
):
    """FastAGI: RECORD FILE with silence detection into the shared spool, then recognise."""

    def listen(agi: CityAGI, action: Listen) -> Event:
        ended = _prompts_or_key(agi, sounds_dir, action)
        if ended is not None:
            return ended
        budget_s = _listen_s(action)
        started, heard_s = time.monotonic(), 0.0
        while True:
            # time spent: the clock, or the audio recorded when Asterisk answers faster
            left_s = budget_s - max(time.monotonic() - started, heard_s)
            outcome = _record_once(agi, spool_asterisk, spool_host, int(max(left_s, 1.0) * 1000))
            if not isinstance(outcome, Path):
                return outcome
            try:
                seconds, silent = _listen_to(outcome)
                heard_s += seconds
                # RECORD FILE's silence detection also ends a recording the caller has not
                # started yet: while time is left, a silent one is listened to again
                if silent and budget_s - max(time.monotonic() - started, heard_s) > SILENCE_S:
                    continue
                heard = ask_service(
                    service, action.language, list(action.grammar), wav_chunks(outcome)
                )
            except (OSError, RuntimeError, ValueError, wave.Error):
                log.exception("speech recognition failed")
                return ListenFailed("recogniser")
            finally:
                outcome.unlink(missing_ok=True)
            return Heard(heard.text, heard.confidence) if heard.text else NoInput()

    return listen


def eagi_chunks(stream: BinaryIO, max_s: float) -> Iterator[bytes]:
    """Read the EAGI audio (fd 3) for at most ``max_s`` seconds of audio."""
    left = int(max_s * 16000)
    while left > 0:
        data = stream.read(min(CHUNK, left))
        if not data:
            return
        left -= len(data)
        yield data


def eagi_listener(service: tuple[str, int], sounds_dir: str, audio: BinaryIO | None = None):
    """EAGI: stream fd 3 to the service while the caller speaks."""
    stream = audio if audio is not None else os.fdopen(3, "rb", buffering=0)

    def listen(agi: CityAGI, action: Listen) -> Event:
        ended = _prompts_or_key(agi, sounds_dir, action)
        if ended is not None:
            return ended
        try:
            heard = ask_service(
                service,
                action.language,
                list(action.grammar),
                eagi_chunks(stream, _listen_s(action)),
            )
        except (OSError, RuntimeError, ValueError):
            log.exception("speech recognition failed")
            return ListenFailed("recogniser")
        return Heard(heard.text, heard.confidence) if heard.text else NoInput()

    return listen
