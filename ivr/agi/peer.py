"""The Asterisk side of AGI, in Python, written to docs/agi-protocol.md (sections 3-8).

One implementation serves the unit tests, the console phone and the load benchmark: it sends the
start-up block, answers each command with the exact bytes Asterisk would (including the 510/511/520
texts and their double spaces), and reproduces the hangup sequence: the in-flight command's
``-1``/``(hangup)``, the ``HANGUP`` line (or SIGHUP for a local script), dead mode with 511, and the
final ``HANGUP`` line before closing, honouring AGISIGHUP and AGIEXITONHANGUP.

What the caller does is delegated to a :class:`Caller` (scripted or a person at a console); what
happened is kept in a :class:`CallRecord` (prompts played, channel variables set, latencies).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Protocol

from ivr.agi.adapter import DEAD_OK, DTMF

HANG_UP = "h"  # what a Caller returns to hang up
MAX_COMMAND = 8191

_uniq = itertools.count(1)

ENV_KEYS = (
    "agi_request",
    "agi_channel",
    "agi_language",
    "agi_type",
    "agi_uniqueid",
    "agi_version",
    "agi_callerid",
    "agi_calleridname",
    "agi_callingpres",
    "agi_callingani2",
    "agi_callington",
    "agi_callingtns",
    "agi_dnid",
    "agi_rdnis",
    "agi_context",
    "agi_extension",
    "agi_priority",
    "agi_enhanced",
    "agi_accountcode",
    "agi_threadid",
)

USAGE = {
    "ANSWER": "Usage: ANSWER",
    "HANGUP": "Usage: HANGUP [<channelname>]",
    "CHANNEL STATUS": "Usage: CHANNEL STATUS [<channelname>]",
    "STREAM FILE": "Usage: STREAM FILE <filename> <escape_digits> [<sample offset>]",
    "GET DATA": "Usage: GET DATA <file to be streamed> [timeout] [max digits]",
    "GET OPTION": "Usage: GET OPTION <filename> <escape_digits> [timeout]",
    "WAIT FOR DIGIT": "Usage: WAIT FOR DIGIT <timeout>",
    "SAY DIGITS": "Usage: SAY DIGITS <number> <escape digits>",
    "SAY NUMBER": "Usage: SAY NUMBER <number> <escape digits> [gender]",
    "SAY ALPHA": "Usage: SAY ALPHA <number> <escape digits> [case]",
    "SAY PHONETIC": "Usage: SAY PHONETIC <string> <escape digits>",
    "SAY DATE": "Usage: SAY DATE <date> <escape digits>",
    "SAY TIME": "Usage: SAY TIME <time> <escape digits>",
    "SAY DATETIME": "Usage: SAY DATETIME <time> <escape digits> [format] [timezone]",
    "SET VARIABLE": "Usage: SET VARIABLE <variablename> <value>",
    "GET VARIABLE": "Usage: GET VARIABLE <variablename>",
    "GET FULL VARIABLE": "Usage: GET FULL VARIABLE <variablename> [<channel name>]",
    "EXEC": "Usage: EXEC <application> <options>",
    "VERBOSE": "Usage: VERBOSE <message> <level>",
    "NOOP": "Usage: NOOP",
    "DATABASE GET": "Usage: DATABASE GET <family> <key>",
    "DATABASE PUT": "Usage: DATABASE PUT <family> <key> <value>",
    "DATABASE DEL": "Usage: DATABASE DEL <family> <key>",
    "DATABASE DELTREE": "Usage: DATABASE DELTREE <family> [keytree]",
    "SET CALLERID": "Usage: SET CALLERID <number>",
    "GOSUB": "Usage: GOSUB <context> <extension> <priority> [<optional-argument>]",
    "RECORD FILE": "Usage: RECORD FILE <filename> <format> <escape digits> <timeout> "
    "[<offset samples>] [<BEEP>] [<s=silence>]",
    "SET CONTEXT": "Usage: SET CONTEXT <desired context>",
    "SET EXTENSION": "Usage: SET EXTENSION <new extension>",
    "SET PRIORITY": "Usage: SET PRIORITY <priority>",
    "SET AUTOHANGUP": "Usage: SET AUTOHANGUP <time>",
    "SET MUSIC": "Usage: SET MUSIC <on|off> <class>",
    "ASYNCAGI BREAK": "Usage: ASYNCAGI BREAK",
}
COMMANDS = tuple(sorted((tuple(name.split()) for name in USAGE), key=len, reverse=True))

E510 = "510 Invalid or unknown command"
E511 = "511 Command Not Permitted on a dead channel or intercept routine"
_INT = re.compile(r"\s*[-+]?\d+")


class _Usage(Exception):
    pass


def parse_args(line: str) -> list[str]:
    """Split a command line into words exactly like res_agi's ``parse_args``."""
    words: list[str] = []
    cur: list[str] | None = None
    quoted = escaped = False
    for ch in line:
        if ch == '"' and not escaped:
            quoted = not quoted
            if quoted and cur is None:
                cur = []
                words.append("")
            continue
        if ch in " \t" and not (quoted or escaped):
            if cur is not None:
                words[-1] = "".join(cur)
                cur = None
            continue
        if ch == "\\" and not escaped:
            escaped = True
            continue
        if cur is None:
            cur = []
            words.append("")
        cur.append(ch)
        escaped = False
    if cur is not None:
        words[-1] = "".join(cur)
    return words[:127]


