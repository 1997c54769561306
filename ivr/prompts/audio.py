"""Look inside a PCM WAV file: format, length and loudness.

One implementation, used by ``ivr prompts build`` to refuse silent or malformed audio and by the
tests to check what Asterisk will play.
"""

from __future__ import annotations

import io
import math
import sys
import wave
from array import array
from dataclasses import dataclass
from pathlib import Path

# Below these levels a prompt is treated as silence (16-bit dither alone is about -96 dBFS RMS).
SILENT_RMS_DBFS = -55.0
SILENT_PEAK_DBFS = -40.0
# Where a built prompt's RMS level must lie. Speech normalised to a -3 dBFS peak sits around
# -15 to -22 dBFS; quieter is hard to hear on a phone line, louder is noise, a square wave or
# clipping (speech has a crest factor of 10 dB or more).
LOUDNESS_RANGE_DBFS = (-35.0, -6.0)
# Formats Asterisk plays without transcoding: 8 kHz (``.wav``) and 16 kHz wideband (``.wav16``).
PLAYABLE_RATES = (8000, 16000)

_TYPECODES = {1: "b", 2: "h", 4: "i"}  # sample width in bytes -> signed array type


@dataclass(frozen=True)
class WavInfo:
    rate: int
    channels: int
    sample_width: int  # bytes per sample: 2 for signed 16-bit
    frames: int
    rms_dbfs: float  # -inf for digital silence
    peak_dbfs: float  # -inf for digital silence

    @property
    def duration(self) -> float:
        return self.frames / self.rate if self.rate else 0.0

    @property
    def silent(self) -> bool:
        return self.rms_dbfs < SILENT_RMS_DBFS or self.peak_dbfs < SILENT_PEAK_DBFS


def inspect_wav(source: str | Path | bytes) -> WavInfo:
    """Read a PCM WAV (a path or its bytes). Raises ValueError when it is not one."""
    stream = io.BytesIO(source) if isinstance(source, bytes) else open(source, "rb")  # noqa: SIM115
    try:
        with stream, wave.open(stream, "rb") as wav:
            rate, channels, width = wav.getframerate(), wav.getnchannels(), wav.getsampwidth()
            data = wav.readframes(wav.getnframes())
    except (wave.Error, EOFError) as exc:
        raise ValueError(f"not a PCM WAV file: {exc}") from exc
    frames = len(data) // (width * channels) if width and channels else 0
    rms, peak = _levels(data, width)
    return WavInfo(rate, channels, width, frames, rms, peak)


def _levels(data: bytes, width: int) -> tuple[float, float]:
    """RMS and peak of all samples, in dBFS (full scale = the largest positive sample)."""
    if width == 3:  # 24-bit: widen to 32-bit by padding the low byte
        data = b"".join(b"\0" + data[i : i + 3] for i in range(0, len(data) - 2, 3))
        width = 4
    if width not in _TYPECODES:
        raise ValueError(f"unsupported sample width: {width} bytes")
    if width == 1:  # 8-bit WAV is unsigned
        data = bytes((b - 128) & 0xFF for b in data)
    samples = array(_TYPECODES[width])
    samples.frombytes(data[: len(data) - len(data) % width])
    if sys.byteorder == "big":
        samples.byteswap()
    if not samples:
        return -math.inf, -math.inf
    full = float(2 ** (8 * width - 1) - 1)
    peak = max(max(samples), -min(samples)) / full
    rms = math.sqrt(math.fsum(s * s for s in samples) / len(samples)) / full
    return _db(rms), _db(peak)


def _db(ratio: float) -> float:
    return 20 * math.log10(ratio) if ratio > 0 else -math.inf


def telephone_problems(info: WavInfo, min_seconds: float = 0.2, rate: int = 8000) -> list[str]:
    """Why this audio is not a playable ``rate`` Hz mono 16-bit prompt; empty when it is."""
    problems = []
    if (info.rate, info.channels, info.sample_width) != (rate, 1, 2):
        problems.append(
            f"format is {info.rate} Hz, {info.channels} channel(s), {8 * info.sample_width}-bit "
            f"(want {rate} Hz, mono, 16-bit)"
        )
    problems += speech_problems(info, min_seconds)
    return problems


def prompt_problems(info: WavInfo, rate: int = 8000, min_seconds: float = 0.2) -> list[str]:
    """Why a built prompt must not be installed: format, length, silence or loudness."""
    return telephone_problems(info, min_seconds, rate) + loudness_problems(info)


def loudness_problems(
    info: WavInfo, low: float = LOUDNESS_RANGE_DBFS[0], high: float = LOUDNESS_RANGE_DBFS[1]
) -> list[str]:
    """The RMS level outside ``low``..``high`` dBFS (silence is reported by speech_problems)."""
    if info.silent:
        return []
    if info.rms_dbfs < low:
        return [f"too quiet (RMS {info.rms_dbfs:.1f} dBFS, want at least {low:.0f})"]
    if info.rms_dbfs > high:
        return [f"too loud (RMS {info.rms_dbfs:.1f} dBFS, want at most {high:.0f})"]
    return []


def speech_problems(info: WavInfo, min_seconds: float = 0.2) -> list[str]:
    """Why this audio cannot be speech whatever its format: too short or silent."""
    problems = []
    if info.duration <= min_seconds:
        problems.append(f"too short ({info.duration:.2f} s)")
    if info.silent:
        problems.append(f"silent (RMS {info.rms_dbfs:.1f} dBFS, peak {info.peak_dbfs:.1f} dBFS)")
    return problems
