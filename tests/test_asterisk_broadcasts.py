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
from datetime import datetime

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
