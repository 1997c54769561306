"""Broadcasts through a real Asterisk 22: a heat-wave message to the citizens of one area reaches
them — in their language, a person hearing it, an answering machine getting it left once — and
nobody of another area is ever dialled; the dialler never holds more lines than its channels.

The dialler runs in a thread on its own AMI connection, as the ``outbound`` process runs it,
with the broadcasts' source alone. Citizens' phones are ``Local/<number>@nu-test-elder``
(tests/asterisk_harness.py: last digit 8 an answering machine, 3-7 a person who answers and
presses nothing). The message is synthesised by the prompts' pipeline (espeak-ng) and copied
where the test Asterisk reads its sounds.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta

import pytest

from ivr.db import make_engine, migrate
from ivr.outbound.dialler import Dialler
from ivr.teleassistance.broadcast_audio import build_broadcast_audio
from ivr.teleassistance.broadcast_rules import BroadcastData, Policy
from ivr.teleassistance.broadcasts import BroadcastSource, BroadcastStore
from ivr.teleassistance.rules import CitizenData, ContactData, parse_window
from ivr.teleassistance.store import TeleassistanceStore

pytestmark = pytest.mark.asterisk

NOW = datetime(2026, 11, 25, 10, 0)  # a Wednesday morning, inside the calling hours
DIAL = "Local/{number}@nu-test-elder"
CHANNELS = 2

# area -> (number, language): the broadcast goes to San Salvario only
SAN_SALVARIO = [("0611110003", "it"), ("0611110004", "en"), ("0611110005", "it")]
MACHINE = ("0611110008", "it")  # an answering machine, San Salvario too
LINGOTTO = [("0622220006", "it"), ("0622220007", "en")]


def clock() -> datetime:
    return NOW


class Clock:
    """A clock the test moves on (retries are minutes apart)."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def enrol(store: TeleassistanceStore, name: str, number: str, language: str, area: str) -> int:
    return store.add(
        CitizenData(
            name=name,
            numbers=(number,),
            language=language,
            weekdays=("mon",),
            call_kind="automatic",
            contacts=(ContactData("Ada Verdi", "3331110001", "daughter", "call"),),
            consent_on="2026-11-01",
            consent_by="test",
            area=area,
        )
    )


@pytest.fixture
def city(asterisk, tmp_path):
    url = f"sqlite:///{tmp_path / 'city.db'}"
    migrate(url)
    engine = make_engine(url)
    enrolment = TeleassistanceStore(engine)
    names = iter(
        ["Anna Neri", "Bruno Gialli", "Carla Blu", "Dario Rosa", "Elsa Viola", "Fabio Oro"]
    )
    for number, language in [*SAN_SALVARIO, MACHINE]:
        enrol(enrolment, next(names), number, language, "San Salvario")
    for number, language in LINGOTTO:
        enrol(enrolment, next(names), number, language, "Lingotto")
    return engine


class WatchedDialler(Dialler):
    """The real dialler, noting from its own state how many lines it held at each placing."""

    def __init__(self, *args, **kw) -> None:
        super().__init__(*args, **kw)
        self.held: list[int] = []
        self.placed: list[str] = []

    def place(self, ami, source, dial) -> None:
        super().place(ami, source, dial)
        self.held.append(len(self.lines))
        self.placed.append(dial.number)


