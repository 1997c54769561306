"""Broadcasts in the city database, and the dialler source that delivers them.

:class:`BroadcastStore` creates a broadcast checked whole (:mod:`ivr.teleassistance
.broadcast_rules`, against the enrolment inside the writing transaction) with one delivery per
recipient — the citizens of its areas (matched like the enrolment's area filter, by
:func:`~ivr.teleassistance.rules.name_key`) not suspended on its day —, lists broadcasts with
their delivery counts and one broadcast's deliveries (numbers masked), and cancels.

:class:`BroadcastSource` is an :class:`ivr.outbound.dialler.Source`: it hands the dialler the
deliveries due now (only while the broadcast's window and the calling hours are both open,
only for broadcasts whose audio is built), each recorded as dialling under the key
``bc-<delivery id>-<attempt>`` in the same transaction, and records how each attempt ended;
a retry uses the citizen's next number. Nothing here logs a name or a number: ids only.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import TYPE_CHECKING

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from ivr.asterisk import variables as V
from ivr.db import writer
from ivr.logs import mask_number
from ivr.outbound.dialler import Dial
from ivr.teleassistance import broadcast_rules as brules
from ivr.teleassistance import rules
from ivr.teleassistance.broadcast_audio import audio_path
from ivr.teleassistance.broadcast_models import Broadcast, BroadcastDelivery
from ivr.teleassistance.models import Citizen, CitizenNumber
from ivr.teleassistance.rules import Problem
from ivr.teleassistance.store import DEFAULT_HOURS

if TYPE_CHECKING:
    from ivr.config import Settings

log = logging.getLogger("ivr.teleassistance.broadcasts")

CONTEXT = "nu-teleassistance-broadcast"  # extensions.conf: plays the message, says goodbye
KEY_PREFIX = "bc-"


class BroadcastError(ValueError):
    """A broadcast that cannot be created or changed; nothing was written."""

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        super().__init__("; ".join(str(p) for p in self.problems))


@dataclass(frozen=True)
class BroadcastView:
    """A broadcast as the pages show it, with its deliveries counted by state."""

    id: int
    kind: str
    title: str
    texts: dict[str, str]
    areas: tuple[str, ...]
    created_by: str
    created_at: datetime
    window_start: datetime
    window_end: datetime
    state: str
    audio_ready: bool
    counts: dict[str, int]

    @property
    def recipients(self) -> int:
        return sum(self.counts.values())


@dataclass(frozen=True)
class DeliveryView:
    """One recipient's delivery: the citizen by id and masked number, never by name."""

    id: int
    citizen_id: int
    number: str  # masked
    language: str
    state: str
    attempts: int
    next_at: datetime | None
    updated_at: datetime


def _hours(text: str) -> tuple[time, time]:
    window = rules.parse_window(text)
    if window is None:
        raise ValueError(f"NU_TELEASSISTANCE_HOURS must be HH:MM-HH:MM, not {text!r}")
    return window


class _Database:
    def __init__(self, engine: Engine, clock: Callable[[], datetime]) -> None:
        self.engine, self.write_engine, self.clock = engine, writer(engine), clock

    @contextmanager
    def _writing(self) -> Iterator[Session]:
        with Session(self.write_engine, expire_on_commit=False) as db, db.begin():
            yield db

    def _now(self) -> datetime:
        return _local(self.clock())


def _local(moment: datetime) -> datetime:
    """Windows are stored as naive local times."""
    return moment.replace(tzinfo=None)


