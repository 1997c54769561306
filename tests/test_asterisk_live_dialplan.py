"""A live dialplan for every reader, through a real Asterisk 22: what the admin publishes reaches
the running FastAGI service at the next call, without a restart: the flow, and also booking's
calendar (a closure day) and the general operator queue callers fall back to.

The service is the production wiring (``build_server`` with the city's own services on a SQLite
city database, the dialplan read from ``NU_DIALPLAN``); publishing is the admin's
:class:`~ivr.admin.publish.Publisher` (files only: the test Asterisk's own configuration stays).
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from datetime import date, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from booking.models import Booking, Slot
from booking.phone_services import DatabaseBooking
from booking.seed import seed_example_city
from ivr.admin.db import open_database
from ivr.admin.publish import Publisher
from ivr.db import engine_for
from ivr.flow.loader import load_dialplan
from ivr.service import build_server

pytestmark = pytest.mark.asterisk

MONDAY_10 = datetime(2026, 11, 23, 10, 0)
# it, registry office, appointment, change of residence; the first slot offered; confirm
BOOK_FIRST_SLOT = [
    ("choose_language", "1"),
    ("main_menu", "1"),
    ("registry_booking_menu", "2"),
    ("appointment_services", "2"),
    ("booking_slots_intro", "1"),
    ("booking_you_chose", "1"),
]


def clock(zone):
    return MONDAY_10.replace(tzinfo=zone)


@pytest.fixture
def city(tmp_path, asterisk, asterisk_session):
    """Settings for a city of its own: a copy of the published dialplan and a fresh database,
    seeded with the example city's offices and slots."""
    live = tmp_path / "city.yaml"
    shutil.copy(asterisk_session.settings.dialplan_path, live)
    settings = dataclasses.replace(
        asterisk_session.settings,
        redis_url="",
        database_url=f"sqlite:///{tmp_path / 'city.db'}",
        dialplan_path=live,
        var_dir=tmp_path / "var",
    )
    seeding = DatabaseBooking(settings.database_url, load_dialplan(live), lambda: clock(None))
    seed_example_city(seeding.service, days=14)
    first = seeding.service.available_slots("cambio_residenza", 1)[0]
    seeding.close()
    server = build_server(settings, clock=clock).start()
    try:
        yield settings, server, first.starts_at.date()
    finally:
        deadline = time.monotonic() + 10
        while server.active_calls and time.monotonic() < deadline:
            time.sleep(0.05)
        server.shutdown()


def with_closure(text: str, day: date) -> str:
    """The dialplan text with a city-wide closure on ``day`` (the admin's calendar edit)."""
    anchor = "  closures:\n"
    assert anchor in text
    return text.replace(anchor, f"{anchor}    - {{date: {day.isoformat()}, reason: Sciopero}}\n")


def book_first_slot(asterisk, settings, caller: str) -> date:
    """A caller books the first slot offered; the day of their booking."""
    call = asterisk.place_call(BOOK_FIRST_SLOT, caller_id=caller)
    call.wait_played("booking_confirmed", timeout=40)
    call.hangup()
    with Session(engine_for(settings.database_url)) as session:
        booking = session.scalars(select(Booking).where(Booking.caller_number == caller)).one()
        return session.get(Slot, booking.slot_id).day


def test_a_published_closure_day_is_not_offered_at_the_next_call(city, asterisk):
    settings, server, first_day = city
    assert book_first_slot(asterisk, settings, "3339876541") == first_day

    # the admin closes that day (a strike); the running service is not restarted
    publisher = Publisher(settings, open_database(settings.database_url), None)
    publisher.ensure_imported()
    result = publisher.publish(with_closure(publisher.live_text(), first_day), "ed", "strike")
    assert result.ok, result.message

    assert book_first_slot(asterisk, settings, "3339876542") > first_day
    assert server.stats["calls"] == 2  # both calls on the one server that started before
