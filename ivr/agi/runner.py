"""Runs one call: turns the engine's actions into AGI commands and the replies into events.

The engine never sees AGI; this is the only place that knows how an :class:`Ask` becomes STREAM
FILE + GET DATA, and how a :class:`Transfer` becomes channel variables for Asterisk's dialplan
(which runs Queue() once we return). Whatever breaks, a live caller ends up with an operator.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from ivr.agi.adapter import AGIHangup, CityAGI, PlaybackFailed
from ivr.flow.actions import (
    DTMF_KEYS,
    Action,
    Ask,
    Digits,
    Event,
    Hangup,
    NoInput,
    Play,
    Played,
    Prompt,
    PromptFailed,
    Transfer,
)
from ivr.logs import CallLogger

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


def prompt_path(sounds_dir: str, prompt: Prompt) -> str:
    return f"{sounds_dir}/{prompt.language}/{prompt.key}"


def _var_key(key: str) -> str:
    return re.sub(r"[^A-Z0-9_]", "_", key.upper())


def transfer_variables(action: Transfer, path: list[str]) -> dict[str, str]:
    """Channel variables the Asterisk dialplan reads to queue the call (and show the operator)."""
    values = {
        "NU_QUEUE": action.queue,
        "NU_DEPARTMENT": action.department,
        "NU_LANG": action.language,
        "NU_REASON": action.reason,
        "NU_PATH": ">".join(path),
    }
    for key, value in action.context.items():
        values[f"NU_CTX_{_var_key(key)}"] = str(value)
    return values


class _Runner:
    def __init__(self, agi: CityAGI, session: Session, sounds_dir: str, log: CallLogger) -> None:
        self.agi, self.session, self.sounds, self.log = agi, session, str(sounds_dir), log
        self.language: str | None = None
        self.typeahead = ""  # a key pressed during a message: the answer to the next question

    def path(self, prompt: Prompt) -> str:
        return prompt_path(self.sounds, prompt)

    def sync_language(self) -> None:
        lang = self.session.language
        if lang and lang != self.language:
            self.agi.set_variable("CHANNEL(language)", lang)
            self.language = lang

    def play(self, action: Play) -> Event:
        """Messages can be skipped: a key stops them and answers the next question."""
        for prompt in action.prompts:
            try:
                key, _ = self.agi.stream_file(self.path(prompt), DTMF_KEYS)
                if key:
                    self.typeahead = key
                    return Played()
            except PlaybackFailed:
                self.log.warning("prompt %s/%s cannot be played", prompt.language, prompt.key)
                return PromptFailed(prompt.key)
        return Played()

    def ask(self, action: Ask) -> Event:
        *before, last = action.prompts or (None,)
        first = self.typeahead or None
        self.typeahead = ""
        current: Prompt | None = None
        try:
            for current in before if first is None else ():
                first, _ = self.agi.stream_file(self.path(current), DTMF_KEYS)
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
            key = current.key if current else ""
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

    def hangup(self, action: Hangup) -> None:
        for prompt in action.prompts:
            try:
                self.agi.stream_file(self.path(prompt), "")
            except PlaybackFailed:
                self.log.warning("goodbye prompt %s cannot be played", prompt.key)
        self.agi.set_variable("NU_HANGUP", "yes")  # extensions.conf: no operator after goodbye
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
            else:
                raise TypeError(f"unknown action {action!r}")
            action = self.session.feed(event)


def run_call(
    agi: CityAGI, session: Session, sounds_dir: str, log: CallLogger | None = None
) -> CallOutcome:
    """Drive ``session`` over ``agi`` until a transfer, a hang-up or the caller leaves.

    Never raises for call-level problems: a hang-up returns quietly with ``hung_up``; any other
    failure sets the session's operator fallback variables (best effort) and returns.
    """
    log = log or agi.log
    outcome = CallOutcome()
    runner = _Runner(agi, session, sounds_dir, log)
    try:
        runner.run(outcome)
    except AGIHangup:
        outcome.hung_up = True
    except Exception as err:  # noqa: BLE001 - anything at all: the caller goes to a human
        outcome.error = type(err).__name__
        log.exception("call failed, sending the caller to the operator")
        try:
            action = session.fallback("error")
            outcome.final = action
            runner.transfer(action)
        except AGIHangup:
            outcome.hung_up = True
        except Exception:  # noqa: BLE001
            log.exception("operator fallback failed too")
    # Our own HANGUP also marks the channel gone; only a caller's hang-up counts here.
    outcome.hung_up = outcome.hung_up or (agi.hung_up and not isinstance(outcome.final, Hangup))
    outcome.path = list(getattr(session, "path", []))
    outcome.language = getattr(session, "language", None)
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
) -> Callable[[CityAGI], CallOutcome]:
    """A FastAGI/local handler: one fresh session per call, outcome reported to ``on_outcome``."""

    def handler(agi: CityAGI) -> CallOutcome:
        try:
            session = session_factory(agi)
        except Exception:  # noqa: BLE001 - no flow: still route the caller to a human
            agi.log.exception("cannot start a session")
            outcome = CallOutcome(error="session")
            with_operator(agi, reason="error")
            return outcome
        outcome = run_call(agi, session, sounds_dir)
        if on_outcome is not None:
            try:
                on_outcome(agi, outcome)
            except Exception:  # noqa: BLE001 - reporting must not hurt the call
                agi.log.exception("outcome hook failed")
        return outcome

    return handler


OPERATOR_QUEUE = "operatore"


def with_operator(agi: CityAGI, *, reason: str, queue: str = OPERATOR_QUEUE) -> None:
    """Best effort: tell the dialplan to queue for the operator when there is no session at all."""
    try:
        agi.set_variable("NU_QUEUE", queue)
        agi.set_variable("NU_REASON", reason)
    except Exception:  # noqa: BLE001
        agi.log.info("could not set the operator route (caller gone?)")


def city_session_factory(
    dialplan_path: str,
    *,
    switches: Callable[[], frozenset[str]] | None = None,
) -> Callable[[CityAGI], Session]:
    """Sessions on the city dialplan, local time in the dialplan's timezone, live switches."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from ivr.flow.engine import CallSession
    from ivr.flow.loader import load_dialplan

    dialplan = load_dialplan(dialplan_path)
    zone = ZoneInfo(dialplan.timezone)

    def factory(agi: CityAGI) -> Session:
        on = switches() if switches else frozenset()
        return CallSession(dialplan, now=datetime.now(zone), switches=on)

    return factory


def city_handler(settings: Any) -> Callable[[CityAGI], CallOutcome]:
    """The production handler for one process (local AGI): the same sessions as ``ivr serve``."""
    from ivr.flow.source import DialplanSource
    from ivr.live import open_state
    from ivr.service import session_factory

    source = DialplanSource(settings.dialplan_path, settings.prompts_dir)
    factory = session_factory(source, open_state(settings.redis_url))
    return make_handler(factory, settings.asterisk_sounds_dir)