def test_a_broadcast_reaches_the_chosen_area_only(asterisk, city, tmp_path):
    broadcasts = BroadcastStore(city, clock=clock)
    broadcast_id = broadcasts.create(
        BroadcastData(
            kind="heat_wave",
            title="Ondata di calore",
            areas=("san salvario",),  # any spelling of the area, as the enrolment's filter
            day="2026-11-25",
            window="09:00-12:00",
            texts={"it": "Fa molto caldo: bevete acqua.", "en": "It is very hot: drink water."},
        ),
        "test",
    )
    report = build_broadcast_audio(
        broadcast_id, broadcasts.get(broadcast_id).texts, asterisk.settings.sounds_dir
    )
    assert report.ok and sorted(report.built) == [
        f"en/broadcast_{broadcast_id}",
        f"it/broadcast_{broadcast_id}",
    ]
    asterisk.instance.sync_sounds()
    broadcasts.audio_built(broadcast_id)

    hours = parse_window("09:00-20:00")
    source = BroadcastSource(city, Policy(hours=hours, attempts=2, retry_minutes=1), clock=clock)
    dialler = WatchedDialler(
        asterisk.instance.ami,
        [source],
        dial_template=DIAL,
        channels=CHANNELS,
        ring_s=15,
        clock=clock,
        tick_s=0.2,
    )
    mark = asterisk.ami.event_mark()
    log_offset = asterisk.log_size()
    thread = threading.Thread(target=dialler.run, args=(0.2,), name="test-dialler", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 150
        while True:
            states = {d.citizen_id: d.state for d in broadcasts.deliveries(broadcast_id)}
            if all(s not in ("pending", "dialling") for s in states.values()):
                break
            assert time.monotonic() < deadline, f"deliveries never ended: {states}"
            time.sleep(0.3)
    finally:
        dialler.stop()
        thread.join(timeout=10)

    deliveries = broadcasts.deliveries(broadcast_id)
    assert sorted(d.state for d in deliveries) == ["delivered"] * 3 + ["machine"]
    assert all(d.attempts == 1 for d in deliveries)
    assert broadcasts.get(broadcast_id).counts == {"delivered": 3, "machine": 1}

    # only San Salvario's phones rang; Lingotto's were never dialled
    chosen = {n for n, _ in [*SAN_SALVARIO, MACHINE]}
    assert sorted(dialler.placed) == sorted(chosen)
    answered = asterisk.ami.events(mark, Event="UserEvent", UserEvent="NuTestElder")
    assert {e["Number"] for e in answered} == chosen
    # never more lines than channels, by the dialler's own count when it placed each call
    assert len(dialler.held) == 4 and max(dialler.held) <= CHANNELS

    # each heard the message in their language, and a goodbye
    log = asterisk.log_text(log_offset)
    assert f"/it/broadcast_{broadcast_id}" in log and f"/en/broadcast_{broadcast_id}" in log
    assert "/it/broadcast_goodbye" in log and "/en/broadcast_goodbye" in log
    results = asterisk.ami.events(mark, Event="UserEvent", UserEvent="NuOutboundResult")
    assert sorted(e["Outcome"] for e in results) == ["delivered"] * 3 + ["machine"]


def wait_deliveries(store: BroadcastStore, broadcast_id: int, pred, timeout: float = 90.0):
    deadline = time.monotonic() + timeout
    while True:
        rows = store.deliveries(broadcast_id)
        if pred(rows):
            return rows
        assert time.monotonic() < deadline, f"deliveries never matched: {rows}"
        time.sleep(0.3)


def test_unanswered_and_busy_phones_are_tried_again_and_a_key_repeats_the_message(
    asterisk, tmp_path
):
    url = f"sqlite:///{tmp_path / 'city.db'}"
    migrate(url)
    engine = make_engine(url)
    enrolment = TeleassistanceStore(engine)
    people = [("Gianni Muto", "0633330000"), ("Lia Occupata", "0633330009")]
    people.append(("Piero Tasto", "0633330001"))  # keeps pressing 1
    for name, number in people:
        enrol(enrolment, name, number, "it", "Borgo Po")
    now = Clock(NOW)
    store = BroadcastStore(engine, clock=now)
    broadcast_id = store.create(
        BroadcastData(
            kind="scam_warning",
            title="Truffe",
            areas=("Borgo Po",),
            day="2026-11-25",
            window="09:00-12:00",
            texts={"it": "Attenzione ai falsi tecnici."},
        ),
        "test",
    )
    assert build_broadcast_audio(
        broadcast_id, store.get(broadcast_id).texts, asterisk.settings.sounds_dir
    ).ok
    asterisk.instance.sync_sounds()
    store.audio_built(broadcast_id)
    policy = Policy(hours=parse_window("09:00-20:00"), attempts=2, retry_minutes=1)
    source = BroadcastSource(engine, policy, clock=now)
    dialler = WatchedDialler(
        asterisk.instance.ami,
        [source],
        dial_template=DIAL,
        channels=3,
        ring_s=4,
        clock=now,
        tick_s=0.2,
    )
    log_offset = asterisk.log_size()
    thread = threading.Thread(target=dialler.run, args=(0.2,), name="test-dialler", daemon=True)
    thread.start()
    try:
        first = wait_deliveries(
            store,
            broadcast_id,
            lambda rows: all(r.attempts and r.state != "dialling" for r in rows),
        )
        by_state = {r.state: r for r in first}
        assert set(by_state) == {"no_answer", "busy", "delivered"}
        assert (
            by_state["no_answer"].next_at == by_state["busy"].next_at == NOW + timedelta(minutes=1)
        )
        now.now = NOW + timedelta(minutes=1)  # the retries are due
        last = wait_deliveries(
            store,
            broadcast_id,
            lambda rows: (
                all(r.state != "dialling" and r.next_at is None for r in rows)
                and sum(r.attempts for r in rows) == 5
            ),
        )
        # the citizen who pressed a key hears the message a third time, then the goodbye
        deadline = time.monotonic() + 40
        while "/it/broadcast_goodbye" not in asterisk.log_text(log_offset):
            assert time.monotonic() < deadline, "no goodbye"
            time.sleep(0.3)
    finally:
        dialler.stop()
        thread.join(timeout=10)
    assert sorted((r.state, r.attempts) for r in last) == [
        ("busy", 2),
        ("delivered", 1),
        ("no_answer", 2),
    ]
    assert sorted(dialler.placed) == sorted(["0633330000", "0633330009"] * 2 + ["0633330001"])
    message = f'/it/broadcast_{broadcast_id}")'  # a Playback() of it
    assert asterisk.log_text(log_offset).count(message) == 3


def test_a_message_whose_audio_is_missing_gets_an_apology_not_silence(asterisk, tmp_path):
    url = f"sqlite:///{tmp_path / 'city.db'}"
    migrate(url)
    engine = make_engine(url)
    enrol(TeleassistanceStore(engine), "Rita Gatti", "0644440003", "it", "Vanchiglia")
    store = BroadcastStore(engine, clock=clock)
    broadcast_id = store.create(
        BroadcastData(
            kind="event",
            title="Concerto",
            areas=("Vanchiglia",),
            day="2026-11-25",
            window="09:00-12:00",
            texts={"it": "Stasera concerto in piazza."},
        ),
        "test",
    )
    for left in asterisk.settings.sounds_dir.glob(f"*/broadcast_{broadcast_id}.*"):
        left.unlink()  # an earlier test's broadcast of the same id
    asterisk.instance.sync_sounds()
    store.audio_built(broadcast_id)  # said built, but no file reached Asterisk
    policy = Policy(hours=parse_window("09:00-20:00"), attempts=1)
    dialler = WatchedDialler(
        asterisk.instance.ami,
        [BroadcastSource(engine, policy, clock=clock)],
        dial_template=DIAL,
        channels=1,
        clock=clock,
        tick_s=0.2,
    )
    log_offset = asterisk.log_size()
    thread = threading.Thread(target=dialler.run, args=(0.2,), name="test-dialler", daemon=True)
    thread.start()
    try:
        (row,) = wait_deliveries(
            store, broadcast_id, lambda rows: rows[0].attempts and rows[0].state != "dialling"
        )
        deadline = time.monotonic() + 20
        while "/it/service_unavailable" not in asterisk.log_text(log_offset):
            assert time.monotonic() < deadline, "no apology"
            time.sleep(0.3)
    finally:
        dialler.stop()
        thread.join(timeout=10)
    assert (row.state, row.attempts, row.next_at) == ("failed", 1, None)
