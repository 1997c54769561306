"""The dialplan version a new call starts on.

Each call takes the current version once and keeps it to the end (models are immutable), so
publishing a new file never changes a call in progress. A file that stops validating is refused
and the last good version stays live.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from ivr.flow.issues import DialplanError
from ivr.flow.loader import load_dialplan
from ivr.flow.model import Dialplan

log = logging.getLogger(__name__)


class DialplanSource:
    """Loads ``path`` and reloads it when its modification time changes (checked per call)."""

    def __init__(self, path: str | Path, prompts_dir: str | Path | None = None):
        self.path = Path(path)
        self.prompts_dir = prompts_dir
        self._lock = threading.Lock()
        self._stamp = self._mtime()
        self._current = load_dialplan(self.path, prompts_dir)  # refuse to start on a bad file

    def _mtime(self) -> int:
        try:
            return self.path.stat().st_mtime_ns
        except OSError:
            return -1

    def current(self) -> Dialplan:
        stamp = self._mtime()
        if stamp == self._stamp:
            return self._current
        with self._lock:
            if stamp != self._stamp:
                self._stamp = stamp
                try:
                    self._current = load_dialplan(self.path, self.prompts_dir)
                    log.info("dialplan reloaded from %s", self.path)
                except (DialplanError, OSError) as err:
                    log.error("dialplan %s refused, keeping the last good one:\n%s", self.path, err)
        return self._current
