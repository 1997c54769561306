"""The outbox worker against real servers on loopback: SMTP (aiosmtpd) and an HTTP SMS gateway.

Retries with backoff, giving up after N attempts, permanent errors, at-least-once delivery across
a worker crash, several workers at once; on SQLite and PostgreSQL (``booking_url``).
"""

from __future__ import annotations

import json
import logging
import socket
import threading
from datetime import datetime, timedelta
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select
from sqlalchemy.orm import Session

from booking.models import Outbox
from booking.outbox import HttpSmsGateway, OutboxWorker, SmtpSender
from booking.seed import seed_example_city
from booking.service import BookingService
from ivr.db import make_engine
from ivr.flow.model import CityCalendar

NOW = datetime(2026, 11, 23, 10, 0)
NUMBER = "3331234567"


class Clock:
    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- a real SMTP server ------------------------------------------------------------------------


class MailHandler:
    def __init__(self) -> None:
        self.messages: list = []
        self.refuse: set[str] = set()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"


def start_smtp(port: int) -> tuple[Controller, MailHandler]:
    handler = MailHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    return controller, handler


@pytest.fixture
def smtp():
    controller, handler = start_smtp(free_port())
    yield controller, handler
    controller.stop()


# --- a tiny SMS gateway --------------------------------------------------------------------------


