"""``CityAGI``: pyst2's ``AGI`` made safe for a threaded FastAGI service on Python 3.

pyst2 0.5.1 is the de-facto AGI library but is wrong on the wire in ways that matter to an IVR
(see docs/agi-protocol.md, section 10, pyst2 defects). Each fix here is pinned by a test in
``tests/test_agi_adapter.py`` that also shows the raw pyst2 behaviour:

* no ``signal.signal`` in ``__init__`` (it raises outside the main thread); opt-in for local AGI;
* binary file objects, utf-8 encoded here (sockets give bytes);
* the unsolicited ``HANGUP`` line is skipped and remembered instead of eating the next reply;
* EOF is a hangup, 511 is a dead channel (both :class:`AGIHangup`), GOSUB's ``100`` line skipped;
* ``result=-1`` is told apart: hangup vs missing prompt (probed with CHANNEL STATUS);
* arguments quoted and escaped the way Asterisk's parser reads them;
* GET DATA's ``(timeout)`` flag, unset vs empty variables, RECORD FILE outcomes, the inverted
  DATABASE DELTREE result are all reported;
* wire chatter goes to :mod:`logging` (with the call id, numbers masked), never to stderr;
* after a hangup the commands Asterisk still accepts on a dead channel can be sent for cleanup.
"""

from __future__ import annotations

import contextlib
import logging
import re
import signal
import socket
import threading
from dataclasses import dataclass, field
from typing import BinaryIO

from asterisk.agi import (
    AGI,
    AGIAppError,
    AGIDBError,
    AGIError,
    AGIHangup,
    AGIInvalidCommand,
    AGIResultHangup,
    AGISIGHUPHangup,
    AGISIGPIPEHangup,
    AGIUnknownError,
    AGIUsageError,
)

from ivr.logs import CallLogger, mask_number

__all__ = [
    "AGIAppError",
    "AGIDBError",
    "AGIDeadChannel",
    "AGIEOFHangup",
    "AGIError",
    "AGIHangup",
    "AGIInvalidCommand",
    "AGIUsageError",
    "CityAGI",
    "DEAD_OK",
    "PlaybackFailed",
    "Recording",
    "Reply",
    "parse_reply",
]

DTMF = "0123456789*#"
MAX_LINE = 8191  # AGI_BUF_LEN - 1: Asterisk truncates longer command lines
MAX_REPLY = 65536  # a reply line longer than this is garbage, not Asterisk

# Commands Asterisk still runs once the channel is dead (docs/agi-protocol.md, section 8).
DEAD_OK = frozenset(
    {
        "ASYNCAGI BREAK",
        "DATABASE DEL",
        "DATABASE DELTREE",
        "DATABASE GET",
        "DATABASE PUT",
        "EXEC",
        "GET FULL VARIABLE",
        "GET VARIABLE",
        "NOOP",
        "SET VARIABLE",
        "VERBOSE",
        "SPEECH DESTROY",
        "SPEECH UNLOAD GRAMMAR",
    }
)

_CODE = re.compile(r"(\d{3})([ -]?)(.*)\Z", re.S)


class AGIDeadChannel(AGIHangup):
    """Asterisk answered 511: the channel is gone and this command is not allowed any more."""


class AGIEOFHangup(AGIHangup):
    """Asterisk closed the connection (or it broke/timed out): nothing more can be sent."""


class PlaybackFailed(AGIAppError):
    """A prompt could not be played although the caller is still there (missing/broken file)."""

    def __init__(self, path: str, line: str = "") -> None:
        super().__init__(f"cannot play {path!r}: {line}")
        self.path = path


@dataclass(frozen=True)
class Reply:
    """One parsed ``200 result=...`` line.

    ``data`` is the parenthesised part (``None`` when absent, ``""`` for ``()``), ``fields`` the
    ``key=value`` words after it (``endpos``), ``text`` any other trailing words.
    """

    code: int
    result: str
    data: str | None = None
    fields: dict[str, str] = field(default_factory=dict)
    text: str = ""
    line: str = ""

    def __getitem__(self, key: str) -> tuple[str, str]:
        """pyst2 compatibility: ``reply['result'] == (value, data)`` for inherited methods."""
        if key == "result":
            return self.result, self.data or ""
        return self.fields[key], ""

    def endpos(self) -> int:
        try:
            return int(self.fields.get("endpos", "0"))
        except ValueError:
            return 0


