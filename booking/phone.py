"""Booking by phone: three dialplan node kinds on the engine's extension API.

- ``book_appointment``: choose a service -> hear the first free slots (dates and times said by
  Asterisk in the caller's language) -> confirm -> hear the booking code twice;
- ``certificate_request``: certificate type -> delivery (post or desk) -> confirm -> code;
- ``booking_lookup``: type a code (rejected at once when its check digit is wrong) -> hear the
  booking -> cancel it or keep it.

The nodes are pure: every database step is an ``Invoke`` of a ``booking.*`` service that
:mod:`booking.phone_services` performs. Whatever fails (database down, no slots, three wrong
answers) is said politely and the caller is offered to a human: the general operator.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from booking.codes import LENGTH, is_valid, normalize, spoken_groups
from ivr.flow.actions import Digits, Event, NoInput, Piece, Played, Result, Saying
from ivr.flow.engine import CallSession, Jump, register_behaviour
from ivr.flow.model import Node, register_node

CERTIFICATE_TYPES = ("residence", "family_status", "birth", "citizenship", "marriage")
DELIVERIES = {"1": "post", "2": "desk"}
YES, NO = "1", "2"


def code_twice(session: CallSession, intro: str, code: str) -> tuple[Piece, ...]:
    """``intro``, then the code twice, digit by digit in groups (3-3-2) as Italians read numbers
    aloud: a caller with no pen ready gets a second chance."""
    groups = tuple(Saying("digits", g, session.lang) for g in spoken_groups(code))
    return (*session.p(intro), *groups, *session.p("booking_code_again"), *groups)


def _about(session: CallSession, before: str, epoch: int, after: str) -> tuple[Piece, ...]:
    """A sentence around a date and time: "<before> <date> <time> <after>"."""
    return (*session.p(before), *_when(session, epoch), *session.p(after))


def _when(session: CallSession, epoch: int) -> tuple[Piece, ...]:
    return (Saying("date", str(epoch), session.lang), Saying("time", str(epoch), session.lang))


def _to_operator(session: CallSession, why: str) -> Any:
    """Say why the machine can't help, then hand over to a person."""
    session.say_first(*session.p(why))
    return session.transfer_to(session.dialplan.operator.id, reason="booking")


@dataclass(frozen=True)
class _BookingNode(Node):
    next: str = ""
    retries: int = 3

    def targets(self) -> tuple[str, ...]:
        return (self.next,)

    @property
    def waits_for_caller(self) -> bool:
        return True


@dataclass(frozen=True)
class BookAppointmentNode(_BookingNode):
    FIELDS = ("prompt", "services", "next", "retries")
    prompt: str = ""
    services: dict[str, str] = field(default_factory=dict)  # digit -> service code

    def prompt_keys(self) -> tuple[str, ...]:
        return (self.prompt, *APPOINTMENT_PROMPTS)

    @classmethod
    def parse(cls, reader: Any, node_id: str, body: Any, line: int) -> BookAppointmentNode:
        services = reader.options(body, node_id, "services")
        return cls(
            id=node_id,
            line=line,
            prompt=reader.text(body, "prompt", node_id),
            services=services,
            next=reader.text(body, "next", node_id),
            retries=int(body.get("retries", 3)),
        )


@dataclass(frozen=True)
class CertificateRequestNode(_BookingNode):
    FIELDS = ("prompt", "types", "next", "retries")
    prompt: str = ""
    types: dict[str, str] = field(default_factory=dict)  # digit -> certificate type

    def prompt_keys(self) -> tuple[str, ...]:
        return (self.prompt, *CERTIFICATE_PROMPTS)

    @classmethod
    def parse(cls, reader: Any, node_id: str, body: Any, line: int) -> CertificateRequestNode:
        types = reader.options(body, node_id, "types")
        for digit, kind in types.items():
            if kind not in CERTIFICATE_TYPES:
                reader.fail(
                    line,
                    node_id,
                    f"type {digit}: '{kind}' is not one of " + ", ".join(CERTIFICATE_TYPES),
                )
        return cls(
            id=node_id,
            line=line,
            prompt=reader.text(body, "prompt", node_id),
            types=types,
            next=reader.text(body, "next", node_id),
            retries=int(body.get("retries", 3)),
        )


@dataclass(frozen=True)
class BookingLookupNode(_BookingNode):
    FIELDS = ("next", "retries")

    def prompt_keys(self) -> tuple[str, ...]:
        return LOOKUP_PROMPTS

    @classmethod
    def parse(cls, reader: Any, node_id: str, body: Any, line: int) -> BookingLookupNode:
        return cls(
            id=node_id,
            line=line,
            next=reader.text(body, "next", node_id),
            retries=int(body.get("retries", 3)),
        )


