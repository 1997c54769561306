"""Drive a real Asterisk 22 (in the sid chroot) from tests: calls with scripted keys, operators,
and what happened (queues joined, prompts played, hang-ups).

The fixtures in ``tests/conftest.py`` build one :class:`AsteriskHarness` per test session
(``asterisk_session``) and reset it for each test (``asterisk``). A call is an AMI Originate of
``Local/<city number>@from-pstn/n``: the ``;2`` half is the caller as the city's dialplan sees
it (it runs the IVR, the FastAGI, the queues); the ``;1`` half runs ``nu-test-caller``, which
presses the scripted keys and may hang up, like a person on a phone. A key step is either
``(prompt, digits)``: pressed when the IVR asks with that prompt (an ``AGIExecStart`` whose
command plays it), in step with the IVR however slow the machine is; or ``(seconds, digits)``:
pressed that long after the answer, for tests about time itself (a caller who waits, or who
types too late). Prompt steps are pressed by a harness thread with AMI ``PlayDTMF`` on the
caller's side; timed steps by the caller's dialplan with ``SendDTMF``.

Operators are ``Local/`` queue members in ``nu-test-operator``: ``a<id>`` answers at once and
stays on the line, ``r<id>`` rings and never answers.

What is observed, per call:

* ``NuQueueJoin`` / ``NuQueueLeave`` / ``NuNoOperator`` user events (extensions.conf emits them
  around every ``Queue()``, even when the queue is empty and the caller never really joins);
* ``QueueCallerJoin`` (the caller is really waiting in a queue) and ``AgentConnect``;
* the ``Playing '<file>' (language 'xx')`` lines of the test-only verbose-3 log (below);
* ``Hangup`` (with its cause).

The test-only log. The shipped ``logger.conf`` keeps Asterisk's logs free of personal data: no
DTMF, no verbose line (at verbose 3 they print applications' arguments, a caller's number, and
"Playing 'digits/N'" for a number read back). Tests need those lines, so
:func:`prepare_instance` writes ``logger_local.conf`` (``#tryinclude``d in ``logger.conf``'s
``[logfiles]``) into *its own* instance's etc, adding the channel :data:`TEST_LOG`
(``notice,warning,error,verbose,dtmf``: the old ``full``), which this harness reads. That log is
test-only because it holds every digit pressed and every number dialled: it exists only in test
instances, never in a rendered configuration (``ivr asterisk render``, ``ivr up``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import posixpath
import re
import shutil
import socket
import struct
import subprocess
import threading
import time
import uuid
import wave
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ivr import config
from ivr.asterisk.ami import AMIClient, AMIError, Message
from ivr.asterisk.render import queue_twins
from ivr.devenv.asterisk import AsteriskInstance, free_port
from ivr.queues.languages import department_queue

DTMF = set("0123456789*#ABCD")

# How long a prompt step waits for the IVR to ask its prompt.
ASK_TIMEOUT = 60.0

# A Call's waits get this many times the timeout they are given: a timeout is a ceiling for a
# loaded CI machine (two cores running Asterisk, Redis and the service), never a measurement.
WAIT_SCALE = 2.0

# A key step: (prompt, digits) when the IVR asks, or (seconds after the answer, digits).
KeyStep = tuple[str, str] | tuple[float, str]


def asks(command: str, prompt: str) -> bool:
    """Whether an AGI command (``GET DATA /snd/it/main_menu 5000 1``) plays ``prompt``: a path
    component named exactly so (``registry_busy`` is not ``registry_busy_menu``)."""
    return re.search(rf"/{re.escape(prompt)}(?=[\s\"]|$)", command) is not None


# Written to extensions_local.conf (extensions.conf #tryincludes it): test-only contexts.
TEST_CONTEXTS = r"""; Test-only contexts, written by tests/asterisk_harness.py. Never in production.

