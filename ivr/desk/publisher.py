"""The FastAGI process's side of the desk: when the IVR hands a caller to a queue, the call's
context (:func:`ivr.desk.context.build_context`) goes to Redis for the operator who answers.

Written by one background thread: a Redis that is slow or down never delays the caller on their
way to the queue (the context is then missing on the desk, nothing else). Nothing about the
caller is logged, only the error's type.
"""

from __future__ import annotations

import logging
import queue as queue_mod
import threading
from collections.abc import Callable
from typing import Any

from ivr.desk.store import CallContexts

log = logging.getLogger(__name__)


class ContextPublisher:
    """``submit(call_id, build)``: ``build()`` (the context) runs and is stored off the call's
    thread; never raises."""

    def __init__(self, contexts: CallContexts, max_pending: int = 1000) -> None:
        self.contexts = contexts
        self.pending: queue_mod.Queue[tuple[str, Callable[[], dict[str, Any]]]] = queue_mod.Queue(
            max_pending
        )
        self.dropped = 0
        threading.Thread(target=self._run, name="desk-contexts", daemon=True).start()

    def submit(self, call_id: str, build: Callable[[], dict[str, Any]]) -> None:
        try:
            self.pending.put_nowait((call_id, build))
        except queue_mod.Full:
            self.dropped += 1

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait for what was submitted (tests, shutdown)."""
        import time

        deadline = time.monotonic() + timeout
        while self.pending.unfinished_tasks:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def _run(self) -> None:
        while True:
            call_id, build = self.pending.get()
            try:
                self.contexts.put(call_id, build())
            except Exception as exc:  # the desk goes without; the call is not touched
                log.warning("call context not stored: %s", type(exc).__name__)
            finally:
                self.pending.task_done()
