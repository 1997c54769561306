"""The back office by phone: two dialplan node kinds on the engine's extension API. Pure.

``leave_request`` — "leave a request" in a department menu::

  rifiuti_segnalazione:
    type: leave_request
    category: rifiuti_ingombranti  # a back-office category code
    prompt: backoffice_leave_prompt  # optional: what to say before the beep
    next: fine

The caller hears the prompt and a beep and speaks (``#``, silence or the length limit end the
message); the message is stored with ``Invoke("backoffice.leave")`` — the category, the
caller's number and language, the recording's file name, the call — and its request code is
read back twice, like a booking code. Nothing recorded: said, and asked again (the engine's
retries, then the operator). The service spools the request when the database is down and
still answers its code, so the caller's message is never lost to a database outage.

``request_status`` — "the status of my request"::

  pratica: {type: request_status, next: fine}

The caller types the eight-digit code (a wrong check digit is refused at once, no look-up);
``Invoke("backoffice.status")`` answers the status and, when staff wrote one, the answer as a
prompt synthesised in the caller's language; then 1 an operator (the request's department),
anything else goodbye. Unknown code: said, typed again; the last retry ends at the operator.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from booking.codes import LENGTH, is_valid, normalize
from booking.phone import code_twice
from ivr.flow.actions import Digits, Event, NoInput, Prompt, Recorded, RecordFailed, Result
from ivr.flow.engine import CallSession, Jump, register_behaviour
from ivr.flow.model import Node, register_node

OPERATOR = "1"
STATUSES = ("new", "in_progress", "waiting_citizen", "solved", "closed")

LEAVE_PROMPTS = (
    "backoffice_leave_prompt",  # "after the beep, describe the problem and where; then hash"
    "backoffice_nothing_recorded",  # "I heard no message"
    "backoffice_request_left",  # "your request is recorded. Note its code:"
    "booking_code_again",  # "again, the code is:"
    "backoffice_unavailable",  # "requests can't be taken now: an operator will help you"
)
STATUS_PROMPTS = (
    "backoffice_enter_code",
    "backoffice_code_invalid",
    "backoffice_not_found",
    *(f"backoffice_status_{s}" for s in STATUSES),
    "backoffice_answer_is",  # "the office's answer:"
    "backoffice_status_choice",  # "for an operator press 1; otherwise goodbye"
    "backoffice_unavailable",
)


def answer_prompt(request_id: int) -> str:
    """The prompt key of a request's answer, synthesised per language (``<lang>/<key>``)."""
    return f"bo_answer_{request_id}"


def _to_operator(session: CallSession, why: str) -> Any:
    session.say_first(*session.p(why))
    return session.transfer_to(session.dialplan.operator.id, reason="backoffice")


@dataclass(frozen=True)
class LeaveRequestNode(Node):
    FIELDS = ("category", "prompt", "max_seconds", "next", "retries")
    category: str = ""
    prompt: str = "backoffice_leave_prompt"
    max_seconds: int = 0  # 0: the city's limit (NU_BACKOFFICE_MESSAGE_S); never above it
    next: str = ""
    retries: int = 3

    def targets(self) -> tuple[str, ...]:
        return (self.next,)

    def prompt_keys(self) -> tuple[str, ...]:
        return (self.prompt, *LEAVE_PROMPTS)

    @property
    def waits_for_caller(self) -> bool:
        return True

    @classmethod
    def parse(cls, reader: Any, node_id: str, body: Any, line: int) -> LeaveRequestNode:
        category = body.get("category")
        if not isinstance(category, str) or not category:
            reader.fail(line, node_id, "a leave_request node needs 'category': <category code>")
            category = ""
        max_seconds = body.get("max_seconds", 0)
        if not isinstance(max_seconds, int) or max_seconds < 0:
            reader.fail(line, node_id, "max_seconds: a whole number of seconds (0: the limit)")
            max_seconds = 0
        return cls(
            id=node_id,
            line=line,
            category=category,
            prompt=str(body.get("prompt") or "backoffice_leave_prompt"),
            max_seconds=max_seconds,
            next=reader.text(body, "next", node_id),
            retries=int(body.get("retries", 3)),
        )


