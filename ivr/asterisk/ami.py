"""A small, thread-safe Asterisk Manager Interface (AMI) client of our own.

Why not pyst2's ``asterisk.manager`` (the usual choice, and already a dependency for AGI)?
On Python 3 it is broken where we need it (docs/agi-protocol.md, section 11, AMI):

* any event carrying a ``ChanVariable`` header hits ``dict.has_key`` -> ``AttributeError``; the
  message thread dies inside ``join()`` and every later action hangs for ever. Our
  ``manager.conf`` sends ``channelvars`` with every channel event, so this would happen at once;
* ``send_action(**kw)`` shares a mutable default dict, so ActionIDs and headers leak between
  calls, and responses cannot be matched reliably from several threads;
* only the last ``Output:`` line of a ``Command`` response is kept (Asterisk >= 14 sends one
  header per line).

This client is what the tests, ``ivr up`` (queue state, reloads) and tools use:

* every action gets a unique ``ActionID``; its response is matched by that id, including
  event-list responses (``EventList: start`` ... ``EventList: Complete``), whose events are
  collected into :attr:`Response.events` instead of the event stream;
* all other events go to a bounded history with sequence numbers: :meth:`AMIClient.event_mark`
  then :meth:`AMIClient.wait_for` (predicate or header match, timeout) never misses an event
  that arrived between the action and the wait; listeners can be added too;
* one reader thread; sending is locked; any number of threads can call :meth:`action`;
* reconnect-friendly: when the connection drops, pending actions fail with
  :class:`AMIConnectionError`; :meth:`AMIClient.connect` (or ``auto_reconnect``) logs in again;
* a heartbeat for long-lived users (``heartbeat_s=``, or :meth:`AMIClient.start_heartbeat`;
  :func:`keep_connected` turns it on for every session it runs): see below.

The heartbeat. A TCP connection to an Asterisk that is wedged (stopped, deadlocked, its host
frozen) stays "connected" for ever: the kernel keeps it open, nothing arrives, and without a
deadline a reader waits for events that never come while its users carry on as if all were well
(the queue watcher kept stamping its state fresh). With the heartbeat on, a thread per
connection sends ``Ping`` every ``heartbeat_s``, and when a Ping has had *nothing at all* back
(no reply, no event) for ``heartbeat_deadline_s - heartbeat_s`` the connection is declared dead:
the socket is shut down and closed, every pending action fails at once with an
:class:`AMIConnectionError` that says so (also kept in :attr:`AMIClient.last_error`),
:attr:`AMIClient.connected` turns false, and the user's reconnect loop (:func:`keep_connected`)
takes over. A wedged Asterisk is so dropped within ``heartbeat_deadline_s`` of its last byte.
Any byte counts as life, not just the Ping reply: a reply queued behind a burst of events must
not kill a busy, healthy connection; and the clock runs from the Ping, so a machine too loaded
to run the watchdog on time never gets a healthy Asterisk dropped. :attr:`AMIClient.answering`
is false as soon as a Ping has waited half that time, for users that should stop trusting the
connection early. The Ping is written without blocking (a full send buffer means the peer is not
reading: the deadline will say so), so the
watchdog itself can never hang on the socket it watches.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import logging
import select
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any

log = logging.getLogger(__name__)

Headers = list[tuple[str, str]]


class AMIError(RuntimeError):
    """Asterisk answered ``Response: Error`` (``response`` has the details)."""

    def __init__(self, message: str, response: Response | None = None):
        super().__init__(message)
        self.response = response


class AMIConnectionError(AMIError, ConnectionError):
    """Not connected, connection lost, or no answer in time."""


class Message:
    """One AMI message: ordered headers, looked up case-insensitively (first value wins)."""

    def __init__(self, headers: Headers):
        self.headers = headers
        self._index: dict[str, str] = {}
        for key, value in headers:
            self._index.setdefault(key.lower(), value)

    def get(self, key: str, default: str | None = None) -> str | None:
        return self._index.get(key.lower(), default)

    def __getitem__(self, key: str) -> str:
        try:
            return self._index[key.lower()]
        except KeyError:
            raise KeyError(key) from None

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._index

    def get_all(self, key: str) -> list[str]:
        key = key.lower()
        return [v for k, v in self.headers if k.lower() == key]

    @property
    def name(self) -> str:
        """The event name (``Hangup``), or ``""`` for a response."""
        return self.get("Event", "") or ""

    @property
    def action_id(self) -> str | None:
        return self.get("ActionID")

    def variables(self) -> dict[str, str]:
        """``ChanVariable: NAME=value`` headers (manager.conf ``channelvars``) as a dict."""
        out = {}
        for item in self.get_all("ChanVariable"):
            name, _, value = item.partition("=")
            out[name] = value
        return out

    def matches(self, **expected: str) -> bool:
        """True when every given header has exactly the given value."""
        return all(self.get(k) == str(v) for k, v in expected.items())

    def __repr__(self) -> str:
        body = ", ".join(f"{k}: {v}" for k, v in self.headers[:6])
        more = "..." if len(self.headers) > 6 else ""
        return f"<{type(self).__name__} {body}{more}>"


class Response(Message):
    """The answer to one action; ``events`` holds an event-list action's events."""

    def __init__(self, headers: Headers):
        super().__init__(headers)
        self.events: list[Message] = []

    @property
    def ok(self) -> bool:
        return (self.get("Response") or "").lower() in ("success", "goodbye", "follows")

    @property
    def message(self) -> str:
        return self.get("Message", "") or ""

    @property
    def output(self) -> list[str]:
        """A ``Command`` action's output lines (one ``Output:`` header each)."""
        return self.get_all("Output")