class BroadcastStore(_Database):
    """The broadcasts of one city database (``engine``: :func:`ivr.db.ready`'s); ``clock``
    gives the local time now."""

    def __init__(
        self,
        engine: Engine,
        hours: str = DEFAULT_HOURS,
        *,
        clock: Callable[[], datetime] = datetime.now,
    ) -> None:
        super().__init__(engine, clock)
        self.hours = _hours(hours)

    # -- reading ---------------------------------------------------------------------------

    def areas(self) -> dict[str, int]:
        """Every enrolled area (as first written) -> how many citizens it has."""
        with Session(self.engine) as db:
            rows = db.execute(
                select(Citizen.area_key, func.min(Citizen.area), func.count())
                .where(Citizen.area_key != "")
                .group_by(Citizen.area_key)
                .order_by(Citizen.area_key)
            ).all()
        return {area: count for _, area, count in rows}

    def broadcasts(self) -> list[BroadcastView]:
        """Every broadcast, newest first."""
        with Session(self.engine) as db:
            rows = list(db.scalars(select(Broadcast).order_by(Broadcast.id.desc())))
            counts = self._counts(db, [r.id for r in rows])
            return [_view(r, counts.get(r.id, {})) for r in rows]

    def get(self, broadcast_id: int) -> BroadcastView | None:
        with Session(self.engine) as db:
            row = db.get(Broadcast, broadcast_id)
            if row is None:
                return None
            return _view(row, self._counts(db, [row.id]).get(row.id, {}))

    def deliveries(self, broadcast_id: int) -> list[DeliveryView]:
        """A broadcast's recipients, by citizen id, their first number masked."""
        first = (
            select(CitizenNumber.citizen_id, CitizenNumber.number)
            .where(CitizenNumber.position == 1)
            .subquery()
        )
        stmt = (
            select(BroadcastDelivery, first.c.number)
            .outerjoin(first, first.c.citizen_id == BroadcastDelivery.citizen_id)
            .where(BroadcastDelivery.broadcast_id == broadcast_id)
            .order_by(BroadcastDelivery.id)
        )
        with Session(self.engine) as db:
            return [
                DeliveryView(
                    d.id,
                    d.citizen_id,
                    mask_number(number) if number else "",
                    d.language,
                    d.state,
                    d.attempts,
                    d.next_at,
                    d.updated_at,
                )
                for d, number in db.execute(stmt)
            ]

    # -- changing --------------------------------------------------------------------------

    def create(self, data: brules.BroadcastData, created_by: str) -> int:
        """Create a broadcast and its deliveries; :class:`BroadcastError` naming every field.
        It is dialled once :meth:`audio_built` says its audio is where Asterisk reads it."""
        now = self._now()
        with self._writing() as db:
            day = rules.parse_date(data.day) or now.date()
            audience, citizens = _audience(db, day)
            problems = brules.check(data, audience, self.hours, now)
            if problems:
                raise BroadcastError(problems)
            data = brules.normal(data)
            window = brules.window_of(data)
            keys = {rules.name_key(a) for a in data.areas}
            row = Broadcast(
                kind=data.kind,
                title=data.title,
                texts=dict(data.texts),
                areas=list(data.areas),
                created_by=created_by,
                created_at=now,
                window_start=window[0],
                window_end=window[1],
                audio_ready=False,
                state="scheduled",
                updated_at=now,
            )
            db.add(row)
            db.flush()
            first = brules.first_attempt(window, self.hours)
            for citizen_id, area_key, language in citizens:
                if area_key in keys:
                    db.add(
                        BroadcastDelivery(
                            broadcast_id=row.id,
                            citizen_id=citizen_id,
                            language=language,
                            state="pending",
                            attempts=0,
                            next_at=first,
                            updated_at=now,
                        )
                    )
            log.info("broadcast %s created", row.id)
            return row.id

    def problems(self, data: brules.BroadcastData) -> list[Problem]:
        """What :meth:`create` would refuse now (nothing written)."""
        now = self._now()
        with Session(self.engine) as db:
            audience, _ = _audience(db, rules.parse_date(data.day) or now.date())
        return brules.check(data, audience, self.hours, now)

    def audio_built(self, broadcast_id: int) -> None:
        """Its audio is built and where Asterisk reads it: it may be dialled."""
        with self._writing() as db:
            row = self._existing(db, broadcast_id)
            row.audio_ready, row.updated_at = True, self._now()

    def cancel(self, broadcast_id: int, by: str) -> None:
        """No more calls: deliveries not yet made stay as they are, never dialled; a call up
        now ends as it would."""
        with self._writing() as db:
            row = self._existing(db, broadcast_id)
            if row.state in ("done", "cancelled"):
                raise BroadcastError([Problem("state", f"the broadcast is already {row.state}")])
            row.state, row.cancelled_by, row.updated_at = "cancelled", by, self._now()
            for delivery in db.scalars(
                select(BroadcastDelivery).where(
                    BroadcastDelivery.broadcast_id == broadcast_id,
                    BroadcastDelivery.next_at.is_not(None),
                )
            ):
                delivery.next_at = None
            log.info("broadcast %s cancelled", broadcast_id)

    # -- helpers ---------------------------------------------------------------------------

    @staticmethod
    def _existing(db: Session, broadcast_id: int) -> Broadcast:
        row = db.get(Broadcast, broadcast_id)
        if row is None:
            raise BroadcastError([Problem("id", f"no broadcast {broadcast_id}")])
        return row

    @staticmethod
    def _counts(db: Session, ids: list[int]) -> dict[int, dict[str, int]]:
        if not ids:
            return {}
        found: dict[int, dict[str, int]] = defaultdict(dict)
        for bid, state, n in db.execute(
            select(BroadcastDelivery.broadcast_id, BroadcastDelivery.state, func.count())
            .where(BroadcastDelivery.broadcast_id.in_(ids))
            .group_by(BroadcastDelivery.broadcast_id, BroadcastDelivery.state)
        ):
            found[bid][state] = n
        return found


