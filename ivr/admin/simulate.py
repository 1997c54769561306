"""A test call in the browser: the real engine (:class:`~ivr.flow.engine.CallSession`) on the draft.

The simulator is stateless: the browser's session keeps only the list of what the "caller" did
(keys, silence, words, "heard to the end"...), and every request replays that list from the
start on a fresh ``CallSession``. The engine is pure and the simulated moment and switches are
fixed for the whole test call, so a replay is exact; nothing lives in server memory, and a
simulation survives a restart or a second worker process.

Actions are described generically (type name + dataclass fields), so an action kind added to
the engine later shows up by its fields instead of breaking the page. What the caller may do next
depends on the action: an ``Ask`` takes keys or silence, a ``Listen`` typed words, keys or
silence, a ``Play`` is heard to the end, an ``Invoke`` gets a service answer typed by the tester;
anything unknown can only be handed to the operator (the engine's fallback).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ivr.flow import actions as A
from ivr.flow.engine import CallSession
from ivr.flow.model import Dialplan

MAX_EVENTS = 100  # moves live in the session cookie: keep it well under 4 KB
MAX_TEXT = 500


@dataclass
class Piece:
    kind: str  # "prompt" or the saying kind
    key: str
    language: str
    text: str | None  # the catalogue text (None: missing in that language)


@dataclass
class Step:
    """One action of the engine, and what the caller did about it (None: waiting)."""

    action_type: str
    fields: list[tuple[str, str]]
    pieces: list[Piece]
    node: str
    answer: str | None = None
    terminal: bool = False


@dataclass
class Simulation:
    steps: list[Step] = field(default_factory=list)
    accepts: tuple[str, ...] = ()  # "digits", "noinput", "played", "heard", "result", "fallback"
    max_digits: int = 1
    language: str = ""
    path: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def finished(self) -> bool:
        return not self.accepts


def to_event(raw: dict[str, Any]) -> A.Event | None:
    """A stored caller move -> engine event (None: the fallback move)."""
    kind = raw.get("t")
    value = str(raw.get("v", ""))[:MAX_TEXT]
    if kind == "digits":
        return A.Digits("".join(c for c in value if c in A.DTMF_KEYS))
    if kind == "noinput":
        return A.NoInput()
    if kind == "played":
        return A.Played()
    if kind == "failed":
        return A.PromptFailed(value)
    if kind == "heard" and hasattr(A, "Heard"):
        return A.Heard(value)
    if kind == "recorded":  # a voice message left; the simulator keeps no audio
        return A.Recorded("simulated.wav")
    if kind == "norecord":
        return A.RecordFailed("nothing")
    if kind == "result":
        error = str(raw.get("e") or "") or None
        try:
            parsed = json.loads(value) if value else None
        except ValueError:
            parsed = value
        return A.Result(value=parsed, error=error)
    return None


def describe_move(raw: dict[str, Any]) -> str:
    kind = raw.get("t")
    value = str(raw.get("v", ""))[:MAX_TEXT]
    return {
        "digits": f"keys {value}" if value else "#",
        "noinput": "silence",
        "played": "heard to the end",
        "failed": "prompt failed",
        "heard": f"said “{value}”",
        "recorded": "left a voice message",
        "norecord": "said nothing after the beep",
        "result": f"service answered {raw.get('e') or value or 'ok'}",
    }.get(str(kind), "operator fallback")


def accepts(action: Any) -> tuple[str, ...]:
    if isinstance(action, A.TERMINAL):
        return ()
    if isinstance(action, A.Ask):
        return ("digits", "noinput", "fallback")
    if hasattr(A, "Listen") and isinstance(action, A.Listen):
        return ("heard", "digits", "noinput", "fallback")
    if isinstance(action, A.Play):
        return ("played", "failed", "fallback")
    if isinstance(action, A.Invoke):
        return ("result", "fallback")
    if isinstance(action, A.Record):
        return ("recorded", "norecord", "fallback")
    return ("fallback",)


def _fmt(value: Any) -> str:
    if isinstance(value, tuple | list):
        return ", ".join(_fmt(v) for v in value) if value else "—"
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items()) if value else "—"
    if dataclasses.is_dataclass(value):
        return f"{type(value).__name__}({_fmt(dataclasses.asdict(value))})"
    return str(value)


def describe(action: Any, catalogue: dict[str, dict[str, str]], node: str) -> Step:
    pieces: list[Piece] = []
    fields: list[tuple[str, str]] = []
    if dataclasses.is_dataclass(action):
        for f in dataclasses.fields(action):
            value = getattr(action, f.name)
            if f.name == "prompts":
                for p in value:
                    if isinstance(p, A.Prompt):
                        pieces.append(
                            Piece(
                                "prompt",
                                p.key,
                                p.language,
                                catalogue.get(p.language, {}).get(p.key),
                            )
                        )
                    else:
                        pieces.append(
                            Piece(
                                getattr(p, "kind", "?"),
                                str(getattr(p, "value", p)),
                                getattr(p, "language", ""),
                                None,
                            )
                        )
                continue
            fields.append((f.name, _fmt(value)))
    else:
        fields.append(("value", repr(action)))
    return Step(
        type(action).__name__, fields, pieces, node, terminal=isinstance(action, A.TERMINAL)
    )


def simulate(
    dialplan: Dialplan,
    moves: list[dict[str, Any]],
    *,
    now: datetime,
    switches: frozenset[str] = frozenset(),
    language: str | None = None,
    catalogue: dict[str, dict[str, str]] | None = None,
) -> Simulation:
    """Replay ``moves`` on a fresh session of ``dialplan`` and describe every step."""
    catalogue = catalogue or {}
    sim = Simulation()
    session = CallSession(dialplan, now=now, switches=switches, language=language)
    try:
        action = session.start()
    except Exception as exc:  # a draft may break the engine: show it, never 500
        sim.error = f"{type(exc).__name__}: {exc}"
        return sim
    for raw in moves[:MAX_EVENTS]:
        node = session.node.id if session.node else ""
        step = describe(action, catalogue, node)
        sim.steps.append(step)
        allowed = accepts(action)
        kind = raw.get("t")
        if kind not in allowed:
            sim.error = f"'{kind}' does not answer a {step.action_type}"
            step.answer = None
            break
        step.answer = describe_move(raw)
        try:
            event = to_event(raw)
            action = session.fallback("simulator") if event is None else session.feed(event)
        except Exception as exc:
            sim.error = f"{type(exc).__name__}: {exc}"
            return _finish(sim, session)
    else:
        node = session.node.id if session.node else ""
        sim.steps.append(describe(action, catalogue, node))
        sim.accepts = accepts(action)
        sim.max_digits = getattr(action, "max_digits", 1) or 1
    return _finish(sim, session)


def _finish(sim: Simulation, session: CallSession) -> Simulation:
    sim.language = session.lang
    sim.path = list(session.path)
    return sim
