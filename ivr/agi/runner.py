"""Runs one call: turns the engine's actions into AGI commands and the replies into events.

The engine never sees AGI; this is the only place that knows how an :class:`Ask` becomes STREAM
FILE + GET DATA, and how a :class:`Transfer` becomes channel variables for Asterisk's dialplan
(which runs Queue() once we return). Whatever breaks, a live caller ends up with an operator.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from ivr.agi.adapter import AGIAppError, AGIHangup, CityAGI, PlaybackFailed
from ivr.asterisk import variables as V
from ivr.flow.actions import (
    DTMF_KEYS,
    Action,
    Ask,
    Digits,
    Event,
    Hangup,
    Invoke,
    Listen,
    ListenFailed,
    NoInput,
    Piece,
    Play,
    Played,
    Prompt,
    PromptFailed,
    Record,
    Recorded,
    RecordFailed,
    Result,
    Saying,
    Transfer,
)
from ivr.flow.services import UNAVAILABLE, ServiceError, Services
from ivr.logs import CallLogger
from ivr.prompts.sayings import needs_vocabulary, saying_prompts

MAX_STEPS = 500  # a session still asking after this many actions is broken: go to a human


class Session(Protocol):
    language: str | None
    path: list[str]

    def start(self) -> Action: ...
    def feed(self, event: Event) -> Action: ...
    def fallback(self, reason: str) -> Transfer: ...


@dataclass
class CallOutcome:
    """How a call left the IVR, for logs and KPIs."""

    final: Action | None = None
    path: list[str] = field(default_factory=list)
    hung_up: bool = False
    language: str | None = None
    error: str | None = None  # exception class name when the fallback was used
    steps: int = 0
    data: dict[str, Any] = field(default_factory=dict)  # the session's data (KPIs pick keys)
    started: float = field(default_factory=time.time)  # epoch seconds, for the call's record


# Hears the caller for a Listen action (speech recognition lives outside the runner).
Listener = Callable[[CityAGI, Listen], Event]

WAV_HEADER = 44  # a WAV file no longer than this holds no sound


@dataclass(frozen=True)
class RecordingSpool:
    """Where a :class:`Record` puts voice messages: one folder Asterisk writes (``asterisk``,
    its path for Asterisk, maybe in a chroot) and we read (``host``); ``max_s`` caps every
    message's length (``NU_BACKOFFICE_MESSAGE_S``)."""

    asterisk: str
    host: Path
    max_s: int = 60


def prompt_path(sounds_dir: str, prompt: Prompt) -> str:
    return f"{sounds_dir}/{prompt.language}/{prompt.key}"


def _var_key(key: str) -> str:
    return re.sub(r"[^A-Z0-9_]", "_", key.upper())


def transfer_variables(action: Transfer, path: list[str]) -> dict[str, str]:
    """Channel variables the Asterisk dialplan reads to queue the call (and show the operator)."""
    values = {
        V.QUEUE: action.queue,
        V.DEPARTMENT: action.department,
        V.LANG: action.language,
        V.REASON: action.reason,
        V.PATH: ">".join(path),
    }
    for key, value in action.context.items():
        values[f"{V.CONTEXT_PREFIX}{_var_key(key)}"] = str(value)
    if action.dial:
        values[V.DIAL] = action.dial
    return values


