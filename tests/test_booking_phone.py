"""Booking by phone on the example city's registry menu, with an in-memory booking service.

The engine side only: the real database behind the same ``booking.*`` services is tested in
tests/test_booking_*.py, and a real-Asterisk call in tests/test_asterisk_booking.py.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from booking.codes import check_digit
from ivr.flow.actions import Ask, Digits, Hangup, Invoke, NoInput, Play, Played, Result, Transfer
from ivr.flow.engine import CallSession
from ivr.flow.loader import load_dialplan

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = load_dialplan(ROOT / "dialplans" / "example-city.yaml", ROOT / "prompts")
NOW = datetime(2026, 11, 23, 10)
SLOT1 = {"id": 11, "start": 1795513800}
SLOT2 = {"id": 12, "start": 1795515600}
CODE = "1234567" + check_digit("1234567")


class FakeBooking:
    """Answers the engine's ``booking.*`` invocations the way booking/phone_services.py does."""

    def __init__(self, **errors: str) -> None:
        self.errors = errors
        self.calls: list[Invoke] = []

    def __call__(self, action: Invoke) -> Result:
        self.calls.append(action)
        name = action.service.removeprefix("booking.")
        if name in self.errors:
            error = self.errors.pop(name)
            return Result(value=SLOT2 if error == "slot_full" else None, error=error)
        if name == "slots":
            return Result(value=[SLOT1, SLOT2])
        if name in ("book", "certificate"):
            return Result(value={"code": CODE, "start": SLOT1["start"]})
        if name == "find":
            return Result(value={"code": CODE, "start": SLOT1["start"], "status": "active"})
        if name == "cancel":
            return Result(value={"code": CODE})
        return Result(error="unavailable")


def run(answers, service=None, caller="3331234567"):
    """Drive the example city: Plays heard to the end, Invokes answered by ``service``."""
    service = service or FakeBooking()
    session = CallSession(EXAMPLE, now=NOW, caller={"number": caller})
    action, seen, answers = session.start(), [], list(answers)
    while not isinstance(action, Transfer | Hangup):
        seen.append(action)
        if isinstance(action, Play):
            action = session.feed(Played())
        elif isinstance(action, Invoke):
            action = session.feed(service(action))
        else:
            assert isinstance(action, Ask), action
            assert answers, f"asked more than scripted: {action}"
            answer = answers.pop(0)
            action = session.feed(NoInput() if answer is None else Digits(answer))
    assert not answers, answers
    return seen, action, service, session


def said(actions) -> list[str]:
    out = []
    for a in actions:
        for p in getattr(a, "prompts", ()):
            out.append(getattr(p, "key", None) or f"{p.kind}:{p.value}")
    return out


def test_book_an_appointment_and_hear_the_code_twice():
    seen, end, service, session = run(["1", "1", "2", "2", "2", "1"])
    services = [c.service for c in service.calls]
    assert services == ["booking.slots", "booking.book"]
    assert service.calls[0].args == {"service": "cambio_residenza", "limit": 3}
    assert service.calls[1].args == {
        "service": "cambio_residenza",
        "slot": SLOT2["id"],
        "caller": "3331234567",
        "language": "it",
    }
    words = said(seen)
    assert f"date:{SLOT1['start']}" in words and f"time:{SLOT2['start']}" in words
    confirmed = words[words.index("booking_confirmed") :]
    groups = [w for w in confirmed if w.startswith("digits:")]
    assert groups == ["digits:" + g for g in ("123", "456", "7" + CODE[-1])] * 2
    assert isinstance(end, Hangup) and end.prompts[0].key == "goodbye"


def test_losing_the_race_offers_the_next_slot():
    service = FakeBooking(book="slot_full")
    seen, end, service, _ = run(["1", "1", "2", "1", "1", "1", "1"], service)
    assert [c.service for c in service.calls] == ["booking.slots", "booking.book", "booking.book"]
    assert service.calls[2].args["slot"] == SLOT2["id"]
    assert "booking_slot_taken" in said(seen)
    assert isinstance(end, Hangup)


def test_database_down_is_said_and_the_operator_takes_over():
    seen, end, _, _ = run(["1", "1", "2", "1"], FakeBooking(slots="unavailable"))
    assert "booking_unavailable" in said(seen)
    assert isinstance(end, Transfer) and end.department == "operatore"
    assert end.reason == "booking"


def test_no_slots_is_said_and_the_operator_takes_over():
    class Empty(FakeBooking):
        def __call__(self, action):
            return (
                Result(value=[]) if action.service == "booking.slots" else super().__call__(action)
            )

    seen, end, _, _ = run(["1", "1", "2", "3"], Empty())
    assert "booking_no_slots" in said(seen) and isinstance(end, Transfer)


def test_certificate_request_by_post():
    seen, end, service, session = run(["1", "1", "1", "1", "1", "1"])
    assert service.calls[-1].service == "booking.certificate"
    assert service.calls[-1].args == {
        "type": "residence",
        "delivery": "post",
        "caller": "3331234567",
        "language": "it",
    }
    assert "certificate_confirmed" in said(seen) and isinstance(end, Hangup)
    assert session.data["said"] == "certificate residence by post"


def test_cancel_by_code():
    seen, end, service, _ = run(["1", "1", "3", CODE + "#", "1"])
    assert [c.service for c in service.calls] == ["booking.find", "booking.cancel"]
    assert "booking_cancelled" in said(seen) and isinstance(end, Hangup)


def test_wrong_check_digit_is_refused_without_asking_the_database():
    wrong = CODE[:-1] + str((int(CODE[-1]) + 1) % 10)
    seen, end, service, _ = run(["1", "1", "3", wrong, wrong, wrong])
    assert service.calls == []
    assert said(seen).count("booking_code_invalid") == 2
    assert isinstance(end, Transfer) and end.reason == "retries"


def test_unknown_code_is_said_and_can_be_typed_again():
    service = FakeBooking(find="not_found")
    seen, end, service, _ = run(["1", "1", "3", CODE, CODE, "2"], service)
    assert "booking_not_found" in said(seen)
    assert "booking_kept" in said(seen) and isinstance(end, Hangup)