def _audience(db: Session, day: date) -> tuple[brules.Audience, list[tuple[int, str, str]]]:
    """The enrolled areas with the languages their citizens not suspended on ``day`` speak,
    and those citizens (id, area key, language)."""
    speaking: dict[str, set[str]] = {}
    active = []
    for citizen_id, area_key, language, status, start, end in db.execute(
        select(
            Citizen.id,
            Citizen.area_key,
            Citizen.language,
            Citizen.status,
            Citizen.suspended_from,
            Citizen.suspended_to,
        )
    ):
        if not area_key:
            continue
        languages = speaking.setdefault(area_key, set())  # all suspended: known, speechless
        if not rules.suspended_on(status, start, end, day):
            languages.add(language)
            active.append((citizen_id, area_key, language))
    return brules.Audience(speaking), active


def _view(row: Broadcast, counts: dict[str, int]) -> BroadcastView:
    return BroadcastView(
        row.id,
        row.kind,
        row.title,
        dict(row.texts or {}),
        tuple(row.areas or ()),
        row.created_by,
        row.created_at,
        row.window_start,
        row.window_end,
        row.state,
        row.audio_ready,
        dict(counts),
    )


class BroadcastSource(_Database):
    """The broadcasts' calls, for :class:`ivr.outbound.dialler.Dialler` (see the module)."""

    name = "broadcasts"

    def __init__(
        self,
        engine: Engine,
        policy: brules.Policy,
        *,
        clock: Callable[[], datetime] = datetime.now,
    ) -> None:
        super().__init__(engine, clock)
        self.policy = policy

    def due(self, now: datetime, room: int) -> list[Dial]:
        now = _local(now)
        dials: list[Dial] = []
        with self._writing() as db:
            live = self._advance(db, now)
            open_ids = [
                b.id
                for b in live
                if b.state == "running"
                and brules.callable_at(now, (b.window_start, b.window_end), self.policy.hours)
            ]
            if not open_ids or room <= 0:
                return []
            rows = db.scalars(
                select(BroadcastDelivery)
                .where(
                    BroadcastDelivery.broadcast_id.in_(open_ids),
                    BroadcastDelivery.state != "dialling",
                    BroadcastDelivery.next_at.is_not(None),
                    BroadcastDelivery.next_at <= now,
                )
                .order_by(BroadcastDelivery.next_at, BroadcastDelivery.id)
                .limit(room)
            ).all()
            for row in rows:
                numbers = db.scalars(
                    select(CitizenNumber.number)
                    .where(CitizenNumber.citizen_id == row.citizen_id)
                    .order_by(CitizenNumber.position)
                ).all()
                row.attempts += 1
                row.key = f"{KEY_PREFIX}{row.id}-{row.attempts}"
                row.updated_at, row.next_at = now, None
                if not numbers:  # enrolments always have one; a hand-made row may not
                    row.state = "failed"
                    continue
                row.state = "dialling"
                dials.append(
                    Dial(
                        key=row.key,
                        number=numbers[(row.attempts - 1) % len(numbers)],
                        then=CONTEXT,
                        language=row.language,
                        # [nu-teleassistance-broadcast] runs AMD itself: a machine gets the
                        # message too (left once), which [nu-outbound]'s AMD would hang up on
                        machine_detection=False,
                        variables={V.BC_AUDIO: audio_path(row.broadcast_id, row.language)},
                    )
                )
        for dial in dials:
            log.info("broadcast delivery %s: dialling", dial.key)
        return dials

    def result(self, key: str, outcome: str, now: datetime) -> None:
        now = _local(now)
        with self._writing() as db:
            row = db.scalars(
                select(BroadcastDelivery).where(
                    BroadcastDelivery.key == key, BroadcastDelivery.state == "dialling"
                )
            ).first()
            if row is None:
                return
            broadcast = db.get(Broadcast, row.broadcast_id)
            assert broadcast is not None  # the delivery cascades with it
            window = (broadcast.window_start, broadcast.window_end)
            row.state, row.next_at = brules.after_attempt(
                outcome, row.attempts, now, window, self.policy
            )
            if broadcast.state == "cancelled":
                row.next_at = None
            row.updated_at = now
            log.info("broadcast delivery %s: %s -> %s", key, outcome, row.state)

    def in_flight(self) -> list[str]:
        with Session(self.engine) as db:
            return [
                k
                for k in db.scalars(
                    select(BroadcastDelivery.key).where(BroadcastDelivery.state == "dialling")
                )
                if k
            ]

    def _advance(self, db: Session, now: datetime) -> list[Broadcast]:
        """Start broadcasts whose window opened, end those with nothing left to do; the ones
        still live."""
        rows = db.scalars(
            select(Broadcast).where(
                Broadcast.state.in_(("scheduled", "running")), Broadcast.audio_ready.is_(True)
            )
        ).all()
        if not rows:
            return []
        left: Counter[int] = Counter()
        for bid, n in db.execute(
            select(BroadcastDelivery.broadcast_id, func.count())
            .where(
                BroadcastDelivery.broadcast_id.in_([r.id for r in rows]),
                (BroadcastDelivery.state == "dialling") | BroadcastDelivery.next_at.is_not(None),
            )
            .group_by(BroadcastDelivery.broadcast_id)
        ):
            left[bid] = n
        dialling = {
            bid
            for (bid,) in db.execute(
                select(BroadcastDelivery.broadcast_id)
                .where(BroadcastDelivery.state == "dialling")
                .distinct()
            )
        }
        live = []
        for row in rows:
            over = now >= row.window_end and row.id not in dialling
            if over or not left[row.id]:
                row.state, row.updated_at = "done", now
                for delivery in db.scalars(  # not reached in the window: never dialled now
                    select(BroadcastDelivery).where(
                        BroadcastDelivery.broadcast_id == row.id,
                        BroadcastDelivery.next_at.is_not(None),
                    )
                ):
                    delivery.next_at = None
                log.info("broadcast %s done", row.id)
                continue
            if row.state == "scheduled" and now >= row.window_start:
                row.state, row.updated_at = "running", now
                log.info("broadcast %s running", row.id)
            live.append(row)
        return live


def build_broadcast_source(
    settings: Settings, engine: Engine, clock: Callable[[], datetime] = datetime.now
) -> BroadcastSource | None:
    """The broadcasts' source for the ``outbound`` process, with the calling hours, attempts
    and retry minutes of the teleassistance settings; None when no outbound call may be placed
    (``NU_TELEASSISTANCE_DIAL`` empty)."""
    if not settings.teleassistance_dial:
        return None
    policy = brules.Policy(
        hours=_hours(settings.teleassistance_hours),
        attempts=max(1, settings.teleassistance_attempts),
        retry_minutes=max(1, settings.teleassistance_retry_min),
    )
    return BroadcastSource(engine, policy, clock=clock)


__all__ = [
    "BroadcastError",
    "BroadcastSource",
    "BroadcastStore",
    "BroadcastView",
    "DeliveryView",
    "build_broadcast_source",
]