class _Runner:
    def __init__(
        self,
        agi: CityAGI,
        session: Session,
        sounds_dir: str,
        log: CallLogger,
        services: Services,
        listener: Listener | None,
        spool: RecordingSpool | None = None,
    ) -> None:
        self.agi, self.session, self.sounds, self.log = agi, session, str(sounds_dir), log
        self.services, self.listener, self.spool = services, listener, spool
        self.language: str | None = None
        self.typeahead = ""  # a key pressed during a message: the answer to the next question

    def path(self, prompt: Prompt) -> str:
        return prompt_path(self.sounds, prompt)

    def sync_language(self) -> None:
        lang = self.session.language
        if lang and lang != self.language:
            self.agi.set_variable("CHANNEL(language)", lang)
            self.language = lang

    def say(self, piece: Piece, escape: str) -> str | None:
        """Play one piece: a catalogue prompt, or a saying by Asterisk; returns a key pressed."""
        if isinstance(piece, Prompt):
            key, _ = self.agi.stream_file(self.path(piece), escape)
            return key
        if piece.language and needs_vocabulary(piece.language):
            return self.say_ourselves(piece, escape)
        if piece.language and piece.language != self.language:
            self.agi.set_variable("CHANNEL(language)", piece.language)
            self.language = piece.language
        if piece.kind == "digits":
            return self.agi.say_digits(piece.value, escape)
        if piece.kind == "number":
            return self.agi.say_number(int(piece.value), escape)
        if piece.kind == "date":
            return self.agi.say_date(int(piece.value), escape)
        if piece.kind == "time":
            return self.agi.say_time(int(piece.value), escape)
        if piece.kind == "datetime":
            return self.agi.say_datetime(int(piece.value), escape)
        raise ValueError(f"unknown saying {piece.kind!r}")

    def say_ourselves(self, saying: Saying, escape: str) -> str | None:
        """A saying in a language Asterisk has no sounds for: our vocabulary prompts."""
        dialplan = getattr(self.session, "dialplan", None)
        zone = ZoneInfo(dialplan.timezone) if dialplan is not None else None
        for prompt in saying_prompts(saying, zone):
            key, _ = self.agi.stream_file(self.path(prompt), escape)
            if key:
                return key
        return None

    @staticmethod
    def _name(piece: Piece | None) -> str:
        return piece.key if isinstance(piece, Prompt) else piece.kind if piece else ""

    def play(self, action: Play) -> Event:
        """Messages can be skipped: a key stops them and answers the next question."""
        for piece in action.prompts:
            try:
                key = self.say(piece, DTMF_KEYS)
                if key:
                    self.typeahead = key
                    return Played()
            except PlaybackFailed:
                self.log.warning("prompt %s cannot be played", self._name(piece))
                return PromptFailed(self._name(piece))
        return Played()

    def ask(self, action: Ask) -> Event:
        *before, last = action.prompts or (None,)
        first = self.typeahead or None
        self.typeahead = ""
        current: Piece | None = None
        try:
            if isinstance(last, Saying):  # GET DATA plays files only: say it, then listen
                before, last = [*before, last], None
            for current in before if first is None else ():
                first = self.say(current, DTMF_KEYS)
                if first:
                    break
            if first is None:
                current = last
                digits, timed_out = self.agi.get_data(
                    self.path(last) if last else "", action.timeout_ms, action.max_digits
                )
                if timed_out and not digits:
                    return NoInput()
                return Digits(digits)
        except PlaybackFailed:
            key = self._name(current)
            self.log.warning("prompt %s cannot be played", key)
            return PromptFailed(key)
        if first == "#":
            return Digits("")
        if action.max_digits <= 1:
            return Digits(first)
        try:
            rest, _ = self.agi.get_data("", action.timeout_ms, action.max_digits - 1)
        except PlaybackFailed:
            return PromptFailed("")
        return Digits(first + rest)

    def transfer(self, action: Transfer) -> None:
        for name, value in transfer_variables(action, list(self.session.path)).items():
            self.agi.set_variable(name, value)

    def invoke(self, action: Invoke) -> Result:
        """Call a service; its failures become ``Result(error=...)`` so the flow can say so."""
        service = self.services.get(action.service)
        if service is None:
            self.log.warning("no service %s", action.service)
            return Result(error=UNAVAILABLE)
        try:
            return Result(value=service(dict(action.args)))
        except ServiceError as err:
            return Result(value=err.value, error=err.code)
        except Exception:  # a broken service must not drop the call
            self.log.exception("service %s failed", action.service)
            return Result(error=UNAVAILABLE)

    def listen(self, action: Listen) -> Event:
        if self.listener is None:  # no recogniser configured: a human takes over
            self.log.warning("speech requested but no recogniser is configured")
            return ListenFailed("no_recogniser")
        return self.listener(self.agi, action)

    def record(self, action: Record) -> Event:
        """The prompts (no barge-in: the message comes after them), a beep, then RECORD FILE
        into the spool. A message the caller ends by hanging up is kept too: the flow goes on
        to store it, and only its next prompt notices the caller has gone."""
        if self.spool is None:
            self.log.warning("a voice message was asked but no recordings folder is set")
            return RecordFailed("no_spool")
        for piece in action.prompts:
            try:
                self.say(piece, "")
            except PlaybackFailed:
                self.log.warning("prompt %s cannot be played", self._name(piece))
                return RecordFailed("prompt")
        limit = self.spool.max_s
        seconds = min(action.max_s, limit) if action.max_s > 0 else limit
        name = f"nu-message-{uuid.uuid4().hex}"
        try:
            self.agi.record_file(
                f"{self.spool.asterisk}/{name}",
                "wav",
                "#",
                seconds * 1000,
                beep=True,
                silence_s=action.silence_s,
            )
        except AGIAppError:
            self.log.error("RECORD FILE failed: is %s writable by Asterisk?", self.spool.asterisk)
            return RecordFailed("record")
        path = self.spool.host / f"{name}.wav"
        try:
            size = path.stat().st_size
        except OSError:
            size = 0
        if size <= WAV_HEADER:
            path.unlink(missing_ok=True)
            return RecordFailed("nothing")
        return Recorded(path.name)

    def hangup(self, action: Hangup) -> None:
        for piece in action.prompts:
            try:
                self.say(piece, "")
            except PlaybackFailed:
                self.log.warning("goodbye prompt %s cannot be played", self._name(piece))
        self.agi.set_variable(V.HANGUP, "yes")  # extensions.conf: no operator after goodbye
        self.agi.hangup()

    def run(self, outcome: CallOutcome) -> None:
        self.agi.answer()
        action = self.session.start()
        while True:
            outcome.steps += 1
            outcome.final = action
            if outcome.steps > MAX_STEPS:
                raise RuntimeError("session did not finish")
            self.sync_language()
            if isinstance(action, Transfer):
                self.transfer(action)
                return
            if isinstance(action, Hangup):
                self.hangup(action)
                return
            if isinstance(action, Play):
                event = self.play(action)
            elif isinstance(action, Ask):
                event = self.ask(action)
            elif isinstance(action, Invoke):
                event = self.invoke(action)
            elif isinstance(action, Listen):
                event = self.listen(action)
            elif isinstance(action, Record):
                event = self.record(action)
            else:
                raise TypeError(f"unknown action {action!r}")
            action = self.session.feed(event)


