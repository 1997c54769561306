"""The outbound dialler: places the calls its *sources* ask for through Asterisk (AMI Originate),
never more than ``channels`` at once, and tells each source how its calls ended.

A **source** (teleassistance's weekly calls, a broadcast, appointment reminders) owns its state
in the database and answers three questions (:class:`Source`): which calls are due now (at
most ``room`` of them, each already recorded as dialling, so a restarted dialler never places
it twice), how a call ended (:meth:`Source.result`), and which calls it believes are still
dialling (for reconciliation after a restart).

**How an outcome is known.** Each attempt has a *key* (``[a-z0-9-]``, unique), used as the
Asterisk channel id. The answered line runs ``[nu-outbound]`` (extensions.conf): it reports
``NuOutbound`` (State: answered), runs ``AMD()`` when the source asked, reports a machine as
``NuOutboundResult`` (Outcome: machine) and hangs up, and hands a person to the source's own
context (``NU_OUT_THEN``), which reports its own ``NuOutboundResult`` (answered, a key pressed,
help asked...). A line never answered ends in ``OriginateResponse`` with a reason: busy, no
answer, or failed (congestion, no route). A person who hung up before the source's context
reported anything is :data:`HANGUP`. The first outcome of a key is final; the channel still
counts against ``channels`` until its ``Hangup``, so a long courtesy call holds its line.

The dialler keeps no state of its own that matters: on every (re)connection it lists
Asterisk's channels, adopts the lines still up and tells the sources that the others are
:data:`FAILED` (a restart loses no scheduled call: the source retries it, within its rules).
Numbers never reach a log line; keys say which source and row a line belongs to.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import queue as queue_mod
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from ivr.asterisk import variables as V
from ivr.asterisk.ami import keep_connected
from ivr.asterisk.dial import dial_string
from ivr.asterisk.variables import assign

log = logging.getLogger("ivr.outbound")

# How a call ended, as the dialler knows it; a source's context may report others (its own
# words: "well", "help", "confirm"...), passed through as they come.
ANSWERED = "answered"
NO_ANSWER = "no_answer"
BUSY = "busy"
MACHINE = "machine"
FAILED = "failed"
HANGUP = "hangup"  # a person answered and hung up before the source's context said anything

KEY = re.compile(r"^[a-z0-9-]{1,60}$")
CONTEXT = re.compile(r"^[a-z0-9-]{1,40}$")

# OriginateResponse's Reason: the AST_CONTROL_* code the line ended on before it was answered.
_REASONS = {"1": NO_ANSWER, "3": NO_ANSWER, "5": BUSY, "8": FAILED}
ENDING_GRACE_S = 3.0  # how long an unanswered line's OriginateResponse is waited for


def hangup_outcome(cause: str | None) -> str:
    """The outcome of a line hung up before it was answered, from the Hangup's Q.850 cause."""
    code = (cause or "").strip()
    if code in ("17", "21"):  # user busy, call rejected
        return BUSY
    if code in ("1", "3", "27", "34", "38", "41", "42"):  # no route, network out of order...
        return FAILED
    return NO_ANSWER


def originate_outcome(reason: str | None) -> str:
    """The outcome of a line that was never answered, from OriginateResponse's Reason (1: hung
    up while ringing, 3: rang out, 5: busy, 8: congestion, 0: no such channel or route)."""
    return _REASONS.get((reason or "").strip(), FAILED)


