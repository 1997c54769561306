"""The ``outbound`` process (``ivr outbound run``): one dialler for every outbound source, so that
together they never hold more than ``NU_TELEASSISTANCE_CHANNELS`` lines.

Wiring only: each source is built by its feature from the settings (the weekly courtesy calls,
booking's appointment reminders and the teleassistance broadcasts). Nothing is dialled
without ``NU_TELEASSISTANCE_DIAL``; the process then exits 78 ("cannot work with these
settings") and the supervisor leaves it stopped.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from ivr.flow.source import DialplanSource
from ivr.outbound.dialler import Dialler, Source


def local_clock(timezone: str) -> Callable[[], datetime]:
    """The city's local time, naive (the schedule's and the outbox's convention)."""
    zone = ZoneInfo(timezone)
    return lambda: datetime.now(zone).replace(tzinfo=None)


def teleassistance_source(
    settings: Any, engine: Any, dialplans: DialplanSource, clock: Callable[[], datetime]
) -> Source:
    from ivr.teleassistance.calls import Queue, WeeklyCalls, pacing_for

    def queue() -> Queue:
        plan = dialplans.current()
        dept = settings.teleassistance_department
        if dept not in plan.departments:
            dept = plan.general_operator
        return Queue(dept, plan.departments[dept].queue)

    queues: Any = None  # one Redis client for the process, made on first use

    def free_operators() -> int:
        nonlocal queues
        if queues is None:
            from ivr.queues.store import RedisQueueStore

            queues = RedisQueueStore(settings.redis_url)
        state = queues.read(queue().queue)
        return int(state.get("available", 0)) if state else 0

    return WeeklyCalls(
        engine,
        hours=settings.teleassistance_hours,
        pacing=pacing_for(settings),
        calendar=lambda: dialplans.current().calendar,
        queue=queue,
        free_operators=free_operators if settings.redis_url else None,
        clock=clock,
        city_number=dialplans.current().number,
    )


def sources(
    settings: Any, engine: Any, dialplans: DialplanSource, clock: Callable[[], datetime]
) -> list[Source]:
    """Every outbound source these settings give work to."""
    from booking.reminder_source import build_reminder_source
    from ivr.teleassistance.broadcasts import build_broadcast_source

    found: list[Source | None] = [
        teleassistance_source(settings, engine, dialplans, clock),
        build_reminder_source(settings, engine, clock),
        build_broadcast_source(settings, engine, clock),
    ]
    return [s for s in found if s is not None]


def build_dialler(settings: Any, connect: Callable[[], Any]) -> Dialler | None:
    """The dialler for these settings, its database migrated; None without a dial string."""
    if not settings.teleassistance_dial:
        return None
    from ivr.db import ready

    dialplans = DialplanSource(settings.dialplan_path, settings.prompts_dir)
    clock = local_clock(dialplans.current().timezone)
    engine = ready(settings.database_url)
    return Dialler(
        connect,
        sources(settings, engine, dialplans, clock),
        dial_template=settings.teleassistance_dial,
        channels=settings.teleassistance_channels,
        ring_s=settings.teleassistance_ring_s,
        caller_id=dialplans.current().number,
        clock=clock,
    )
