"""The ``directory`` node: reach an office or a person by name (the switchboard, commutazione).

YAML::

  centralino:
    type: directory
    speech: true   # say the name (when the caller's language can be heard); keys always work
    retries: 3     # failed attempts before the general operator (engine's rule)

The caller keys the first three letters of the name (2=ABC ... 9=WXYZ) or says it; the
``directory.keys`` / ``directory.said`` services answer the matching entries
(:class:`~ivr.directory.matching.Reach`). One match is spoken back for confirmation ("did you
say Ufficio Matrimoni? press 1 to confirm"); several are offered by number; none: try again,
then the operator. A confirmed entry that is open (its own hours, else its department's, with
the city's holidays, closures and switches) is rung (``Transfer.dial``), its department's queue
taking the caller if nobody answers; a closed one has its hours said and its department offered
(press 1). Pure: names are generated prompts (``dir_<id>``, :mod:`ivr.directory.audio`); no
digit the caller typed is kept beyond the lookup, nor logged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ivr.directory.matching import KEYS_WANTED, MAX_CHOICES, Reach
from ivr.directory.rules import open_at
from ivr.flow.actions import Digits, Heard, ListenFailed, NoInput, Prompt, Result, Saying
from ivr.flow.engine import CallSession, register_behaviour
from ivr.flow.model import Node, hours_prompt, register_node

PROMPTS = (
    "directory_keys",  # "type the first three letters of the name..."
    "directory_say",  # "say the name of the office or person, or type its first letters"
    "directory_no_match",  # "nobody by that name"
    "directory_you_said",  # "did you say" (then the name)
    "directory_confirm",  # "press 1 to confirm, 2 to search again"
    "directory_choose",  # "I found more than one"
    "directory_for",  # "for" (then a name)
    "directory_press",  # "press" (then its number)
    "directory_connecting",  # "connecting you"
    "directory_closed",  # "closed now" (then its hours)
    "directory_offer_department",  # "press 1 for the department's operators, 2 to search again"
)
_STEP, _MATCH, _CHOICES, _TYPED = "dir_step", "dir_match", "dir_choices", "dir_typed"
CONFIRM, AGAIN = "1", "2"


@dataclass(frozen=True)
class DirectoryNode(Node):
    FIELDS = ("speech", "retries")
    speech: bool = False
    retries: int = 3

    def prompt_keys(self) -> tuple[str, ...]:
        return PROMPTS

    @property
    def waits_for_caller(self) -> bool:
        return True

    @classmethod
    def parse(cls, reader: Any, node_id: str, body: dict, line: int) -> DirectoryNode:
        speech = body.get("speech", False)
        if not isinstance(speech, bool):
            reader.fail(line, node_id, "'speech' is true or false")
            speech = False
        return cls(id=node_id, line=line, speech=speech, retries=int(body.get("retries", 3)))


def _can_hear(session: CallSession) -> bool:
    languages = session.caller.get("speech")
    return languages is None or session.lang in languages.split(",")


class Directory:
    def enter(self, session: CallSession, node: DirectoryNode) -> Any:
        for key in (_MATCH, _CHOICES, _TYPED):
            session.data.pop(key, None)
        if node.speech and _can_hear(session):
            session.data[_STEP] = "grammar"
            return session.invoke("directory.grammar")
        return self._ask_keys(session)

    def answer(self, session: CallSession, node: DirectoryNode, event: Any) -> Any:
        step = session.data.get(_STEP)
        if step == "grammar":
            if isinstance(event, Result) and event.ok and event.value:
                session.data[_STEP] = "listen"
                return session.listen(session.p("directory_say"), tuple(event.value))
            return self._ask_keys(session)
        if step == "listen":
            return self._heard(session, node, event)
        if step in ("keys", "more"):
            return self._keyed(session, node, event, step)
        if step == "lookup" and isinstance(event, Result):
            return self._found(session, node, event)
        digit = event.digits[:1] if isinstance(event, Digits) else ""
        if step == "confirm":
            if digit == CONFIRM:
                return self._reach(session, session.data[_MATCH])
            if digit == AGAIN:
                return self.enter(session, node)
            return self._again(session, node, event, self._confirm)
        if step == "choose":
            choices: list[Reach] = session.data[_CHOICES]
            if digit.isdigit() and 1 <= int(digit) <= len(choices):
                return self._reach(session, choices[int(digit) - 1])
            return self._again(session, node, event, self._choose)
        if step == "closed":
            match: Reach = session.data[_MATCH]
            if digit == CONFIRM:
                return session.transfer_to(match.department, reason="directory_closed")
            if digit == AGAIN:
                return self.enter(session, node)
            return self._again(session, node, event, self._closed)
        return session.fallback("error")

    # -- asking ---------------------------------------------------------------------------------

    def _ask_keys(self, session: CallSession) -> Any:
        session.data[_STEP] = "keys"
        return session.ask(session.p("directory_keys"), max_digits=KEYS_WANTED, timeout_ms=8000)

    def _heard(self, session: CallSession, node: DirectoryNode, event: Any) -> Any:
        if isinstance(event, ListenFailed):  # no recogniser now: the keys still work
            return self._ask_keys(session)
        if isinstance(event, Heard) and event.text.strip():
            session.data["said"] = event.text
            session.data[_STEP] = "lookup"
            return session.invoke("directory.said", text=event.text)
        if isinstance(event, Digits) and event.digits:  # keys instead of words
            if len(event.digits) >= KEYS_WANTED:
                return self._lookup_keys(session, event.digits)
            session.data[_TYPED], session.data[_STEP] = event.digits, "more"
            return session.ask((), max_digits=KEYS_WANTED - len(event.digits), timeout_ms=8000)
        return self._again(session, node, event, lambda s: self.enter(s, node))

    def _keyed(self, session: CallSession, node: DirectoryNode, event: Any, step: str) -> Any:
        typed = session.data.pop(_TYPED, "") if step == "more" else ""
        digits = typed + (event.digits if isinstance(event, Digits) else "")
        if len(digits) >= 2:  # two letters and '#' are enough to try
            return self._lookup_keys(session, digits)
        return self._again(session, node, event, lambda s: self.enter(s, node))

    def _lookup_keys(self, session: CallSession, digits: str) -> Any:
        session.data[_STEP] = "lookup"
        return session.invoke("directory.keys", digits=digits)

    def _found(self, session: CallSession, node: DirectoryNode, result: Result) -> Any:
        if not result.ok:
            session.say_first(*session.p("service_unavailable"))
            return session.transfer_to(
                session.dialplan.operator.id, reason="directory_unavailable", prompt=None
            )
        matches = list(result.value or ())
        if not matches:
            give_up = session.retry_or_operator(node.retries, "directory_no_match")
            return give_up or self.enter(session, node)
        if len(matches) == 1:
            session.data[_MATCH] = matches[0]
            return self._confirm(session)
        session.data[_CHOICES] = matches[:MAX_CHOICES]
        return self._choose(session)

    def _confirm(self, session: CallSession) -> Any:
        session.data[_STEP] = "confirm"
        match: Reach = session.data[_MATCH]
        pieces = (
            *session.p("directory_you_said"),
            Prompt(match.prompt, session.lang),
            *session.p("directory_confirm"),
        )
        return session.ask(pieces)

    def _choose(self, session: CallSession) -> Any:
        session.data[_STEP] = "choose"
        pieces: list[Any] = list(session.p("directory_choose"))
        for number, match in enumerate(session.data[_CHOICES], start=1):
            pieces += [
                *session.p("directory_for"),
                Prompt(match.prompt, session.lang),
                *session.p("directory_press"),
                Saying("digits", str(number), session.lang),
            ]
        return session.ask(tuple(pieces))

    def _closed(self, session: CallSession) -> Any:
        session.data[_STEP] = "closed"
        match: Reach = session.data[_MATCH]
        hours = match.hours_prompt or hours_prompt(match.department)
        pieces = (
            *session.p("directory_closed"),
            Prompt(hours, session.lang),
            *session.p("directory_offer_department"),
        )
        return session.ask(pieces)

    def _again(self, session: CallSession, node: DirectoryNode, event: Any, step: Any) -> Any:
        why = "no_input" if isinstance(event, NoInput) else "invalid_choice"
        return session.retry_or_operator(node.retries, why) or step(session)

    # -- putting through ------------------------------------------------------------------------

    def _reach(self, session: CallSession, match: Reach) -> Any:
        """Ring the entry when it is open; else say its hours and offer its department."""
        session.data[_MATCH] = match
        dept = session.dialplan.departments.get(match.department)
        if dept is None:  # a department the published dialplan no longer has
            return session.transfer_to(session.dialplan.operator.id, reason="directory")
        calendar = session.dialplan.calendar
        if not open_at(dept, match.hours, calendar, session.now, session.switches):
            return self._closed(session)
        return session.transfer_to(
            match.department, reason="directory", prompt="directory_connecting", dial=match.dial
        )


register_node("directory", DirectoryNode)
register_behaviour(DirectoryNode, Directory())
