"""Helpers shared by the AGI tests: a peer in a thread, raw pyst2 over the same wire, canned I/O."""

from __future__ import annotations

import io
import signal
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress

from asterisk.agi import AGI

from ivr.agi.adapter import CityAGI
from ivr.agi.peer import AsteriskPeer
from ivr.flow.actions import Transfer

ENV = "".join(
    f"{k}: {v}\n"
    for k, v in [
        ("agi_network", "yes"),
        ("agi_request", "agi://127.0.0.1/ivr"),
        ("agi_channel", "PJSIP/trunk-00000001"),
        ("agi_uniqueid", "1700000000.42"),
        ("agi_callerid", "3331234567"),
        ("agi_accountcode", ""),
    ]
)


@contextmanager
def peer_on_socket(peer: AsteriskPeer, timeout: float = 5.0) -> Iterator[socket.socket]:
    """Run ``peer`` in a thread on one end of a socketpair; yield the script's end."""
    ours, theirs = socket.socketpair()
    ours.settimeout(timeout)
    theirs.settimeout(timeout)
    thread = threading.Thread(target=peer.run_socket, args=(theirs,), daemon=True)
    thread.start()
    try:
        yield ours
    finally:
        with suppress(OSError):
            ours.shutdown(socket.SHUT_RDWR)  # EOF for the peer even if a makefile is still open
        ours.close()
        thread.join(timeout)
        theirs.close()
        assert not thread.is_alive(), "peer did not finish"


@contextmanager
def raw_pyst2(sock: socket.socket) -> Iterator[tuple[AGI, io.StringIO]]:
    """Unmodified pyst2 ``AGI`` over a text-mode view of the socket (its best case on Python 3).

    Its constructor installs a SIGHUP handler for the whole test process: restored afterwards.
    """
    saved = signal.getsignal(signal.SIGHUP)
    # Separate reader and writer: a single "rw" TextIOWrapper drops read-ahead on each write.
    rfile = sock.makefile("r", encoding="utf-8", newline="\n")
    wfile = sock.makefile("w", encoding="utf-8", newline="\n")
    stderr = io.StringIO()
    try:
        yield AGI(stdin=rfile, stdout=wfile, stderr=stderr), stderr
    finally:
        signal.signal(signal.SIGHUP, saved)
        rfile.close()
        wfile.close()


def canned(*replies: str, env: str = ENV) -> tuple[CityAGI, io.BytesIO]:
    """A CityAGI reading fixed reply lines; returns it and the buffer its commands go to."""
    data = (env + "\n" + "".join(r + "\n" for r in replies)).encode()
    out = io.BytesIO()
    return CityAGI(io.BytesIO(data), out), out


def sent(out: io.BytesIO) -> list[str]:
    return out.getvalue().decode().splitlines()


class FakeSession:
    """Hands out scripted actions (or callables of the event) and keeps the events it was fed."""

    def __init__(self, *actions, language: str | None = "it") -> None:
        self.actions = list(actions)
        self.events: list = []
        self.language = language
        self.path: list[str] = []
        self.fallbacks: list[str] = []

    def _next(self, event=None):
        self.path.append(f"n{len(self.path)}")
        action = self.actions.pop(0)
        return action(self, event) if callable(action) else action

    def start(self):
        return self._next()

    def feed(self, event):
        self.events.append(event)
        return self._next(event)

    def fallback(self, reason: str) -> Transfer:
        self.fallbacks.append(reason)
        return Transfer("operatore", "operatore", self.language or "it", reason, {})