APPOINTMENT_PROMPTS = (
    "booking_slots_intro",
    "press_1",
    "press_2",
    "press_3",
    "booking_you_chose",
    "booking_confirm_or_change",
    "booking_confirmed",
    "booking_code_again",
    "booking_no_slots",
    "booking_unavailable",
    "booking_slot_taken",
    "booking_already",
)
CERTIFICATE_PROMPTS = (
    "certificate_delivery",
    "certificate_confirm",
    "certificate_confirmed",
    "booking_code_again",
    "booking_unavailable",
)
LOOKUP_PROMPTS = (
    "booking_enter_code",
    "booking_code_invalid",
    "booking_not_found",
    "booking_found",
    "booking_cancel_or_keep",
    "booking_cancelled",
    "booking_kept",
    "booking_unavailable",
)


class _Steps:
    """Shared bookkeeping: each node keeps its step and what it learnt in ``session.data``."""

    def state(self, session: CallSession, node: Node) -> dict[str, Any]:
        return session.data.setdefault(node.id, {})

    def again(self, session: CallSession, node: _BookingNode, why: str) -> Any:
        """A wrong or missing answer: count it, ask the current step again (or give up)."""
        return session.retry_or_operator(node.retries, why) or self.ask(
            session, node, self.state(session, node)
        )

    def answer(self, session: CallSession, node: Any, event: Event) -> Any:
        st = self.state(session, node)
        if isinstance(event, NoInput):
            return self.again(session, node, "no_input")
        return self.step(session, node, st, event)

    def enter(self, session: CallSession, node: Any) -> Any:
        session.data[node.id] = {"step": "start"}
        return self.ask(session, node, session.data[node.id])

    def ask(self, session: CallSession, node: Any, st: dict[str, Any]) -> Any:
        raise NotImplementedError

    def step(self, session: CallSession, node: Any, st: dict[str, Any], event: Event) -> Any:
        raise NotImplementedError


class BookAppointment(_Steps):
    def ask(self, session: CallSession, node: BookAppointmentNode, st: dict[str, Any]) -> Any:
        if st["step"] == "start":
            return session.ask(session.p(node.prompt))
        if st["step"] == "slot":
            pieces: list[Piece] = list(session.p("booking_slots_intro"))
            for i, slot in enumerate(st["slots"], start=1):
                pieces += [*_when(session, slot["start"]), *session.p(f"press_{i}")]
            return session.ask(tuple(pieces))
        if st["step"] == "confirm":
            start = st["chosen"]["start"]
            return session.ask(
                _about(session, "booking_you_chose", start, "booking_confirm_or_change")
            )
        return session.fallback("error")

    def step(
        self, session: CallSession, node: BookAppointmentNode, st: dict[str, Any], event: Event
    ) -> Any:
        step = st["step"]
        if step == "start" and isinstance(event, Digits):
            service = node.services.get(event.digits[:1])
            if service is None:
                return self.again(session, node, "invalid_choice")
            st.update(step="slots", service=service)
            return session.invoke("booking.slots", service=service, limit=3)
        if step == "slots" and isinstance(event, Result):
            if not event.ok:
                return _to_operator(session, "booking_unavailable")
            if not event.value:
                return _to_operator(session, "booking_no_slots")
            st.update(step="slot", slots=list(event.value)[:3])
            session.failures = 0
            return self.ask(session, node, st)
        if step == "slot" and isinstance(event, Digits):
            index = int(event.digits[:1]) - 1 if event.digits[:1].isdigit() else -1
            if not 0 <= index < len(st["slots"]):
                return self.again(session, node, "invalid_choice")
            st.update(step="confirm", chosen=st["slots"][index])
            session.failures = 0
            return self.ask(session, node, st)
        if step == "confirm" and isinstance(event, Digits):
            if event.digits[:1] == NO:
                st["step"] = "start"
                return self.ask(session, node, st)
            if event.digits[:1] != YES:
                return self.again(session, node, "invalid_choice")
            st["step"] = "booking"
            return session.invoke(
                "booking.book",
                service=st["service"],
                slot=st["chosen"]["id"],
                caller=session.caller.get("number", ""),
                language=session.lang,
            )
        if step == "booking" and isinstance(event, Result):
            if event.ok:
                code = event.value["code"]
                session.data["said"] = f"booked {st['service']}"
                st["step"] = "done"
                return session.play_then(code_twice(session, "booking_confirmed", code), node.next)
            if event.error == "slot_full" and event.value:
                # Someone took it first: offer the next free slot straight away.
                session.say_first(*session.p("booking_slot_taken"))
                st.update(step="confirm", chosen=event.value)
                return self.ask(session, node, st)
            if event.error == "already_booked":
                return _to_operator(session, "booking_already")
            if event.error == "slot_full":
                return _to_operator(session, "booking_no_slots")
            return _to_operator(session, "booking_unavailable")
        return self.again(session, node, "invalid_choice")


