"""FastAGI server: one thread per call, bounded, and never leaves Asterisk waiting.

Asterisk gives a FastAGI server 2 s to accept the connection and then blocks the channel on every
reply, so an overloaded server must still answer at once. Up to ``max_calls`` connections run the
handler; beyond that ``max_overflow`` more get an instant safe route (operator queue, reason
``busy``) and are closed; beyond even that the connection is closed straight away and Asterisk's
dialplan apologises and queues the caller for the operator (not this code's job).
"""

from __future__ import annotations

import contextlib
import logging
import signal
import socket
import threading
from collections.abc import Callable
from typing import Any

from ivr.agi.adapter import AGIHangup, CityAGI
from ivr.asterisk import variables as V

log = logging.getLogger("ivr.agi.server")

Handler = Callable[[CityAGI], Any]

# ``agi://host:port/nu-alive``: the supervisor's liveness probe, answered by the server itself. A
# frozen or wedged service still gets its connections accepted by the kernel (the listen
# backlog), so Asterisk's AGI() would wait on it in silence: only an answer proves it serves.
ALIVE_SCRIPT = "nu-alive"
ALIVE_REPLY = b"NOOP alive\n"


def fastagi_alive(host: str, port: int, timeout: float = 2.0) -> bool:
    """Whether the FastAGI service on ``host:port`` answers a request within ``timeout``."""
    request = (
        "agi_network: yes\n"
        f"agi_network_script: {ALIVE_SCRIPT}\n"
        f"agi_request: agi://{host}:{port}/{ALIVE_SCRIPT}\n\n"
    ).encode()
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(request)
            return sock.recv(len(ALIVE_REPLY)).startswith(b"NOOP")
    except OSError:
        return False