; The caller's side of a test call; starts when the IVR answered (t = 0).
;   NU_TEST_KEYS    "t:digits|t:@file|..."  press digits (or say a sound file, as Asterisk
;                   sees its path without extension) t seconds after the answer
;   NU_TEST_HANGUP  hang up this many seconds after the answer (empty: never)
;   NU_TEST_MAX     stay on the line at most this long
[nu-test-caller]
exten => s,1,Set(T0=${STRFTIME(,,%s.%3q)})
 same => n,ExecIf($["${NU_TEST_HANGUP}" != ""]?Set(TIMEOUT(absolute)=${NU_TEST_HANGUP}))
 same => n,Set(I=1)
 same => n(next),Set(ITEM=${CUT(NU_TEST_KEYS,|,${I})})
 same => n,GotoIf($["${ITEM}" = ""]?wait)
 same => n,Set(DELAY=$[${CUT(ITEM,:,1)} - (${STRFTIME(,,%s.%3q)} - ${T0})])
 same => n,ExecIf($[${DELAY} > 0]?Wait(${DELAY}))
 same => n,Set(WHAT=${CUT(ITEM,:,2)})
 same => n,GotoIf($["${WHAT:0:1}" = "@"]?speak)
 same => n,SendDTMF(${WHAT},80,120)
 same => n,UserEvent(NuTestKeys,Keys: ${WHAT},Call: ${NU_TEST_CALL})
 same => n(more),Set(I=$[${I} + 1])
 same => n,Goto(next)
 same => n(speak),Playback(${WHAT:1})
 same => n,UserEvent(NuTestSaid,File: ${WHAT:1},Call: ${NU_TEST_CALL})
 same => n,Goto(more)
 same => n(wait),Wait(${NU_TEST_MAX})
 same => n,Hangup()
; a prompt step that speaks: the harness sets NU_TEST_SAY and redirects the caller here
exten => say,1,Playback(${NU_TEST_SAY})
 same => n,UserEvent(NuTestSaid,File: ${NU_TEST_SAY},Call: ${NU_TEST_CALL})
 same => n,Wait(${NU_TEST_MAX})
 same => n,Hangup()

; A citizen's phone for outbound calls (callbacks): dial Local/<number>@nu-test-citizen.
;   numbers ending in 0 never answer; others answer, report NuTestCitizen and stay a while.
[nu-test-citizen]
exten => _X.,1,GotoIf($["${EXTEN:-1}" = "0"]?ring)
 same => n,Answer()
 same => n,UserEvent(NuTestCitizen,Number: ${EXTEN},State: answered)
 same => n,Wait(120)
 same => n,Hangup()
 same => n(ring),Ringing()
 same => n,Wait(300)
 same => n,Hangup()