def _atoi(text: str) -> int:
    m = _INT.match(text)
    return int(m.group(0)) if m else 0


class Caller(Protocol):
    """Someone on the phone. Return :data:`HANG_UP` from either method to hang up."""

    def during(self, prompt: str, escape_digits: str) -> str:
        """A prompt starts. Return a key to press while it plays, or "" to listen to the end."""
        ...

    def collect(self, prompt: str, max_digits: int, timeout_ms: int) -> str:
        """Keys typed after a prompt (may end with ``#``); "" = silence until the timeout."""
        ...


class ScriptedCaller:
    """Answers from a list, one per input point (GET DATA, WAIT FOR DIGIT, GET OPTION...).

    ``"1"``/``"123#"`` typed keys, ``""`` silence, ``"#"`` hash first, ``"h"`` hang up, ``"^2"``
    press 2 during the next prompt that accepts keys (barge-in; further keys are typed ahead).
    ``hangup_during`` hangs up while a prompt whose path contains it plays. When answers run
    out the caller hangs up (``when_done=""`` keeps silent instead).
    """

    def __init__(
        self,
        answers: Iterable[str] = (),
        *,
        hangup_during: str | None = None,
        when_done: str = HANG_UP,
    ) -> None:
        self.answers = deque(answers)
        self.hangup_during = hangup_during
        self.when_done = when_done
        self.typeahead = ""
        self.heard: list[str] = []

    def during(self, prompt: str, escape_digits: str) -> str:
        self.heard.append(prompt)
        if self.hangup_during and self.hangup_during in prompt:
            return HANG_UP
        if not escape_digits:
            return ""
        if self.typeahead:
            key, self.typeahead = self.typeahead[0], self.typeahead[1:]
            return key
        if self.answers and self.answers[0].startswith("^"):
            keys = self.answers.popleft()[1:]
            if keys == HANG_UP:
                return HANG_UP
            key, self.typeahead = keys[:1], keys[1:]
            return key
        return ""

    def collect(self, prompt: str, max_digits: int, timeout_ms: int) -> str:
        if self.typeahead:
            keys, self.typeahead = self.typeahead, ""
            return keys
        if not self.answers:
            return self.when_done
        return self.answers.popleft().lstrip("^")


@dataclass
class CallRecord:
    """What the peer saw during one AGI session."""

    env: dict[str, str] = field(default_factory=dict)
    commands: list[str] = field(default_factory=list)
    played: list[str] = field(default_factory=list)
    variables: dict[str, str] = field(default_factory=dict)
    verbose: list[str] = field(default_factory=list)
    recordings: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)  # reply sent -> next command received
    status: str = "SUCCESS"  # AGISTATUS
    answered: bool = False
    hung_up: str | None = None  # "caller" or "script"
    closed_by_script: bool = False
    hangup_lines: int = 0
    error: str | None = None

    @property
    def language(self) -> str:
        return self.variables.get("CHANNEL(language)", self.env.get("agi_language", ""))


