"""``ivr booking seed`` and ``ivr booking list``: the example city's data and the day's bookings."""

from __future__ import annotations

from datetime import date
from typing import Any

from ivr.logs import mask_number


def open_service(settings: Any) -> Any:
    """A migrated BookingService for the configured database and city dialplan."""
    from booking.db import make_engine
    from booking.migrations import migrate
    from booking.service import BookingService
    from ivr.flow.loader import load_dialplan

    dialplan = load_dialplan(settings.dialplan_path)
    engine = make_engine(settings.database_url)
    migrate(engine)
    return BookingService(
        engine,
        dialplan.calendar,
        timezone=dialplan.timezone,
        city_number=dialplan.number,
    )


def seed(settings: Any, days: int = 28) -> int:
    from booking.seed import seed_example_city

    service = open_service(settings)
    try:
        print(seed_example_city(service, days).summary())
    finally:
        service.engine.dispose()
    return 0


def seed_if_empty(settings: Any, days: int = 28) -> str | None:
    """For ``ivr up``: seed a fresh database (None when it already had offices)."""
    from booking.seed import is_empty, seed_example_city

    service = open_service(settings)
    try:
        if not is_empty(service):
            service.generate_slots(days)  # keep the coming weeks bookable
            return None
        return seed_example_city(service, days).summary()
    finally:
        service.engine.dispose()


def list_bookings(settings: Any, day: str | None = None, everything: bool = False) -> int:
    service = open_service(settings)
    try:
        rows = service.list_bookings(
            date.fromisoformat(day) if day else None, None if everything else "active"
        )
    finally:
        service.engine.dispose()
    for row in rows:
        flag = " CLOSED-DAY" if row["closed"] and row["status"] == "active" else ""
        print(
            f"{row['starts_at']:%Y-%m-%d %H:%M}  {row['code']}  {row['service']:<22} "
            f"{row['office']:<18} {row['status']:<9} {mask_number(row['caller'])}{flag}"
        )
    print(f"{len(rows)} booking(s)")
    return 0
