"""Booking rules on a real database: SQLite (WAL file) and PostgreSQL (a private cluster).

Every test runs on both (``booking_url`` in conftest.py). The race test is the one the city cares
about: 200 callers for the last 10 places, exactly 10 bookings, every loser told and offered the
next slot.
"""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, time, timedelta

import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from booking import codes
from booking.models import Booking, CertificateRequest, Office, Outbox, Service, Slot, SlotTemplate
from booking.seed import seed_example_city
from booking.service import BookingError, BookingService
from ivr.db import make_engine
from ivr.flow.model import CityCalendar

MONDAY_10 = datetime(2026, 11, 23, 10, 0)


class Clock:
    def __init__(self, now: datetime = MONDAY_10) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def engine(booking_url):
    engine = make_engine(booking_url, pool_size=20, max_overflow=200)
    yield engine
    engine.dispose()


@pytest.fixture
def booking(engine, clock):
    return BookingService(engine, CityCalendar(patron_saint=(12, 7)), clock)


@pytest.fixture
def city(booking):
    seed_example_city(booking, days=28)
    return booking


def count(engine, model, *where) -> int:
    with Session(engine) as session:
        return session.scalar(select(func.count()).select_from(model).where(*where))


def slot(engine, slot_id) -> Slot:
    with Session(engine) as session:
        return session.get(Slot, slot_id)


def test_slots_skip_weekends_holidays_patron_saint_and_the_past(city, engine):
    with Session(engine) as session:
        days = set(session.scalars(select(Slot.day).distinct()))
        first = session.scalar(select(func.min(Slot.starts_at)))
    assert first > MONDAY_10  # nothing before "now"
    assert all(d.weekday() < 5 for d in days)
    assert date(2026, 12, 8) not in days  # Immacolata (a Tuesday)
    assert date(2026, 12, 7) not in days  # the patron saint (Sant'Ambrogio in this test)
    assert date(2026, 12, 9) in days
    offered = city.available_slots("carta_identita", 50)
    assert offered[0].starts_at == datetime(2026, 11, 23, 10, 10)
    assert [s.starts_at for s in offered] == sorted(s.starts_at for s in offered)


def test_seed_is_idempotent(city):
    again = seed_example_city(city, days=28)
    assert (again.offices, again.services, again.templates, again.slots) == (0, 0, 0, 0)


def test_a_closure_takes_its_slots_off_offer(city, engine):
    slot_24 = next(
        s
        for s in city.available_slots("cambio_residenza", 100)
        if s.starts_at.date() == date(2026, 11, 24)
    )
    code = city.book("cambio_residenza", slot_24.id, "3335550000")["code"]
    done = city.add_closure(date(2026, 11, 24), "anagrafe_centrale", "sciopero")
    assert done["slots"] > 0 and done["cancelled"] == 1
    assert city.find(code)["status"] == "cancelled" and slot(engine, slot_24.id).booked == 0
    with Session(engine) as session:
        sms = session.scalars(select(Outbox.body).order_by(Outbox.id.desc()).limit(1)).one()
    assert code in sms and "chiuso" in sms
    offered = city.available_slots("cambio_residenza", 100)
    assert all(s.starts_at.date() != date(2026, 11, 24) for s in offered)
    taken = [s for s in city.available_slots("carta_identita", 100) if s.office == "municipio_3"]
    assert any(s.starts_at.date() == date(2026, 11, 24) for s in taken)  # other office open
    with Session(engine) as session:
        slot_id = session.scalar(
            select(Slot.id).where(
                Slot.day == date(2026, 11, 24), Slot.office_id == "anagrafe_centrale"
            )
        )
    with pytest.raises(BookingError) as err:
        city.book("cambio_residenza", slot_id, "3331111111")
    assert err.value.code == "slot_full"


def test_a_city_closure_day_is_not_generated(booking, engine):
    booking.add_closure(date(2026, 11, 25), None, "elezioni")
    seed_example_city(booking, days=7)
    with Session(engine) as session:
        assert date(2026, 11, 25) not in set(session.scalars(select(Slot.day).distinct()))


def test_book_writes_booking_and_confirmations_in_one_transaction(city, engine):
    first = city.available_slots("carta_identita", 1)[0]
    result = city.book("carta_identita", first.id, "+39 333 1234567", "en")
    assert codes.is_booking_code(result["code"])
    # 10:10 in Rome is 09:10 UTC
    assert result["start"] == int(datetime(2026, 11, 23, 9, 10, tzinfo=UTC).timestamp())
    assert slot(engine, first.id).booked == 1
    with Session(engine) as session:
        messages = session.scalars(select(Outbox).order_by(Outbox.kind)).all()
    assert [(m.kind, m.status) for m in messages] == [("email", "pending"), ("sms", "pending")]
    sms = messages[1]
    assert sms.recipient == "+39 333 1234567" and result["code"] in sms.body
    assert sms.body.startswith("Booking ") and "020202" in sms.body