class AsteriskPeer:
    """Plays Asterisk for one AGI session over binary file objects or a TCP connection.

    ``hangup_at=N`` makes the caller hang up during the N-th command (a playback then returns its
    hangup reply; any other command is answered, then the hangup is noticed). ``missing`` lists
    prompt paths (or path endings) that don't exist. ``sighup`` replaces the HANGUP lines by a
    callback (local AGI: send the script a SIGHUP). ``media_seconds`` is how long each prompt and
    each wait for keys lasts (0: instant), so that load tests keep calls alive like real ones.
    """

    def __init__(
        self,
        caller: Caller | None = None,
        *,
        env: dict[str, str] | None = None,
        args: Iterable[str] = (),
        network: bool = True,
        network_script: str = "",
        agisighup: bool = True,
        agiexitonhangup: bool = False,
        dead_at_start: bool = False,
        hangup_at: int | None = None,
        missing: Iterable[str] = (),
        database: dict[tuple[str, str], str] | None = None,
        prompt_samples: int = 16000,
        sighup: Callable[[], None] | None = None,
        media_seconds: float = 0.0,
    ) -> None:
        self.caller = caller if caller is not None else ScriptedCaller()
        self.network = network
        self.network_script = network_script
        self.args = list(args)
        self.agisighup = agisighup
        self.agiexitonhangup = agiexitonhangup
        self.hangup_at = hangup_at
        self.missing = tuple(missing)
        self.database = database if database is not None else {}
        self.prompt_samples = prompt_samples
        self.sighup = sighup
        self.media_seconds = media_seconds
        self.record = CallRecord(env=self._build_env(env or {}))
        self._dead = dead_at_start
        self._pending_hangup = False
        self._hang_now = False
        self._state = 4  # ring: an inbound call before ANSWER
        self._count = 0
        self._sent_at = 0.0
        self._w: BinaryIO | None = None

    # -- start-up ----------------------------------------------------------------------

    def _build_env(self, overrides: dict[str, str]) -> dict[str, str]:
        unknown = set(overrides) - set(ENV_KEYS)
        if unknown:
            raise ValueError(f"not AGI environment keys: {sorted(unknown)}")
        env = {
            "agi_request": "agi://127.0.0.1/" + self.network_script if self.network else "ivr-agi",
            "agi_channel": "PJSIP/city-trunk-00000001",
            "agi_language": "it",
            "agi_type": "PJSIP",
            # Asterisk's form (seconds.counter), unique across processes too: two console calls
            # placed in the same second must not share an id (call records are kept by it)
            "agi_uniqueid": f"{time.time():.0f}.{os.getpid()}{next(_uniq):04d}",
            "agi_version": "20.5.0",
            "agi_callerid": "3331234567",
            "agi_calleridname": "unknown",
            "agi_callingpres": "0",
            "agi_callingani2": "0",
            "agi_callington": "0",
            "agi_callingtns": "0",
            "agi_dnid": "020202",
            "agi_rdnis": "unknown",
            "agi_context": "city-ivr",
            "agi_extension": "s",
            "agi_priority": "1",
            "agi_enhanced": "0.0",
            "agi_accountcode": "",
            "agi_threadid": str(140000000000000 + threading.get_ident() % 10**9),
        }
        env.update(overrides)
        return env

    def _startup_lines(self) -> list[str]:
        lines = []
        if self.network:
            lines.append("agi_network: yes")
            if self.network_script:
                lines.append(f"agi_network_script: {self.network_script}")
        lines += [f"{k}: {self.record.env[k]}" for k in ENV_KEYS]
        lines += [f"agi_arg_{i}: {a}" for i, a in enumerate(self.args, 1)]
        return lines + [""]

    # -- transports ----------------------------------------------------------------------

    def connect(
        self, host: str, port: int, *, timeout: float = 2.0, read_timeout: float | None = None
    ) -> CallRecord:
        """Open a FastAGI connection like ``AGI(agi://host:port/script)`` and run the session."""
        self.record.env["agi_request"] = f"agi://{host}:{port}/{self.network_script}".rstrip("/")
        sock = socket.create_connection((host, port), timeout=timeout)
        try:
            sock.settimeout(read_timeout)
            return self.run_socket(sock)
        finally:
            sock.close()

    def run_socket(self, sock: socket.socket) -> CallRecord:
        """Run the session on a connected socket and close it at the end, as Asterisk does."""
        rfile, wfile = sock.makefile("rb"), sock.makefile("wb")
        try:
            return self.run(rfile, wfile)
        finally:
            for f in (rfile, wfile):
                with contextlib.suppress(OSError, ValueError):
                    f.close()  # a final HANGUP the script didn't wait for may still be buffered
            sock.close()

    def run(self, rfile: BinaryIO, wfile: BinaryIO) -> CallRecord:
        """Run the whole session; returns when the script closes (or on exit-on-hangup)."""
        self._w = wfile
        try:
            self._send(self._startup_lines())
            self._loop(rfile)
        except (OSError, ValueError) as err:
            self.record.error = f"{type(err).__name__}: {err}"
        finally:
            if self.agisighup:  # sent even after a normal end (docs/agi-protocol.md, section 8)
                self._signal_hangup()
        return self.record

    # -- main loop -----------------------------------------------------------------------

    def _loop(self, rfile: BinaryIO) -> None:
        while True:
            if self._pending_hangup and not self._dead:
                self._dead = True
                self.record.status = "HANGUP"
                if self.agisighup:
                    self._signal_hangup()
                if self.agiexitonhangup:
                    return
            raw = rfile.readline(MAX_COMMAND + 1)
            if not raw:
                self.record.closed_by_script = True
                return
            self.record.latencies.append(time.perf_counter() - self._sent_at)
            line = (raw[:-1] if raw.endswith(b"\n") else raw).decode("utf-8", "replace")
            self.record.commands.append(line)
            if line[:7].lower() == "failure":
                self.record.status = "FAILURE"
                return
            self._count += 1
            if self._count == self.hangup_at and not self._dead:
                self._hang_now = True
            self._send(self._handle(line))
            if self._hang_now:  # not consumed by a playback: the caller hung up meanwhile
                self._hang_now = False
                self._caller_hangs_up()

    def _send(self, lines: list[str]) -> None:
        assert self._w is not None
        self._w.write("".join(f"{line}\n" for line in lines).encode("utf-8"))
        self._w.flush()
        self._sent_at = time.perf_counter()

    def _signal_hangup(self) -> None:
        if self.sighup is not None:
            with contextlib.suppress(OSError):
                self.sighup()
            return
        if not self.network:
            return
        try:
            self._send(["HANGUP"])
            self.record.hangup_lines += 1
        except (OSError, ValueError):
            pass

    def _handle(self, line: str) -> list[str]:
        argv = parse_args(line)
        upper = [w.upper() for w in argv]
        name = next((" ".join(c) for c in COMMANDS if tuple(upper[: len(c)]) == c), None)
        if name is None:
            return [E510]
        if self._dead and name not in DEAD_OK:
            return [E511]
        handler = getattr(self, "_cmd_" + name.lower().replace(" ", "_"))
        try:
            return handler(argv)
        except _Usage:
            return [
                "520-Invalid command syntax.  Proper usage follows:",
                USAGE[name],
                "520 End of proper usage.",
            ]

    # -- caller interaction ----------------------------------------------------------------

    def _caller_hangs_up(self) -> None:
        self._pending_hangup = True
        self.record.hung_up = self.record.hung_up or "caller"

    def _take_hang_now(self) -> bool:
        if self._hang_now:
            self._hang_now = False
            self._caller_hangs_up()
            return True
        return False

    def _during(self, prompt: str, escape: str) -> str:
        if self._dead:
            return HANG_UP
        if self._take_hang_now():
            return HANG_UP
        if self.media_seconds:
            time.sleep(self.media_seconds)
        key = self.caller.during(prompt, escape)
        if key == HANG_UP:
            self._caller_hangs_up()
        return key

    def _collect(self, prompt: str, max_digits: int, timeout_ms: int) -> str:
        if self._dead:
            return HANG_UP
        if self._take_hang_now():
            return HANG_UP
        if self.media_seconds:
            time.sleep(self.media_seconds)
        keys = self.caller.collect(prompt, max_digits, timeout_ms)
        if keys == HANG_UP:
            self._caller_hangs_up()
            return HANG_UP
        return "".join(k for k in keys if k in DTMF + "ABCD")

    def _exists(self, path: str) -> bool:
        return not any(path == m or path.endswith("/" + m) for m in self.missing)

    def _fail(self) -> None:
        """A handler failure marks AGISTATUS=FAILURE only while the channel is up."""
        if not self._dead and not self._pending_hangup:
            self.record.status = "FAILURE"

    def _playback(self, what: str, escape: str, *, endpos: bool = True) -> str:
        """Reply for a prompt that plays while ``escape`` keys may interrupt it."""
        self.record.played.append(what)
        key = self._during(what, escape)
        half, full = self.prompt_samples // 2, self.prompt_samples
        tail = (lambda n: f" endpos={n}") if endpos else (lambda n: "")
        if key == HANG_UP:
            self.record.variables["PLAYBACKSTATUS"] = "FAILED"
            return f"200 result=-1{tail(half)}"
        if key and key in escape:
            self.record.variables["PLAYBACKSTATUS"] = "FAILED"
            return f"200 result={ord(key)}{tail(half)}"
        self.record.variables["PLAYBACKSTATUS"] = "SUCCESS"
        return f"200 result=0{tail(full)}"

    # -- variables -------------------------------------------------------------------------

    def _get_var(self, name: str) -> str | None:
        if name == "CHANNEL(language)":
            return self.record.language
        if name == "CALLERID(num)":
            return self.record.env["agi_callerid"]
        return self.record.variables.get(name)

    # -- commands (argv includes the command words, like Asterisk's argc) ------------------

    def _cmd_answer(self, argv: list[str]) -> list[str]:
        self._state = 6
        self.record.answered = True
        return ["200 result=0"]

    def _cmd_hangup(self, argv: list[str]) -> list[str]:
        if len(argv) > 2:
            raise _Usage
        if len(argv) == 2 and argv[1] != self.record.env["agi_channel"]:
            return ["200 result=-1"]
        self._pending_hangup = True
        self.record.hung_up = self.record.hung_up or "script"
        return ["200 result=1"]

    def _cmd_channel_status(self, argv: list[str]) -> list[str]:
        if len(argv) > 3:
            raise _Usage
        if len(argv) == 3 and argv[2] != self.record.env["agi_channel"]:
            return ["200 result=-1"]
        return [f"200 result={self._state}"]

    def _cmd_stream_file(self, argv: list[str]) -> list[str]:
        if len(argv) not in (4, 5):
            raise _Usage
        path, escape = argv[2], argv[3]
        if not self._exists(path):
            self._fail()
            return [f"200 result=-1 endpos={_atoi(argv[4]) if len(argv) == 5 else 0}"]
        return [self._playback(path, escape)]

    def _cmd_get_option(self, argv: list[str]) -> list[str]:
        if len(argv) not in (4, 5):
            raise _Usage
        path, escape = argv[2], argv[3]
        if not self._exists(path):
            self._fail()
            return ["200 result=-1 endpos=0"]
        reply = self._playback(path, escape)
        if not reply.startswith("200 result=0 "):
            return [reply]
        keys = self._collect("", 1, _atoi(argv[4]) if len(argv) == 5 else 5000)
        end = f" endpos={self.prompt_samples}"
        if keys == HANG_UP:
            return ["200 result=-1" + end]
        if keys and keys[0] in escape:
            return [f"200 result={ord(keys[0])}{end}"]
        return ["200 result=0" + end]

    def _cmd_get_data(self, argv: list[str]) -> list[str]:
        if len(argv) < 3:
            raise _Usage
        path = argv[2]
        timeout = _atoi(argv[3]) if len(argv) > 3 else 0
        max_digits = _atoi(argv[4]) if len(argv) > 4 else 1024
        max_digits = max_digits if max_digits > 0 else 1024
        keys = ""
        if path:
            if not self._exists(path):
                return ["200 result=-1"]
            self.record.played.append(path)
            keys = self._during(path, DTMF)
            if keys == HANG_UP:
                return ["200 result=-1"]
        if keys != "#" and len(keys) < max_digits:
            more = self._collect(path, max_digits - len(keys), timeout)
            if more == HANG_UP:
                return ["200 result=-1"]
            keys += more
        digits = ""
        for key in keys:
            if key == "#":
                return [f"200 result={digits}"]
            digits += key
            if len(digits) >= max_digits:
                return [f"200 result={digits}"]
        return [f"200 result={digits} (timeout)"]

    def _cmd_wait_for_digit(self, argv: list[str]) -> list[str]:
        if len(argv) != 4 or not _INT.fullmatch(argv[3]):
            raise _Usage
        keys = self._collect("", 1, int(argv[3]))
        if keys == HANG_UP:
            return ["200 result=-1"]
        return [f"200 result={ord(keys[0]) if keys else 0}"]

    def _say(self, what: str, escape: str) -> list[str]:
        return [self._playback(what, escape, endpos=False)]

    def _cmd_say_digits(self, argv: list[str]) -> list[str]:
        if len(argv) != 4 or not _INT.match(argv[2]):
            raise _Usage
        return self._say(f"digits:{argv[2]}", argv[3])

    def _cmd_say_number(self, argv: list[str]) -> list[str]:
        if len(argv) not in (4, 5) or not _INT.match(argv[2]):
            raise _Usage
        return self._say(f"number:{argv[2]}", argv[3])

    def _cmd_say_alpha(self, argv: list[str]) -> list[str]:
        if len(argv) not in (4, 5) or (len(argv) == 5 and argv[4] not in ("a", "l", "n", "u")):
            raise _Usage
        return self._say(f"alpha:{argv[2]}", argv[3])

    def _cmd_say_phonetic(self, argv: list[str]) -> list[str]:
        if len(argv) != 4:
            raise _Usage
        return self._say(f"phonetic:{argv[2]}", argv[3])

    def _cmd_say_date(self, argv: list[str]) -> list[str]:
        if len(argv) != 4 or not _INT.match(argv[2]):
            raise _Usage
        return self._say(f"date:{_atoi(argv[2])}", argv[3])

    def _cmd_say_time(self, argv: list[str]) -> list[str]:
        if len(argv) != 4 or not _INT.match(argv[2]):
            raise _Usage
        return self._say(f"time:{_atoi(argv[2])}", argv[3])

    def _cmd_say_datetime(self, argv: list[str]) -> list[str]:
        if len(argv) not in (4, 5, 6) or not _INT.match(argv[2]):
            raise _Usage
        return self._say(f"datetime:{_atoi(argv[2])}", argv[3])

    def _cmd_set_variable(self, argv: list[str]) -> list[str]:
        if len(argv) != 4:
            raise _Usage
        self.record.variables[argv[2]] = argv[3]
        return ["200 result=1"]

    def _cmd_get_variable(self, argv: list[str]) -> list[str]:
        if len(argv) != 3:
            raise _Usage
        value = self._get_var(argv[2])
        return ["200 result=0"] if value is None else [f"200 result=1 ({value[:1023]})"]

    def _cmd_get_full_variable(self, argv: list[str]) -> list[str]:
        if len(argv) not in (4, 5):
            raise _Usage
        if len(argv) == 5 and argv[4] != self.record.env["agi_channel"]:
            return ["200 result=0"]
        text = re.sub(r"\$\{([^}]*)\}", lambda m: self._get_var(m.group(1)) or "", argv[3])
        return [f"200 result=1 ({text})"]

    def _cmd_exec(self, argv: list[str]) -> list[str]:
        if len(argv) < 2:
            raise _Usage
        app, options = argv[1].lower(), (argv[2] if len(argv) > 2 else "")
        if app == "set":
            name, _, value = options.partition("=")
            self.record.variables[name] = value
            return ["200 result=0"]
        if app == "playback":
            for path in options.split(",")[0].split("&"):
                if self._dead:
                    return ["200 result=-1"]
                if not self._exists(path):
                    self.record.variables["PLAYBACKSTATUS"] = "FAILED"
                    return ["200 result=0"]
                if self._playback(path, "").startswith("200 result=-1"):
                    return ["200 result=-1"]
            return ["200 result=0"]
        if app == "hangup":
            if not self._dead:
                self._pending_hangup = True
                self.record.hung_up = self.record.hung_up or "script"
            return ["200 result=-1"]
        if app in ("noop", "wait", "verbose", "log", "userevent", "answer"):
            return ["200 result=0"]
        return ["200 result=-2"]

    def _cmd_verbose(self, argv: list[str]) -> list[str]:
        if len(argv) < 2:
            raise _Usage
        self.record.verbose.append(argv[1])
        return ["200 result=1"]

    def _cmd_noop(self, argv: list[str]) -> list[str]:
        return ["200 result=0"]

    def _cmd_database_get(self, argv: list[str]) -> list[str]:
        if len(argv) != 4:
            raise _Usage
        value = self.database.get((argv[2], argv[3]))
        return ["200 result=0"] if value is None else [f"200 result=1 ({value})"]

    def _cmd_database_put(self, argv: list[str]) -> list[str]:
        if len(argv) != 5:
            raise _Usage
        self.database[(argv[2], argv[3])] = argv[4]
        return ["200 result=1"]

    def _cmd_database_del(self, argv: list[str]) -> list[str]:
        if len(argv) != 4:
            raise _Usage
        return [f"200 result={int(self.database.pop((argv[2], argv[3]), None) is not None)}"]

    def _cmd_database_deltree(self, argv: list[str]) -> list[str]:
        if len(argv) not in (3, 4):
            raise _Usage
        tree = argv[3] if len(argv) == 4 else ""
        doomed = [
            k
            for k in self.database
            if k[0] == argv[2] and (not tree or k[1] == tree or k[1].startswith(tree + "/"))
        ]
        for k in doomed:
            del self.database[k]
        return ["200 result=0" if doomed else "200 result=1"]  # inverted, as in Asterisk

    def _cmd_set_callerid(self, argv: list[str]) -> list[str]:
        if len(argv) < 3:
            raise _Usage
        self.record.variables["CALLERID(all)"] = argv[2]
        return ["200 result=1"]

    def _cmd_gosub(self, argv: list[str]) -> list[str]:
        if len(argv) not in (4, 5):
            raise _Usage
        return ["100 result=0 Trying...", "200 result=0 Gosub complete"]

    def _cmd_record_file(self, argv: list[str]) -> list[str]:
        if len(argv) < 6 or not _INT.fullmatch(argv[5]):
            raise _Usage
        path, escape = argv[2], argv[4]
        self.record.recordings.append(path)
        keys = self._collect(f"record:{path}", 1, int(argv[5]))
        end = f" endpos={self.prompt_samples}"
        if keys == HANG_UP:
            return ["200 result=-1 (hangup)" + end]
        if keys and keys[0] in escape:
            return [f"200 result={ord(keys[0])} (dtmf){end}"]
        return ["200 result=0 (timeout)" + end]

    def _cmd_set_context(self, argv: list[str]) -> list[str]:
        if len(argv) != 3:
            raise _Usage
        return ["200 result=0"]

    _cmd_set_extension = _cmd_set_context
    _cmd_set_priority = _cmd_set_context
    _cmd_set_autohangup = _cmd_set_context

    def _cmd_set_music(self, argv: list[str]) -> list[str]:
        if len(argv) < 3:
            raise _Usage
        return ["200 result=0"]

    def _cmd_asyncagi_break(self, argv: list[str]) -> list[str]:
        return ["200 result=0"]


def drive(
    handler: Callable[[Any], Any],
    caller: Caller | None = None,
    *,
    timeout: float = 10.0,
    **peer_options: Any,
) -> tuple[CallRecord, Any]:
    """Run ``handler(agi)`` against an :class:`AsteriskPeer` over a socketpair.

    Returns the peer's record and the handler's return value. The handler runs in this thread
    (so its exceptions surface here); the peer runs in a helper thread.
    """
    from ivr.agi.adapter import CityAGI

    ours, theirs = socket.socketpair()
    peer = AsteriskPeer(caller, **peer_options)
    theirs.settimeout(timeout)
    thread = threading.Thread(target=peer.run_socket, args=(theirs,), daemon=True)
    thread.start()
    ours.settimeout(timeout)
    agi = None
    try:
        agi = CityAGI.from_socket(ours)
        result = handler(agi)
    finally:
        if agi is not None:
            agi.close()
        ours.close()
        thread.join(timeout)
        theirs.close()
    if thread.is_alive():
        raise TimeoutError("the fake Asterisk did not finish")
    return peer.record, result
