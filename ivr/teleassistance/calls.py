"""The weekly courtesy calls as an outbound source (:mod:`ivr.outbound.dialler`): the week's plan
kept in the database, each attempt dialled once, the verdict of each week, the third-miss alarm.

* **The plan** (:meth:`WeeklyCalls.plan`): the first time the source sees an ISO week it runs
  :func:`ivr.teleassistance.schedule.plan_week` over the enrolled citizens and stores one
  ``teleassistance_calls`` row per planned citizen (unique per citizen and week), ``not_called``
  rows for those the plan could not fit (a reason each). Citizens enrolled later in the week are
  planned the same way, on their own, when next seen (every minute at most): the week's
  remaining capacity is not recomputed for them.
* **Dialling** (:meth:`due`): rows whose ``next_at`` has come, inside the calling hours, as many
  as the dialler has room for; an operator call only while a teleassistance operator is free
  and not already awaited by another operator call (progressive dialling). Each is first stored
  as an attempt (``teleassistance_attempts``, key ``ta-<call>-<n>``, the call ``dialling``) in
  one transaction: a restarted worker finds it and never dials the same attempt twice.
  Attempt *n* rings the citizen's numbers in turn.
* **A result** (:meth:`result`): a person counts only if they answered and, on an automatic
  call, pressed a key (1 all well, 2 help); a machine, busy, no answer, no key, a failed line
  are misses. :func:`schedule.next_attempt` says retry (the row is ``planned`` again), answered
  or missed; a missed week that makes three in a row (:func:`schedule.raises_alarm`, neutral
  weeks skipped) raises one alarm, and the emergency contacts who asked for SMS or e-mail get a
  message through the booking outbox, in the same transaction.
* **Expiry**: a row still waiting when its window is over is decided then: missed if it was
  dialled, ``not_called`` (neutral: it says nothing about the citizen) if we never dialled it.

Times are local naive datetimes, like the schedule's. Nothing here logs a name or a number.
"""

from __future__ import annotations

import logging
import time as time_mod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from booking.models import MessageKind, Outbox
from ivr.db import retrying, writer
from ivr.flow.model import CityCalendar
from ivr.outbound.dialler import Dial
from ivr.teleassistance import plan as plan_mod
from ivr.teleassistance import schedule
from ivr.teleassistance.models import Alarm, CallAttempt, Citizen, WeekCall
from ivr.teleassistance.schedule import Outcome, Pacing, PlannedCall, WeekOutcome
from ivr.teleassistance.store import TeleassistanceStore

log = logging.getLogger("ivr.teleassistance")

CONTEXT = "nu-teleassistance"
REPLAN_S = 60.0  # how often citizens enrolled during the week are looked for

# What the dialler (and [nu-teleassistance]) reports -> the schedule's attempt outcome. "help"
# is a person asking for an operator: answered. "no_key" and "hangup": somebody picked up but
# never said they are well - not a person we can count on, a miss.
OUTCOMES = {
    "answered": Outcome.ANSWERED,
    "help": Outcome.ANSWERED,
    "machine": Outcome.MACHINE,
    "busy": Outcome.BUSY,
    "no_answer": Outcome.NO_ANSWER,
    "no_key": Outcome.NO_ANSWER,
    "hangup": Outcome.NO_ANSWER,
    "failed": Outcome.FAILED,
}

ALARM_TEXT = {
    "it": "Teleassistenza del Comune: da tre settimane non riusciamo a parlare con {name}. "
    "Un operatore se ne sta occupando. Per informazioni: {number}.",
    "en": "City teleassistance: for three weeks we have not been able to speak with {name}. "
    "An operator is looking into it. Information: {number}.",
}


def key_of(call_id: int, n: int) -> str:
    return f"ta-{call_id}-{n}"


def parse_key(key: str) -> tuple[int, int] | None:
    parts = key.split("-")
    if len(parts) != 3 or parts[0] != "ta" or not (parts[1].isdigit() and parts[2].isdigit()):
        return None
    return int(parts[1]), int(parts[2])


