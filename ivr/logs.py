"""Call-aware logging that never writes a caller's number in clear.

Every line about a call carries Asterisk's ``agi_uniqueid`` so one call can be followed across
the AGI wire log, the runner and the KPIs; phone numbers (and any long run of digits, which may be
a number the caller typed) are masked before they reach a handler. :class:`RedactingFilter` does
the same to any record of any logger, on the handlers it is installed on.
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


class RedactingFilter(logging.Filter):
    """The last line of defence: :func:`redact` applied to every record's final text.

    Install it on the process's *handlers* (a logger's own filters never see the records of its
    child loggers): then a ``log.info("%s", number)`` anywhere, a library's debug line or an
    exception's message cannot write a number. The message is formatted here with its args and
    masked; the record then carries the masked text and no args, so every handler after this one
    gets the same safe record. A traceback (``exc_info``) and ``stack_info`` are formatted and
    masked too. Records are never dropped.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed call must still be logged, masked
            message = f"{record.msg} {record.args!r}"
        record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def configure(settings: Any, *, verbose: bool = False) -> None:
    """Logging for one ``ivr`` process: standard error at ``NU_CONSOLE_LOG_LEVEL`` and, when
    ``NU_LOG_FILE`` is set, that file (appended, so ``ivr.logrotate`` can copy and truncate it
    under every process at once). ``verbose`` adds debug lines to both. Every handler masks
    long digit runs (:class:`RedactingFilter`)."""
    from pathlib import Path

    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_nu_configured", False)]:
        root.removeHandler(old)
        old.close()
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    console = logging.StreamHandler()
    console.setLevel(logging.DEBUG if verbose else settings.console_log_level)
    handlers: list[logging.Handler] = [console]
    if settings.log_file:
        Path(settings.log_file).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(settings.log_file, encoding="utf-8"))
    formatter = logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    for handler in handlers:
        handler.setFormatter(formatter)
        handler.addFilter(RedactingFilter())  # no number or typed digits, whoever logs them
        handler._nu_configured = True  # type: ignore[attr-defined]  # ours to replace
        root.addHandler(handler)
