"""Call-aware logging that never writes a caller's number in clear.

Every line about a call carries Asterisk's ``agi_uniqueid`` so one call can be followed across
the AGI wire log, the runner and the KPIs; phone numbers (and any long run of digits, which may be
a number the caller typed) are masked before they reach a handler.
"""

from __future__ import annotations

import logging
import re
from collections.abc import MutableMapping
from typing import Any

_LONG_DIGITS = re.compile(r"\+?\d(?: ?\d){5,}")


def mask_number(number: str | None) -> str:
    """Keep only the last two digits: enough to tell two calls apart in a log, not to call back.

    ``unknown``/empty (what Asterisk sends when there is no caller id) stay as they are.
    """
    if not number or number.strip().lower() in {"unknown", "anonymous"}:
        return number or ""
    digits = [c for c in number if c.isdigit()]
    if len(digits) <= 2:
        return "*" * len(number)
    return "*" * (len(digits) - 2) + "".join(digits[-2:])


def redact(text: str) -> str:
    """Mask every run of six or more digits (phone numbers, codes typed by the caller)."""
    return _LONG_DIGITS.sub(lambda m: mask_number(m.group(0)), text)


class CallLogger(logging.LoggerAdapter):
    """Prefixes each message with ``[<uniqueid>]`` and redacts long digit runs in it."""

    def __init__(self, logger: logging.Logger, uniqueid: str = "-") -> None:
        super().__init__(logger, {"uniqueid": uniqueid})

    @property
    def uniqueid(self) -> str:
        return str(self.extra["uniqueid"]) if self.extra else "-"

    def bind(self, uniqueid: str) -> None:
        """Attach the call's id once Asterisk has told us (after the environment block)."""
        self.extra = {"uniqueid": uniqueid}

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, Any]:
        kwargs.setdefault("extra", {}).update(self.extra or {})
        return f"[{self.uniqueid}] {redact(str(msg))}", kwargs

    def log(self, level: int, msg: Any, *args: Any, **kwargs: Any) -> None:
        """Args are formatted here so that digits inside them are redacted too."""
        if not self.isEnabledFor(level):
            return
        if args:
            msg = str(msg) % args
        msg, kwargs = self.process(msg, kwargs)
        self.logger.log(level, msg, **kwargs)


def call_logger(uniqueid: str = "-", name: str = "ivr.call") -> CallLogger:
    return CallLogger(logging.getLogger(name), uniqueid)
