"""What ``ivr prompts build`` prints while it works: a bar on a terminal, lines otherwise."""

from __future__ import annotations

import shutil
import sys
from typing import TextIO

# Progress lines worth keeping on a terminal (the bar stands for "built" and "unchanged").
_NOTEWORTHY = ("FAILED", "MISSING", "offline voice", "removed")


class BuildProgress:
    """``line`` and ``tick`` callbacks for :func:`ivr.prompts.build.build_prompts`.

    On a terminal one bar is redrawn in place (``[#####.....] 120/378 it/welcome``) and only
    failures, missing texts, removals and fallbacks are printed above it; elsewhere (logs, CI)
    every line is printed as it comes and there is no bar.
    """

    def __init__(self, out: TextIO | None = None, tty: bool | None = None, width: int = 30):
        self.out = out or sys.stdout
        self.tty = self.out.isatty() if tty is None else tty
        self.width = width
        self._bar = ""

    def line(self, text: str) -> None:
        if not self.tty:
            print(text, file=self.out, flush=True)
        elif any(word in text for word in _NOTEWORTHY):
            self._clear()
            print(text, file=self.out)
            self._draw()

    def tick(self, done: int, total: int, name: str) -> None:
        if not self.tty or total <= 0:
            return
        filled = self.width * done // total
        bar = f"[{'#' * filled}{'.' * (self.width - filled)}] {done}/{total} {name}"
        columns = shutil.get_terminal_size((80, 20)).columns
        self._clear()
        self._bar = bar[: max(10, columns - 1)]
        self._draw()

    def close(self) -> None:
        """End the bar's line (call once the build is over)."""
        if self.tty and self._bar:
            print(file=self.out, flush=True)
            self._bar = ""

    def _clear(self) -> None:
        if self._bar:
            self.out.write("\r" + " " * len(self._bar) + "\r")

    def _draw(self) -> None:
        if self._bar:
            self.out.write(self._bar)
            self.out.flush()
