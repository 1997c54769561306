"""WAV inspection: format, duration and loudness of what Asterisk will play."""

from __future__ import annotations

import io
import math
import struct
import wave

import pytest

from ivr.prompts.audio import inspect_wav, speech_problems, telephone_problems


def make_wav(samples: list[int], rate: int = 8000, channels: int = 1, width: int = 2) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(struct.pack(f"<{len(samples)}{'B' if width == 1 else 'h'}", *samples))
    return buf.getvalue()


def sine(amplitude: float, seconds: float = 1.0, rate: int = 8000) -> list[int]:
    return [
        round(amplitude * 32767 * math.sin(2 * math.pi * 400 * i / rate))
        for i in range(int(seconds * rate))
    ]


def test_sine_levels_format_and_duration(tmp_path):
    path = tmp_path / "a.wav"
    path.write_bytes(make_wav(sine(0.5, seconds=1.5)))
    info = inspect_wav(path)
    assert (info.rate, info.channels, info.sample_width, info.frames) == (8000, 1, 2, 12000)
    assert info.duration == pytest.approx(1.5)
    assert info.peak_dbfs == pytest.approx(-6.02, abs=0.05)
    assert info.rms_dbfs == pytest.approx(-9.03, abs=0.05)  # a sine's RMS is 3 dB below peak
    assert not info.silent
    assert telephone_problems(info) == []


def test_digital_silence_and_dither_are_silent():
    zero = inspect_wav(make_wav([0] * 8000))
    assert zero.rms_dbfs == -math.inf and zero.peak_dbfs == -math.inf and zero.silent
    assert speech_problems(zero) == ["silent (RMS -inf dBFS, peak -inf dBFS)"]
    dither = inspect_wav(make_wav([1, -1] * 4000))
    assert dither.silent and dither.peak_dbfs == pytest.approx(-90.3, abs=0.1)


def test_quiet_speech_level_is_not_silent():
    assert not inspect_wav(make_wav(sine(0.01))).silent  # -40 dBFS peak, -43 RMS


def test_short_audio_and_wrong_format_are_reported():
    info = inspect_wav(make_wav(sine(0.5, seconds=0.1, rate=16000), rate=16000))
    problems = telephone_problems(info)
    assert problems == [
        "format is 16000 Hz, 1 channel(s), 16-bit (want 8000 Hz, mono, 16-bit)",
        "too short (0.10 s)",
    ]


def test_stereo_and_8bit():
    stereo = inspect_wav(make_wav([16384, -16384] * 8000, channels=2))
    assert (stereo.channels, stereo.frames, stereo.duration) == (2, 8000, 1.0)
    assert stereo.peak_dbfs == pytest.approx(-6.02, abs=0.01)
    eight = inspect_wav(make_wav([128 + 64, 128 - 64] * 4000, width=1))
    assert eight.sample_width == 1 and eight.peak_dbfs == pytest.approx(-5.95, abs=0.01)
    assert not eight.silent


@pytest.mark.parametrize("data", [b"", b"RIFF", b"not a wav file at all, just text"])
def test_not_a_wav_is_a_value_error(data):
    with pytest.raises(ValueError, match="not a PCM WAV"):
        inspect_wav(data)
