"""Broadcasts: the pure rules (every problem names its field; retries inside the window and the
calling hours; a machine is final), the store and the dialler source on SQLite and PostgreSQL
(``booking_url``): recipients are the active citizens of the chosen areas at creation, each
dialled once per attempt under its own key, never outside the window or the calling hours,
never before the audio is built, never after a cancel; erasing a citizen erases their
deliveries; no log line holds a name or a number."""

from __future__ import annotations

import logging
from datetime import date, datetime, time, timedelta
from types import SimpleNamespace

import pytest

from ivr.asterisk import variables as V
from ivr.db import ready
from ivr.teleassistance import broadcast_rules as brules
from ivr.teleassistance.broadcast_rules import Audience, BroadcastData, Policy
from ivr.teleassistance.broadcasts import (
    BroadcastError,
    BroadcastSource,
    BroadcastStore,
    build_broadcast_source,
)
from ivr.teleassistance.rules import CitizenData, ContactData
from ivr.teleassistance.store import TeleassistanceStore

NOW = datetime(2026, 11, 25, 10, 0)
HOURS = (time(9), time(20))
WINDOW = (datetime(2026, 11, 25, 9), datetime(2026, 11, 25, 12))
AUDIENCE = Audience({"san salvario": {"it", "en"}, "lingotto": {"it"}, "vanchiglia": set()})


def heat(**changes) -> BroadcastData:
    values = dict(
        kind="heat_wave",
        title="Ondata di calore",
        areas=("San Salvario",),
        day="2026-11-25",
        window="09:00-12:00",
        texts={"it": "Fa caldo: bevete acqua.", "en": "It is hot: drink water."},
    )
    values.update(changes)
    return BroadcastData(**values)


def fields(data: BroadcastData) -> list[str]:
    return [p.field for p in brules.check(data, AUDIENCE, HOURS, NOW)]


# -- pure rules ------------------------------------------------------------------------------


def test_a_good_broadcast_has_no_problems():
    assert fields(heat()) == []
    assert fields(heat(areas=(" lingotto ",), texts={"it": "Attenzione alle truffe."})) == []


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"kind": "party"}, "kind", "heat_wave"),
        ({"title": "  "}, "title", "needed"),
        ({"areas": ()}, "areas", "at least one"),
        ({"areas": ("Atlantide",)}, "areas", "nobody is enrolled in 'Atlantide'"),
        ({"areas": ("Vanchiglia",)}, "areas", "suspended"),
        ({"day": "domani"}, "day", "YYYY-MM-DD"),
        ({"day": "2026-11-24"}, "day", "past"),
        ({"window": "mezzogiorno"}, "window", "start-end"),
        ({"window": "07:00-10:00"}, "window", "outside the calling hours 09:00-20:00"),
        ({"window": "09:00-09:30"}, "window", "already over"),
        ({"texts": {"it": "Fa caldo."}}, "text_en", "citizens of these areas speak it"),
        ({"texts": {"it": "Fa caldo.", "en": "x" * 1001}}, "text_en", "at most"),
    ],
)
def test_a_bad_field_is_named(changes, field, words):
    problems = brules.check(heat(**changes), AUDIENCE, HOURS, NOW)
    assert [p.field for p in problems] == [field]
    assert words in problems[0].message


def test_every_problem_at_once():
    bad = heat(kind="", title="", areas=(), day="", window="", texts={})
    assert fields(bad) == ["kind", "title", "areas", "day", "window"]


def test_a_delivery_is_retried_inside_its_window_and_the_calling_hours():
    policy = Policy(HOURS, attempts=3, retry_minutes=30)
    assert brules.after_attempt("delivered", 1, NOW, WINDOW, policy) == ("delivered", None)
    assert brules.after_attempt("machine", 1, NOW, WINDOW, policy) == ("machine", None)
    later = NOW + timedelta(minutes=30)
    assert brules.after_attempt("no_answer", 1, NOW, WINDOW, policy) == ("no_answer", later)
    assert brules.after_attempt("busy", 2, NOW, WINDOW, policy) == ("busy", later)
    assert brules.after_attempt("hangup", 1, NOW, WINDOW, policy) == ("no_answer", later)
    assert brules.after_attempt("no_key", 1, NOW, WINDOW, policy) == ("failed", later)
    assert brules.after_attempt("busy", 3, NOW, WINDOW, policy) == ("busy", None)  # the last
    late = datetime(2026, 11, 25, 11, 45)  # a retry would fall after the window
    assert brules.after_attempt("no_answer", 1, late, WINDOW, policy) == ("no_answer", None)
    evening = (datetime(2026, 11, 25, 18), datetime(2026, 11, 25, 21))
    assert (
        brules.after_attempt("busy", 1, datetime(2026, 11, 25, 19, 45), evening, policy)[1] is None
    )


