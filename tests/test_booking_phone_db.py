"""The phone flows (booking/phone.py) on the real ``booking.*`` services and a real database.

The same scripted calls as tests/test_booking_phone.py, but every Invoke goes through
booking/phone_services.py to SQLite or PostgreSQL, and the outcome is read back from the tables.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from booking import codes
from booking.models import Booking, CertificateRequest, Slot
from booking.phone_services import DatabaseBooking
from booking.seed import seed_example_city
from ivr.devenv.asterisk import free_port
from ivr.flow.actions import Result
from ivr.flow.services import ServiceError
from tests.test_booking_phone import EXAMPLE, NOW, run, said

CALLER = "3331234567"


class Services:
    """Performs Invokes like the FastAGI runner: a ServiceError becomes Result(error=...)."""

    def __init__(self, table):
        self.table = table
        self.calls = []

    def __call__(self, action):
        self.calls.append(action)
        try:
            return Result(value=self.table[action.service](dict(action.args)))
        except ServiceError as err:
            return Result(value=err.value, error=err.code)


@pytest.fixture
def db(booking_url):
    booking = DatabaseBooking(booking_url, EXAMPLE, lambda: NOW)
    seed_example_city(booking.service, days=14)
    yield booking
    booking.close()


def bookings(db):
    with Session(db.engine) as session:
        return session.scalars(select(Booking).order_by(Booking.id)).all()


def test_keypad_booking_is_stored_and_its_code_said(db):
    services = Services(db.services())
    seen, end, _, _ = run(["1", "1", "2", "2", "1", "1"], services)
    [booking] = bookings(db)
    assert booking.service_id == "cambio_residenza" and booking.caller_number == CALLER
    words = said(seen)
    assert words.count("digits:" + codes.spoken_groups(booking.code)[0]) == 2
    first = db.service.available_slots("cambio_residenza", 1)[0]
    assert booking.slot_id == first.id  # the first slot offered, then pressed 1
    assert end.prompts[0].key == "goodbye"


def test_losing_the_race_by_phone_offers_the_next_slot(db):
    first, second = db.service.available_slots("carta_identita", 2)
    with Session(db.engine) as session, session.begin():  # others fill the first slot meanwhile
        session.get(Slot, first.id).booked = session.get(Slot, first.id).capacity
    services = Services(db.services())
    # "slots" was read before the others booked: replay its answer so slot 1 is the full one
    stale = [{"id": first.id, "start": db.service.epoch(first.starts_at)}]
    services.table = {**services.table, "booking.slots": lambda args: stale}
    seen, end, _, _ = run(["1", "1", "2", "1", "1", "1", "1"], services)
    assert "booking_slot_taken" in said(seen)
    [booking] = bookings(db)
    assert booking.slot_id == second.id


def test_second_booking_for_the_same_service_goes_to_the_operator(db):
    services = Services(db.services())
    run(["1", "1", "2", "2", "1", "1"], services)
    seen, end, _, _ = run(["1", "1", "2", "2", "2", "1"], services)
    assert "booking_already" in said(seen) and end.department == "operatore"
    assert len(bookings(db)) == 1


def test_cancel_by_code_frees_the_place(db):
    services = Services(db.services())
    run(["1", "1", "2", "1", "1", "1"], services)
    [booking] = bookings(db)
    seen, end, _, _ = run(["1", "1", "3", booking.code + "#", "1"], services)
    assert "booking_cancelled" in said(seen)
    [booking] = bookings(db)
    assert booking.status == "cancelled"
    with Session(db.engine) as session:
        assert session.scalar(select(func.sum(Slot.booked))) == 0
    # a cancelled code is "not found" when typed again
    seen, end, _, _ = run(["1", "1", "3", booking.code, booking.code, booking.code], services)
    assert said(seen).count("booking_not_found") >= 2


def test_certificate_by_phone_is_stored_with_its_delivery(db):
    services = Services(db.services())
    run(["1", "1", "1", "2", "2", "1"], services)  # family status, pick-up at the desk
    with Session(db.engine) as session:
        [request] = session.scalars(select(CertificateRequest)).all()
    assert (request.type, request.delivery, request.status) == (
        "family_status",
        "desk",
        "requested",
    )
    assert request.office_id == "anagrafe_centrale" and request.caller_number == CALLER


def test_database_down_is_said_and_the_operator_takes_over():
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/nothing"
    booking = DatabaseBooking(
        url, EXAMPLE, lambda: datetime(2026, 11, 23, 10, tzinfo=ZoneInfo("UTC"))
    )
    services = Services(booking.services())
    seen, end, _, _ = run(["1", "1", "2", "1"], services)
    assert "booking_unavailable" in said(seen)
    assert end.department == "operatore" and end.reason == "booking"
    seen, end, _, _ = run(["1", "1", "1", "1", "1", "1"], services)
    assert "booking_unavailable" in said(seen)


def test_ivr_booking_seed_and_list(tmp_path, monkeypatch, capsys):
    from ivr.cli import main

    monkeypatch.setenv("NU_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    assert main(["booking", "seed", "--days", "7"]) == 0
    assert "added 2 offices, 3 services" in capsys.readouterr().out
    assert main(["booking", "seed", "--days", "7"]) == 0
    assert "added 0 offices, 0 services, 0 slot templates" in capsys.readouterr().out
    from booking.cli import open_service
    from ivr import config

    service = open_service(config.load())
    slot = service.available_slots("carta_identita", 1)[0]
    code = service.book("carta_identita", slot.id, CALLER)["code"]
    service.engine.dispose()
    assert main(["booking", "list"]) == 0
    out = capsys.readouterr().out
    assert code in out and "carta_identita" in out and "1 booking(s)" in out
    assert CALLER not in out and "********67" in out  # the number masked


def test_200_phone_callers_race_for_10_places_and_every_loser_is_offered_the_next_slot(
    booking_url,
):
    """200 callers reach "confirm" on the same slot (10 places), then all press 1 at once."""
    from threading import Barrier, Thread

    from ivr.db import release
    from ivr.flow.actions import Ask, Digits, Invoke, Play, Played
    from ivr.flow.engine import CallSession
    from tests.test_booking_service import _race_city

    release(booking_url)  # the shared engine is made again, with a pool for 200 callers
    booking = DatabaseBooking(booking_url, EXAMPLE, lambda: NOW, pool_size=20, max_overflow=200)
    _, last, following = _race_city(booking.engine, lambda: NOW)
    services = Services(booking.services())

    def step(session, action, answers):
        """Play/Invoke until the next Ask; answer it from ``answers`` while there are some."""
        while True:
            if isinstance(action, Play):
                action = session.feed(Played())
            elif isinstance(action, Invoke):
                action = session.feed(services(action))
            elif isinstance(action, Ask) and answers:
                action = session.feed(Digits(answers.pop(0)))
            else:
                return action

    callers = 200
    sessions, asks = [], []
    for i in range(callers):
        session = CallSession(EXAMPLE, now=NOW, caller={"number": f"333{i:07d}"})
        ask = step(session, session.start(), ["1", "1", "2", "1", "1"])  # ... slot 1: confirm?
        assert "booking_confirm_or_change" in said([ask])
        sessions.append(session)
        asks.append(ask)
    outcomes: list = [None] * callers
    barrier = Barrier(callers)

    def confirm(i):
        barrier.wait()
        outcomes[i] = sessions[i].feed(Digits("1"))
        if isinstance(outcomes[i], Invoke):
            outcomes[i] = sessions[i].feed(services(outcomes[i]))

    threads = [Thread(target=confirm, args=(i,)) for i in range(callers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    won = [o for o in outcomes if "booking_confirmed" in said([o])]
    lost = [o for o in outcomes if "booking_slot_taken" in said([o])]
    assert len(won) == 10 and len(lost) == 190
    next_start = booking.service.epoch(datetime(2026, 11, 24, 9, 20))
    for action in lost:  # told, then asked to confirm the next slot straight away
        assert isinstance(action, Ask)
        words = said([action])
        assert words[0] == "booking_slot_taken" and f"date:{next_start}" in words
        assert words[-1] == "booking_confirm_or_change"
    with Session(booking.engine) as session:
        assert session.scalar(select(func.count()).select_from(Booking)) == 10
        assert session.get(Slot, last).booked == 10
    # five of the losers confirm the next slot (5 places): all get it
    for i in [i for i, o in enumerate(outcomes) if "booking_slot_taken" in said([o])][:5]:
        invoke = sessions[i].feed(Digits("1"))
        assert isinstance(invoke, Invoke) and invoke.args["slot"] == following
        assert said([sessions[i].feed(services(invoke))])[0] == "booking_confirmed"
    with Session(booking.engine) as session:
        assert session.get(Slot, following).booked == 5
    booking.close()


def test_the_service_rolls_slots_forward_each_day(booking_url):
    from datetime import timedelta

    now = [NOW]
    booking = DatabaseBooking(booking_url, EXAMPLE, lambda: now[0])
    seed_example_city(booking.service, days=7)
    services = booking.services()
    last = max(s.starts_at for s in booking.service.available_slots("carta_identita", 1000))
    now[0] = NOW + timedelta(days=3)
    offered = services["booking.slots"]({"service": "carta_identita", "limit": 3})
    assert offered and min(s["start"] for s in offered) > booking.service.epoch(now[0])
    newest = max(s.starts_at for s in booking.service.available_slots("carta_identita", 2000))
    assert newest > last + timedelta(days=3)  # 28 days ahead of the new "today"
    booking.close()


def test_ivr_booking_outbox_sends_through_smtp_and_the_sms_gateway(tmp_path, monkeypatch, capsys):
    """A real SMTP server (aiosmtpd) and an HTTP gateway (http.server) on loopback."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from aiosmtpd.controller import Controller

    from booking.cli import open_service
    from booking.models import Outbox
    from ivr import config
    from ivr.cli import main

    mails, texts = [], []

    class Mailbox:
        async def handle_DATA(self, server, session, envelope):
            mails.append(envelope)
            return "250 OK"

    class Gateway(BaseHTTPRequestHandler):
        def do_POST(self):
            texts.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(202)
            self.end_headers()

        def log_message(self, *args):
            pass

    smtp = Controller(Mailbox(), hostname="127.0.0.1", port=free_port())
    smtp.start()
    http = ThreadingHTTPServer(("127.0.0.1", 0), Gateway)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("NU_DATABASE_URL", f"sqlite:///{tmp_path / 'outbox.db'}")
        monkeypatch.setenv("NU_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("NU_SMTP_PORT", str(smtp.port))
        monkeypatch.setenv("NU_SMS_GATEWAY_URL", f"http://127.0.0.1:{http.server_port}/sms")
        assert main(["booking", "seed", "--days", "14"]) == 0
        service = open_service(config.load())
        slot = service.available_slots("cambio_residenza", 1)[0]
        code = service.book("cambio_residenza", slot.id, CALLER)["code"]
        capsys.readouterr()
        assert main(["booking", "outbox", "--once"]) == 0
        assert "sent 2, to retry 0, failed 0" in capsys.readouterr().out
        assert [t["to"] for t in texts] == [CALLER] and code in texts[0]["text"]
        assert mails[0].rcpt_tos == ["anagrafe@comune.example.it"]
        assert code in mails[0].content.decode()
        with Session(service.engine) as session:
            assert {o.status for o in session.scalars(select(Outbox))} == {"sent"}
        service.engine.dispose()
    finally:
        smtp.stop()
        http.shutdown()


def test_ivr_up_sends_confirmations_in_the_background_when_a_gateway_is_set(tmp_path):
    """The ``outbox`` process (ivr/processes.py), as ``ivr up`` and the container run it."""
    import dataclasses
    import json
    import os
    import threading
    import time
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from booking.cli import open_service
    from ivr import config
    from ivr.processes import by_name, wanted
    from ivr.supervisor import Supervisor

    texts = []

    class Gateway(BaseHTTPRequestHandler):
        def do_POST(self):
            texts.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    http = ThreadingHTTPServer(("127.0.0.1", 0), Gateway)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    settings = dataclasses.replace(
        config.load(), database_url=f"sqlite:///{tmp_path / 'up.db'}", smtp_host=""
    )
    assert by_name("outbox") not in wanted(settings)  # nothing configured: messages wait
    settings = dataclasses.replace(
        settings, sms_gateway_url=f"http://127.0.0.1:{http.server_port}/sms"
    )
    assert by_name("outbox") in wanted(settings)
    service = open_service(settings)
    seed_example_city(service, days=14)
    code = service.request_certificate("birth", "post", CALLER)["code"]
    env = dict(
        os.environ,
        NU_DATABASE_URL=settings.database_url,
        NU_SMTP_HOST="",
        NU_SMS_GATEWAY_URL=settings.sms_gateway_url,
    )
    supervisor = Supervisor([by_name("outbox")], env=env).start()
    try:
        deadline = time.monotonic() + 30
        while not texts and time.monotonic() < deadline:
            time.sleep(0.05)
        assert texts and code in texts[0]["text"] and texts[0]["to"] == CALLER
    finally:
        supervisor.stop()
        http.shutdown()
        service.engine.dispose()


def test_ivr_booking_close_withdraws_the_day_and_cancels_its_bookings(
    tmp_path, monkeypatch, capsys
):
    from booking.cli import open_service
    from ivr import config
    from ivr.cli import main

    monkeypatch.setenv("NU_DATABASE_URL", f"sqlite:///{tmp_path / 'close.db'}")
    assert main(["booking", "seed", "--days", "21"]) == 0
    service = open_service(config.load())
    slot = service.available_slots("carta_identita", 1)[0]
    code = service.book("carta_identita", slot.id, CALLER)["code"]
    day = slot.starts_at.date().isoformat()
    capsys.readouterr()
    assert main(["booking", "close", day, "--office", slot.office, "--reason", "sciopero"]) == 0
    out = capsys.readouterr().out
    assert f"{day} closed for {slot.office}" in out and "1 booking(s) cancelled" in out
    assert service.find(code)["status"] == "cancelled"
    assert all(
        s.starts_at.date().isoformat() != day or s.office != slot.office
        for s in service.available_slots("carta_identita", 500)
    )
    service.engine.dispose()


def test_console_phone_books_an_appointment_through_the_fastagi_service(tmp_path):
    """``ivr call`` against ``ivr serve``'s handler: dates and the code are shown, row stored."""
    from ivr.agi.server import FastAGIServer
    from ivr.config import ROOT, Settings
    from ivr.console import run_console
    from ivr.service import city_handler

    settings = Settings(
        redis_url="",
        dialplan_path=ROOT / "dialplans" / "example-city.yaml",
        asterisk_sounds_dir="/snd",
        database_url=f"sqlite:///{tmp_path / 'console.db'}",
    )
    handler, _ = city_handler(settings, clock=lambda zone: NOW.replace(tzinfo=zone))
    booking = DatabaseBooking(settings.database_url, EXAMPLE, lambda: NOW)
    seed_example_city(booking.service, days=7)
    out: list[str] = []
    with FastAGIServer(handler, port=0) as server:
        host, port = server.address
        code = run_console(
            Settings(agi_host=host, agi_port=port), keys="1,1,2,1,1,1", write=out.append
        )
    text = "\n".join(out)
    assert code == 0
    [row] = bookings(booking)
    assert row.service_id == "carta_identita"
    assert "date: Monday 23 November 2026" in text and "time: " in text
    assert text.count("digits:" + codes.spoken_groups(row.code)[0]) == 2
    booking.close()
