"""The persistent recognition service: each language's vosk model loaded once, shared by all calls.

Why a separate process: a model is ~0.5 GB and takes seconds to load, so loading it per call (or
per FastAGI worker) is out of the question; one service keeps each model in memory and serves
every call on its own thread with its own ``KaldiRecognizer`` (vosk releases the GIL while
decoding, so one caller's recognition never blocks another's).

Protocol (loopback TCP, one connection per utterance):
  client -> ``{"lang": "it", "grammar": [...]}\\n`` then frames ``<u32 big-endian length><s16le
  8 kHz mono audio>``; a zero-length frame means "no more audio".
  server -> one JSON line ``{"text": ..., "confidence": ...}`` as soon as vosk ends the utterance
  (end of speech), or at the zero frame, then closes. An error answers ``{"error": ...}``.
"""

from __future__ import annotations

import json
import select
import socket
import socketserver
import struct
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

SAMPLE_RATE = 8000
MODEL_PARTS = ("am", "conf", "graph")


def check_model_files(path: Path) -> list[str]:
    """What a vosk model directory lacks (empty when it looks complete)."""
    if not path.is_dir():
        return [f"{path}: no such directory"]
    return [f"{path}/{part}: missing" for part in MODEL_PARTS if not (path / part).exists()]


def load_model(path: Path):
    """Load one vosk model (quietly); raises ValueError naming what is missing."""
    import vosk

    missing = check_model_files(path)
    if missing:
        raise ValueError("; ".join(missing))
    vosk.SetLogLevel(-1)
    return vosk.Model(str(path))


def missing_words(model, words: Iterable[str]) -> list[str]:
    """Grammar words the model cannot recognise (vosk ignores them silently otherwise)."""
    import vosk

    return sorted(
        w for w in set(words) if vosk._c.vosk_model_find_word(model._handle, w.encode()) < 0
    )


def usable_grammar(model, grammar: Iterable[str]) -> list[str]:
    """Drop phrases with out-of-vocabulary words (e.g. ``[unk]`` in models without it)."""
    return [p for p in grammar if not missing_words(model, p.split())]


@dataclass(frozen=True)
class Heard:
    text: str
    confidence: float


def _result(raw: str) -> Heard:
    data = json.loads(raw)
    words = data.get("result") or []
    conf = sum(w.get("conf", 0.0) for w in words) / len(words) if words else 0.0
    return Heard(data.get("text", ""), round(conf, 3))


def recognise(model, grammar: list[str], chunks: Iterable[bytes]) -> Heard:
    """Decode audio chunks with a grammar; stop at vosk's end of utterance with some text."""
    import vosk

    if not grammar:  # vosk crashes the whole process on an empty grammar: nothing to hear
        return Heard("", 0.0)
    rec = vosk.KaldiRecognizer(model, SAMPLE_RATE, json.dumps(grammar, ensure_ascii=False))
    rec.SetWords(True)
    for chunk in chunks:
        if rec.AcceptWaveform(chunk):
            heard = _result(rec.Result())
            if heard.text:
                return heard
    return _result(rec.FinalResult())


def _frames(stream) -> Iterable[bytes]:
    while True:
        head = stream.read(4)
        if len(head) < 4:
            return
        (size,) = struct.unpack(">I", head)
        if size == 0:
            return
        data = stream.read(size)
        if len(data) < size:
            return
        yield data


class SpeechServer(socketserver.ThreadingTCPServer):
    """A thread per utterance over models loaded once at start."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # calls arriving together must not be refused

    def __init__(self, address: tuple[str, int], models: Mapping[str, object]):
        self.models = dict(models)
        super().__init__(address, _Handler)


class _Handler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        try:
            header = json.loads(self.rfile.readline())
            model = self.server.models[header["lang"]]
            grammar = usable_grammar(model, header["grammar"])
            heard = recognise(model, grammar, _frames(self.rfile))
            answer = {"text": heard.text, "confidence": heard.confidence}
        except Exception as exc:  # answer the call, never kill the service
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        self.wfile.write(json.dumps(answer, ensure_ascii=False).encode() + b"\n")
        self.wfile.flush()
        self._drain()

    def _drain(self) -> None:
        """Close gently: audio the caller's side sent after our answer is read and dropped.
        Closing with unread data sends a TCP reset, which can destroy the answer in flight."""
        try:
            self.request.shutdown(socket.SHUT_WR)
            self.request.settimeout(2.0)
            while self.request.recv(65536):
                pass
        except OSError:
            pass


def serve_in_thread(models: Mapping[str, object], port: int = 0) -> SpeechServer:
    server = SpeechServer(("127.0.0.1", port), models)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def ask_service(
    address: tuple[str, int], lang: str, grammar: list[str], chunks: Iterable[bytes]
) -> Heard:
    """Client: stream audio to the service; stops sending as soon as it has answered."""
    with socket.create_connection(address, timeout=30) as sock:
        sock.sendall(json.dumps({"lang": lang, "grammar": grammar}).encode() + b"\n")
        reader = sock.makefile("rb")
        try:
            for chunk in chunks:
                if select.select([sock], [], [], 0)[0]:
                    break  # the service has answered (end of speech): stop streaming
                sock.sendall(struct.pack(">I", len(chunk)) + chunk)
            else:
                sock.sendall(struct.pack(">I", 0))
        except (BrokenPipeError, ConnectionResetError):
            pass  # the service ended the utterance early and answered
        answer = json.loads(reader.readline())
    if "error" in answer:
        raise RuntimeError(answer["error"])
    return Heard(answer["text"], answer["confidence"])
