"""The ``callback`` node: "we call you back, you keep your place in line".

YAML::

  anagrafe_richiamata:
    type: callback
    department: anagrafe   # whose queue the caller's place is kept in
    retries: 3             # wrong answers before the operator (engine's rule)

Flow: offer the number the caller is calling from (only its last 4 digits are said), 1 confirm /
2 type another (read back in full, then confirmed); no caller id -> straight to typing. Then
``Invoke("callbacks.request")`` with the number, the caller's language, the department and queue
and the place they would have had (``session.data["queue_position"]``, set by the saturation
policy). Booked -> "we will call you back, you keep your place", goodbye; ``duplicate`` -> "you
already have a callback booked", goodbye; any other error -> the department's queue, so the caller
always has a way forward.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ivr.flow.actions import Digits, Event, Result, Saying
from ivr.flow.engine import CallSession, register_behaviour
from ivr.flow.model import Node, register_node

MIN_DIGITS, MAX_DIGITS = 6, 15  # Italian numbers are 6-11 digits; "00" + country code: 15
CONFIRM, OTHER = "1", "2"
_STEP, _TYPED = "callback_step", "callback_typed"

PROMPTS = (
    "callback_offer_number",  # "we can call you back on the number ending in"
    "callback_offer_choice",  # "to confirm press 1, to give another number press 2"
    "callback_enter_number",  # "type the number, then hash"
    "callback_read_back",  # "you typed"
    "callback_confirm_choice",  # "to confirm press 1, to type it again press 2"
    "callback_invalid_number",
    "callback_booked",  # "we will call you back; you keep your place in line. Goodbye."
    "callback_already",  # "you already have a callback booked. Goodbye."
    "callback_unavailable",  # "no callback possible now: we put you through"
    "callback_operator",  # dialplan: tells the operator this call is a callback
    "callback_citizen_intro",  # dialplan: greets the citizen who answers, in their language
)


def normalize_number(raw: str) -> str:
    """Digits to dial back: ``+39...`` becomes ``0039...``; anything not a number is ``""``."""
    raw = raw.strip()
    if raw.startswith("+"):
        raw = "00" + raw[1:]
    return raw if raw.isdigit() and MIN_DIGITS <= len(raw) <= MAX_DIGITS else ""


@dataclass(frozen=True)
class CallbackNode(Node):
    FIELDS = ("department", "retries")
    department: str = ""
    retries: int = 3

    def targets(self) -> tuple[str, ...]:
        return ()

    def prompt_keys(self) -> tuple[str, ...]:
        return PROMPTS

    def departments(self) -> tuple[str, ...]:
        return (self.department,)

    @property
    def waits_for_caller(self) -> bool:
        return True

    @classmethod
    def parse(cls, reader: Any, node_id: str, body: dict, line: int) -> CallbackNode:
        department = body.get("department")
        if not isinstance(department, str) or not department:
            reader.fail(line, node_id, "a callback node needs 'department': <department id>")
            department = ""
        retries = int(body.get("retries", 3))
        return cls(id=node_id, line=line, department=department, retries=retries)


class Callback:
    def enter(self, session: CallSession, node: CallbackNode) -> Any:
        session.data.pop(_TYPED, None)
        if session.caller.get("callbacks") == "off":  # no outbound line: don't take a number
            session.say_first(*session.p("callback_unavailable"))
            return session.transfer_to(node.department, reason="callback_off")
        if normalize_number(session.caller.get("number", "")):
            return self._offer_caller_id(session)
        return self._ask_number(session)

    def answer(self, session: CallSession, node: CallbackNode, event: Event) -> Any:
        step = session.data.get(_STEP)
        if isinstance(event, Result):
            return self._booked(session, node, event)
        digits = event.digits if isinstance(event, Digits) else ""
        if step == "caller_id":
            if digits[:1] == CONFIRM:
                return self._request(session, node, normalize_number(session.caller["number"]))
            if digits[:1] == OTHER:
                return self._ask_number(session)
            return self._again(session, node, digits, self._offer_caller_id)
        if step == "typing":
            number = normalize_number(digits)
            if number:
                session.data[_TYPED] = number
                return self._read_back(session)
            if digits:
                give_up = session.retry_or_operator(node.retries, "callback_invalid_number")
                return give_up or self._ask_number(session)
            return self._again(session, node, digits, self._ask_number)
        if step == "read_back":
            if digits[:1] == CONFIRM:
                return self._request(session, node, session.data[_TYPED])
            if digits[:1] == OTHER:
                return self._ask_number(session)
            return self._again(session, node, digits, self._read_back)
        return session.fallback("error")

    # -- steps ----------------------------------------------------------------------------------

    def _offer_caller_id(self, session: CallSession) -> Any:
        session.data[_STEP] = "caller_id"
        last4 = normalize_number(session.caller["number"])[-4:]
        pieces = (
            *session.p("callback_offer_number"),
            Saying("digits", last4, session.lang),
            *session.p("callback_offer_choice"),
        )
        return session.ask(pieces)

    def _ask_number(self, session: CallSession) -> Any:
        session.data[_STEP] = "typing"
        return session.ask(
            session.p("callback_enter_number"), max_digits=MAX_DIGITS, timeout_ms=10000
        )

    def _read_back(self, session: CallSession) -> Any:
        session.data[_STEP] = "read_back"
        pieces = (
            *session.p("callback_read_back"),
            Saying("digits", session.data[_TYPED], session.lang),
            *session.p("callback_confirm_choice"),
        )
        return session.ask(pieces)

    def _again(self, session: CallSession, node: CallbackNode, digits: str, step: Any) -> Any:
        why = "invalid_choice" if digits else "no_input"
        return session.retry_or_operator(node.retries, why) or step(session)

    def _request(self, session: CallSession, node: CallbackNode, number: str) -> Any:
        session.data[_STEP] = "request"
        department = session.dialplan.departments.get(node.department)
        position = session.data.get("queue_position")
        return session.invoke(
            "callbacks.request",
            number=number,
            language=session.lang,
            department=node.department,
            queue=department.queue if department is not None else "",
            position=position if isinstance(position, int) else 0,
            call_id=session.caller.get("call_id", ""),
        )

    def _booked(self, session: CallSession, node: CallbackNode, result: Result) -> Any:
        if result.ok or result.error == "duplicate":
            session.data["callback"] = True  # the call ends in a callback (KPI records)
            return session.hangup(session.p("callback_booked" if result.ok else "callback_already"))
        session.say_first(*session.p("callback_unavailable"))
        return session.transfer_to(node.department, reason="callback_failed")


register_node("callback", CallbackNode)
register_behaviour(CallbackNode, Callback())
