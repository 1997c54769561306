"""Run the declared processes (``ivr.processes``) as children and keep them running.

Used by ``ivr up`` and by ``ivr services run`` (the container). A child that crashes (killed by a
signal, or a non-zero exit) is started again after a back-off that doubles up to 30 s; one that
exits 0 or with ``EXIT_CONFIG`` stays stopped, because it said it has nothing it can do. Each
child is its own process (a broken speech model or a stuck admin request cannot take the calls
down) and dies with us (PR_SET_PDEATHSIG), so no orphan keeps a port.

A process that declares a liveness probe (``Process.alive``: the FastAGI service) is probed every
``ALIVE_EVERY_S`` once it has answered; after ``ALIVE_MISSES`` probes in a row unanswered it is
killed, so a frozen or wedged one is started again like a crashed one (and the calls it held see
their connection close: Asterisk's dialplan falls back) instead of holding callers in silence.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import IO

from ivr.processes import EXIT_CONFIG, Process

log = logging.getLogger(__name__)

BACKOFF_FIRST_S = 1.0
BACKOFF_MAX_S = 30.0
HEALTHY_AFTER_S = 60.0  # a child that ran this long starts again with the shortest back-off
# a frozen FastAGI service is killed within about 2 s (2 x (0.25 s + the probe's 0.75 s)): its
# callers hear no media meanwhile, and a carrier may drop a call without RTP after a few seconds
# (the chaos bench's callers after 4 s). A healthy service answers the probe in milliseconds even
# under 100 calls; a false kill costs little (calls go on with the fallback service).
ALIVE_EVERY_S = 0.25  # the probe's own limit: processes.ALIVE_TIMEOUT_S
ALIVE_MISSES = 2


def die_with_parent() -> None:
    """In the child: get SIGTERM when the thread that started us dies (no orphans)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@dataclass
class _Child:
    process: Process
    popen: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    backoff: float = BACKOFF_FIRST_S
    restart_at: float | None = None
    done: bool = False  # stopped for good (exit 0 or EXIT_CONFIG)
    restarts: int = field(default=0)
    answered: bool = False  # the liveness probe answered since this process started
    misses: int = 0


class Supervisor:
    """Start ``processes``, restart crashed ones on :meth:`poll`, stop them all on :meth:`stop`.

    ``env`` is the children's whole environment (their ``NU_*`` settings); ``stdout`` where
    their standard output goes (``ivr up``: the log file, so the terminal stays quiet; their
    standard error, where a crash's traceback lands, is always ours). ``say`` reports starts,
    crashes and restarts in words.
    """

    def __init__(
        self,
        processes: Iterable[Process],
        *,
        env: dict[str, str] | None = None,
        python: str = sys.executable,
        stdout: IO[bytes] | int | None = None,
        say: Callable[[str], None] = log.info,
    ) -> None:
        self.children = [_Child(p) for p in processes]
        self.env = dict(os.environ if env is None else env)
        self.python = python
        self.stdout = stdout
        self.say = say
        self._lock = threading.Lock()
        self._stopping = threading.Event()

    def start(self) -> Supervisor:
        for child in self.children:
            self._spawn(child)
        if any(c.process.alive for c in self.children):
            threading.Thread(target=self._watch_alive, daemon=True).start()
        return self

    def _watch_alive(self) -> None:
        while not self._stopping.wait(ALIVE_EVERY_S):
            for child in self.children:
                popen = child.popen
                if child.process.alive is None or popen is None or popen.poll() is not None:
                    continue
                if child.process.alive(self.env):
                    child.answered, child.misses = True, 0
                    continue
                if not child.answered:  # still starting
                    continue
                child.misses += 1
                if child.misses >= ALIVE_MISSES and popen is child.popen and not child.done:
                    self.say(
                        f"{child.process.name}: not answering ({child.misses} probes): killed, "
                        "to be started again"
                    )
                    popen.kill()

    def pids(self) -> dict[str, int]:
        """The running children by process name."""
        return {
            c.process.name: c.popen.pid
            for c in self.children
            if c.popen is not None and c.popen.poll() is None
        }

    def _spawn(self, child: _Child) -> None:
        child.popen = subprocess.Popen(
            child.process.command(self.python),
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=self.stdout,
            start_new_session=True,  # Ctrl-C in the terminal is ours to handle, not theirs
            preexec_fn=die_with_parent,
        )
        child.started_at = time.monotonic()
        child.restart_at = None
        child.answered, child.misses = False, 0

    def poll(self) -> None:
        """Notice children that ended; start again those whose back-off is over."""
        now = time.monotonic()
        with self._lock:
            for child in self.children:
                if child.done or child.popen is None:
                    continue
                if child.restart_at is not None:
                    if now >= child.restart_at:
                        child.restarts += 1
                        self.say(f"{child.process.name}: starting again")
                        self._spawn(child)
                    continue
                code = child.popen.poll()
                if code is None:
                    continue
                self._ended(child, code, now)

    def _ended(self, child: _Child, code: int, now: float) -> None:
        name = child.process.name
        if code in (0, EXIT_CONFIG):
            child.done = True
            why = "finished" if code == 0 else "cannot run with these settings"
            self.say(f"{name}: {why} (exit {code}); not restarted")
            return
        if now - child.started_at > HEALTHY_AFTER_S:
            child.backoff = BACKOFF_FIRST_S
        how = f"signal {-code}" if code < 0 else f"exit {code}"
        self.say(f"{name}: crashed ({how}); starting again in {child.backoff:.0f} s")
        child.restart_at = now + child.backoff
        child.backoff = min(BACKOFF_MAX_S, child.backoff * 2)

    def run(self, stop: threading.Event, tick: float = 0.5) -> None:
        """Poll until ``stop`` is set, then stop the children."""
        try:
            while not stop.wait(tick):
                self.poll()
        finally:
            self.stop()

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM every child, SIGKILL what is still there after ``timeout``."""
        self._stopping.set()
        with self._lock:
            running = [c.popen for c in self.children if c.popen and c.popen.poll() is None]
            for child in self.children:
                child.done = True
            for popen in running:
                popen.terminate()
            deadline = time.monotonic() + timeout
            for popen in running:
                try:
                    popen.wait(max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    popen.kill()
                    popen.wait(5)