def run_call(
    agi: CityAGI,
    session: Session,
    sounds_dir: str,
    log: CallLogger | None = None,
    *,
    services: Services | None = None,
    listener: Listener | None = None,
    spool: RecordingSpool | None = None,
) -> CallOutcome:
    """Drive ``session`` over ``agi`` until a transfer, a hang-up or the caller leaves.

    Never raises for call-level problems: a hang-up returns quietly with ``hung_up``; any other
    failure sets the session's operator fallback variables (best effort) and returns.
    """
    log = log or agi.log
    outcome = CallOutcome()
    runner = _Runner(agi, session, sounds_dir, log, services or {}, listener, spool)
    try:
        runner.run(outcome)
    except AGIHangup:
        outcome.hung_up = True
    except Exception as err:  # anything at all: the caller goes to a human
        outcome.error = type(err).__name__
        log.exception("call failed, sending the caller to the operator")
        try:
            action = session.fallback("error")
            outcome.final = action
            runner.transfer(action)
        except AGIHangup:
            outcome.hung_up = True
        except Exception:
            log.exception("operator fallback failed too")
    # Our own HANGUP also marks the channel gone; only a caller's hang-up counts here.
    outcome.hung_up = outcome.hung_up or (agi.hung_up and not isinstance(outcome.final, Hangup))
    outcome.path = list(getattr(session, "path", []))
    outcome.language = getattr(session, "language", None)
    outcome.data = dict(getattr(session, "data", {}))
    log.info(
        "call ended: %s path=%s hung_up=%s",
        type(outcome.final).__name__ if outcome.final else "nothing",
        ">".join(outcome.path),
        outcome.hung_up,
    )
    return outcome


def make_handler(
    session_factory: Callable[[CityAGI], Session],
    sounds_dir: str,
    on_outcome: Callable[[CityAGI, CallOutcome], Any] | None = None,
    *,
    fallback_queue: str | Callable[[], str],
    services: Services | None = None,
    listener: Listener | None = None,
    spool: RecordingSpool | None = None,
) -> Callable[[CityAGI], CallOutcome]:
    """A FastAGI/local handler: one fresh session per call, outcome reported to ``on_outcome``.

    ``fallback_queue`` is where a caller goes when not even a session can be started: a queue
    name, or a function giving the current one (the published dialplan's general operator).
    """

    def handler(agi: CityAGI) -> CallOutcome:
        try:
            session = session_factory(agi)
        except Exception:  # no flow: still route the caller to a human
            agi.log.exception("cannot start a session")
            try:
                queue = fallback_queue() if callable(fallback_queue) else fallback_queue
                agi.set_variable(V.QUEUE, queue)
                agi.set_variable(V.REASON, "error")
            except Exception:
                agi.log.info("could not set the operator route (caller gone?)")
            return CallOutcome(error="session")
        outcome = run_call(
            agi, session, sounds_dir, services=services, listener=listener, spool=spool
        )
        if on_outcome is not None:
            try:
                on_outcome(agi, outcome)
            except Exception:  # reporting must not hurt the call
                agi.log.exception("outcome hook failed")
        return outcome

    return handler