;  An elderly citizen's phone for outbound calls (teleassistance, broadcasts, reminders):
;  dial Local/<number>@nu-test-elder. What the phone does is the number's last digit:
;    0 never answers, 9 is busy, 8 is an answering machine (a long recorded greeting, then a
;    beep's silence), 1 a person who keeps pressing 1, 2 one who keeps pressing 2, any other a
;    person who says "Pronto?" and stays on the line without a key. The harness makes a phone
;    speak when the call asks a spoken question (AsteriskHarness.elder_says): it sets NU_TEST_SAY
;    and redirects the phone's channel to its say extension, which reports NuTestElderSaid.
;  Each reports NuTestElder (Number, State: answered) when it picks up.
[nu-test-elder]
exten => _X.,1,Set(D=${EXTEN:-1})
 same => n,GotoIf($["${D}" = "0"]?ring)
 same => n,GotoIf($["${D}" = "9"]?busy)
 same => n,Answer()
 same => n,UserEvent(NuTestElder,Number: ${EXTEN},State: answered)
 same => n,GotoIf($["${D}" = "8"]?machine)
 same => n,Playback(${NU_SOUNDS}/test/pronto)
 same => n,GotoIf($["${D}" = "1" | "${D}" = "2"]?keys)
 same => n,Wait(120)
 same => n,Hangup()
 same => n(keys),Set(I=0)
 same => n(press),Wait(1.5)
 same => n,SendDTMF(${D},120,200)
 same => n,Set(I=$[${I} + 1])
 same => n,GotoIf($[${I} < 40]?press)
 same => n,Hangup()
 same => n(machine),Playback(${NU_SOUNDS}/test/machine)
 same => n,Wait(30)
 same => n,Hangup()
 same => n(busy),Busy(10)
 same => n(ring),Ringing()
 same => n,Wait(300)
 same => n,Hangup()
exten => say,1,Playback(${NU_TEST_SAY})
 same => n,UserEvent(NuTestElderSaid,File: ${NU_TEST_SAY})
 same => n,Wait(120)
 same => n,Hangup()

; Operators: Local/a<id>@nu-test-operator/n answers, Local/r<id>@nu-test-operator/n only rings.
[nu-test-operator]
exten => _aX.,1,Answer()
 same => n,UserEvent(NuTestOperator,Operator: ${EXTEN},State: answered)
 same => n,Wait(120)
 same => n,Hangup()
exten => _rX.,1,Ringing()
 same => n,Wait(300)
 same => n,Hangup()
"""

# The test-only log channel (see the module's docstring): a file in the instance's log folder.
TEST_LOG = "test-verbose"

# Written to logger_local.conf (logger.conf #tryincludes it in [logfiles]) of test instances only.
TEST_LOGGER = f"""; Test-only log channel (tests/asterisk_harness.py). Never in production:
; verbose (every level asterisk.conf lets through: 3) and dtmf put every key pressed and every
; application's arguments (caller numbers, numbers dialled, digits read back) into the file.
; The tests read its "Playing" lines.
{TEST_LOG} => notice,warning,error,verbose,dtmf
"""

# file.c: "<chan> Playing '<file>.<fmt>' (language 'it')"; AGI STREAM FILE (res_agi.c) puts
# "(escape_digits=...) (sample_offset 0)" between the file and the language.
_PLAYING = re.compile(
    r"<(?P<chan>[^>]+)> Playing '(?P<file>[^']+)'(?: \([^)\n]*\))*? \(language '(?P<lang>[^']*)'\)"
)


@dataclass(frozen=True)
class Played:
    """One ``Playing`` log line: the file (with its format extension) and the language."""

    file: str
    language: str

    @property
    def name(self) -> str:
        """The file without folder and format: ``service_unavailable``."""
        return posixpath.splitext(posixpath.basename(self.file))[0]

    @property
    def prompt(self) -> str:
        """``<lang folder>/<name>`` for our prompts (``it/service_unavailable``)."""
        return f"{posixpath.basename(posixpath.dirname(self.file))}/{self.name}"


@dataclass
class Operator:
    queue: str
    interface: str
    name: str
    answers: bool


@dataclass
class Call:
    """A test call. ``uniqueid`` is the IVR side (what the dialplan, AGI and queues see)."""

    harness: AsteriskHarness
    uniqueid: str
    caller_uniqueid: str
    mark: int
    log_offset: int
    keys: list[KeyStep] = field(default_factory=list)
    pressed: list[str] = field(default_factory=list)  # prompts answered (or being) so far
    script_error: str | None = None  # why the prompt steps stopped early
    _channel: str | None = None
    _heard: list[Played] = field(default_factory=list)  # read from the log so far
    _log_read: int = -1  # log offset read up to (-1: from ``log_offset``)

    @property
    def ami(self) -> AMIClient:
        return self.harness.ami

    # channel ---------------------------------------------------------------------------------

    def channel(self, timeout: float = 10.0) -> str:
        """The IVR-side channel name (``Local/020202@from-pstn-0000002a;2``)."""
        if self._channel is None:
            event = self._wait(Event="Newchannel", Uniqueid=self.uniqueid, timeout=timeout)
            self._channel = event["Channel"]
        return self._channel

    def events(self, name: str | None = None) -> list[Message]:
        """AMI events of the IVR-side channel since the call was placed (optionally by name)."""
        return self.ami.events(
            self.mark,
            lambda m: m.get("Uniqueid") == self.uniqueid and (name is None or m.name == name),
        )

    def variable(self, name: str) -> str | None:
        """A channel variable of the IVR side while the call is up (None when unset)."""
        response = self.ami.action("Getvar", Channel=self.channel(), Variable=name)
        return response.get("Value") or None

    # where the call went ---------------------------------------------------------------------

    def queues(self) -> list[str]:
        """Queues the dialplan tried so far, in order (``NuQueueJoin``), joined or not."""
        return [e["Queue"] for e in self._user_events("NuQueueJoin")]

    def wait_queue(self, queue: str | None = None, timeout: float = 15.0) -> str:
        """Wait until the dialplan tries a queue (``queue`` or any); return its name."""
        event = self._wait_user("NuQueueJoin", timeout, **({"Queue": queue} if queue else {}))
        return event["Queue"]

    def wait_queue_result(self, queue: str | None = None, timeout: float = 15.0) -> str:
        """Wait until ``Queue()`` returns without an operator; return QUEUESTATUS."""
        event = self._wait_user("NuQueueLeave", timeout, **({"Queue": queue} if queue else {}))
        return event["Status"]

    def wait_queue_join(
        self, queue: str | None = None, timeout: float = 15.0, *, twin: bool = False
    ) -> str:
        """Wait until the caller is really waiting in a queue (``QueueCallerJoin``); return the
        department queue (with ``twin``: the language twin Asterisk runs it in, ``tributi_en``)."""
        fold = self.harness.department_queue
        event = self._wait(
            lambda m: (
                m.get("Uniqueid") == self.uniqueid
                and (queue is None or queue in (m["Queue"], fold(m["Queue"])))
            ),
            Event="QueueCallerJoin",
            timeout=timeout,
        )
        return event["Queue"] if twin else fold(event["Queue"])

    def wait_operator(self, timeout: float = 15.0) -> Message:
        """Wait until an operator answers (``AgentConnect``); the event has Queue, MemberName."""
        return self._wait(Event="AgentConnect", Uniqueid=self.uniqueid, timeout=timeout)

    def wait_no_operator(self, timeout: float = 15.0) -> Message:
        """Wait for the polite goodbye when not even the general operator queue took the call."""
        return self._wait_user("NuNoOperator", timeout)

    def wait_hangup(self, timeout: float = 30.0) -> str:
        """Wait until the IVR side hangs up; return the hangup cause (``16`` normal)."""
        event = self._wait(Event="Hangup", Uniqueid=self.uniqueid, timeout=timeout)
        return event.get("Cause", "")

    def is_up(self) -> bool:
        return not self.ami.events(self.mark, Event="Hangup", Uniqueid=self.uniqueid)

    def hangup(self) -> None:
        """Hang up from the caller's side (as the person would)."""
        for uid in (self.caller_uniqueid, self.uniqueid):
            try:
                self.ami.action("Hangup", Channel=uid)
                return
            except AMIError:
                continue

    def _wait(self, predicate: Any = None, timeout: float = 10.0, **match: str) -> Message:
        """``AMIClient.wait_for`` since the call was placed; a timeout says how far the prompt
        steps got, which is usually why the awaited event never came."""
        try:
            return self.ami.wait_for(
                predicate, timeout=timeout * WAIT_SCALE, since=self.mark, **match
            )
        except TimeoutError as err:
            asked = [s for s in self.keys if isinstance(s[0], str)]
            if not asked:
                raise
            raise TimeoutError(
                f"{err}; prompts answered: {self.pressed} of {[s[0] for s in asked]}"
                + (f" ({self.script_error})" if self.script_error else "")
            ) from err

    def _user_events(self, name: str) -> list[Message]:
        return self.ami.events(self.mark, Event="UserEvent", UserEvent=name, Uniqueid=self.uniqueid)

    def _wait_user(self, name: str, timeout: float, **match: str) -> Message:
        return self._wait(
            Event="UserEvent",
            UserEvent=name,
            Uniqueid=self.uniqueid,
            timeout=timeout,
            **match,
        )

    # what the caller heard -------------------------------------------------------------------

    def played(self) -> list[Played]:
        """Files Asterisk played to the caller so far (from the instance's log)."""
        channel = self.channel()
        # Only what the log gained since the last look, in whole lines: waits poll this.
        start = self.log_offset if self._log_read < 0 else self._log_read
        text, self._log_read = self.harness.log_lines(start)
        self._heard += [
            Played(m["file"], m["lang"]) for m in _PLAYING.finditer(text) if m["chan"] == channel
        ]
        return list(self._heard)

    def said_between(self, start: str, end: str) -> list[str]:
        """Numbers and digits Asterisk said (``digits/<n>`` files) between prompt ``start`` and
        the next ``end``: what SAY NUMBER/DIGITS spoke in between."""
        played = self.played()
        names = [p.name for p in played]
        i = names.index(start)
        j = names.index(end, i)
        return [p.name for p in played[i:j] if Path(p.file).parent.name == "digits"]

    def wait_played(self, name: str, timeout: float = 10.0) -> Played:
        """Wait until a file whose name (``service_unavailable``) or ``it/name`` was played."""
        deadline = time.monotonic() + timeout * WAIT_SCALE
        while True:
            for item in self.played():
                if name in (item.name, item.prompt, item.file):
                    return item
            if time.monotonic() > deadline:
                raise TimeoutError(f"{name!r} not played; played: {self.played()}")
            time.sleep(0.05)


class AsteriskHarness:
    """One running test Asterisk plus an AMI client and helpers."""

    def __init__(self, instance: AsteriskInstance, dialplan: Any, *, agi_port: int):
        self.instance = instance
        self.dialplan = dialplan
        self.agi_port = agi_port
        self.settings = instance.settings
        self.ami: AMIClient = instance.ami()
        self.calls: list[Call] = []
        self.operators: list[Operator] = []
        self._globals: dict[str, str] = {}
        self._ids = itertools.count(1)

    @property
    def number(self) -> str:
        return self.dialplan.number

    @property
    def general_queue(self) -> str:
        return self.dialplan.departments[self.dialplan.general_operator].queue

    def close(self) -> None:
        self.ami.close()

    # calls -------------------------------------------------------------------------------------

    def place_call(
        self,
        keys: Sequence[KeyStep] = (),
        *,
        hangup_after: float | None = None,
        number: str | None = None,
        context: str = "from-pstn",
        caller_id: str = "3331234567",
        max_seconds: float = 90.0,
        variables: dict[str, str] | None = None,
    ) -> Call:
        """Call the city number. ``keys``: ``[("main_menu", "1"), ...]`` pressed when the IVR
        asks each prompt in turn, or ``[(seconds after answer, "digits"), ...]``; a step
        ``"@/path/as/asterisk/sees/it"`` (no extension) plays that sound file into the call
        instead, as if the caller said it (``NuTestSaid`` is reported when it ends): after its
        prompt, once the IVR records (RECORD FILE), or at its time.

        ``hangup_after``: the caller hangs up that many seconds after the answer. ``number`` and
        ``context`` default to the city number in ``from-pstn`` (``context="from-operators"``
        calls as an operator). Returns at once; use the :class:`Call` to see what happens.
        """
        script, asked = [], []
        for when, digits in keys:
            # "|" and ":" separate steps and times in NU_TEST_KEYS
            speaks = digits.startswith("@/") and not set(digits) & set("|: ,")
            pressed = bool(digits) and set(digits) <= DTMF
            if isinstance(when, str):
                if not (when and (pressed or speaks)):
                    raise ValueError(f"bad key step {(when, digits)!r}")
                asked.append((when, digits))
                continue
            if not (speaks or pressed) or when < 0:
                raise ValueError(f"bad key step {(when, digits)!r}")
            script.append(f"{float(when):.3f}:{digits}")
        tag = f"t{next(self._ids)}"
        # Neither id may be a prefix of the other: Asterisk's duplicate check matches prefixes.
        base = uuid.uuid4().hex[:12]
        ivr_uid, caller_uid = f"nu-{base}-ivr", f"nu-{base}-caller"
        extra = [f"{k}={v}" for k, v in (variables or {}).items()]
        call = Call(
            self,
            uniqueid=ivr_uid,
            caller_uniqueid=caller_uid,
            mark=self.ami.event_mark(),
            log_offset=self.log_size(),
            keys=list(keys),
        )
        self.ami.action(
            "Originate",
            Channel=f"Local/{number or self.number}@{context}/n",
            Context="nu-test-caller",
            Exten="s",
            Priority="1",
            Async="true",
            Timeout="10000",
            CallerID=f'"Test caller" <{caller_id}>',
            ChannelId=caller_uid,
            OtherChannelId=ivr_uid,
            Variable=[
                f"NU_TEST_KEYS={'|'.join(script)}",
                f"NU_TEST_HANGUP={'' if hangup_after is None else f'{hangup_after:.3f}'}",
                f"NU_TEST_MAX={max_seconds:.0f}",
                f"NU_TEST_CALL={tag}",
                *extra,
            ],
        )
        self.calls.append(call)
        if asked:
            threading.Thread(
                target=self._answer_prompts, args=(call, asked), name=f"keys-{tag}", daemon=True
            ).start()
        return call

    def _answer_prompts(self, call: Call, steps: list[tuple[str, str]]) -> None:
        """The caller's ear and finger: wait for each prompt, then press its digits."""
        since = call.mark
        for prompt, digits in steps:

            def asked_or_gone(m: Message, prompt: str = prompt) -> bool:
                if m.get("Uniqueid") != call.uniqueid:
                    return False
                return m.name == "Hangup" or (
                    m.name == "AGIExecStart" and asks(m.get("Command", ""), prompt)
                )

            def listening_or_gone(m: Message) -> bool:
                if m.get("Uniqueid") != call.uniqueid:
                    return False
                return m.name == "Hangup" or (
                    m.name == "AGIExecStart"
                    and m.get("Command", "").startswith(("GET DATA", "RECORD FILE"))
                )

            try:
                event = self.ami.wait_for(asked_or_gone, since=since, timeout=ASK_TIMEOUT)
                if event.name != "Hangup" and not listening_or_gone(event):
                    # The question plays more pieces before it listens (the language menu: one
                    # STREAM FILE per language, then GET DATA). Asterisk's AGI drops a key that
                    # arrives between two commands, and with 0.4 s placeholder prompts on a busy
                    # machine the key often did: press once the question listens (GET DATA).
                    event = self._next_after(event, listening_or_gone, since)
            except TimeoutError:
                call.script_error = f"the IVR never asked {prompt!r} in {ASK_TIMEOUT:.0f} s"
                return
            if event.name == "Hangup":
                call.script_error = f"the call ended before the IVR asked {prompt!r}"
                return
            since = self.ami.event_mark()  # the next question comes after these keys
            call.pressed.append(prompt)
            if digits.startswith("@"):  # said into the recording: the caller's side plays it
                try:
                    self.ami.action(
                        "Setvar",
                        Channel=call.caller_uniqueid,
                        Variable="NU_TEST_SAY",
                        Value=digits[1:],
                    )
                    self.ami.action(
                        "Redirect",
                        Channel=call.caller_uniqueid,
                        Context="nu-test-caller",
                        Exten="say",
                        Priority="1",
                    )
                except AMIError:
                    call.script_error = f"the caller was gone while saying {prompt!r}"
                    return
                continue
            for i, key in enumerate(digits):
                if i:
                    time.sleep(0.15)  # a finger's pace: one digit after the other
                try:
                    self.ami.action(
                        "PlayDTMF", Channel=call.caller_uniqueid, Digit=key, Duration="120"
                    )
                except AMIError:
                    call.script_error = f"the caller was gone while answering {prompt!r}"
                    return

    def _next_after(
        self, event: Message, predicate: Callable[[Message], bool], since: int
    ) -> Message:
        """The first event matching ``predicate`` that came after ``event`` (seen after
        ``since``), already received or still to come."""
        mark = self.ami.event_mark()
        seen = self.ami.events(since, lambda m: m is event or predicate(m))
        index = next((i for i, m in enumerate(seen) if m is event), None)
        if index is not None and index + 1 < len(seen):
            return seen[index + 1]
        return self.ami.wait_for(predicate, since=mark, timeout=ASK_TIMEOUT)

    def elder_says(self, key: str, sound: str) -> threading.Thread:
        """The phone of the outbound call ``key`` (``[nu-test-elder]``) says ``sound`` (a path
        as Asterisk sees it, no extension) once the call listens (RECORD FILE), as a citizen
        answers a spoken question; a phone whose call never listens stays as it was. Call it
        before the dialler places the call. The dialler's line is the call ``key``, the phone
        its other half ``<key>-o`` (the dialler's OtherChannelId)."""
        since = self.ami.event_mark()

        def listening_or_gone(m: Message) -> bool:
            if m.get("Uniqueid") != key:
                return False
            return m.name == "Hangup" or (
                m.name == "AGIExecStart" and m.get("Command", "").startswith("RECORD FILE")
            )

        def speak() -> None:
            try:
                event = self.ami.wait_for(listening_or_gone, since=since, timeout=ASK_TIMEOUT)
                if event.name == "Hangup":
                    return
                phone = f"{key}-o"
                self.ami.action("Setvar", Channel=phone, Variable="NU_TEST_SAY", Value=sound)
                self.ami.action(
                    "Redirect", Channel=phone, Context="nu-test-elder", Exten="say", Priority="1"
                )
            except (TimeoutError, AMIError):
                return  # the outcome the test waits for says what happened

        thread = threading.Thread(target=speak, name=f"elder-says-{key}", daemon=True)
        thread.start()
        return thread

    # operators and queues ----------------------------------------------------------------------

    def add_operator(
        self, queue: str, *, answers: bool = True, name: str | None = None
    ) -> Operator:
        """Log a Local/ operator into ``queue`` (answers at once, or rings for ever)."""
        ident = name or f"{next(self._ids):03d}"
        if not ident.isdigit():
            raise ValueError("operator names are digits")
        exten = f"{'a' if answers else 'r'}{ident}"
        interface = f"Local/{exten}@nu-test-operator/n"
        for twin in self.twins(queue):  # speaks every language: in each language's twin
            self.ami.action(
                "QueueAdd", Queue=twin, Interface=interface, MemberName=f"op{ident}", Paused="false"
            )
        operator = Operator(queue, interface, f"op{ident}", answers)
        self.operators.append(operator)
        return operator

    def remove_operator(self, operator: Operator) -> None:
        for twin in self.twins(operator.queue):
            self.ami.action("QueueRemove", Queue=twin, Interface=operator.interface)
        self.operators.remove(operator)

    def twins(self, queue: str) -> list[str]:
        """A department queue and its language twins (ivr/queues/languages.py)."""
        if queue not in {d.queue for d in self.dialplan.departments.values()}:
            return [queue]
        return [name for _, name in queue_twins(self.dialplan, queue)]

    def department_queue(self, queue: str) -> str:
        return department_queue(queue, self.dialplan.languages)

    def queue_status(self, queue: str) -> dict[str, list[Message]]:
        """``{"params": [...], "members": [...], "callers": [...]}`` from QueueStatus."""
        response = self.ami.action("QueueStatus", Queue=queue)
        out: dict[str, list[Message]] = {"params": [], "members": [], "callers": []}
        for event in response.events:
            key = {"QueueParams": "params", "QueueMember": "members", "QueueEntry": "callers"}
            if event.name in key:
                out[key[event.name]].append(event)
        return out

    def queue_members(self, queue: str) -> list[str]:
        """Interfaces logged into ``queue``."""
        return [m["StateInterface"] or m["Location"] for m in self.queue_status(queue)["members"]]

    def queue_callers(self, queue: str) -> list[str]:
        """Uniqueids of the callers waiting in ``queue`` (a department queue: and its twins)."""
        return [m["Uniqueid"] for q in self.twins(queue) for m in self.queue_status(q)["callers"]]

    def set_global(self, name: str, value: str) -> None:
        """Change a dialplan global (e.g. ``NU_QUEUE_TIMEOUT``) until the next reset."""
        if name not in self._globals:
            self._globals[name] = self.ami.action("Getvar", Variable=name).get("Value") or ""
        self.ami.action("Setvar", Variable=name, Value=value)

    # log -----------------------------------------------------------------------------------------

    @property
    def log_path(self) -> Path:
        """The test-only verbose-3 log (:data:`TEST_LOG`); absent when the instance was prepared
        without it (``prepare_instance(..., test_log=False)``): then the log reads as empty."""
        return self.instance.log_dir / TEST_LOG

    def log_size(self) -> int:
        try:
            return self.log_path.stat().st_size
        except FileNotFoundError:
            return 0

    def log_text(self, offset: int = 0) -> str:
        try:
            with open(self.log_path, "rb") as handle:
                handle.seek(offset)
                return handle.read().decode("utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def log_lines(self, offset: int) -> tuple[str, int]:
        """The whole lines written after ``offset``, and the offset after them."""
        try:
            with open(self.log_path, "rb") as handle:
                handle.seek(offset)
                data = handle.read()
        except FileNotFoundError:
            return "", offset
        end = data.rfind(b"\n") + 1
        return data[:end].decode("utf-8", errors="replace"), offset + end

    def log_matches(self, pattern: re.Pattern[str], offset: int = 0) -> list[re.Match[str]]:
        return list(pattern.finditer(self.log_text(offset)))

    # between tests -----------------------------------------------------------------------------

    def active_channels(self) -> list[str]:
        response = self.ami.action("CoreShowChannels")
        return [e["Channel"] for e in response.events if e.name == "CoreShowChannel"]

    def reset(self, timeout: float = 10.0) -> None:
        """Hang up every channel, log out every operator, restore changed globals."""
        for operator in list(self.operators):
            try:
                self.remove_operator(operator)
            except AMIError:
                self.operators.remove(operator)
        for name, value in self._globals.items():
            self.ami.action("Setvar", Variable=name, Value=value)
        self._globals.clear()
        deadline = time.monotonic() + timeout
        while channels := self.active_channels():
            for channel in channels:
                with contextlib.suppress(AMIError):
                    self.ami.action("Hangup", Channel=channel)
            if time.monotonic() > deadline:
                raise RuntimeError(f"channels still up after reset: {channels}")
            time.sleep(0.1)
        self.calls.clear()


# ---------------------------------------------------------------------------------------------
# Test instances


def prepare_instance(
    name: str,
    dialplan: Any,
    workdir: Path,
    *,
    queue_timeout: int,
    general_timeout: int,
    test_log: bool = True,
    **render_kw: Any,
) -> AsteriskInstance:
    """A test Asterisk (not started) named ``name``, on free ports, rendered for ``dialplan``
    as ``ivr up`` renders it, plus the test-only contexts (:data:`TEST_CONTEXTS`, to place calls)
    and, with ``test_log``, the test-only log (:data:`TEST_LOGGER`).

    ``workdir`` (a fresh temporary folder) gets the placeholder prompt audio and the city's
    database; the instance's ``settings`` say where its FastAGI service must listen and which
    database it uses. Leftovers of a crashed run of the same name are removed first.
    ``render_kw`` go to the render (a cluster node: ``proxy_port``, a shared ``agi_port``).
    """
    from ivr.prompts.catalogue import full_catalogue

    sounds = workdir / "sounds"
    catalogue = full_catalogue(dialplan, config.ROOT / "prompts")
    write_placeholder_sounds(sounds, {lang: texts.keys() for lang, texts in catalogue.items()})
    write_elder_voices(sounds / "test")
    settings = dataclasses.replace(
        config.load(),
        sounds_dir=sounds,
        asterisk_sounds_dir=f"/srv/nu/{name}/sounds",
        agi_host="127.0.0.1",
        agi_port=free_port(),
        # bookings, callbacks and call records of test calls: never the developer's database
        database_url=f"sqlite:///{workdir / 'city.db'}",
    )
    instance = AsteriskInstance(
        name, settings=settings, ami_port=free_port(), sip_port=free_port(socket.SOCK_DGRAM)
    )
    shutil.rmtree(instance.host_dir, ignore_errors=True)  # a crashed run's leftovers
    instance.render(
        dialplan, queue_timeout=queue_timeout, general_timeout=general_timeout, **render_kw
    )
    pace_audio_in_real_time(instance.etc_dir / "modules.conf")
    (instance.etc_dir / "extensions_local.conf").write_text(TEST_CONTEXTS)
    if test_log:
        (instance.etc_dir / "logger_local.conf").write_text(TEST_LOGGER)
    return instance


SHIPPED_TIMING = "load => res_timing_timerfd.so"
TEST_TIMING = "load => res_timing_pthread.so"


def pace_audio_in_real_time(modules_conf: Path) -> None:
    """Test instances time their audio with ``res_timing_pthread``, not the shipped timerfd.

    With timerfd, a thread woken late acknowledges all the timer's missed ticks but sends one
    20 ms frame: on a loaded machine (CI: three test workers, each with an Asterisk, on two
    cores) every sound played 2.3-2.8 times slower than its length (queue-youarenext, 5.36 s:
    11.5-15.1 s; with pthread timing 4.8-4.9 s, same load). The tests wait on audio, so they
    waited that much longer. The pthread timer counts the ticks due and the frames catch up.
    Only the pacing of media differs from the shipped modules.conf; no call flow does.
    """
    text = modules_conf.read_text()
    if SHIPPED_TIMING not in text:
        raise RuntimeError(f"{modules_conf} no longer loads {SHIPPED_TIMING!r}: update the tests")
    modules_conf.write_text(text.replace(SHIPPED_TIMING, TEST_TIMING))


def retire_instance(instance: AsteriskInstance, keep_logs: Path) -> None:
    """Stop a test Asterisk, keep its logs in ``keep_logs`` (for a post-mortem), remove it."""
    instance.stop()
    if instance.log_dir.is_dir():
        shutil.copytree(instance.log_dir, keep_logs, dirs_exist_ok=True)
    shutil.rmtree(instance.host_dir, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# Prompt audio for tests


ELDER_VOICES = {
    "pronto": "Pronto?",
    "machine": (
        "Buongiorno, avete chiamato la segreteria telefonica della famiglia Rossi. Al momento "
        "non possiamo rispondere: lasciate un messaggio dopo il segnale acustico, grazie."
    ),
}


def write_elder_voices(folder: Path) -> Path:
    """Speech for the test citizens' phones (``[nu-test-elder]``): a person's short "Pronto?"
    and an answering machine's long greeting, spoken by espeak-ng at 8 kHz, so that Asterisk's
    AMD() hears what it would on a real line."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in ELDER_VOICES.items():
        target = folder / f"{name}.wav"
        raw = folder / f"{name}.raw.wav"
        subprocess.run(["espeak-ng", "-v", "it", "-w", str(raw), text], check=True)
        subprocess.run(
            ["sox", str(raw), "-r", "8000", "-c", "1", "-b", "16", str(target)], check=True
        )
        raw.unlink()
    return folder


def write_placeholder_sounds(
    sounds_dir: Path, catalogue: dict[str, Iterable[str]], seconds: float = 0.4
) -> Path:
    """A short quiet tone per prompt (``<lang>/<key>.wav``, 8 kHz mono 16-bit).

    Real prompts are synthesised speech lasting seconds; placeholders keep call tests fast and
    their timing independent of the text. The file names are what the tests check.
    """
    rate = 8000
    frames = b"".join(
        struct.pack("<h", 600 if (i // 10) % 2 else -600) for i in range(int(rate * seconds))
    )
    for lang, keys in catalogue.items():
        folder = sounds_dir / lang
        folder.mkdir(parents=True, exist_ok=True)
        for key in keys:
            with wave.open(str(folder / f"{key}.wav"), "wb") as out:
                out.setnchannels(1)
                out.setsampwidth(2)
                out.setframerate(rate)
                out.writeframes(frames)
    return sounds_dir
