"""Recorded AMI sessions of a real Asterisk 22, replayed to our client without Asterisk.

As panoramisk's tests do, the AMI client is checked against what Asterisk really sent: the bytes
of a few sessions were recorded once from a test Asterisk 22 (``tests/ami_record.py``, through
:class:`Recorder`, a loopback proxy) into ``tests/data/ami/*.txt``, and :class:`ReplayPeer`
serves them back on a loopback port to any client, with no Asterisk running.

The fixture format is line based (AMI is): every line of the stream is written with who sent
it, ``C: `` (the client, us) or ``S: `` (Asterisk), in the order the recorder saw them; the
``\\r\\n`` line ends are left out and the empty line ending each message is ``C:``/``S:`` alone.
Lines starting with ``#`` are comments (where and how it was recorded). The login secret is
never stored: it is written as :data:`SECRET` and matches any secret on replay.

The peer plays Asterisk's part: it sends the server lines up to the next client message of the
script, waits for the client to send a message matching it (same action and headers, in any
order; ``ActionID`` and the secret are free), then sends what Asterisk answered, with the
recorded ActionIDs replaced by the client's. An unscripted ``Ping`` (the heartbeat) is
answered like Asterisk does while ``answer_pings`` is set. When the script is done the peer
does what ``then`` says: ``"silent"`` (read and never answer: a wedged Asterisk), ``"pings"``
(answer the heartbeat's Pings only, while ``answer_pings``), or ``"close"``.
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

DATA = Path(__file__).parent / "data" / "ami"
SECRET = "<secret>"

Line = tuple[str, str]  # ("C" | "S", text without its line end)


# ---------------------------------------------------------------------------------------------
# Fixtures


@dataclass
class Transcript:
    """A recorded session: its lines in order (and the file's comments)."""

    lines: list[Line]
    comments: list[str] = field(default_factory=list)

    @classmethod
    def load(cls, name: str) -> Transcript:
        path = DATA / (name if name.endswith(".txt") else f"{name}.txt")
        lines: list[Line] = []
        comments = []
        for raw in path.read_text(encoding="utf-8").split("\n"):
            if raw.startswith("#"):
                comments.append(raw)
            elif raw[:2] in ("C:", "S:"):
                lines.append((raw[0], raw[3:] if raw[2:3] == " " else raw[2:]))
            elif raw:
                raise ValueError(f"{path.name}: not a fixture line: {raw!r}")
        return cls(lines, comments)

    def dump(self) -> str:
        out = list(self.comments)
        out += [f"{who}: {text}" if text else f"{who}:" for who, text in self.lines]
        return "\n".join(out) + "\n"

    # -- structure -------------------------------------------------------------------------------

    def messages(self, who: str | None = None) -> list[tuple[str, list[tuple[str, str]]]]:
        """Complete messages ``(who, headers)`` in order (the banner is not one)."""
        out = []
        current: dict[str, list[tuple[str, str]]] = {"C": [], "S": []}
        for side, text in self.lines:
            if not text:
                if current[side]:
                    out.append((side, current[side]))
                current[side] = []
                continue
            key, sep, value = text.partition(":")
            if sep:
                current[side].append((key.strip(), value[1:] if value.startswith(" ") else value))
        return [m for m in out if who is None or m[0] == who]

    def actions(self) -> list[dict[str, str]]:
        """The client's actions, in order, as header dicts."""
        return [dict(h) for _, h in self.messages("C")]

    def responses(self, action_id: str) -> list[dict[str, str]]:
        """Asterisk's messages (response and event list) for one recorded ActionID."""
        return [dict(h) for _, h in self.messages("S") if dict(h).get("ActionID") == action_id]

    def until_action(self, index: int) -> Transcript:
        """The session up to (not including) the client's ``index``-th message (0-based): what a
        client that stops there would have seen, events before that action included."""
        seen, between = -1, True  # between client messages
        for i, (who, text) in enumerate(self.lines):
            if who != "C":
                continue
            if between and text:
                seen += 1
                if seen == index:
                    return Transcript(self.lines[:i], self.comments)
            between = not text
        return Transcript(list(self.lines), self.comments)

    def client_messages(self) -> list[list[Line]]:
        """Each client message's lines (its empty line included), in order."""
        out: list[list[Line]] = []
        current: list[Line] = []
        for who, text in self.lines:
            if who != "C":
                continue
            current.append((who, text))
            if not text:
                out.append(current)
                current = []
        return out

    def only(self, *indexes: int) -> Transcript:
        """A session of the banner and the client's messages ``indexes`` (0-based), each with
        just the server messages that answer it (its ActionID): no unsolicited events."""
        lines: list[Line] = [line for line in self.lines[:1] if line[0] == "S"]  # the banner
        messages = self.client_messages()
        server = [text for who, text in self.lines[len(lines) :] if who == "S"]
        for index in indexes:
            message = messages[index]
            lines += message
            action_id = dict(_headers([t for _, t in message if t])).get("actionid", "")
            lines += [("S", t) for t in _lines_of(server, action_id)]
        return Transcript(lines, self.comments)

    def server_bytes(self) -> bytes:
        return b"".join(f"{t}\r\n".encode() for w, t in self.lines if w == "S")


# ---------------------------------------------------------------------------------------------
# Replay


def _message_blocks(lines: list[Line]) -> Iterator[tuple[str, list[str]]]:
    """The script as alternating runs: ("S", server lines to send) and ("C", one client
    message's header lines to expect)."""
    run: list[str] = []
    side = "S"
    for who, text in lines:
        if who == "S":
            if side == "C":  # never: client messages end with their blank line
                raise ValueError("server line inside a client message")
            run.append(text)
            continue
        if side == "S":
            if run:
                yield "S", run
            run, side = [], "C"
        if text:
            run.append(text)
        else:
            yield "C", run
            run, side = [], "S"
    if run:
        yield side, run


def _headers(lines: list[str]) -> list[tuple[str, str]]:
    out = []
    for line in lines:
        key, _, value = line.partition(":")
        out.append((key.strip().lower(), value[1:] if value.startswith(" ") else value))
    return out


def _matches(expected: list[tuple[str, str]], got: list[tuple[str, str]]) -> bool:
    def norm(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
        return sorted(
            (k, "" if k == "actionid" or k == "secret" else v.lower() if k == "action" else v)
            for k, v in headers
        )

    return norm(expected) == norm(got)


PONG = ["Response: Success", "ActionID: {id}", "Ping: Pong", "Timestamp: {ts:.6f}", ""]


class ReplayPeer:
    """A fake Asterisk on 127.0.0.1 that replays recorded sessions (see the module docstring).

    ``sessions``: one :class:`Transcript` per connection, in order (a client that reconnects
    gets the next one; once the last one is taken, connecting is refused). ``strict``
    (default) plays each as a script; otherwise the peer only answers: each action gets the
    recorded answer (response and event list) of the first recorded action with the same
    headers, for ever, and nothing else is sent after the banner (for clients that poll, like
    publishing's confirmation).

    ``port`` to connect to; ``errors`` lists what went wrong (an unexpected client message);
    ``received`` every client message (header lists); ``pings`` how many Pings it answered;
    ``done`` is set when the last session's script has been played; ``last_sent``
    (``time.monotonic()``) when it last sent bytes. ``pace`` sleeps between server messages.
    """

    def __init__(
        self,
        sessions: Transcript | list[Transcript],
        *,
        then: str = "silent",
        answer_pings: bool = True,
        strict: bool = True,
        pace: float = 0.0,
        timeout: float = 10.0,
    ):
        if then not in ("silent", "pings", "close"):
            raise ValueError(then)
        self.sessions = [sessions] if isinstance(sessions, Transcript) else list(sessions)
        self.then, self.answer_pings, self.pace, self.timeout = then, answer_pings, pace, timeout
        self.strict = strict
        self.errors: list[str] = []
        self.received: list[list[tuple[str, str]]] = []
        self.pings = 0
        self.connections = 0
        self.done = threading.Event()
        self.last_sent = 0.0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._conn: socket.socket | None = None
        self._buffer = b""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="ami-replay", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self._listener.close()
        conn = self._conn
        if conn is not None:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        self._thread.join(5)

    def __enter__(self) -> ReplayPeer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the peer's thread -----------------------------------------------------------------------

    def _serve(self) -> None:
        self._listener.settimeout(0.2)
        for number, transcript in enumerate(self.sessions):
            conn = self._accept()
            if conn is None:
                break
            if number == len(self.sessions) - 1:  # no more sessions: connecting is refused
                with contextlib.suppress(OSError):
                    self._listener.close()
            self._conn, self._buffer = conn, b""
            self.connections += 1
            try:
                if self.strict:
                    self._play(conn, transcript)
                else:
                    self._answer(conn, transcript)
                if number == len(self.sessions) - 1:
                    self.done.set()
                if self.then != "close":  # silent, or Pings only, until the client goes
                    answer = self.then == "pings"
                    while self._read_message(conn, answer=answer and self.answer_pings):
                        pass
            except OSError:
                pass  # the client went away while we wrote: the next session, if any
            finally:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
                conn.close()
        self.done.set()
        with contextlib.suppress(OSError):
            self._listener.close()

    def _accept(self) -> socket.socket | None:
        deadline = time.monotonic() + self.timeout
        while not self._stop.is_set() and time.monotonic() < deadline:
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return None
            conn.settimeout(0.2)
            return conn
        return None

    def _play(self, conn: socket.socket, transcript: Transcript) -> None:
        ids: dict[str, str] = {}
        for side, lines in _message_blocks(transcript.lines):
            if side == "S":
                self._send_lines(conn, lines, ids)
                continue
            expected = _headers(lines)
            if "-ping-" in dict(expected).get("actionid", ""):
                continue  # a recorded heartbeat: this client's own are answered on the side
            got = self._read_message(conn)
            if got is None:
                return
            if not _matches(expected, got):
                self.errors.append(f"expected {expected}, got {got}")
                return
            recorded, live = dict(expected).get("actionid"), dict(got).get("actionid")
            if recorded and live:
                ids[recorded] = live

    def _answer(self, conn: socket.socket, transcript: Transcript) -> None:
        """Banner and login as recorded, then every action answered from the recording."""
        blocks = list(_message_blocks(transcript.lines))
        answers: list[tuple[list[tuple[str, str]], str, list[str]]] = []
        for i, (side, lines) in enumerate(blocks):
            if side != "C":
                continue
            headers = _headers(lines)
            recorded = dict(headers).get("actionid", "")
            reply: list[str] = []
            for later_side, later in blocks[i + 1 :]:
                if later_side == "S":
                    reply += _lines_of(later, recorded)
            answers.append((headers, recorded, reply))
        if blocks and blocks[0][0] == "S":
            self._send_lines(conn, blocks[0][1][:1], {})  # the banner
        while (got := self._read_message(conn)) is not None:
            for headers, recorded, reply in answers:
                if _matches(headers, got):
                    self._send_lines(conn, reply, {recorded: dict(got).get("actionid", "")})
                    break
            else:
                self.errors.append(f"no recorded answer for {got}")
                error = ["Response: Error", f"ActionID: {dict(got).get('actionid', '')}"]
                self._send_lines(conn, [*error, "Message: not in the recording", ""], {})

    def _send_lines(self, conn: socket.socket, lines: list[str], ids: dict[str, str]) -> None:
        data = []
        for line in lines:
            if line.lower().startswith("actionid:"):
                value = line.partition(":")[2].strip()
                line = f"ActionID: {ids.get(value, value)}"
            data.append(f"{line}\r\n")
            if not line and self.pace:
                self._send(conn, "".join(data).encode())
                data = []
                time.sleep(self.pace)
        if data:
            self._send(conn, "".join(data).encode())

    def _send(self, conn: socket.socket, data: bytes) -> None:
        conn.sendall(data)
        self.last_sent = time.monotonic()

    def _read_message(
        self, conn: socket.socket, answer: bool | None = None
    ) -> list[tuple[str, str]] | None:
        """The next client message that is not a heartbeat Ping (those are answered when
        ``answer``, default ``answer_pings``); None when the client went away or we stop."""
        answer = self.answer_pings if answer is None else answer
        while not self._stop.is_set():
            while b"\r\n\r\n" not in self._buffer:
                try:
                    chunk = conn.recv(65536)
                except TimeoutError:
                    if self._stop.is_set():
                        return None
                    continue
                except OSError:
                    return None
                if not chunk:
                    return None
                self._buffer += chunk
            block, self._buffer = self._buffer.split(b"\r\n\r\n", 1)
            headers = _headers(block.decode("utf-8", errors="replace").split("\r\n"))
            self.received.append(headers)
            values = dict(headers)
            heartbeat = "-ping-" in values.get("actionid", "")
            if values.get("action", "").lower() == "ping" and heartbeat:
                if answer:
                    self.pings += 1
                    pong = "\r\n".join(PONG).format(id=values["actionid"], ts=time.time())
                    self._send(conn, f"{pong}\r\n".encode())
                continue  # the heartbeat's, not the script's
            return headers
        return None


def _lines_of(lines: list[str], action_id: str) -> list[str]:
    """The messages among ``lines`` that carry ``action_id`` (a response, its event list)."""
    out: list[str] = []
    message: list[str] = []
    for line in lines:
        message.append(line)
        if line:
            continue
        if any(m.lower() == f"actionid: {action_id}".lower() for m in message) and action_id:
            out += message
        message = []
    return out


# ---------------------------------------------------------------------------------------------
# Recording


class Recorder:
    """A loopback proxy to a real AMI that keeps every line both ways, in order.

    Connect a client to ``port``; :meth:`transcript` gives what passed, with ``secret`` replaced
    by :data:`SECRET` wherever it appears. ``keep`` may drop server messages (events) that are
    only noise for the fixture; dropped counts are in ``dropped``.
    """

    def __init__(self, ami_port: int, secret: str, keep=None):
        self.ami_port, self.secret, self.keep = ami_port, secret, keep
        self.lines: list[Line] = []
        self.dropped: dict[str, int] = {}
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._threads: list[threading.Thread] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        client, _ = self._listener.accept()
        upstream = socket.create_connection(("127.0.0.1", self.ami_port))
        for src, dst, who in ((client, upstream, "C"), (upstream, client, "S")):
            t = threading.Thread(target=self._pump, args=(src, dst, who), daemon=True)
            t.start()
            self._threads.append(t)

    def _pump(self, src: socket.socket, dst: socket.socket, who: str) -> None:
        buffer = b""
        message: list[str] = []  # kept whole: the two directions interleave by message
        try:
            while chunk := src.recv(65536):
                buffer += chunk  # written down before it is passed on: the order is causal
                while b"\r\n" in buffer:
                    raw, buffer = buffer.split(b"\r\n", 1)
                    text = raw.decode("utf-8")
                    if "\n" in text or "\r" in text:
                        raise ValueError(f"a bare line break in an AMI line: {text!r}")
                    if who == "S" and not message and text.startswith("Asterisk Call Manager/"):
                        self._add(who, [text])  # the banner: one line, no empty line after it
                        continue
                    message.append(text)
                    if text:
                        continue
                    done, message = message, []
                    event = next(
                        (v for k, _, v in (m.partition(": ") for m in done) if k == "Event"), ""
                    )
                    if who == "C" or self.keep is None or self.keep(event, done):
                        self._add(who, done)
                    else:
                        self.dropped[event] = self.dropped.get(event, 0) + 1
                dst.sendall(chunk)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_WR)

    def _add(self, who: str, lines: list[str]) -> None:
        with self._lock:
            self.lines += [(who, line) for line in lines]

    def transcript(self, comments: list[str]) -> Transcript:
        with self._lock:
            lines = [(w, _scrub(t, self.secret)) for w, t in self.lines]
        return Transcript(lines, comments)

    def close(self) -> None:
        self._listener.close()
        for t in self._threads:
            t.join(5)


def _scrub(text: str, secret: str) -> str:
    if re.match(r"(?i)secret\s*:", text):
        return f"Secret: {SECRET}"
    return text.replace(secret, SECRET) if secret else text