@pytest.mark.parametrize("breaks", ["_confirmations", "epoch"])
def test_a_failure_inside_the_booking_transaction_rolls_everything_back(
    city, engine, monkeypatch, breaks
):
    """Before the place is taken (writing the outbox) or after (building the answer)."""
    first = city.available_slots("carta_identita", 1)[0]

    def broken(*args, **kwargs):
        raise RuntimeError("broken")

    monkeypatch.setattr(city, breaks, broken)
    with pytest.raises(RuntimeError):
        city.book("carta_identita", first.id, "3331234567")
    assert slot(engine, first.id).booked == 0
    assert count(engine, Booking) == 0 and count(engine, Outbox) == 0


def test_capacity_is_a_database_constraint(city, engine):
    first = city.available_slots("carta_identita", 1)[0]
    with pytest.raises(IntegrityError), Session(engine) as session, session.begin():
        session.execute(update(Slot).where(Slot.id == first.id).values(booked=Slot.capacity + 1))


def test_one_active_booking_per_caller_and_service(city, engine):
    a, b, c, d = city.available_slots("carta_identita", 4)
    city.book("carta_identita", a.id, "3331234567")
    with pytest.raises(BookingError) as err:
        city.book("carta_identita", b.id, "0039 333 1234567")  # same number, written otherwise
    assert err.value.code == "already_booked"
    assert slot(engine, b.id).booked == 0
    city.book("carta_identita", b.id, "3337654321")  # someone else
    city.book("cambio_residenza", city.available_slots("cambio_residenza", 1)[0].id, "3331234567")
    # the city allows three desk certificate appointments per caller
    desk = city.available_slots("certificati_sportello", 4)
    for s in desk[:3]:
        city.book("certificati_sportello", s.id, "3331234567")
    with pytest.raises(BookingError) as err:
        city.book("certificati_sportello", desk[3].id, "3331234567")
    assert err.value.code == "already_booked"


def test_same_caller_twice_at_the_same_instant_gets_one_booking(city, engine):
    slots = city.available_slots("cambio_residenza", 20)
    barrier = threading.Barrier(20)
    outcomes: list[str] = []

    def call(s):
        barrier.wait()
        try:
            city.book("cambio_residenza", s.id, "3339999999")
            outcomes.append("ok")
        except BookingError as err:
            outcomes.append(err.code)

    threads = [threading.Thread(target=call, args=(s,)) for s in slots]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["already_booked"] * 19 + ["ok"]
    assert count(engine, Booking) == 1
    with Session(engine) as session:
        assert session.scalar(select(func.sum(Slot.booked))) == 1


def test_find_cancel_and_reschedule_by_code(city, engine):
    a, b = city.available_slots("cambio_residenza", 2)
    code = city.book("cambio_residenza", a.id, "3331234567")["code"]
    found = city.find(code)
    assert found["status"] == "active" and found["slot"] == a.id
    moved = city.reschedule(code, b.id)
    assert moved["start"] == city.epoch(b.starts_at)
    assert (slot(engine, a.id).booked, slot(engine, b.id).booked) == (0, 1)
    assert city.find(code)["slot"] == b.id
    city.cancel(f"{code[:3]} {code[3:]}")  # spaces as an operator may type them
    assert slot(engine, b.id).booked == 0 and city.find(code)["status"] == "cancelled"
    with pytest.raises(BookingError) as err:
        city.cancel(code)
    assert err.value.code == "not_found"
    # the place is free again, and the caller may book again
    city.book("cambio_residenza", a.id, "3331234567")
    with Session(engine) as session:
        kinds = [
            m.body.split()[1] for m in session.scalars(select(Outbox).where(Outbox.kind == "sms"))
        ]
    assert kinds == [code, code, code, kinds[-1]]


def test_codes_with_a_wrong_check_digit_or_unknown_are_refused(city):
    code = "1234567" + codes.check_digit("1234567")
    wrong = code[:-1] + str((int(code[-1]) + 1) % 10)
    for action in (city.find, city.cancel):
        with pytest.raises(BookingError) as err:
            action(wrong)
        assert err.value.code == "invalid_code"
        with pytest.raises(BookingError) as err:
            action(code)
        assert err.value.code == "not_found"


def test_past_slots_are_neither_offered_nor_bookable(city, clock):
    first = city.available_slots("carta_identita", 1)[0]
    clock.now = first.starts_at + timedelta(minutes=1)
    assert all(s.starts_at > clock.now for s in city.available_slots("carta_identita", 10))
    with pytest.raises(BookingError) as err:
        city.book("carta_identita", first.id, "3331234567")
    assert err.value.code == "slot_full" and err.value.value["id"] != first.id