def parse_message(block: str) -> Headers:
    headers: Headers = []
    for line in block.split("\r\n"):
        if not line:
            continue
        key, sep, value = line.partition(":")
        if not sep:  # not a header: keep it, Asterisk never sends this in practice
            headers.append(("", line))
            continue
        headers.append((key.strip(), value[1:] if value.startswith(" ") else value))
    return headers


def _encode(action: str, action_id: str, headers: Iterable[tuple[str, Any]]) -> bytes:
    lines = [f"Action: {action}", f"ActionID: {action_id}"]
    for key, value in headers:
        values = value if isinstance(value, list | tuple) else [value]
        for item in values:
            text = str(item)
            if any(c in text for c in "\r\n") or any(c in key for c in "\r\n:"):
                raise ValueError(f"AMI header {key!r} has a line break or colon: {text!r}")
            lines.append(f"{key}: {text}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


class _Pending:
    __slots__ = ("done", "error", "is_list", "response", "sock")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock  # the connection it was sent on: only that one's loss fails it
        self.response: Response | None = None
        self.is_list = False
        self.error: Exception | None = None
        self.done = threading.Event()


class AMIClient:
    """Connect, log in, run actions, watch events. Use as a context manager or call close()."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 5038,
        username: str = "",
        secret: str = "",
        *,
        timeout: float = 10.0,
        history: int = 20000,
        auto_reconnect: bool = False,
        heartbeat_s: float | None = None,
        heartbeat_deadline_s: float = 5.0,
    ):
        self.host, self.port = host, port
        self.username, self.secret = username, secret
        self.timeout = timeout
        self.auto_reconnect = auto_reconnect
        self.heartbeat_s: float | None = None
        self.heartbeat_deadline_s = heartbeat_deadline_s
        if heartbeat_s is not None:
            _check_heartbeat(heartbeat_s, heartbeat_deadline_s)
            self.heartbeat_s = heartbeat_s
        self.banner = ""
        self.last_error: Exception | None = None  # why the last connection was dropped
        self._last_rx = 0.0  # time.monotonic() of the last byte received on this connection
        self._ping_out: float | None = None  # when the oldest Ping still unanswered was sent
        self._sock: socket.socket | None = None
        self._reader: threading.Thread | None = None
        self._send_lock = threading.Lock()
        self._connect_lock = threading.Lock()
        self._cond = threading.Condition()
        self._pending: dict[str, _Pending] = {}
        self._history: collections.deque[tuple[int, Message]] = collections.deque(maxlen=history)
        self._seq = 0
        self._listeners: list[Callable[[Message], None]] = []
        self._ids = itertools.count(1)
        self._prefix = uuid.uuid4().hex[:8]
        self._generation = 0

    # -- connection -----------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._sock is not None

    @property
    def silent_for(self) -> float | None:
        """Seconds since the last byte from Asterisk on this connection; None when closed."""
        if self._sock is None:
            return None
        return max(0.0, time.monotonic() - self._last_rx)

    @property
    def answering(self) -> bool:
        """Connected, and (with the heartbeat on) no Ping has waited for an answer longer than
        half the margin between the Ping interval and the deadline. Without the heartbeat this
        is :attr:`connected`."""
        if self._sock is None:
            return False
        sent, interval = self._ping_out, self.heartbeat_s
        if sent is None or interval is None:
            return True
        return time.monotonic() - sent <= (self.heartbeat_deadline_s - interval) / 2

    def start_heartbeat(self, interval_s: float = 2.0, deadline_s: float = 5.0) -> AMIClient:
        """Turn the heartbeat on (see the module docstring), now and for every reconnection.

        ``interval_s``: a ``Ping`` that often; ``deadline_s``: silence longer than this (it
        must be longer than ``interval_s``) drops the connection as dead.
        """
        _check_heartbeat(interval_s, deadline_s)
        with self._cond:
            running = self.heartbeat_s is not None
            self.heartbeat_s, self.heartbeat_deadline_s = interval_s, deadline_s
            sock, generation = self._sock, self._generation
            self._cond.notify_all()  # a running heartbeat picks the new figures up at once
        if sock is not None and not running:
            self._start_heartbeat(sock, generation)
        return self

    def connect(self) -> AMIClient:
        """(Re)connect and log in. Safe to call again after the connection dropped."""
        with self._connect_lock:
            if self._sock is not None:
                return self
            sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
            try:
                banner = b""
                while not banner.endswith(b"\r\n"):
                    chunk = sock.recv(1)
                    if not chunk:
                        raise AMIConnectionError("AMI closed the connection before its banner")
                    banner += chunk
            except BaseException:
                sock.close()
                raise
            sock.settimeout(None)
            self.banner = banner.decode(errors="replace").strip()
            self._generation += 1
            generation = self._generation
            self._last_rx = time.monotonic()
            self._ping_out = None
            self._sock = sock
            self._reader = threading.Thread(
                target=self._read_loop,
                args=(sock, self._generation),
                name=f"ami-reader-{self.port}",
                daemon=True,
            )
            self._reader.start()
        try:
            self.action("Login", Username=self.username, Secret=self.secret, Events="on")
        except AMIError:
            self.close()
            raise
        if self.heartbeat_s is not None:
            self._start_heartbeat(sock, generation)
        return self

    def close(self) -> None:
        """Log off (best effort) and close. Pending actions fail; history is kept."""
        sock = self._sock
        if sock is None:
            return
        # Best effort and never blocking: a wedged Asterisk must not hang the one closing.
        if self._send_lock.acquire(timeout=1.0):
            try:
                sock.send(_encode("Logoff", f"{self._prefix}-logoff", []), socket.MSG_DONTWAIT)
            except OSError:
                pass
            finally:
                self._send_lock.release()
        self._drop(sock, AMIConnectionError("AMI client closed"))
        reader = self._reader
        if reader is not None and reader is not threading.current_thread():
            reader.join(timeout=2)

    def __enter__(self) -> AMIClient:
        return self.connect() if not self.connected else self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _drop(self, sock: socket.socket, error: Exception) -> None:
        with self._cond:
            if self._sock is sock:
                self._sock = None
                self.last_error = error
            for action_id, pending in list(self._pending.items()):
                if pending.sock is sock:  # not the actions of a newer connection
                    pending.error = error
                    pending.done.set()
                    del self._pending[action_id]
            self._cond.notify_all()
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()

    # -- actions --------------------------------------------------------------------------------

    def action(
        self,
        name: str,
        headers: Iterable[tuple[str, Any]] | dict[str, Any] | None = None,
        *,
        timeout: float | None = None,
        check: bool = True,
        **kw: Any,
    ) -> Response:
        """Send an action and wait for its response (and its event list, if it has one).

        Headers come as keyword arguments and/or ``headers`` (pairs or a dict, for names that are
        not Python identifiers); a list value repeats the header (``Variable=["A=1", "B=2"]``).
        ``check`` raises :class:`AMIError` on ``Response: Error``.
        """
        if self._sock is None and self.auto_reconnect and name != "Login":
            self.connect()
        sock = self._sock
        if sock is None:
            raise AMIConnectionError("AMI not connected")
        pairs = list(headers.items() if isinstance(headers, dict) else headers or [])
        pairs += list(kw.items())
        action_id = f"{self._prefix}-{next(self._ids)}"
        data = _encode(name, action_id, pairs)
        pending = _Pending(sock)
        with self._cond:
            if self._sock is not sock:  # dropped in the meantime: nobody would fail it
                raise AMIConnectionError(str(self.last_error or "AMI not connected"))
            self._pending[action_id] = pending
        try:
            with self._send_lock:
                sock.sendall(data)
        except OSError as err:
            self._drop(sock, AMIConnectionError(f"AMI send failed: {err}"))
            raise AMIConnectionError(f"AMI send failed: {err}") from err
        if not pending.done.wait(self.timeout if timeout is None else timeout):
            with self._cond:
                self._pending.pop(action_id, None)
            raise AMIConnectionError(f"no answer to AMI action {name} in time")
        if pending.error is not None:
            raise pending.error
        response = pending.response
        assert response is not None
        if check and not response.ok:
            raise AMIError(f"AMI {name} failed: {response.message or response.headers}", response)
        return response

    def command(self, cli: str, timeout: float | None = None) -> str:
        """Run a CLI command (``core show channels``) and return its output.

        A command that fails (unknown context, bad syntax) still returns what Asterisk printed.
        """
        return "\n".join(self.action("Command", Command=cli, timeout=timeout, check=False).output)

    def ping(self) -> bool:
        try:
            return self.action("Ping", timeout=2).ok
        except AMIError:
            return False

    # -- events ---------------------------------------------------------------------------------

    def event_mark(self) -> int:
        """A position in the event stream: pass it as ``since`` to see only later events."""
        with self._cond:
            return self._seq

    def events(
        self, since: int = 0, predicate: Callable[[Message], bool] | None = None, **match: str
    ) -> list[Message]:
        """Events received after ``since`` (still in the history) that match."""
        test = _predicate(predicate, match)
        with self._cond:
            return [m for _, m in self._newer(since) if test(m)]

    def wait_for(
        self,
        predicate: Callable[[Message], bool] | None = None,
        timeout: float = 10.0,
        since: int | None = None,
        **match: str,
    ) -> Message:
        """The first event after ``since`` (default: now) that matches; TimeoutError if none.

        ``predicate`` is any callable on :class:`Message`; keyword arguments match headers
        exactly (``wait_for(Event="Hangup", Uniqueid=uid)``). Both may be given.
        """
        test = _predicate(predicate, match)
        deadline = time.monotonic() + timeout
        with self._cond:
            seen = self._seq if since is None else since
            while True:
                for _, message in self._newer(seen):
                    if test(message):
                        return message
                seen = self._seq
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                if self._sock is None and not self.auto_reconnect:
                    raise AMIConnectionError("AMI connection lost while waiting for an event")
                self._cond.wait(min(left, 0.5))
        raise TimeoutError(f"no AMI event matching {match or predicate} within {timeout}s")

    def _newer(self, since: int) -> list[tuple[int, Message]]:
        """History entries after ``since``, oldest first (caller holds the lock). Read from the
        newest end: a waiter woken by each event looks at what is new, not at the whole history
        (20,000 events on a busy Asterisk)."""
        newer = []
        for entry in reversed(self._history):
            if entry[0] <= since:
                break
            newer.append(entry)
        newer.reverse()
        return newer

    def add_listener(self, callback: Callable[[Message], None]) -> None:
        """Call ``callback(event)`` from the reader thread for every event (keep it quick)."""
        with self._cond:
            self._listeners.append(callback)

    # -- reader ---------------------------------------------------------------------------------

    def _read_loop(self, sock: socket.socket, generation: int) -> None:
        buffer = b""
        error: Exception = AMIConnectionError("AMI connection closed by Asterisk")
        try:
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                if generation == self._generation:
                    self._last_rx = time.monotonic()
                    self._ping_out = None  # any byte answers the Ping: Asterisk is alive
                buffer += chunk
                while b"\r\n\r\n" in buffer:
                    block, buffer = buffer.split(b"\r\n\r\n", 1)
                    self._dispatch(parse_message(block.decode("utf-8", errors="replace")))
        except OSError as err:
            error = AMIConnectionError(f"AMI connection lost: {err}")
        except Exception as err:  # a bug here must not leave callers waiting for ever
            log.exception("AMI reader failed")
            error = AMIConnectionError(f"AMI reader failed: {err}")
        if generation == self._generation:
            log.debug("AMI %s:%s disconnected: %s", self.host, self.port, error)
        self._drop(sock, error)

    def _dispatch(self, headers: Headers) -> None:
        if not headers:
            return
        first = headers[0][0].lower()
        listeners: list[Callable[[Message], None]] = []
        with self._cond:
            if first == "response":
                response = Response(headers)
                pending = self._pending.get(response.action_id or "")
                if pending is None:
                    return
                pending.response = response
                if (response.get("EventList") or "").lower() == "start":
                    pending.is_list = True
                else:
                    self._finish(response.action_id or "")
                return
            event = Message(headers)
            pending = self._pending.get(event.action_id or "")
            if pending is not None and pending.is_list and pending.response is not None:
                pending.response.events.append(event)
                if (event.get("EventList") or "").lower() == "complete":
                    self._finish(event.action_id or "")
                return
            self._seq += 1
            self._history.append((self._seq, event))
            listeners = list(self._listeners)
            self._cond.notify_all()
        for callback in listeners:
            try:
                callback(event)
            except Exception:
                log.exception("AMI event listener failed")

    def _finish(self, action_id: str) -> None:
        pending = self._pending.pop(action_id, None)
        if pending is not None:
            pending.done.set()

    # -- heartbeat ------------------------------------------------------------------------------

    def _start_heartbeat(self, sock: socket.socket, generation: int) -> None:
        threading.Thread(
            target=self._heartbeat_loop,
            args=(sock, generation),
            name=f"ami-heartbeat-{self.port}",
            daemon=True,
        ).start()

    def _heartbeat_loop(self, sock: socket.socket, generation: int) -> None:
        """One connection's watchdog: Ping every ``heartbeat_s``; a Ping unanswered (not a byte
        back) for ``deadline - interval`` drops the connection. Counting from the Ping, not from
        the last byte, means a watchdog the machine was too busy to run never accuses a healthy
        Asterisk; nor does a reader that has not yet read what arrived (the socket is checked
        for waiting bytes first). Ends with the connection (or when the heartbeat is off)."""
        pings = itertools.count(1)
        next_ping = time.monotonic()
        while True:
            with self._cond:
                interval, deadline = self.heartbeat_s, self.heartbeat_deadline_s
                if self._sock is not sock or interval is None:
                    return
                now = time.monotonic()
                sent = self._ping_out
                if sent is not None and now - sent > deadline - interval and not _waiting(sock):
                    silent = now - self._last_rx
                    break
                if now < next_ping:
                    # wake for the next Ping, or exactly when the Ping out runs out of time
                    wake = next_ping if sent is None else min(next_ping, sent + deadline - interval)
                    self._cond.wait(max(wake - now, 0.0) + 0.001)
                    continue
                if self._ping_out is None:
                    self._ping_out = now
            next_ping = now + interval
            self._send_ping(sock, f"{self._prefix}-ping-{generation}-{next(pings)}")
        error = AMIConnectionError(
            f"AMI {self.host}:{self.port} not answering: nothing received for {silent:.1f} s "
            f"(heartbeat every {interval:g} s, deadline {deadline:g} s); connection dropped"
        )
        log.warning("%s", error)
        self._drop(sock, error)

    def _send_ping(self, sock: socket.socket, action_id: str) -> None:
        """Write a Ping without ever blocking the watchdog: skipped when another writer holds
        the socket or its send buffer is full (the peer is not reading: the deadline decides).
        Its response matches no pending action and is dropped; arriving is all it has to do."""
        data = _encode("Ping", action_id, [])
        if not self._send_lock.acquire(timeout=0.2):
            return
        try:
            sent = sock.send(data, socket.MSG_DONTWAIT)
            if 0 < sent < len(data):  # never seen for a few dozen bytes; keep the framing whole
                sock.sendall(data[sent:])
        except (BlockingIOError, InterruptedError):
            pass
        except OSError:
            pass  # closed under us: the reader reports it
        finally:
            self._send_lock.release()


def _waiting(sock: socket.socket) -> bool:
    """Bytes (or the end) are waiting to be read: the peer has spoken, the reader is behind."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return False
    return bool(readable)