def test_calls_only_inside_the_window_and_the_calling_hours():
    assert brules.callable_at(NOW, WINDOW, HOURS)
    assert not brules.callable_at(datetime(2026, 11, 25, 8, 59), WINDOW, HOURS)
    assert not brules.callable_at(datetime(2026, 11, 25, 12), WINDOW, HOURS)
    assert not brules.callable_at(
        datetime(2026, 11, 25, 20), (WINDOW[0], WINDOW[0] + timedelta(hours=12)), HOURS
    )


# -- store and source --------------------------------------------------------------------------


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def city(booking_url):
    engine = ready(booking_url)
    enrolment = TeleassistanceStore(engine, clock=lambda: NOW)
    ids = {}
    people = [
        ("Anna Neri", ("06 1111 0003", "333 111 0003"), "it", "San Salvario"),
        ("Bruno Gialli", ("06 1111 0004",), "en", "san  salvario"),
        ("Carla Blu", ("06 1111 0005",), "it", "San Salvario"),
        ("Dario Rosa", ("06 2222 0006",), "it", "Lingotto"),
    ]
    for name, numbers, language, area in people:
        ids[name] = enrolment.add(
            CitizenData(
                name=name,
                numbers=numbers,
                language=language,
                weekdays=("mon",),
                call_kind="automatic",
                contacts=(ContactData("Ada Verdi", "3339990001", "daughter", "call"),),
                consent_on="2026-11-01",
                consent_by="test",
                area=area,
            )
        )
    enrolment.suspend(ids["Carla Blu"], "hospital", date(2026, 11, 20), date(2026, 11, 30))
    return SimpleNamespace(engine=engine, enrolment=enrolment, ids=ids)


def source(city, clock, attempts=2) -> BroadcastSource:
    return BroadcastSource(city.engine, Policy(HOURS, attempts, 30), clock=clock)


def test_recipients_are_the_active_citizens_of_the_areas(city):
    store = BroadcastStore(city.engine, clock=lambda: NOW)
    bid = store.create(heat(areas=("san salvario", "SAN SALVARIO")), "maria")
    view = store.get(bid)
    assert view.areas == ("san salvario",) and view.state == "scheduled"
    assert not view.audio_ready and view.counts == {"pending": 2}
    rows = store.deliveries(bid)
    assert {r.citizen_id for r in rows} == {city.ids["Anna Neri"], city.ids["Bruno Gialli"]}
    assert {r.language for r in rows} == {"it", "en"}
    assert all("1111" not in r.number and r.number.endswith(("03", "04")) for r in rows)
    assert store.areas() == {"Lingotto": 1, "San Salvario": 3}


def test_a_refused_broadcast_writes_nothing(city):
    store = BroadcastStore(city.engine, clock=lambda: NOW)
    with pytest.raises(BroadcastError) as refused:
        store.create(heat(areas=("Atlantide",), texts={}), "maria")
    assert [p.field for p in refused.value.problems] == ["areas"]
    with pytest.raises(BroadcastError) as refused:
        store.create(heat(texts={"it": "Fa caldo."}), "maria")  # Bruno speaks English
    assert [p.field for p in refused.value.problems] == ["text_en"]
    assert store.broadcasts() == []


def test_the_source_dials_each_recipient_then_retries_and_ends(city, caplog):
    caplog.set_level(logging.INFO)
    store = BroadcastStore(city.engine, clock=lambda: NOW)
    bid = store.create(heat(), "maria")
    clock = Clock(NOW)
    calls = source(city, clock)
    assert calls.due(NOW, 10) == []  # the audio is not built yet
    store.audio_built(bid)
    assert calls.due(datetime(2026, 11, 25, 8, 30), 10) == []  # before the window

    first = calls.due(NOW, 1)  # one free channel: one call
    assert len(first) == 1 and store.get(bid).state == "running"
    more = calls.due(NOW, 5)
    assert len(more) == 1 and calls.due(NOW, 5) == []  # everyone dialling
    dials = {d.number: d for d in first + more}
    assert set(dials) == {"0611110003", "0611110004"}
    for dial in dials.values():
        assert dial.key.startswith("bc-") and dial.key.endswith("-1")
        assert dial.then == "nu-teleassistance-broadcast" and not dial.machine_detection
        assert dial.variables[V.BC_AUDIO] == f"{dial.language}/broadcast_{bid}"
    assert sorted(calls.in_flight()) == sorted(d.key for d in dials.values())

    it, en = sorted(dials.values(), key=lambda d: d.language != "it")
    calls.result(en.key, "delivered", NOW)
    calls.result(en.key, "hangup", NOW)  # a second outcome of one key changes nothing
    calls.result(it.key, "no_answer", NOW)
    assert calls.in_flight() == []
    assert calls.due(NOW + timedelta(minutes=29), 5) == []
    (again,) = calls.due(NOW + timedelta(minutes=30), 5)
    assert again.key.endswith("-2") and again.number == "3331110003"  # her next number
    calls.result(again.key, "busy", NOW + timedelta(minutes=31))  # the last attempt
    assert store.get(bid).counts == {"delivered": 1, "busy": 1}
    assert calls.due(NOW + timedelta(hours=1), 5) == []
    assert store.get(bid).state == "done"
    logged = caplog.text
    assert "Anna" not in logged and "1110003" not in logged and "1110004" not in logged