class CertificateRequest(_Steps):
    def ask(self, session: CallSession, node: CertificateRequestNode, st: dict[str, Any]) -> Any:
        if st["step"] == "start":
            return session.ask(session.p(node.prompt))
        if st["step"] == "delivery":
            return session.ask(session.p("certificate_delivery"))
        if st["step"] == "confirm":
            return session.ask(session.p("certificate_confirm"))
        return session.fallback("error")

    def step(
        self, session: CallSession, node: CertificateRequestNode, st: dict[str, Any], event: Event
    ) -> Any:
        step = st["step"]
        key = event.digits[:1] if isinstance(event, Digits) else ""
        if step == "start" and isinstance(event, Digits):
            if key not in node.types:
                return self.again(session, node, "invalid_choice")
            st.update(step="delivery", type=node.types[key])
            session.failures = 0
            return self.ask(session, node, st)
        if step == "delivery" and isinstance(event, Digits):
            if key not in DELIVERIES:
                return self.again(session, node, "invalid_choice")
            st.update(step="confirm", delivery=DELIVERIES[key])
            session.failures = 0
            return self.ask(session, node, st)
        if step == "confirm" and isinstance(event, Digits):
            if key == NO:
                st["step"] = "start"
                return self.ask(session, node, st)
            if key != YES:
                return self.again(session, node, "invalid_choice")
            st["step"] = "saving"
            return session.invoke(
                "booking.certificate",
                type=st["type"],
                delivery=st["delivery"],
                caller=session.caller.get("number", ""),
                language=session.lang,
            )
        if step == "saving" and isinstance(event, Result):
            if not event.ok:
                return _to_operator(session, "booking_unavailable")
            code = event.value["code"]
            session.data["said"] = f"certificate {st['type']} by {st['delivery']}"
            st["step"] = "done"
            return session.play_then(code_twice(session, "certificate_confirmed", code), node.next)
        return self.again(session, node, "invalid_choice")


class BookingLookup(_Steps):
    def ask(self, session: CallSession, node: BookingLookupNode, st: dict[str, Any]) -> Any:
        if st["step"] == "start":
            return session.ask(session.p("booking_enter_code"), max_digits=LENGTH + 1)
        if st["step"] == "found":
            start = st["booking"]["start"]
            return session.ask(_about(session, "booking_found", start, "booking_cancel_or_keep"))
        return session.fallback("error")

    def step(
        self, session: CallSession, node: BookingLookupNode, st: dict[str, Any], event: Event
    ) -> Any:
        step = st["step"]
        if step == "start" and isinstance(event, Digits):
            code = normalize(event.digits)
            if not is_valid(code):  # the check digit catches a mistyped code at once
                return self.again(session, node, "booking_code_invalid")
            st.update(step="finding", code=code)
            return session.invoke("booking.find", code=code)
        if step == "finding" and isinstance(event, Result):
            if event.error in ("not_found", "invalid_code"):
                st["step"] = "start"
                return self.again(session, node, "booking_not_found")
            if not event.ok:
                return _to_operator(session, "booking_unavailable")
            st.update(step="found", booking=event.value)
            session.failures = 0
            return self.ask(session, node, st)
        if step == "found" and isinstance(event, Digits):
            key = event.digits[:1]
            if key == NO:
                return session.play_then(session.p("booking_kept"), node.next)
            if key != YES:
                return self.again(session, node, "invalid_choice")
            st["step"] = "cancelling"
            return session.invoke("booking.cancel", code=st["code"])
        if step == "cancelling" and isinstance(event, Result):
            if not event.ok:
                return _to_operator(session, "booking_unavailable")
            session.data["said"] = "cancelled a booking"
            return session.play_then(session.p("booking_cancelled"), node.next)
        if isinstance(event, Played):
            return Jump(node.next)
        return self.again(session, node, "invalid_choice")


register_node("book_appointment", BookAppointmentNode)
register_node("certificate_request", CertificateRequestNode)
register_node("booking_lookup", BookingLookupNode)
register_behaviour(BookAppointmentNode, BookAppointment())
register_behaviour(CertificateRequestNode, CertificateRequest())
register_behaviour(BookingLookupNode, BookingLookup())
