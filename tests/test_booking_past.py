"""A caller whose appointment is over may book the same service again (SQLite and PostgreSQL).

The one-active-booking rule is a partial unique index on active bookings: a past appointment left
``active`` would block the citizen for ever, so booking turns the caller's past ones to ``done``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from booking.models import Booking
from booking.seed import seed_example_city
from booking.service import BookingError, BookingService
from ivr.db import make_engine
from ivr.flow.model import CityCalendar


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 23, 10, 0)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def engine(booking_url):
    engine = make_engine(booking_url)
    yield engine
    engine.dispose()


def test_a_past_appointment_does_not_block_the_next_one(engine):
    clock = Clock()
    city = BookingService(engine, CityCalendar(patron_saint=(12, 7)), clock)
    seed_example_city(city, days=21)
    first = city.available_slots("carta_identita", 1)[0]
    city.book("carta_identita", first.id, "3331234567", "it")
    second = city.available_slots("carta_identita", 1)[0]
    with pytest.raises(BookingError) as refused:
        city.book("carta_identita", second.id, "3331234567", "it")
    assert refused.value.code == "already_booked"  # still upcoming: one at a time

    clock.now = first.starts_at + timedelta(days=1)
    later = city.available_slots("carta_identita", 1)[0]
    again = city.book("carta_identita", later.id, "+39 333 123 4567", "it")
    assert again["code"]
    with Session(engine) as s:
        statuses = dict(s.execute(select(Booking.slot_id, Booking.status)).all())
    assert statuses == {first.id: "done", later.id: "active"}
