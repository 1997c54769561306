"""The ``booking.*`` services the phone flows invoke (:mod:`booking.phone`), on the database.

Names, arguments and results are exactly what the nodes send and read (``FakeBooking`` in
tests/test_booking_phone.py documents them). Domain refusals are
:class:`~booking.service.BookingError` (a ``ServiceError``: ``slot_full`` with the next free slot,
``already_booked``, ``not_found``, ``invalid_code``); a database that is down or not yet reachable
answers ``unavailable``, never an exception that drops the call. Caller numbers are never logged.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from booking.service import UNAVAILABLE, BookingError, BookingService
from ivr.flow.services import Service
from ivr.logs import redact

log = logging.getLogger("booking.phone")


def _guarded(name: str, work: Service, ready: Callable[[], None]) -> Service:
    def service(args: dict[str, Any]) -> Any:
        try:
            ready()
            return work(args)
        except BookingError:
            raise
        except SQLAlchemyError as err:
            # Only the class: SQLAlchemy's message carries the statement's parameters (numbers).
            log.warning("%s: database unavailable (%s)", name, type(err).__name__)
            raise BookingError(UNAVAILABLE) from None
        except Exception as err:  # answer "unavailable", keep the call
            log.error("%s failed: %s: %s", name, type(err).__name__, redact(str(err)))
            raise BookingError(UNAVAILABLE) from None

    service.__name__ = name.replace(".", "_")
    return service


def booking_services(
    service: BookingService, ready: Callable[[], None] | None = None
) -> dict[str, Service]:
    """The registry entries for the FastAGI runner. ``ready()`` runs before each call (it may
    migrate a database that was down at start); it raises to say "unavailable"."""

    def slots(args: dict[str, Any]) -> list[dict[str, int]]:
        limit = max(1, min(int(args.get("limit", 3)), 9))
        return [
            {"id": s.id, "start": service.epoch(s.starts_at)}
            for s in service.available_slots(str(args["service"]), limit)
        ]

    def book(args: dict[str, Any]) -> dict[str, Any]:
        result = service.book(
            str(args["service"]),
            int(args["slot"]),
            str(args.get("caller") or "") or None,
            str(args.get("language") or "it"),
        )
        return {"code": result["code"], "start": result["start"]}

    def certificate(args: dict[str, Any]) -> dict[str, Any]:
        result = service.request_certificate(
            str(args["type"]),
            str(args["delivery"]),
            str(args.get("caller") or "") or None,
            str(args.get("language") or "it"),
        )
        return {"code": result["code"]}

    def find(args: dict[str, Any]) -> dict[str, Any]:
        found = service.find(str(args["code"]))
        if found["status"] != "active":
            raise BookingError("not_found")  # a cancelled booking is not read back
        return {"code": found["code"], "start": found["start"], "status": found["status"]}

    def cancel(args: dict[str, Any]) -> dict[str, Any]:
        return {"code": service.cancel(str(args["code"]))["code"]}

    table = {"slots": slots, "book": book, "certificate": certificate, "find": find}
    table["cancel"] = cancel
    check = ready or (lambda: None)
    return {
        f"booking.{name}": _guarded(f"booking.{name}", work, check) for name, work in table.items()
    }


class DatabaseBooking:
    """A BookingService on the city database's shared engine (:func:`ivr.db.engine_for`;
    ``engine_kw``, pool sizes, count if this is the first to make it), migrated on start, or on
    first use if the database was down at start (the IVR starts anyway; booking answers
    ``unavailable`` meanwhile)."""

    def __init__(
        self, url: str, dialplan: Any, clock: Callable[[], Any] | None = None, **engine_kw: Any
    ) -> None:
        """``dialplan``: the city's, or a function returning the current published one
        (``DialplanSource.current``): its calendar is then read per operation, so closures
        published while the IVR runs are honoured at once, and slots are rolled again."""
        from ivr.db import engine_for

        current = dialplan if callable(dialplan) else (lambda: dialplan)
        first = current()
        self.url = url
        self.engine = engine_for(url, **engine_kw)
        self.service = BookingService(
            self.engine,
            lambda: current().calendar,
            clock,
            timezone=first.timezone,
            city_number=first.number,
        )
        self._rolled: tuple[Any, Any] = (None, None)  # the day and calendar slots were rolled for
        self.days_ahead = 28
        self._lock = threading.Lock()
        try:
            self.ready()
        except Exception as err:  # the phone must start without its database
            log.warning("booking database not ready at start: %s", type(err).__name__)

    def ready(self) -> None:
        """Migrated (once per process: :func:`ivr.db.ready`), and slots generated for the coming
        weeks once a day and whenever the published calendar changes (idempotent)."""
        from ivr.db import ready

        ready(self.url)
        today, calendar = self.service.now().date(), self.service.calendar
        if self._rolled_for(today, calendar):
            return
        with self._lock:
            if not self._rolled_for(today, calendar):
                try:
                    made = self.service.generate_slots(self.days_ahead)
                except SQLAlchemyError as err:  # another process rolling at the same moment
                    log.warning("slot generation skipped: %s", type(err).__name__)
                else:
                    if made:
                        log.info("generated %d slots for the next %d days", made, self.days_ahead)
                self._rolled = (today, calendar)

    def _rolled_for(self, today: Any, calendar: Any) -> bool:
        """Slots were rolled today for this very calendar (a reload makes a new object)."""
        day, rolled_calendar = self._rolled
        return day == today and rolled_calendar is calendar

    def services(self) -> dict[str, Service]:
        return booking_services(self.service, self.ready)

    def close(self) -> None:
        """Let go of the database (tests): its shared engine is released for the process."""
        from ivr.db import release

        release(self.url)
