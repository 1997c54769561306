"""Booking by phone through a real Asterisk 22: keypad -> FastAGI flow -> booking database.

The FastAGI service is the product's own (``build_server``) with the ``booking.*`` services on a
real SQLite database seeded with the example city; callers press each key when the IVR asks its
question (tests/asterisk_harness.py). A question said in pieces (the free slots with their dates,
a chosen slot's date read back) is answered on its first piece: the key interrupts it (barge-in)
and answers the question. What the caller heard is read from Asterisk's log: prompts, and SAY
DIGITS as ``digits/<n>`` files.
"""

from __future__ import annotations

import dataclasses
import time
from datetime import datetime

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from booking import codes
from booking.models import Booking, CertificateRequest
from booking.phone_services import DatabaseBooking
from booking.seed import seed_example_city
from ivr.flow.loader import load_dialplan
from ivr.service import build_server

pytestmark = pytest.mark.asterisk

MONDAY_10 = datetime(2026, 11, 23, 10, 0)
CALLER = "3331234567"


def clock(zone):
    return MONDAY_10.replace(tzinfo=zone)


class Recording(dict):
    """The booking services, remembering which ones a call used."""

    def __init__(self, services):
        super().__init__()
        self.used: list[str] = []
        for name, service in services.items():
            self[name] = self._wrap(name, service)

    def _wrap(self, name, service):
        def call(args):
            self.used.append(name)
            return service(args)

        return call


@pytest.fixture(scope="module")
def db(tmp_path_factory, asterisk_session):
    url = f"sqlite:///{tmp_path_factory.mktemp('booking') / 'booking.db'}"
    dialplan = load_dialplan(asterisk_session.settings.dialplan_path)
    booking = DatabaseBooking(url, dialplan, lambda: clock(None))
    seed_example_city(booking.service, days=14)
    yield booking
    booking.close()


@pytest.fixture(scope="module")
def services(db):
    return Recording(db.services())


@pytest.fixture(scope="module")
def service(asterisk_session, db, services):
    settings = dataclasses.replace(asterisk_session.settings, redis_url="", database_url=db.url)
    server = build_server(settings, clock=clock, services=services).start()
    yield server
    server.shutdown()


@pytest.fixture
def city(asterisk, service, services):
    services.used.clear()
    yield asterisk
    deadline = time.monotonic() + 10
    while service.active_calls and time.monotonic() < deadline:
        time.sleep(0.05)


# The menus on the way to the registry office's services, in the order a caller meets them.
QUESTIONS = ("choose_language", "main_menu", "registry_booking_menu")


def menu_keys(*digits: str) -> list[tuple[str, str]]:
    """Language, main menu, registry menu: each key pressed when its question is asked."""
    return list(zip(QUESTIONS, digits, strict=False))


def bookings(db):
    with Session(db.engine) as session:
        return session.scalars(select(Booking).order_by(Booking.id)).all()


def test_keypad_booking_is_stored_and_the_code_is_said(city, db, services):
    before = len(bookings(db))
    # it, registry, appointment, change of residence; then the first slot, pressed as the free
    # slots are introduced, and the confirmation, pressed as the chosen slot is read back
    script = menu_keys("1", "1", "2") + [
        ("appointment_services", "2"),
        ("booking_slots_intro", "1"),
        ("booking_you_chose", "1"),
    ]
    call = city.place_call(script, caller_id=CALLER)
    call.wait_played("booking_code_again", timeout=40)
    call.wait_hangup(timeout=40)
    assert services.used == ["booking.slots", "booking.book"]
    rows = bookings(db)
    assert len(rows) == before + 1
    booking = rows[-1]
    assert booking.service_id == "cambio_residenza" and booking.status == "active"
    assert booking.caller_number == CALLER
    first = db.service.available_slots("cambio_residenza", 1)[0]
    assert booking.slot_id == first.id
    names = [p.name for p in call.played()]
    assert call.said_between("booking_confirmed", "booking_code_again") == list(booking.code)
    after = names[names.index("booking_code_again") :]
    assert [n for n in after if n.isdigit()][: len(booking.code)] == list(booking.code)
    assert "goodbye" in names


def test_cancel_by_code(city, db, services):
    slot = db.service.available_slots("carta_identita", 1)[0]
    code = db.service.book("carta_identita", slot.id, "3330000001")["code"]
    # it, registry, "I have a booking"; the code; "1" (cancel) as the booking is read back
    script = menu_keys("1", "1", "3") + [("booking_enter_code", code + "#"), ("booking_found", "1")]
    call = city.place_call(script, caller_id="3330000002")
    call.wait_played("booking_cancelled", timeout=40)
    call.wait_hangup(timeout=30)
    assert services.used == ["booking.find", "booking.cancel"]
    assert db.service.find(code)["status"] == "cancelled"


def test_wrong_check_digit_is_refused_without_asking_the_database(city, services):
    code = "1234567" + codes.check_digit("1234567")
    wrong = code[:-1] + str((int(code[-1]) + 1) % 10)
    script = menu_keys("1", "1", "3") + [("booking_enter_code", wrong + "#")]
    call = city.place_call(script)
    call.wait_played("booking_code_invalid", timeout=30)
    names = [p.name for p in call.played()]
    assert names.index("booking_code_invalid") > names.index("booking_enter_code")
    call.hangup()
    assert services.used == []


def test_certificate_request_by_phone_is_stored_with_its_delivery(city, db, services):
    # it, registry, certificate: family status, pick-up at the desk, confirm
    script = menu_keys("1", "1", "1") + [
        ("certificate_types", "2"),
        ("certificate_delivery", "2"),
        ("certificate_confirm", "1"),
    ]
    call = city.place_call(script, caller_id="3330000003")
    call.wait_played("certificate_confirmed", timeout=40)
    call.wait_hangup(timeout=40)
    assert services.used == ["booking.certificate"]
    with Session(db.engine) as session:
        request = session.scalars(
            select(CertificateRequest).where(CertificateRequest.caller_number == "3330000003")
        ).one()
    assert (request.type, request.delivery, request.status) == (
        "family_status",
        "desk",
        "requested",
    )
    assert request.office_id == "anagrafe_centrale"
    assert call.said_between("certificate_confirmed", "booking_code_again") == list(request.code)