def test_a_restarted_dialler_finds_what_was_dialling(city):
    store = BroadcastStore(city.engine, clock=lambda: NOW)
    bid = store.create(heat(), "maria")
    store.audio_built(bid)
    dials = source(city, Clock(NOW)).due(NOW, 5)
    again = source(city, Clock(NOW))  # a new process
    assert sorted(again.in_flight()) == sorted(d.key for d in dials)
    assert again.due(NOW, 5) == []  # never placed twice
    for dial in dials:
        again.result(dial.key, "failed", NOW)
    assert sorted(d.key for d in again.due(NOW + timedelta(minutes=30), 5)) == sorted(
        d.key[:-1] + "2" for d in dials
    )


def test_nothing_outside_the_calling_hours_and_nothing_after_a_cancel(city):
    store = BroadcastStore(city.engine, clock=lambda: NOW)
    bid = store.create(heat(), "maria")
    store.audio_built(bid)
    # the calling hours were narrowed after the broadcast was made: they win
    narrow = BroadcastSource(city.engine, Policy((time(9), time(11))), clock=Clock(NOW))
    assert narrow.due(datetime(2026, 11, 25, 11, 30), 5) == []
    assert store.get(bid).state == "running"  # its window is still open
    dial, _ = narrow.due(NOW, 5)
    store.cancel(bid, "maria")
    with pytest.raises(BroadcastError):
        store.cancel(bid, "maria")
    narrow.result(dial.key, "no_answer", NOW)  # the call up ends as it would; no retry
    assert narrow.due(NOW + timedelta(minutes=40), 5) == []
    assert store.get(bid).state == "cancelled"
    assert all(d.next_at is None for d in store.deliveries(bid))


def test_erasing_a_citizen_erases_their_deliveries(city):
    store = BroadcastStore(city.engine, clock=lambda: NOW)
    bid = store.create(heat(), "maria")
    anna = city.ids["Anna Neri"]
    assert "teleassistance_broadcast_deliveries" in city.enrolment.export(anna)["records"]
    counts = city.enrolment.erase(anna)
    assert counts["teleassistance_broadcast_deliveries"] == 1
    assert [d.citizen_id for d in store.deliveries(bid)] == [city.ids["Bruno Gialli"]]


def test_no_source_without_a_dial_string(city):
    settings = SimpleNamespace(
        teleassistance_dial="",
        teleassistance_hours="09:00-20:00",
        teleassistance_attempts=3,
        teleassistance_retry_min=30,
    )
    assert build_broadcast_source(settings, city.engine) is None
    settings.teleassistance_dial = "PJSIP/{number}@trunk"
    built = build_broadcast_source(settings, city.engine)
    assert built is not None and built.name == "broadcasts"
    assert built.policy == Policy(HOURS, 3, 30)


def test_a_recorded_language_needs_no_text():
    recorded = heat(texts={"it": "Fa caldo."}, recorded=frozenset({"en"}))
    assert fields(recorded) == []
    assert brules.normal(recorded).texts == {"it": "Fa caldo.", "en": ""}
    assert fields(heat(recorded=frozenset({"xx"}))) == ["audio_xx"]


def test_the_window_closes_on_whoever_was_not_reached(city):
    store = BroadcastStore(city.engine, clock=lambda: NOW)
    bid = store.create(heat(), "maria")
    store.audio_built(bid)
    calls = source(city, Clock(NOW))
    (dial,) = calls.due(NOW, 1)  # one channel all morning: the other citizen waits
    noon = datetime(2026, 11, 25, 12, 0)
    assert calls.due(noon, 1) == [] and store.get(bid).state == "running"  # a call is up
    calls.result(dial.key, "delivered", noon)
    assert calls.due(noon, 1) == []
    view = store.get(bid)
    assert view.state == "done" and view.counts == {"delivered": 1, "pending": 1}
    assert all(d.next_at is None for d in store.deliveries(bid))


def test_the_outbound_process_dials_broadcasts_beside_the_other_sources(tmp_path):
    import dataclasses

    from ivr import config
    from ivr.outbound_service import build_dialler

    settings = dataclasses.replace(
        config.load(),
        teleassistance_dial="PJSIP/{number}@trunk",
        database_url=f"sqlite:///{tmp_path / 'city.db'}",
        redis_url="",
    )
    dialler = build_dialler(settings, lambda: None)
    assert dialler is not None and "broadcasts" in [s.name for s in dialler.sources]