@dataclass(frozen=True)
class Dial:
    """One call a source wants placed now."""

    key: str  # the channel id; outcomes come back with it
    number: str  # digits only
    then: str  # the context a person who answered continues in
    language: str
    machine_detection: bool = True
    variables: Mapping[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not KEY.match(self.key) or not CONTEXT.match(self.then):
            raise ValueError("an outbound key is [a-z0-9-], a context [a-z0-9-]")


class Source(Protocol):
    """Something that wants outbound calls placed (see the module's docstring)."""

    name: str

    def due(self, now: datetime, room: int) -> list[Dial]:
        """At most ``room`` calls to place now, each already recorded as dialling."""
        ...

    def result(self, key: str, outcome: str, now: datetime) -> None:
        """How the call ``key`` ended (its first outcome; called once per key)."""
        ...

    def in_flight(self) -> list[str]:
        """Keys recorded as dialling and not yet given a result."""
        ...


@dataclass
class Line:
    source: Source
    answered: bool = False
    outcome: str | None = None
    cause: str = ""


class Dialler:
    def __init__(
        self,
        connect: Callable[[], Any],
        sources: Sequence[Source],
        *,
        dial_template: str,
        channels: int = 10,
        ring_s: int = 30,
        caller_id: str = "",
        clock: Callable[[], datetime] = datetime.now,
        tick_s: float = 0.5,
        heartbeat_s: float | None = 2.0,
        deadline_s: float = 5.0,
    ) -> None:
        if channels < 1:
            raise ValueError("the dialler needs at least one channel")
        self.connect, self.sources = connect, list(sources)
        self.dial_template, self.channels, self.ring_s = dial_template, channels, ring_s
        self.caller_id, self.clock, self.tick_s = caller_id, clock, tick_s
        self.heartbeat_s, self.deadline_s = heartbeat_s, deadline_s
        self.lines: dict[str, Line] = {}
        self.ending: dict[str, tuple[Line, float]] = {}  # hung up unanswered, reason awaited
        self.events: queue_mod.Queue[dict[str, str]] = queue_mod.Queue()
        self.stopped = False
        self._turn = itertools.count()

    # -- AMI events (reader thread: only queued here) ------------------------------------------

    def listen(self, message: Any) -> None:
        name = message.name
        if name == "UserEvent" and (message.get("UserEvent") or "").startswith("NuOutbound"):
            pass
        elif name not in ("OriginateResponse", "Hangup"):
            return
        self.events.put({k: v for k, v in reversed(message.headers)})

    def handle(self, event: dict[str, str]) -> None:
        """Apply one event to its line (events of other channels are ignored)."""
        name = event.get("Event")
        if name == "UserEvent":
            line = self.lines.get(event.get("Key", ""))
            if line is None:
                return
            if event.get("UserEvent") == "NuOutbound":
                line.answered = True
            elif event.get("UserEvent") == "NuOutboundResult":
                self._decide(event["Key"], line, event.get("Outcome") or ANSWERED)
            return
        key = event.get("Uniqueid") or ""
        if name == "OriginateResponse":
            line = self.lines.get(key) or self.ending.get(key, (None, 0.0))[0]
            if line is None or (event.get("Response") or "").lower() == "success":
                return
            self._decide(key, line, originate_outcome(event.get("Reason")))
            self.lines.pop(key, None)
            self.ending.pop(key, None)
            return
        line = self.lines.pop(key, None)  # its Hangup: the channel is free
        if line is None:
            return
        if line.answered:
            self._decide(key, line, HANGUP)
        elif line.outcome is None:  # why it was never answered: OriginateResponse says
            self.ending[key] = (line, time.monotonic())
            line.cause = event.get("Cause") or ""

    def settle(self) -> None:
        """Lines hung up unanswered whose OriginateResponse never came: their Hangup's cause."""
        now = time.monotonic()
        for key, (line, since) in list(self.ending.items()):
            if now - since >= ENDING_GRACE_S:
                del self.ending[key]
                self._decide(key, line, hangup_outcome(line.cause))

    def _decide(self, key: str, line: Line, outcome: str) -> None:
        if line.outcome is not None:
            return
        line.outcome = outcome
        log.info("outbound %s: %s", key, outcome)
        try:
            line.source.result(key, outcome, self.clock())
        except Exception:  # one source's failure must not stop the others' calls
            log.exception("outbound %s: the result was not recorded", key)

    def drain(self) -> None:
        while True:
            try:
                event = self.events.get_nowait()
            except queue_mod.Empty:
                return
            self.handle(event)

    # -- placing calls ----------------------------------------------------------------------

    def place_due(self, ami: Any) -> None:
        """Ask the sources, in turn, for as many calls as there are free channels."""
        if not self.sources:
            return
        start = next(self._turn) % len(self.sources)
        for source in self.sources[start:] + self.sources[:start]:
            room = self.channels - len(self.lines)
            if room <= 0:
                return
            try:
                dials = source.due(self.clock(), room)
            except Exception:
                log.exception("outbound source %s: its due calls could not be read", source.name)
                continue
            for dial in dials[:room]:
                self.place(ami, source, dial)

    def place(self, ami: Any, source: Source, dial: Dial) -> None:
        line = self.lines[dial.key] = Line(source)
        try:
            channel = dial_string(self.dial_template, dial.number)
            headers: dict[str, Any] = {
                "Channel": channel,
                "Context": "nu-outbound",
                "Exten": "s",
                "Priority": "1",
                "Async": "true",
                "Timeout": str(self.ring_s * 1000),
                "ChannelId": dial.key,
                "OtherChannelId": f"{dial.key}-o",
                "Variable": [
                    assign(V.OUT_KEY, dial.key),
                    assign(V.OUT_THEN, dial.then),
                    assign(V.OUT_AMD, 1 if dial.machine_detection else 0),
                    assign(V.LANG, dial.language),
                    *(assign(k, v) for k, v in dial.variables.items()),
                ],
            }
            if self.caller_id:
                headers["CallerID"] = self.caller_id
            ami.action("Originate", headers)
        except Exception as err:  # no usable number, or Asterisk refused: a failed attempt
            log.warning("outbound %s: not placed (%s)", dial.key, type(err).__name__)
            self._decide(dial.key, line, FAILED)
            self.lines.pop(dial.key, None)
            return
        log.info("outbound %s: dialling (%s)", dial.key, source.name)

    def reconcile(self, ami: Any) -> None:
        """Adopt the lines Asterisk still has; the sources' other dialling calls failed."""
        listing = ami.action("CoreShowChannels").events
        up = {e.get("Uniqueid") or "" for e in listing if e.name == "CoreShowChannel"}
        self.drain()
        for source in self.sources:
            for key in source.in_flight():
                if key in self.lines:
                    continue
                line = Line(source)
                if key in up:
                    self.lines[key] = line
                    log.info("outbound %s: still up, adopted", key)
                else:
                    self._decide(key, line, FAILED)
        for key in [k for k, line in self.lines.items() if k not in up]:
            line = self.lines.pop(key)  # ended while we were away
            self._decide(key, line, HANGUP if line.answered else FAILED)

    # -- the loop -----------------------------------------------------------------------------

    def session(self, ami: Any) -> None:
        """One AMI connection's life."""
        ami.add_listener(self.listen)
        self.reconcile(ami)
        while not self.stopped and ami.connected:
            if ami.answering:  # a silent Asterisk gets no new calls
                self.drain()
                self.settle()
                self.place_due(ami)
            time.sleep(self.tick_s)

    def run(self, retry_s: float = 1.0) -> None:
        keep_connected(
            self.connect,
            self.session,
            lambda: self.stopped,
            "outbound dialler",
            retry_s,
            heartbeat_s=self.heartbeat_s,
            deadline_s=self.deadline_s,
        )

    def stop(self) -> None:
        self.stopped = True
        with contextlib.suppress(Exception):
            self.drain()
