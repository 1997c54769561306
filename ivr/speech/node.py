"""The ``speech`` node: "say what you need", routed by intents, confirmed when unsure.

YAML::

  speak:
    type: speech
    prompt: speech_prompt            # "tell me in a few words what you need"
    confirm_prompt: speech_confirm   # "did I understand? say yes or press 1; no or press 2"
    retries: 3                       # failed attempts before the operator (engine's rule)
    intents:
      it: {anagrafe: [anagrafe, certificato di residenza], tributi: [tributi, tasse]}
      en: {anagrafe: [registry office], tributi: [taxes]}

Targets are node ids (checked by the validator like any other target). What the caller said is
kept in ``session.data["said"]`` so the operator sees it if the call ends there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ivr.flow.actions import Digits, Heard
from ivr.flow.engine import register_behaviour
from ivr.flow.model import Node, register_node
from ivr.speech.intents import NO, YES, Intents, Outcome, from_mapping, yes_no

_PENDING = "speech_confirm"


@dataclass(frozen=True)
class SpeechNode(Node):
    FIELDS = ("prompt", "confirm_prompt", "retries", "intents", "accept", "confirm")
    prompt: str = ""
    confirm_prompt: str = ""
    retries: int = 3
    intents: Intents = field(default_factory=lambda: from_mapping({}))

    def targets(self) -> tuple[str, ...]:
        return tuple(sorted(self.intents.targets()))

    def prompt_keys(self) -> tuple[str, ...]:
        return (self.prompt, self.confirm_prompt)

    @property
    def waits_for_caller(self) -> bool:
        return True

    @classmethod
    def parse(cls, reader: Any, node_id: str, body: dict, line: int) -> SpeechNode:
        raw = body.get("intents")
        if not isinstance(raw, dict) or not raw:
            reader.fail(line, node_id, "a speech node needs 'intents': {language: {node: [...]}}")
            raw = {}
        table: dict[str, dict[str, list[str]]] = {}
        for lang, targets in raw.items():
            if not isinstance(targets, dict):
                reader.fail(line, node_id, f"intents for '{lang}' must map node ids to phrases")
                continue
            table[str(lang)] = {
                str(t): [str(p) for p in (ps if isinstance(ps, list) else [ps])]
                for t, ps in targets.items()
            }
        return cls(
            id=node_id,
            line=line,
            prompt=reader.text(body, "prompt", node_id),
            confirm_prompt=reader.text(body, "confirm_prompt", node_id),
            retries=int(body.get("retries", 3)),
            intents=from_mapping(
                table,
                accept=float(body.get("accept", 0.8)),
                confirm=float(body.get("confirm", 0.45)),
            ),
        )


class Speech:
    def enter(self, session: Any, node: SpeechNode) -> Any:
        session.data.pop(_PENDING, None)
        return session.listen(session.p(node.prompt), tuple(node.intents.grammar(session.lang)))

    def answer(self, session: Any, node: SpeechNode, event: Any) -> Any:
        pending = session.data.pop(_PENDING, None)
        if pending is not None:
            if isinstance(event, Digits):
                yes = {"1": True, "2": False}.get(event.digits)
            elif isinstance(event, Heard):
                yes = yes_no(event.text, session.lang)
            else:
                yes = None
            if yes:
                return session.goto(pending)
            return self._again(session, node)
        if isinstance(event, Heard):
            match = node.intents.match(event.text, session.lang, event.confidence)
            if match.outcome is not Outcome.REJECT:
                session.data["said"], session.data["said_confidence"] = event.text, event.confidence
            if match.outcome is Outcome.ACCEPT:
                return session.goto(match.target)
            if match.outcome is Outcome.CONFIRM:
                session.data[_PENDING] = match.target
                words = (*YES.get(session.lang, ()), *NO.get(session.lang, ()))
                return session.listen(session.p(node.confirm_prompt), words)
        return self._again(session, node)

    def _again(self, session: Any, node: SpeechNode) -> Any:
        return session.retry_or_operator(node.retries, "invalid_choice") or self.enter(
            session, node
        )


register_node("speech", SpeechNode)
register_behaviour(SpeechNode, Speech())
