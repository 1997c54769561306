"""``ivr booking seed`` and ``ivr booking list``: the example city's data and the day's bookings."""

from __future__ import annotations

from datetime import date
from typing import Any

from ivr.logs import mask_number


def open_service(settings: Any) -> Any:
    """A migrated BookingService for the configured database and city dialplan."""
    from booking.service import BookingService
    from ivr.db import ready
    from ivr.flow.loader import load_dialplan

    dialplan = load_dialplan(settings.dialplan_path)
    return BookingService(
        ready(settings.database_url),
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


def senders(settings: Any) -> dict[str, Any]:
    """The configured senders by message kind (a kind without one stays in the outbox)."""
    from booking.outbox import HttpSmsGateway, SmtpSender

    out: dict[str, Any] = {}
    if settings.smtp_host:
        out["email"] = SmtpSender(settings.smtp_host, settings.smtp_port, settings.smtp_from)
    if settings.sms_gateway_url:
        out["sms"] = HttpSmsGateway(
            settings.sms_gateway_url, token=settings.sms_gateway_token or None
        )
    return out


def run_outbox(settings: Any, once: bool = False, idle: float = 2.0) -> int:
    """``ivr booking outbox``: send the confirmations (at least once), until Ctrl-C."""
    import signal
    import threading

    from booking.outbox import OutboxWorker

    configured = senders(settings)
    if not configured:
        print("no sender configured: set NU_SMTP_HOST and/or NU_SMS_GATEWAY_URL")
        return 2
    service = open_service(settings)
    worker = OutboxWorker(service.engine, configured, timezone=str(service.zone))
    try:
        if once:
            report = worker.run_once()
            print(f"sent {report.sent}, to retry {report.retried}, failed {report.failed}")
            return 0
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        print(f"outbox worker: {', '.join(sorted(configured))}; Ctrl-C to stop", flush=True)
        worker.run_forever(stop, idle)
        return 0
    finally:
        service.engine.dispose()


def close_day(
    settings: Any, day: str, office: str | None, reason: str, keep_bookings: bool = False
) -> int:
    """``ivr booking close``: no more slots that day; its bookings cancelled and texted."""
    service = open_service(settings)
    try:
        done = service.add_closure(
            date.fromisoformat(day), office, reason, cancel=not keep_bookings
        )
    finally:
        service.engine.dispose()
    print(
        f"{day} closed for {office or 'the whole city'}: {done['slots']} slot(s) withdrawn, "
        f"{done['cancelled']} booking(s) cancelled"
    )
    return 0