@dataclass(frozen=True)
class Recording:
    """Outcome of RECORD FILE: ``kind`` is dtmf, timeout, hangup, randomerror, waitfor or error.

    ``digit`` is the key that stopped it (``dtmf``, or during the beep for ``randomerror``);
    ``endpos`` is in samples (``None`` when Asterisk gave none).
    """

    kind: str
    digit: str | None
    endpos: int | None


def parse_reply(line: str) -> Reply:
    """Parse a reply line; raise :class:`AGIUnknownError` for anything that isn't one."""
    m = _CODE.match(line)
    if not m:
        raise AGIUnknownError(0, f"unparsable reply line {line!r}")
    code, rest = int(m.group(1)), m.group(3)
    if not rest.startswith("result="):
        return Reply(code, "", text=rest, line=line)
    value, _, tail = rest[len("result=") :].partition(" ")
    data: str | None = None
    if tail.startswith("("):
        if tail.endswith(")"):  # GET VARIABLE values are raw: take everything to the last ')'
            data, tail = tail[1:-1], ""
        else:
            close = tail.find(") ")
            if close < 0:
                data, tail = tail[1:], ""
            else:
                data, tail = tail[1:close], tail[close + 2 :]
    fields: dict[str, str] = {}
    words: list[str] = []
    for word in tail.split():
        key, eq, val = word.partition("=")
        if eq and key.isidentifier():
            fields[key] = val
        else:
            words.append(word)
    return Reply(code, value, data, fields, " ".join(words), line)


def _verb(command: str) -> str:
    return " ".join(command.split()).upper()


class _NoStderr:
    """pyst2 methods we inherit may write to ``self.stderr``; send that to the debug log."""

    def __init__(self, log: CallLogger) -> None:
        self._log = log

    def write(self, text: str) -> int:
        if text.strip():
            self._log.debug("pyst2: %s", text.strip())
        return len(text)

    def flush(self) -> None:
        pass