class Gateway:
    """Records each POST; answers the scripted statuses in turn, then 200."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict, dict]] = []
        self.script: list[tuple[int, str]] = []
        self.always: tuple[int, str] | None = None
        self.lock = threading.Lock()
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with gateway.lock:
                    gateway.requests.append((dict(self.headers), body))
                    status, text = gateway.always or (
                        gateway.script.pop(0) if gateway.script else (200, '{"ok": true}')
                    )
                payload = text.encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/sms"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def keys(self) -> list[str]:
        return [headers["Idempotency-Key"] for headers, _ in self.requests]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def gateway():
    g = Gateway()
    yield g
    g.close()


# --- database --------------------------------------------------------------------------------


@pytest.fixture
def engine(booking_url):
    engine = make_engine(booking_url)
    yield engine
    engine.dispose()


@pytest.fixture
def clock():
    return Clock()


def enqueue(engine, clock, kind="sms", recipient=NUMBER, body="Prenotazione confermata", n=1):
    with Session(engine) as s, s.begin():
        rows = [
            Outbox(
                kind=kind,
                recipient=recipient,
                subject="Avviso" if kind == "email" else "",
                body=f"{body} {i}",
                ref=f"test:{i}",
                attempts=0,
                next_attempt_at=clock(),
                created_at=clock(),
            )
            for i in range(n)
        ]
        s.add_all(rows)
        s.flush()
        return [row.id for row in rows]


def row(engine, message_id) -> Outbox:
    with Session(engine) as s:
        return s.get(Outbox, message_id)


def sms_worker(engine, clock, gateway, **kw) -> OutboxWorker:
    return OutboxWorker(
        engine, {"sms": HttpSmsGateway(gateway.url, token="t0k")}, clock=clock, **kw
    )


# --- tests -----------------------------------------------------------------------------------


def test_a_booking_confirmation_goes_out_by_sms_and_email(engine, clock, gateway, smtp):
    controller, mail = smtp
    booking = BookingService(engine, CityCalendar(patron_saint=(12, 7)), clock)
    seed_example_city(booking, days=14)
    slot = booking.available_slots("carta_identita", 1)[0]
    code = booking.book("carta_identita", slot.id, NUMBER, "it")["code"]

    worker = OutboxWorker(
        engine,
        {
            "sms": HttpSmsGateway(gateway.url, token="t0k", sender_id="Comune"),
            "email": SmtpSender("127.0.0.1", controller.port, "prenotazioni@comune.example.it"),
        },
        clock=clock,
    )
    report = worker.run_once()
    assert (report.sent, report.retried, report.failed) == (2, 0, 0)

    ((headers, body),) = gateway.requests
    assert body["to"] == NUMBER and code in body["text"] and body["from"] == "Comune"
    assert headers["Authorization"] == "Bearer t0k"
    assert headers["Idempotency-Key"] == body["id"]
    (email,) = mail.messages
    assert email["To"] == "anagrafe@comune.example.it"
    assert email["From"] == "prenotazioni@comune.example.it"
    assert code in email["Subject"] + email.get_payload()
    assert email["Message-ID"].startswith("<nu-outbox-")

    with Session(engine) as s:
        rows = s.scalars(select(Outbox)).all()
    assert {(r.status, r.attempts) for r in rows} == {("sent", 1)}
    assert all(r.sent_at == NOW for r in rows)
    assert worker.run_once().claimed == 0  # nothing sent twice


def test_transient_failures_are_retried_with_backoff(engine, clock, gateway):
    gateway.script = [(503, "busy"), (502, "bad gateway")]
    (mid,) = enqueue(engine, clock)
    worker = sms_worker(engine, clock, gateway)

    assert worker.run_once().retried == 1
    first = row(engine, mid)
    assert (first.status, first.attempts) == ("pending", 1)
    assert first.next_attempt_at == NOW + timedelta(seconds=30)
    assert "HTTP 503" in first.last_error

    assert worker.run_once().claimed == 0  # not due yet
    clock.advance(seconds=30)
    assert worker.run_once().retried == 1
    assert row(engine, mid).next_attempt_at == clock() + timedelta(seconds=60)  # doubled

    clock.advance(seconds=60)
    assert worker.run_once().sent == 1
    done = row(engine, mid)
    assert (done.status, done.attempts, done.last_error) == ("sent", 3, None)
    assert len(set(gateway.keys())) == 1 and len(gateway.keys()) == 3  # same key every time


def test_marked_failed_after_max_attempts(engine, clock, gateway):
    gateway.always = (500, "down")
    (mid,) = enqueue(engine, clock)
    worker = sms_worker(engine, clock, gateway, max_attempts=3, base_delay=timedelta(seconds=1))
    outcomes = []
    for _ in range(6):
        report = worker.run_once()
        outcomes.append((report.retried, report.failed))
        clock.advance(minutes=5)
    assert outcomes == [(1, 0), (1, 0), (0, 1), (0, 0), (0, 0), (0, 0)]
    failed = row(engine, mid)
    assert (failed.status, failed.attempts) == ("failed", 3)
    assert "HTTP 500" in failed.last_error
    assert len(gateway.requests) == 3


def test_permanent_errors_are_not_retried(engine, clock, gateway, smtp):
    controller, mail = smtp
    mail.refuse.add("nobody@comune.example.it")
    gateway.script = [(400, '{"error": "invalid number"}')]
    (sms_id,) = enqueue(engine, clock)
    (mail_id,) = enqueue(engine, clock, kind="email", recipient="nobody@comune.example.it")
    worker = OutboxWorker(
        engine,
        {
            "sms": HttpSmsGateway(gateway.url),
            "email": SmtpSender("127.0.0.1", controller.port),
        },
        clock=clock,
    )
    assert worker.run_once().failed == 2
    assert (row(engine, sms_id).status, row(engine, sms_id).attempts) == ("failed", 1)
    assert "HTTP 400" in row(engine, sms_id).last_error
    assert "refused" in row(engine, mail_id).last_error
    assert mail.messages == []


def test_smtp_server_down_then_back(engine, clock):
    port = free_port()
    (mid,) = enqueue(engine, clock, kind="email", recipient="anagrafe@comune.example.it")
    worker = OutboxWorker(engine, {"email": SmtpSender("127.0.0.1", port, timeout=2)}, clock=clock)
    assert worker.run_once().retried == 1  # connection refused: nobody listens yet
    assert row(engine, mid).status == "pending"

    controller, mail = start_smtp(port)
    try:
        clock.advance(seconds=30)
        assert worker.run_once().sent == 1
    finally:
        controller.stop()
    assert row(engine, mid).status == "sent"
    assert [m["To"] for m in mail.messages] == ["anagrafe@comune.example.it"]


def test_a_crash_between_send_and_mark_sends_again_never_loses(engine, clock, gateway):
    (mid,) = enqueue(engine, clock)
    crashing = sms_worker(engine, clock, gateway)

    def crash(message) -> None:
        raise SystemExit("power cut after the gateway said 200")

    crashing._mark_sent = crash
    with pytest.raises(SystemExit):
        crashing.run_once()
    assert len(gateway.requests) == 1
    assert (row(engine, mid).status, row(engine, mid).attempts) == ("sending", 1)

    survivor = sms_worker(engine, clock, gateway)
    assert survivor.run_once().claimed == 0  # the lease still holds
    clock.advance(minutes=5)
    assert survivor.run_once().sent == 1  # lease over: sent again (at least once)
    assert row(engine, mid).status == "sent"
    assert gateway.keys() == [f"nu-outbox-{mid}"] * 2  # the gateway can drop the repeat


def test_a_message_lost_on_its_last_attempt_is_failed_not_dropped(engine, clock, gateway):
    (mid,) = enqueue(engine, clock)
    crashing = sms_worker(engine, clock, gateway, max_attempts=1)
    crashing._mark_sent = lambda message: (_ for _ in ()).throw(SystemExit())
    with pytest.raises(SystemExit):
        crashing.run_once()
    clock.advance(minutes=6)
    assert sms_worker(engine, clock, gateway, max_attempts=1).run_once().claimed == 0
    lost = row(engine, mid)
    assert lost.status == "failed" and "worker lost" in lost.last_error


def test_several_workers_send_each_message_once(engine, clock, gateway):
    ids = enqueue(engine, clock, n=60)
    workers = [sms_worker(engine, clock, gateway, batch=7) for _ in range(4)]

    def drain(worker: OutboxWorker) -> None:
        while worker.run_once().claimed:
            pass

    threads = [threading.Thread(target=drain, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(gateway.keys()) == sorted(f"nu-outbox-{i}" for i in ids)
    with Session(engine) as s:
        assert set(s.scalars(select(Outbox.status))) == {"sent"}


def test_kinds_without_a_sender_wait(engine, clock, gateway):
    (mid,) = enqueue(engine, clock, kind="email", recipient="anagrafe@comune.example.it")
    assert sms_worker(engine, clock, gateway).run_once().claimed == 0
    assert row(engine, mid).status == "pending"


def test_errors_are_stored_and_logged_without_the_number(engine, clock, gateway, caplog):
    gateway.always = (422, '{"error": "+393331234567 is not a mobile"}')
    (mid,) = enqueue(engine, clock, recipient="+393331234567")
    with caplog.at_level(logging.INFO, logger="booking.outbox"):
        sms_worker(engine, clock, gateway).run_once()
    failed = row(engine, mid)
    assert failed.status == "failed" and "is not a mobile" in failed.last_error
    assert "3331234567" not in failed.last_error
    assert caplog.records and "3331234567" not in caplog.text
