"""The ``speech`` node: "say what you need", routed by intents, confirmed when unsure.

YAML::

  speak:
    type: speech
    prompt: speech_prompt            # "tell me in a few words what you need"
    confirm_prompt: speech_confirm   # "did I understand? say yes or press 1; no or press 2"
    retries: 3                       # failed attempts before the operator (engine's rule)
    unavailable_prompt: speech_unavailable  # said to callers whose language has no intents
    unavailable: principale          # where they go next (default: the general operator)
    options: {"1": anagrafe, "9": principale}  # optional: keys work too, as in a menu
    intents:
      it: {anagrafe: [anagrafe, certificato di residenza], tributi: [tributi, tasse]}
      en: {anagrafe: [registry office], tributi: [taxes]}

Targets are node ids (checked by the validator like any other target). What the caller said is
kept in ``session.data["said"]`` so the operator sees it if the call ends there.

A caller whose language has no intents here, or no recognition model on this system (the
service puts the languages it can hear in ``session.caller["speech"]``), is never left listening
to a recogniser that cannot understand them: they hear ``unavailable_prompt`` and move on at once.
With ``options`` the node is a menu too: a key pressed during the prompt or instead of speaking
goes where the option says. A turn that cannot be listened to at all (``ListenFailed``: no
recogniser, the service down) sends the caller to the general operator, told so ("transferring"),
with the reason ``speech_unavailable``: they chose to speak, a person takes over.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ivr.flow.actions import Digits, Heard, ListenFailed, NoInput
from ivr.flow.engine import register_behaviour
from ivr.flow.model import Node, register_node
from ivr.speech.intents import NO, YES, Intents, Outcome, from_mapping, yes_no

_PENDING = "speech_confirm"


@dataclass(frozen=True)
class SpeechNode(Node):
    FIELDS = (
        "prompt",
        "confirm_prompt",
        "retries",
        "intents",
        "accept",
        "confirm",
        "unavailable_prompt",
        "unavailable",
        "options",
    )
    prompt: str = ""
    confirm_prompt: str = ""
    retries: int = 3
    intents: Intents = field(default_factory=lambda: from_mapping({}))
    unavailable_prompt: str = ""
    unavailable: str = ""  # node id; empty: the general operator
    options: dict[str, str] = field(default_factory=dict)  # key -> node id

    def targets(self) -> tuple[str, ...]:
        extra = {self.unavailable} if self.unavailable else set()
        return tuple(sorted(self.intents.targets() | extra | set(self.options.values())))

    def prompt_keys(self) -> tuple[str, ...]:
        keys = (self.prompt, self.confirm_prompt, self.unavailable_prompt)
        return tuple(k for k in keys if k)

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
            unavailable_prompt=str(body.get("unavailable_prompt") or ""),
            unavailable=str(body.get("unavailable") or ""),
            options=reader.options(body, node_id) if "options" in body else {},
            intents=from_mapping(
                table,
                accept=float(body.get("accept", 0.8)),
                confirm=float(body.get("confirm", 0.45)),
            ),
        )


def _can_hear(session: Any) -> bool:
    """Whether this system recognises the caller's language. Runners that don't say (tests,
    simulators with typed text) are taken to hear everything."""
    languages = session.caller.get("speech")
    return languages is None or session.lang in languages.split(",")


class Speech:
    def enter(self, session: Any, node: SpeechNode) -> Any:
        session.data.pop(_PENDING, None)
        if not node.intents.by_language.get(session.lang) or not _can_hear(session):
            return self._unavailable(session, node)
        return session.listen(session.p(node.prompt), tuple(node.intents.grammar(session.lang)))

    def answer(self, session: Any, node: SpeechNode, event: Any) -> Any:
        if isinstance(event, ListenFailed):
            # no recogniser (none configured, or it failed): the caller pressed a key to speak,
            # so tell them a person takes over instead of queueing them unannounced
            return session.transfer_to(session.dialplan.operator.id, reason="speech_unavailable")
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
        if isinstance(event, Digits) and event.digits[:1] in node.options:
            return session.goto(node.options[event.digits[:1]])
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
        return self._again(
            session, node, "no_input" if isinstance(event, NoInput) else "invalid_choice"
        )

    def _unavailable(self, session: Any, node: SpeechNode) -> Any:
        """No intents in the caller's language: say so, then the fallback node or a human."""
        pieces = session.p(node.unavailable_prompt) if node.unavailable_prompt else ()
        if node.unavailable:
            if pieces:
                return session.play_then(pieces, node.unavailable)
            return session.goto(node.unavailable)
        session.say_first(*pieces)
        return session.transfer_to(session.dialplan.operator.id, reason="speech_unavailable")

    def _again(self, session: Any, node: SpeechNode, why: str = "invalid_choice") -> Any:
        return session.retry_or_operator(node.retries, why) or self.enter(session, node)


register_node("speech", SpeechNode)
register_behaviour(SpeechNode, Speech())