@dataclass(frozen=True)
class RequestStatusNode(Node):
    FIELDS = ("next", "retries")
    next: str = ""
    retries: int = 3

    def targets(self) -> tuple[str, ...]:
        return (self.next,)

    def prompt_keys(self) -> tuple[str, ...]:
        return STATUS_PROMPTS

    @property
    def waits_for_caller(self) -> bool:
        return True

    @classmethod
    def parse(cls, reader: Any, node_id: str, body: Any, line: int) -> RequestStatusNode:
        return cls(
            id=node_id,
            line=line,
            next=reader.text(body, "next", node_id),
            retries=int(body.get("retries", 3)),
        )


class LeaveRequest:
    def enter(self, session: CallSession, node: LeaveRequestNode) -> Any:
        session.data[node.id] = {"step": "recording"}
        return session.record(session.p(node.prompt), max_s=node.max_seconds)

    def answer(self, session: CallSession, node: LeaveRequestNode, event: Event) -> Any:
        st = session.data.setdefault(node.id, {"step": "recording"})
        if st["step"] == "recording" and isinstance(event, Recorded):
            st["step"] = "storing"
            return session.invoke(
                "backoffice.leave",
                category=node.category,
                recording=event.file,
                number=session.caller.get("number", ""),
                language=session.lang,
                call_id=session.caller.get("call_id", ""),
            )
        if st["step"] == "recording" and isinstance(event, RecordFailed):
            if event.reason != "nothing":  # no spool, Asterisk can't write: a person takes it
                return _to_operator(session, "backoffice_unavailable")
            give_up = session.retry_or_operator(node.retries, "backoffice_nothing_recorded")
            return give_up or session.record(session.p(node.prompt), max_s=node.max_seconds)
        if st["step"] == "storing" and isinstance(event, Result):
            if not event.ok or not isinstance(event.value, dict) or "code" not in event.value:
                return _to_operator(session, "backoffice_unavailable")
            st["step"] = "done"
            session.data["said"] = f"left a request ({node.category})"
            pieces = code_twice(session, "backoffice_request_left", event.value["code"])
            return session.play_then(pieces, node.next)
        return session.fallback("error")


class RequestStatus:
    def enter(self, session: CallSession, node: RequestStatusNode) -> Any:
        session.data[node.id] = {"step": "code"}
        return self._ask_code(session)

    def _ask_code(self, session: CallSession) -> Any:
        return session.ask(session.p("backoffice_enter_code"), max_digits=LENGTH + 1)

    def _again(self, session: CallSession, node: RequestStatusNode, why: str) -> Any:
        session.data[node.id] = {"step": "code"}
        return session.retry_or_operator(node.retries, why) or self._ask_code(session)

    def answer(self, session: CallSession, node: RequestStatusNode, event: Event) -> Any:
        st = session.data.setdefault(node.id, {"step": "code"})
        step = st["step"]
        if step == "code":
            if isinstance(event, NoInput):
                return self._again(session, node, "no_input")
            code = normalize(event.digits) if isinstance(event, Digits) else ""
            if not is_valid(code):  # the check digit catches a mistyped code at once
                return self._again(session, node, "backoffice_code_invalid")
            st["step"] = "finding"
            return session.invoke("backoffice.status", code=code, language=session.lang)
        if step == "finding" and isinstance(event, Result):
            if event.error == "not_found":
                return self._again(session, node, "backoffice_not_found")
            value = event.value if isinstance(event.value, dict) else {}
            status = value.get("status")
            if not event.ok or status not in STATUSES:
                return _to_operator(session, "backoffice_unavailable")
            st.update(step="heard", department=str(value.get("department") or ""))
            session.failures = 0
            session.data["said"] = "asked a request's status"
            pieces = session.p(f"backoffice_status_{status}")
            answer = value.get("answer")
            if isinstance(answer, str) and answer:
                pieces += (*session.p("backoffice_answer_is"), Prompt(answer, session.lang))
            return session.ask((*pieces, *session.p("backoffice_status_choice")))
        if step == "heard":
            if isinstance(event, Digits) and event.digits[:1] == OPERATOR:
                return session.transfer_to(
                    st.get("department") or session.dialplan.operator.id, reason="backoffice"
                )
            return Jump(node.next)
        return session.fallback("error")


register_node("leave_request", LeaveRequestNode)
register_node("request_status", RequestStatusNode)
register_behaviour(LeaveRequestNode, LeaveRequest())
register_behaviour(RequestStatusNode, RequestStatus())