def _check_heartbeat(interval_s: float, deadline_s: float) -> None:
    if not 0 < interval_s < deadline_s:
        raise ValueError(
            f"AMI heartbeat: need 0 < interval ({interval_s}) < deadline ({deadline_s})"
        )


def _predicate(
    predicate: Callable[[Message], bool] | None, match: dict[str, str]
) -> Callable[[Message], bool]:
    if predicate is None:
        return lambda m: m.matches(**match)
    if not match:
        return predicate
    return lambda m: m.matches(**match) and predicate(m)


def keep_connected(
    connect: Callable[[], Any],
    session: Callable[[Any], None],
    stopped: Callable[[], bool],
    what: str,
    retry_s: float = 1.0,
    *,
    heartbeat_s: float | None = 2.0,
    deadline_s: float = 5.0,
) -> None:
    """Run ``session(ami)`` on a fresh AMI connection, again and again until ``stopped()``.

    For the long-lived AMI users (queue watcher, callback worker): Asterisk restarting, or
    wedged, or a session failing means wait ``retry_s`` and reconnect; each session starts by
    resyncing. Every connection gets the client's heartbeat (:meth:`AMIClient.start_heartbeat`,
    ``heartbeat_s=None`` turns it off): an Asterisk that stops answering is dropped within
    ``deadline_s``, which fails the session's pending actions and ends its loop (sessions run
    ``while ami.connected``), and this loop reconnects. Only the error's type is logged, plus
    the message of connection errors (ours, about sockets): other messages may carry call data
    (numbers in SQL parameters, AMI response headers).
    """
    while not stopped():
        ami = None
        try:
            ami = connect()
            if heartbeat_s is not None:
                ami.start_heartbeat(heartbeat_s, deadline_s)
            session(ami)
            if not stopped():
                log.warning("%s: %s, reconnecting", what, _reason(ami.last_error, "session ended"))
                time.sleep(retry_s)
        except Exception as exc:  # Asterisk (or a database) restarting
            log.warning("%s: %s, reconnecting", what, _reason(exc, ""))
            time.sleep(retry_s)
        finally:
            if ami is not None:
                with contextlib.suppress(Exception):
                    ami.close()


def _reason(exc: BaseException | None, default: str) -> str:
    if exc is None:
        return default
    if isinstance(exc, AMIConnectionError | OSError):
        return f"{type(exc).__name__}: {exc}"
    return type(exc).__name__