class FastAGIServer:
    """Threaded FastAGI listener. Use :meth:`start` + :meth:`shutdown`, or as a context manager.

    ``reply_timeout`` bounds every wait for Asterisk (a wedged peer frees its slot); thread stacks
    are ``stack_size`` bytes so a thousand calls stay cheap.
    """

    def __init__(
        self,
        handler: Handler,
        *,
        host: str = "127.0.0.1",
        port: int = 4573,
        max_calls: int = 400,
        max_overflow: int = 100,
        overflow_queue: str | Callable[[], str] = "operatore",
        reply_timeout: float | None = 300.0,
        overflow_timeout: float = 2.0,
        stack_size: int = 512 * 1024,
        backlog: int = 1024,
    ) -> None:
        self.handler = handler
        self.host, self.port = host, port
        self.max_calls, self.max_overflow = max_calls, max_overflow
        self.overflow_queue = overflow_queue
        self.reply_timeout, self.overflow_timeout = reply_timeout, overflow_timeout
        self.stack_size, self.backlog = stack_size, backlog
        self.stats = {"calls": 0, "overflow": 0, "refused": 0, "errors": 0}
        self._lock = threading.Condition()
        self._active = 0
        self._overflow = 0
        self._conns: set[socket.socket] = set()
        self._threads: set[threading.Thread] = set()
        self._stop = threading.Event()
        self._listener: socket.socket | None = None
        self._acceptor: threading.Thread | None = None

    # -- introspection -------------------------------------------------------------------

    @property
    def active_calls(self) -> int:
        return self._active

    @property
    def overflow_calls(self) -> int:
        return self._overflow

    @property
    def address(self) -> tuple[str, int]:
        assert self._listener is not None, "not started"
        return self._listener.getsockname()[:2]

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> FastAGIServer:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
            sock.listen(self.backlog)
        except OSError:
            sock.close()
            raise
        sock.settimeout(0.2)  # lets the accept loop notice shutdown
        self._listener = sock
        self._acceptor = threading.Thread(target=self._accept_loop, name="fastagi-accept")
        self._acceptor.start()
        log.info("FastAGI listening on %s:%s (max %d calls)", *self.address, self.max_calls)
        return self

    def shutdown(self, grace: float = 5.0) -> None:
        """Stop accepting, give calls ``grace`` seconds, then cut the rest and join every thread."""
        self._stop.set()
        if self._acceptor is not None:
            self._acceptor.join()
        if self._listener is not None:
            self._listener.close()
        with self._lock:
            self._lock.wait_for(lambda: self._active + self._overflow == 0, timeout=grace)
            left = list(self._conns)
        for conn in left:  # the handler then reads EOF: a hang-up, cleaned up by its thread
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        for thread in list(self._threads):
            thread.join(grace)
        log.info("FastAGI stopped (%s)", self.stats)

    def __enter__(self) -> FastAGIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    def serve_forever(self) -> None:
        """Run until SIGINT/SIGTERM (main thread) or :meth:`shutdown` from elsewhere."""
        self.start()
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, lambda *_: self._stop.set())
        try:
            while not self._stop.wait(0.5):
                pass
        finally:
            self.shutdown()

    # -- per connection ------------------------------------------------------------------

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError as err:  # EMFILE and friends: back off a little, keep serving
                if self._stop.is_set():
                    break
                log.warning("accept failed: %s", err)
                self._stop.wait(0.05)
                continue
            self._dispatch(conn)

    def _dispatch(self, conn: socket.socket) -> None:
        with self._lock:
            if self._active < self.max_calls:
                kind = "call"
                self._active += 1
            elif self._overflow < self.max_overflow:
                kind = "overflow"
                self._overflow += 1
            else:
                kind = "refused"
            self.stats["calls" if kind == "call" else kind] += 1
            if kind != "refused":
                self._conns.add(conn)
        if kind == "refused":
            log.warning("FastAGI full: connection closed at once")
            conn.close()
            return
        thread = threading.Thread(target=self._serve, args=(conn, kind), daemon=True)
        try:
            self._start_thread(thread)
        except RuntimeError:  # can't start a thread: give the slot back, Asterisk falls back
            log.error("cannot start a call thread")
            self._release(conn, kind, thread)

    def _start_thread(self, thread: threading.Thread) -> None:
        with self._lock:
            self._threads.add(thread)
        old = threading.stack_size(self.stack_size) if self.stack_size else None
        try:
            thread.start()
        finally:
            if old is not None:
                threading.stack_size(old)

    def _release(self, conn: socket.socket, kind: str, thread: threading.Thread) -> None:
        """Free the slot, then close: Asterisk may start the next call the moment it sees EOF."""
        with self._lock:
            self._conns.discard(conn)
            self._threads.discard(thread)
            if kind == "call":
                self._active -= 1
            else:
                self._overflow -= 1
            self._lock.notify_all()
        with contextlib.suppress(OSError):
            conn.close()

    def _serve(self, conn: socket.socket, kind: str) -> None:
        agi: CityAGI | None = None
        try:
            conn.settimeout(self.reply_timeout if kind == "call" else self.overflow_timeout)
            agi = CityAGI.from_socket(conn)
            if agi.network_script == ALIVE_SCRIPT:  # a probe, not a call
                conn.sendall(ALIVE_REPLY)
                with self._lock:
                    self.stats["calls" if kind == "call" else kind] -= 1
            elif kind == "call":
                self.handler(agi)
            else:
                queue = self.overflow_queue
                queue = queue() if callable(queue) else queue  # the published dialplan's
                agi.log.warning("service full: routing to %s", queue)
                agi.set_variable(V.QUEUE, queue)
                agi.set_variable(V.REASON, "busy")
        except AGIHangup:
            log.debug("caller gone")
        except Exception:  # one broken call must not take the server down
            with self._lock:
                self.stats["errors"] += 1
            (agi.log if agi else log).exception("FastAGI call failed")
        finally:
            self._release(conn, kind, threading.current_thread())
            if agi is not None:
                agi.close()


def serve(
    handler: Handler,
    *,
    host: str = "127.0.0.1",
    port: int = 4573,
    max_calls: int = 400,
    **options: Any,
) -> None:
    """Blocking FastAGI service (for ``ivr serve``): stops cleanly on SIGINT/SIGTERM."""
    FastAGIServer(handler, host=host, port=port, max_calls=max_calls, **options).serve_forever()


def serve_settings(settings: Any, handler: Handler, **options: Any) -> None:
    """Same, configured from :class:`ivr.config.Settings`."""
    serve(
        handler,
        host=settings.agi_host,
        port=settings.agi_port,
        max_calls=settings.max_calls,
        **options,
    )