class CityAGI(AGI):
    """An AGI session over binary file objects (a socket's, or stdin/stdout's buffers).

    Construction reads the environment block. ``hung_up`` becomes true as soon as we know the
    caller is gone (HANGUP line, 511, EOF, SIGHUP, our own HANGUP); from then on only the commands
    Asterisk accepts on a dead channel are sent, the others raise :class:`AGIHangup` at once.
    """

    def __init__(
        self,
        rfile: BinaryIO,
        wfile: BinaryIO,
        *,
        handle_sighup: bool = False,
        logger: logging.Logger | None = None,
    ) -> None:
        # AGI.__init__ is deliberately not called: it installs a signal handler (ValueError
        # outside the main thread) and writes debug chatter to stderr.
        self.log = CallLogger(logger or logging.getLogger("ivr.agi"))
        self.stdin = rfile
        self.stdout = wfile
        self.stderr = _NoStderr(self.log)
        self.env: dict[str, str] = {}
        self.hung_up = False
        self._got_sighup = False
        self._lost = False  # connection unusable: nothing can be sent or read
        if handle_sighup:
            self.install_sighup_handler()
        self._get_agi_env()

    @classmethod
    def from_socket(cls, sock: socket.socket, **kwargs: object) -> CityAGI:
        """Build over a connected socket (FastAGI); the socket stays owned by the caller."""
        rfile = sock.makefile("rb")
        wfile = sock.makefile("wb")
        try:
            return cls(rfile, wfile, **kwargs)  # type: ignore[arg-type]
        except BaseException:
            rfile.close()
            wfile.close()
            raise

    # -- session facts ---------------------------------------------------------------------

    @property
    def uniqueid(self) -> str:
        return self.env.get("agi_uniqueid", "-")

    @property
    def network_script(self) -> str:
        return self.env.get("agi_network_script", "")

    @property
    def args(self) -> list[str]:
        out = []
        while f"agi_arg_{len(out) + 1}" in self.env:
            out.append(self.env[f"agi_arg_{len(out) + 1}"])
        return out

    def install_sighup_handler(self) -> bool:
        """Local AGI only: Asterisk signals a hangup with SIGHUP. Main thread only, else no-op."""
        if threading.current_thread() is not threading.main_thread():
            self.log.warning("SIGHUP handler not installed: not in the main thread")
            return False
        signal.signal(signal.SIGHUP, self._handle_sighup)
        return True

    def _handle_sighup(self, signum: int, frame: object) -> None:
        self._got_sighup = True
        self.hung_up = True

    def test_hangup(self) -> None:
        if self.hung_up:
            raise AGISIGHUPHangup("the caller has hung up")

    def close(self) -> None:
        for f in (self.stdin, self.stdout):
            with contextlib.suppress(OSError, ValueError):
                f.close()
        self._lost = True

    # -- wire ------------------------------------------------------------------------------

    def _mark_hangup(self, why: str) -> None:
        if not self.hung_up:
            self.log.info("channel hung up (%s)", why)
        self.hung_up = True

    def _read_line(self) -> str | None:
        """One line without its ``\\n``; ``None`` at EOF, on a reset or a read timeout."""
        if self._lost:
            return None
        try:
            raw = self.stdin.readline(MAX_REPLY)
        except (OSError, ValueError) as err:
            self.log.info("connection lost while reading: %s", type(err).__name__)
            raw = b""
        if not raw or not raw.endswith(b"\n"):
            self._lost = True
            return None
        return raw[:-1].decode("utf-8", "replace").rstrip("\r")

    def _get_agi_env(self) -> None:
        while True:
            line = self._read_line()
            if line is None:
                self._mark_hangup("EOF in environment")
                raise AGIEOFHangup("connection closed before the end of the AGI environment")
            if line == "":
                break
            key, sep, value = line.partition(":")
            if sep:
                self.env[key.strip()] = value[1:] if value.startswith(" ") else value
        self.log.bind(self.uniqueid)
        self.log.debug(
            "AGI start: request=%s channel=%s callerid=%s",
            self.env.get("agi_request", ""),
            self.env.get("agi_channel", ""),
            mask_number(self.env.get("agi_callerid", "")),
        )

    def _quote(self, value: object) -> str:
        """Quote for Asterisk's parser: ``\\`` and ``"`` escaped; CR/LF can't be sent at all."""
        text = str(value).replace("\r", " ").replace("\n", " ")
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'

    def send_command(self, command: str, *args: object) -> None:
        line = " ".join([command.strip(), *map(str, args)]).strip()
        if "\n" in line or "\r" in line:
            raise ValueError("AGI command contains a line break")
        data = line.encode("utf-8") + b"\n"
        if len(data) > MAX_LINE:
            raise ValueError(f"AGI command longer than {MAX_LINE} bytes")
        shown = "SET CALLERID ***" if _verb(command) == "SET CALLERID" else line
        self.log.debug("-> %s", shown)
        try:
            self.stdout.write(data)
            self.stdout.flush()
        except (OSError, ValueError) as err:
            self._lost = True
            self._mark_hangup("write failed")
            raise AGISIGPIPEHangup(f"connection lost while writing: {type(err).__name__}") from err

    def get_result(self, stdin: object = None) -> Reply:  # type: ignore[override]
        """Read the reply to the command just sent, skipping HANGUP and ``100`` lines."""
        while True:
            line = self._read_line()
            if line is None:
                self._mark_hangup("EOF")
                raise AGIEOFHangup("Asterisk closed the connection")
            if line == "HANGUP":
                self._mark_hangup("HANGUP line")
                continue
            if line == "":
                continue
            self.log.debug("<- %s", line)
            reply = parse_reply(line)
            if reply.code == 100:  # GOSUB's "100 result=0 Trying..."; the real reply follows
                continue
            if reply.code == 200:
                return reply
            if reply.code == 510:
                raise AGIInvalidCommand(line)
            if reply.code == 511:
                self._mark_hangup("511")
                raise AGIDeadChannel(line)
            if reply.code == 520:
                raise AGIUsageError(self._read_usage(line))
            raise AGIUnknownError(reply.code, line)

    def _read_usage(self, first: str) -> str:
        lines = [first]
        if first.startswith("520-"):
            while True:
                line = self._read_line()
                if line is None:
                    break
                lines.append(line)
                if line.startswith("520 "):
                    break
        return "\n".join(lines)

    def execute(self, command: str, *args: object) -> Reply:  # type: ignore[override]
        """Send one command and return its reply; never raises just because ``result=-1``."""
        if self._lost:
            self._mark_hangup("connection closed")
            raise AGIEOFHangup("connection to Asterisk is closed")
        if self.hung_up and _verb(command) not in DEAD_OK:
            raise AGISIGHUPHangup(f"{_verb(command)} not possible: the caller has hung up")
        self.send_command(command, *args)
        return self.get_result()

    def _failed(self, what: str, reply: Reply) -> AGIError:
        """Decide what a ``result=-1`` meant: a hangup, or a failure on a live channel."""
        if not self.hung_up:
            with contextlib.suppress(AGIHangup):
                self.execute("CHANNEL STATUS")
        if self.hung_up:
            return AGIResultHangup(f"caller hung up during {what}")
        return AGIAppError(f"{what} failed: {reply.line}")

    def _digit(self, reply: Reply) -> str | None:
        if reply.result in ("", "0"):
            return None
        try:
            return chr(int(reply.result))
        except ValueError as err:
            raise AGIError(f"not a digit code: {reply.line!r}") from err

    # -- commands an IVR uses --------------------------------------------------------------

    def answer(self) -> None:
        reply = self.execute("ANSWER")
        if reply.result == "-1":
            raise self._failed("ANSWER", reply)

    def hangup(self, channel: str = "") -> None:
        """Hang up our own channel (no-op when the caller already did)."""
        if self.hung_up:
            return
        if channel:
            self.execute("HANGUP", self._quote(channel))
            return
        self.execute("HANGUP")
        self._mark_hangup("HANGUP command")

    def channel_status(self, channel: str = "") -> int:
        """State number (4 ringing before ANSWER, 6 up); -1 if the named channel doesn't exist."""
        reply = self.execute("CHANNEL STATUS", *([self._quote(channel)] if channel else []))
        return int(reply.result)

    def stream_file(  # type: ignore[override]
        self, path: str, escape_digits: str = "", sample_offset: int | None = None
    ) -> tuple[str | None, int]:
        """Play ``path`` (no extension). Returns (escape digit pressed or None, endpos).

        Raises :class:`PlaybackFailed` when the file can't be played on a live channel and
        :class:`AGIHangup` when the caller hung up.
        """
        args = [self._quote(path), self._quote(escape_digits)]
        if sample_offset is not None:
            args.append(str(int(sample_offset)))
        reply = self.execute("STREAM FILE", *args)
        if reply.result == "-1":
            err = self._failed("STREAM FILE", reply)
            raise err if isinstance(err, AGIHangup) else PlaybackFailed(path, reply.line)
        return self._digit(reply), reply.endpos()

    def get_data(  # type: ignore[override]
        self, path: str, timeout_ms: int = 5000, max_digits: int = 1
    ) -> tuple[str, bool]:
        """Play ``path`` ("" for none) and collect keys. Returns (digits, timed_out).

        ``("", False)`` means ``#`` was pressed first; ``("", True)`` that nothing came.
        """
        reply = self.execute("GET DATA", self._quote(path), int(timeout_ms), int(max_digits))
        if reply.result == "-1":
            err = self._failed("GET DATA", reply)
            raise err if isinstance(err, AGIHangup) else PlaybackFailed(path, reply.line)
        return reply.result, reply.data == "timeout"

    def wait_for_digit(self, timeout_ms: int = 5000) -> str | None:  # type: ignore[override]
        reply = self.execute("WAIT FOR DIGIT", int(timeout_ms))
        if reply.result == "-1":
            raise self._failed("WAIT FOR DIGIT", reply)
        return self._digit(reply)

    def _say(self, command: str, value: str, escape_digits: str) -> str | None:
        reply = self.execute(command, self._quote(value), self._quote(escape_digits))
        if reply.result == "-1":
            err = self._failed(command, reply)
            raise err if isinstance(err, AGIHangup) else PlaybackFailed(command, reply.line)
        return self._digit(reply)

    def say_digits(self, digits: str, escape_digits: str = "") -> str | None:  # type: ignore[override]
        if not str(digits).isdigit():
            raise ValueError("SAY DIGITS takes decimal digits only")
        return self._say("SAY DIGITS", str(digits), escape_digits)

    def say_number(self, number: int, escape_digits: str = "") -> str | None:  # type: ignore[override]
        return self._say("SAY NUMBER", str(int(number)), escape_digits)

    def say_date(self, epoch: int, escape_digits: str = "") -> str | None:  # type: ignore[override]
        return self._say("SAY DATE", str(int(epoch)), escape_digits)

    def say_time(self, epoch: int, escape_digits: str = "") -> str | None:  # type: ignore[override]
        return self._say("SAY TIME", str(int(epoch)), escape_digits)

    def say_datetime(  # type: ignore[override]
        self, epoch: int, escape_digits: str = "", fmt: str = "", zone: str = ""
    ) -> str | None:
        """SAY DATETIME; unlike pyst2, an empty format with a zone still sends both in place."""
        args = [self._quote(str(int(epoch))), self._quote(escape_digits)]
        if fmt or zone:
            args.append(self._quote(fmt))
        if zone:
            args.append(self._quote(zone))
        reply = self.execute("SAY DATETIME", *args)
        if reply.result == "-1":
            err = self._failed("SAY DATETIME", reply)
            raise err if isinstance(err, AGIHangup) else PlaybackFailed("SAY DATETIME", reply.line)
        return self._digit(reply)

    def set_variable(self, name: str, value: object) -> None:
        self.execute("SET VARIABLE", self._quote(name), self._quote(value))

    def get_variable(self, name: str) -> str | None:  # type: ignore[override]
        """The value, ``""`` when set to empty, ``None`` when unset."""
        reply = self.execute("GET VARIABLE", self._quote(name))
        return (reply.data or "") if reply.result == "1" else None

    def exec_app(self, application: str, *args: object) -> int:
        """Run a dialplan application; its arguments are comma-joined into one quoted word."""
        words = [application] + ([self._quote(",".join(map(str, args)))] if args else [])
        reply = self.execute("EXEC", *words)
        if reply.result == "-2":
            raise AGIAppError(f"no such application: {application}")
        return int(reply.result)

    def verbose(self, message: str, level: int = 1) -> None:
        self.execute("VERBOSE", self._quote(message), int(level))

    def noop(self) -> None:
        self.execute("NOOP")

    def set_callerid(self, value: str) -> None:
        self.execute("SET CALLERID", self._quote(value))

    def gosub(self, context: str, extension: str, priority: str | int, *args: object) -> str:
        """Run a dialplan subroutine; returns Asterisk's text (``Gosub complete``)."""
        words = [self._quote(context), self._quote(extension), self._quote(priority)]
        if args:
            words.append(self._quote(",".join(map(str, args))))
        reply = self.execute("GOSUB", *words)
        if reply.result != "0":
            raise AGIAppError(reply.line)
        return reply.text

    def record_file(  # type: ignore[override]
        self,
        path: str,
        fmt: str = "wav",
        escape_digits: str = "#",
        timeout_ms: int = -1,
        *,
        beep: bool = True,
        silence_s: int | None = None,
        offset: int | None = None,
    ) -> Recording:
        args = [self._quote(path), self._quote(fmt), self._quote(escape_digits), int(timeout_ms)]
        if offset is not None:
            args.append(int(offset))
        if beep:
            args.append("BEEP")
        if silence_s:
            args.append(f"s={int(silence_s)}")
        reply = self.execute("RECORD FILE", *args)
        endpos = int(reply.fields["endpos"]) if "endpos" in reply.fields else None
        kind = reply.data or ("error" if reply.result == "-1" else "timeout")
        if kind == "writefile":
            raise AGIAppError(f"cannot write recording {path!r}")
        if kind == "hangup":
            self._mark_hangup("during RECORD FILE")
        digit = None
        if kind in ("dtmf", "randomerror") and reply.result.isdigit() and reply.result != "0":
            digit = chr(int(reply.result))
        return Recording(kind, digit, endpos)

    def database_get(self, family: str, key: str) -> str | None:  # type: ignore[override]
        reply = self.execute("DATABASE GET", self._quote(family), self._quote(key))
        return (reply.data or "") if reply.result == "1" else None

    def database_put(self, family: str, key: str, value: object) -> bool:  # type: ignore[override]
        reply = self.execute(
            "DATABASE PUT", self._quote(family), self._quote(key), self._quote(value)
        )
        return reply.result == "1"

    def database_del(self, family: str, key: str) -> bool:  # type: ignore[override]
        reply = self.execute("DATABASE DEL", self._quote(family), self._quote(key))
        return reply.result == "1"

    def database_deltree(self, family: str, keytree: str = "") -> bool:  # type: ignore[override]
        """True when something was deleted. Asterisk answers 0 for that (inverted since 2012)."""
        args = [self._quote(family)] + ([self._quote(keytree)] if keytree else [])
        reply = self.execute("DATABASE DELTREE", *args)
        return reply.result == "0"
