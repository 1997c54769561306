"""Hold music when a city has none: Asterisk's music on hold reads ``<sounds>/moh/*.wav``."""

from __future__ import annotations

import math
import struct
import wave
from pathlib import Path


def write_hold_music(path: Path, seconds: float = 20.0) -> Path:
    """A soft three-note chime every 4 s, 8 kHz mono 16-bit: hold music when a city has none."""
    rate, notes = 8000, ((523.25, 0.35), (659.25, 0.35), (783.99, 0.6))
    period = bytearray()
    for freq, length in notes:
        n = int(rate * length)
        for i in range(n):
            envelope = min(1.0, i / 400, (n - i) / 800)
            sample = int(4000 * envelope * math.sin(2 * math.pi * freq * i / rate))
            period += struct.pack("<h", sample)
    period += bytes(2 * (4 * rate - len(period) // 2))
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(bytes(period) * max(1, round(seconds / 4)))
    return path


def ensure_hold_music(sounds_dir: str | Path) -> Path | None:
    """Write the default chime into ``<sounds_dir>/moh`` unless the city put music there."""
    moh = Path(sounds_dir) / "moh"
    if any(moh.glob("*.wav")):
        return None
    return write_hold_music(moh / "chime.wav")