def week_history(states: Sequence[str]) -> list[WeekOutcome]:
    """Stored week states (in week order) as the alarm rule reads them."""
    known = {"answered": WeekOutcome.ANSWERED, "missed": WeekOutcome.MISSED}
    return [known.get(s, WeekOutcome.NOT_CALLED) for s in states]


@dataclass(frozen=True)
class Queue:
    """Where teleassistance calls meet operators: the department and its (base) queue."""

    department: str
    queue: str


class WeeklyCalls:
    """The outbound source of the weekly courtesy calls (see the module's docstring)."""

    name = "teleassistance"

    def __init__(
        self,
        engine: Engine,
        *,
        hours: str,
        pacing: Pacing,
        calendar: Callable[[], CityCalendar],
        queue: Callable[[], Queue],
        free_operators: Callable[[], int] | None = None,
        clock: Callable[[], datetime] = datetime.now,
        city_number: str = "",
    ) -> None:
        self.engine, self.write_engine = engine, writer(engine)
        self.store = TeleassistanceStore(engine, hours, clock=clock)
        self.hours = self.store.hours
        self.pacing, self.calendar, self.queue = pacing, calendar, queue
        self.free_operators = free_operators
        self.clock, self.city_number = clock, city_number
        self._planned: dict[str, float] = {}  # week -> monotonic time of the last look

    # -- the plan -----------------------------------------------------------------------------

    def plan(self, now: datetime) -> int:
        """Store this week's plan for citizens without a row yet; returns the rows added."""
        week = schedule.week_key(now.date())
        last = self._planned.get(week)
        if last is not None and time_mod.monotonic() - last < REPLAN_S:
            return 0
        self._planned = {week: time_mod.monotonic()}
        with Session(self.engine) as db:
            have = set(db.scalars(select(WeekCall.citizen_id).where(WeekCall.week == week)))
        citizens = [c for c in plan_mod.week_input(self.store) if c.citizen_id not in have]
        if not citizens:
            return 0
        year, number, _ = now.date().isocalendar()
        result = schedule.plan_week(year, number, citizens, self.calendar(), self.pacing)

        def work() -> int:
            added = 0
            with Session(self.write_engine) as db, db.begin():
                taken = set(db.scalars(select(WeekCall.citizen_id).where(WeekCall.week == week)))
                for call in result.calls:
                    if call.citizen_id in taken:
                        continue
                    db.add(
                        WeekCall(
                            citizen_id=call.citizen_id,
                            week=week,
                            kind=call.kind,
                            planned_at=call.start,
                            window_end=call.window_end,
                            minutes=call.minutes,
                            state="planned",
                            attempts=0,
                            next_at=call.start,
                        )
                    )
                    added += 1
                for miss in result.unfitted:
                    if miss.citizen_id in taken:
                        continue
                    db.add(
                        WeekCall(
                            citizen_id=miss.citizen_id,
                            week=week,
                            kind=_kind(db, miss.citizen_id),
                            planned_at=now,
                            window_end=now,
                            minutes=0,
                            state="not_called",
                            decided_at=now,
                            reason=miss.reason[:24],
                        )
                    )
                    added += 1
            return added

        added = retrying(work, what="teleassistance plan")
        if added:
            log.info("teleassistance: week %s planned, %d calls stored", week, added)
        return added

    # -- the dialler's questions --------------------------------------------------------------

    def due(self, now: datetime, room: int) -> list[Dial]:
        self.plan(now)
        self._expire(now)
        if room <= 0 or not (self.hours[0] <= now.time() < self.hours[1]):
            return []
        with Session(self.engine) as db:  # a read first: most ticks have nothing due
            waiting = db.scalar(
                select(func.count())
                .select_from(WeekCall)
                .where(WeekCall.state == "planned", WeekCall.next_at <= now)
            )
        if not waiting:
            return []
        operators = self._operator_room()
        queue = self.queue()

        def work() -> list[Dial]:
            dials: list[Dial] = []
            with Session(self.write_engine) as db, db.begin():
                rows = db.scalars(
                    select(WeekCall)
                    .where(WeekCall.state == "planned", WeekCall.next_at <= now)
                    .order_by(WeekCall.next_at, WeekCall.id)
                    .limit(room * 4)
                ).all()
                free = operators
                for call in rows:
                    if len(dials) >= room:
                        break
                    if call.kind == schedule.OPERATOR:
                        if free <= 0:
                            continue  # progressive: only when an operator can take it
                        free -= 1
                    citizen = db.get(Citizen, call.citizen_id)
                    if citizen is None or not citizen.numbers:
                        call.state, call.reason, call.next_at = "not_called", "no_number", None
                        call.decided_at = now
                        continue
                    n = call.attempts + 1
                    number = citizen.numbers[(n - 1) % len(citizen.numbers)].number
                    key = key_of(call.id, n)
                    db.add(
                        CallAttempt(
                            call_id=call.id,
                            citizen_id=call.citizen_id,
                            n=n,
                            key=key,
                            started_at=now,
                            outcome="dialling",
                        )
                    )
                    call.state, call.attempts, call.next_at = "dialling", n, None
                    dials.append(
                        Dial(
                            key=key,
                            number=number,
                            then=CONTEXT,
                            language=citizen.language,
                            variables={
                                "NU_TA_CALL": call.id,
                                "NU_TA_KIND": call.kind,
                                "NU_QUEUE": queue.queue,
                                "NU_DEPARTMENT": queue.department,
                            },
                        )
                    )
            return dials

        return retrying(work, what="teleassistance due")

    def result(self, key: str, outcome: str, now: datetime) -> None:
        parsed = parse_key(key)
        if parsed is None:
            return
        attempt_outcome = OUTCOMES.get(outcome, Outcome.FAILED)

        def work() -> str | None:
            with Session(self.write_engine) as db, db.begin():
                attempt = db.scalar(select(CallAttempt).where(CallAttempt.key == key))
                if attempt is None or attempt.outcome != "dialling":
                    return None  # unknown, or already told
                attempt.outcome, attempt.ended_at = attempt_outcome.value, now
                call = db.get(WeekCall, attempt.call_id)
                if call is None or call.state != "dialling":
                    return None
                return self._decide(db, call, now)

        verdict = retrying(work, what="teleassistance result")
        if verdict:
            log.info("teleassistance %s: %s -> %s", key, attempt_outcome.value, verdict)

    def in_flight(self) -> list[str]:
        with Session(self.engine) as db:
            return list(
                db.scalars(select(CallAttempt.key).where(CallAttempt.outcome == "dialling"))
            )

    # -- deciding -----------------------------------------------------------------------------

    def _decide(self, db: Session, call: WeekCall, now: datetime) -> str:
        """The call's next step after an attempt ended: retry, answered, or a missed week."""
        attempts = [
            schedule.Attempt(a.started_at, Outcome(a.outcome))
            for a in db.scalars(
                select(CallAttempt).where(CallAttempt.call_id == call.id).order_by(CallAttempt.n)
            )
            if a.outcome != "dialling"
        ]
        planned = PlannedCall(
            citizen_id=call.citizen_id,
            kind=call.kind,
            start=call.planned_at,
            minutes=call.minutes,
            window_end=call.window_end,
        )
        step = schedule.next_attempt(planned, attempts, self.pacing)
        if isinstance(step, schedule.Retry):
            call.state, call.next_at = "planned", max(step.at, now)
            return f"retry at {call.next_at:%H:%M}"
        call.next_at, call.decided_at = None, now
        if isinstance(step, schedule.Answered):
            call.state = "answered"
            return "answered"
        call.state, call.reason = "missed", step.reason[:24]
        self._alarm_if_third(db, call, now)
        return f"missed ({step.reason})"

    def _expire(self, now: datetime) -> None:
        """Rows still waiting when their window is over: decided now (see the module doc)."""

        with Session(self.engine) as db:  # a read first: a write only when one is late
            late = db.scalar(
                select(func.count())
                .select_from(WeekCall)
                .where(WeekCall.state == "planned", WeekCall.window_end <= now)
            )
        if not late:
            return

        def work() -> int:
            n = 0
            with Session(self.write_engine) as db, db.begin():
                late = db.scalars(
                    select(WeekCall).where(
                        WeekCall.state == "planned",
                        WeekCall.window_end <= now,
                    )
                ).all()
                for call in late:
                    call.next_at, call.decided_at = None, now
                    if call.attempts:
                        call.state, call.reason = "missed", "window_over"
                        self._alarm_if_third(db, call, now)
                    else:
                        call.state, call.reason = "not_called", "not_dialled"
                    n += 1
            return n

        retrying(work, what="teleassistance expiry")

    def _alarm_if_third(self, db: Session, call: WeekCall, now: datetime) -> None:
        states = list(
            db.scalars(
                select(WeekCall.state)
                .where(WeekCall.citizen_id == call.citizen_id, WeekCall.week <= call.week)
                .order_by(WeekCall.week)
            )
        )
        if not schedule.raises_alarm(week_history(states)):
            return
        citizen = db.get(Citizen, call.citizen_id)
        alarm = Alarm(citizen_id=call.citizen_id, week=call.week, raised_at=now, state="open")
        db.add(alarm)
        db.flush()
        sent = 0
        if citizen is not None:
            text = ALARM_TEXT.get(citizen.language, ALARM_TEXT["it"]).format(
                name=citizen.name, number=self.city_number or "il Numero Unico"
            )
            for contact in citizen.contacts:
                if contact.channel == "sms":
                    kind, to = MessageKind.SMS, contact.number
                elif contact.channel == "email" and contact.email:
                    kind, to = MessageKind.EMAIL, contact.email
                else:
                    continue  # "call": the desk shows them to the operator, who phones
                db.add(
                    Outbox(
                        kind=kind.value,
                        recipient=to,
                        subject="Teleassistenza / Teleassistance"
                        if kind is MessageKind.EMAIL
                        else "",
                        body=text,
                        ref=f"teleassistance-alarm:{alarm.id}",
                        attempts=0,
                        next_attempt_at=now,
                        created_at=now,
                    )
                )
                sent += 1
        log.warning(
            "teleassistance: alarm %d raised for citizen %d (week %s), %d contacts notified",
            alarm.id,
            call.citizen_id,
            call.week,
            sent,
        )

    def _operator_room(self) -> int:
        """Operator calls that may be dialled now: free operators minus operator calls already
        ringing for them."""
        if self.free_operators is None:
            return 0
        try:
            free = int(self.free_operators())
        except Exception:  # queue state unknown: no operator call is started blind
            return 0
        with Session(self.engine) as db:
            ringing = db.scalar(
                select(func.count())
                .select_from(WeekCall)
                .where(WeekCall.state == "dialling", WeekCall.kind == schedule.OPERATOR)
            )
        return max(0, free - int(ringing or 0))


def _kind(db: Session, citizen_id: int) -> str:
    citizen = db.get(Citizen, citizen_id)
    return citizen.call_kind if citizen is not None else schedule.AUTOMATIC


def pacing_for(settings: Any) -> Pacing:
    """The city's pacing from its settings (calling hours, channels, operators, attempts)."""
    return plan_mod.pacing(
        settings.teleassistance_hours,
        channels=settings.teleassistance_channels,
        attempts=settings.teleassistance_attempts,
        retry_minutes=settings.teleassistance_retry_min,
    )


__all__ = ["WeeklyCalls", "Queue", "pacing_for", "key_of", "parse_key"]
