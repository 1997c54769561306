"""The example city's offices, services and weekly slot templates (``ivr booking seed``).

Idempotent: what exists is left alone (an office edited by the back office keeps its edits),
what is missing is added, and slots are generated for the coming weeks. The service codes are the
ones ``dialplans/example-city.yaml`` offers on the keypad.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from booking.models import Office, Service, SlotTemplate

SERVICES = (
    # id, Italian, English, minutes, active bookings per caller
    ("carta_identita", "Carta d'identità elettronica", "Electronic identity card", 20, 1),
    ("cambio_residenza", "Cambio di residenza", "Change of residence", 30, 1),
    # certificates for the whole family: a caller may hold up to three desk appointments
    ("certificati_sportello", "Certificati allo sportello", "Certificates at the desk", 15, 3),
)

OFFICES = (
    {
        "id": "anagrafe_centrale",
        "name": "Anagrafe Centrale",
        "address": "Via Larga 12",
        "desk": "Sportelli 1-8, piano terra",
        "email": "anagrafe@comune.example.it",
        "services": ("carta_identita", "cambio_residenza", "certificati_sportello"),
    },
    {
        "id": "municipio_3",
        "name": "Municipio 3",
        "address": "Via Sansovino 9",
        "desk": "Sportello anagrafe, primo piano",
        "email": "municipio3@comune.example.it",
        "services": ("carta_identita", "certificati_sportello"),
    },
)

WEEKDAYS = (0, 1, 2, 3, 4)
MORNING = (time(8, 30), time(12, 30))
THURSDAY_AFTERNOON = (3, time(14, 0), time(16, 30))
CAPACITY = {"anagrafe_centrale": 4, "municipio_3": 2}


@dataclass
class SeedReport:
    offices: int = 0
    services: int = 0
    templates: int = 0
    slots: int = 0

    def summary(self) -> str:
        return (
            f"added {self.offices} offices, {self.services} services, "
            f"{self.templates} slot templates, {self.slots} slots"
        )


def seed_example_city(booking: Any, days: int = 28) -> SeedReport:
    """Add the example city's data to ``booking.engine`` (a BookingService) and make slots."""
    report = SeedReport()
    with Session(booking.write_engine) as session, session.begin():
        services = {s.id: s for s in session.scalars(select(Service))}
        for sid, name_it, name_en, minutes, per_caller in SERVICES:
            if sid not in services:
                services[sid] = Service(
                    id=sid,
                    name_it=name_it,
                    name_en=name_en,
                    duration_min=minutes,
                    max_active_per_caller=per_caller,
                )
                session.add(services[sid])
                report.services += 1
        offices = {o.id: o for o in session.scalars(select(Office))}
        for data in OFFICES:
            if data["id"] in offices:
                continue
            office = Office(
                id=data["id"],
                name=data["name"],
                address=data["address"],
                desk=data["desk"],
                email=data["email"],
            )
            office.services = [services[s] for s in data["services"]]
            session.add(office)
            offices[office.id] = office
            report.offices += 1
        session.flush()
        existing = {
            (t.office_id, t.service_id, t.weekday, t.start)
            for t in session.scalars(select(SlotTemplate))
        }
        for data in OFFICES:
            hours = [(d, *MORNING) for d in WEEKDAYS] + [THURSDAY_AFTERNOON]
            for sid in data["services"]:
                for weekday, start, end in hours:
                    if (data["id"], sid, weekday, start) in existing:
                        continue
                    session.add(
                        SlotTemplate(
                            office_id=data["id"],
                            service_id=sid,
                            weekday=weekday,
                            start=start,
                            end=end,
                            capacity=CAPACITY[data["id"]],
                        )
                    )
                    report.templates += 1
    report.slots = booking.generate_slots(days)
    return report


def is_empty(booking: Any) -> bool:
    """True when no office exists yet (``ivr up`` seeds then)."""
    with Session(booking.engine) as session:
        return session.scalar(select(Office.id).limit(1)) is None
