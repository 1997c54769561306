"""Validation findings that point at a file, a line and a node, so office staff can fix them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Issue:
    file: str
    line: int
    node: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        subject = f"node '{self.node}': " if self.node else ""
        return f"{where}: {subject}{self.message}"


class DialplanError(ValueError):
    """A dialplan that cannot be run. ``issues`` says every reason found, not only the first."""

    def __init__(self, issues: list[Issue]):
        self.issues = sorted(issues)
        super().__init__("\n".join(str(i) for i in self.issues))