def test_certificate_requests_by_post_and_at_the_desk(city, engine):
    by_post = city.request_certificate("residence", "post", "3331234567", "it")
    at_desk = city.request_certificate("family_status", "desk", "3331234567", "en")
    assert codes.is_certificate_code(by_post["code"]) and codes.is_certificate_code(at_desk["code"])
    with Session(engine) as session:
        rows = {r.code: r for r in session.scalars(select(CertificateRequest))}
    assert rows[by_post["code"]].delivery == "post" and rows[by_post["code"]].office_id is None
    assert rows[at_desk["code"]].delivery == "desk"
    assert rows[at_desk["code"]].office_id == "anagrafe_centrale"
    assert rows[at_desk["code"]].status == "requested"
    city.advance_certificate(at_desk["code"], "in_progress")
    city.advance_certificate(at_desk["code"], "ready")
    assert city.advance_certificate(at_desk["code"], "sent")["status"] == "sent"
    with pytest.raises(ValueError):
        city.advance_certificate(by_post["code"], "sent")  # not yet in progress
    with pytest.raises(BookingError):
        city.request_certificate("passport", "post", "3331234567")
    # received (x2), ready at the desk, sent
    assert count(engine, Outbox, Outbox.ref.like("certificate:%"), Outbox.kind == "sms") == 4
    with Session(engine) as session:
        last = session.scalars(select(Outbox.body).order_by(Outbox.id.desc()).limit(2)).all()
        received = session.scalars(
            select(Outbox).where(Outbox.kind == "sms").order_by(Outbox.id).limit(2)
        ).all()
        emails = session.scalars(
            select(Outbox).where(Outbox.kind == "email").order_by(Outbox.id)
        ).all()
    assert "posted" in last[0] and "ready for pick-up at Anagrafe Centrale" in last[1]
    assert "posted to your registered address" not in received[0].body  # it: Italian
    assert "spedito all'indirizzo di residenza" in received[0].body
    assert "We will text you when it is ready at Anagrafe Centrale" in received[1].body
    # the registry office is e-mailed each request, by post or at the desk, without the number
    assert [(e.recipient, e.ref) for e in emails] == [
        ("anagrafe@comune.example.it", f"certificate:{rows[by_post['code']].id}"),
        ("anagrafe@comune.example.it", f"certificate:{rows[at_desk['code']].id}"),
    ]
    assert by_post["code"] in emails[0].subject and "spedizione" in emails[0].body
    assert (
        "ritiro allo sportello" in emails[1].body and "Lingua del cittadino: en" in emails[1].body
    )
    assert all("3331234567" not in e.subject + e.body for e in emails)


# ---------------------------------------------------------------------------------------------
# The race: 200 callers, 10 places.


def _race_city(engine, clock) -> tuple[BookingService, int, int]:
    """One service with a last slot of 10 places and a next slot of 5."""
    booking = BookingService(engine, CityCalendar(), clock)
    with Session(engine) as session, session.begin():
        service = Service(
            id="carta_identita",
            name_it="CIE",
            name_en="ID",
            duration_min=20,
            max_active_per_caller=1,
        )
        office = Office(id="centro", name="Centro", address="Piazza 1", desk="", email=None)
        office.services = [service]
        session.add_all([service, office])
        session.flush()
        session.add(
            SlotTemplate(
                office_id="centro",
                service_id="carta_identita",
                weekday=1,
                start=time(9, 0),
                end=time(9, 40),
                capacity=10,
            )
        )
    booking.generate_slots(days=2)  # Tuesday 09:00 and 09:20
    with Session(engine) as session, session.begin():
        last, following = session.scalars(select(Slot.id).order_by(Slot.starts_at)).all()
        session.execute(update(Slot).where(Slot.id == following).values(capacity=5))
    return booking, last, following


def test_200_callers_race_for_10_places(engine, clock):
    booking, last, following = _race_city(engine, clock)
    callers = 200
    barrier = threading.Barrier(callers)
    results: dict[int, object] = {}

    def caller(i: int) -> None:
        barrier.wait()
        try:
            results[i] = booking.book("carta_identita", last, f"33300{i:05d}")
        except BookingError as err:
            results[i] = err

    threads = [threading.Thread(target=caller, args=(i,)) for i in range(callers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(results) == callers
    winners = [r for r in results.values() if isinstance(r, dict)]
    losers = [r for r in results.values() if isinstance(r, BookingError)]
    assert len(winners) == 10 and len(losers) == 190
    expected_next = {"id": following, "start": booking.epoch(datetime(2026, 11, 24, 9, 20))}
    assert {e.code for e in losers} == {"slot_full"}
    assert all(e.value == expected_next for e in losers)
    assert len({w["code"] for w in winners}) == 10
    assert count(engine, Booking, Booking.slot_id == last) == 10
    assert slot(engine, last).booked == 10
    assert count(engine, Outbox, Outbox.kind == "sms") == 10
    with Session(engine) as session:
        check = session.execute(
            text("SELECT capacity, booked FROM slots WHERE id = :id"), {"id": last}
        ).one()
    assert tuple(check) == (10, 10)
