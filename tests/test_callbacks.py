"""Callbacks without Asterisk: the node's flow, the one-active-request rule on SQLite and
PostgreSQL, and the worker's bookkeeping against a fake AMI."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

import ivr.callbacks.node  # noqa: F401  (registers the node kind)
from ivr.asterisk.dial import dial_string
from ivr.callbacks.models import CallbackState
from ivr.callbacks.node import CallbackNode, normalize_number
from ivr.callbacks.store import CallbackStore, DatabaseCallbacks, DuplicateCallback, Policy
from ivr.callbacks.worker import CallbackWorker, fair_position
from ivr.flow.actions import (
    Ask,
    Digits,
    Hangup,
    Invoke,
    NoInput,
    Play,
    Played,
    Result,
    Saying,
    Transfer,
)
from ivr.flow.engine import CallSession
from ivr.flow.loader import parse_dialplan
from ivr.flow.services import ServiceError
from ivr.logs import mask_number

TEXT = """
number: "020202"
languages: [it, en]
general_operator: op
departments:
  op: {names: {it: Operatore, en: Operator}, hours: always}
  anag: {names: {it: Anagrafe, en: Registry}, hours: always}
nodes:
  cb: {type: callback, department: anag}
"""
NOW = datetime(2026, 11, 23, 10)


def session(number: str = "3331234567", lang: str = "en") -> CallSession:
    plan, issues = parse_dialplan(TEXT, "cb.yaml")
    assert issues == [], [str(i) for i in issues]
    assert isinstance(plan.nodes["cb"], CallbackNode)
    s = CallSession(plan, now=NOW, language=lang, caller={"number": number, "call_id": "u1"})
    s.data["queue_position"] = 4
    return s


def keys(action) -> list[str]:
    return [p.key if not isinstance(p, Saying) else f"<{p.value}>" for p in action.prompts]


def finish(s: CallSession, action):
    while isinstance(action, Play):
        action = s.feed(Played())
    return action


# -- the node --------------------------------------------------------------------------------


def test_caller_id_confirmed_books_with_language_queue_and_place():
    s = session()
    offer = s.start()
    assert isinstance(offer, Ask)
    assert keys(offer) == ["callback_offer_number", "<4567>", "callback_offer_choice"]
    invoke = s.feed(Digits("1"))
    assert isinstance(invoke, Invoke) and invoke.service == "callbacks.request"
    assert invoke.args == {
        "number": "3331234567",
        "language": "en",
        "department": "anag",
        "queue": "anag",
        "position": 4,
        "call_id": "u1",
    }
    end = s.feed(Result({"id": 1}))
    assert isinstance(end, Hangup) and keys(end) == ["callback_booked"]


def test_another_number_is_typed_read_back_and_confirmed():
    s = session()
    s.start()
    typing = s.feed(Digits("2"))
    assert isinstance(typing, Ask) and typing.max_digits >= 13
    assert keys(typing) == ["callback_enter_number"]
    check = s.feed(Digits("061234567"))
    assert keys(check) == ["callback_read_back", "<061234567>", "callback_confirm_choice"]
    again = s.feed(Digits("2"))  # typed it wrong: again
    assert keys(again) == ["callback_enter_number"]
    s.feed(Digits("0612345678"))
    invoke = s.feed(Digits("1"))
    assert isinstance(invoke, Invoke) and invoke.args["number"] == "0612345678"


def test_no_caller_id_goes_straight_to_typing_and_a_bad_number_is_refused():
    s = session(number="")
    typing = s.start()
    assert keys(typing) == ["callback_enter_number"]
    bad = s.feed(Digits("12"))
    assert keys(bad) == ["callback_invalid_number", "callback_enter_number"]


def test_duplicate_says_so_and_hangs_up():
    s = session()
    s.start()
    s.feed(Digits("1"))
    end = s.feed(Result(error="duplicate"))
    assert isinstance(end, Hangup) and keys(end) == ["callback_already"]


def test_any_other_error_puts_the_caller_through_to_the_department():
    s = session()
    s.start()
    s.feed(Digits("1"))
    play = s.feed(Result(error="unavailable"))
    assert keys(play) == ["callback_unavailable", "transferring"]
    end = finish(s, play)
    assert isinstance(end, Transfer) and end.department == "anag" and end.language == "en"


def test_silence_three_times_reaches_the_operator():
    s = session()
    s.start()
    s.feed(NoInput())
    s.feed(NoInput())
    end = finish(s, s.feed(NoInput()))
    assert isinstance(end, Transfer) and end.department == "op"


def test_numbers():
    assert normalize_number("+393331234567") == "00393331234567"
    assert normalize_number("anonymous") == "" and normalize_number("123") == ""
    assert mask_number("3331234567") == "********67"
    assert dial_string("PJSIP/{number}@trunk", "0612345") == "PJSIP/0612345@trunk"
    with pytest.raises(ValueError):
        dial_string("PJSIP/{number}&PJSIP/x", "0612345")
    # two callers were waiting before the request, one came after; the caller had place 4
    assert fair_position([300.0, 200.0, 5.0], age_s=30, kept=4) == 3
    assert fair_position([300.0, 200.0, 100.0], age_s=30, kept=2) == 2
    assert fair_position([], age_s=30, kept=0) == 1


# -- the store, on SQLite and PostgreSQL -----------------------------------------------------


def test_one_active_request_per_number(booking_url):
    callbacks = DatabaseCallbacks(booking_url)
    args = {"number": "3331234567", "language": "fr", "department": "anag", "queue": "anag"}
    first = callbacks.request({**args, "position": 2})["id"]
    with pytest.raises(ServiceError) as err:
        callbacks.request(args)
    assert err.value.code == "duplicate"
    assert callbacks.request({**args, "number": "3339999999"})["id"] != first
    # the database keeps the rule even past the service's own check
    store = callbacks.store
    with pytest.raises(DuplicateCallback):
        _insert_past_the_check(store, "3331234567")
    row = store.get(first)
    assert (row.language, row.position, row.state) == ("fr", 2, "pending")
    # once finished, the number may ask again
    assert store.cancel(first)
    assert callbacks.request(args)["id"] != first


def _insert_past_the_check(store: CallbackStore, number: str) -> None:
    from sqlalchemy import select

    import ivr.callbacks.store as module

    real = module.select
    module.select = lambda *a: select(*a).where(False)  # the pre-check finds nothing
    try:
        store.request(number, "it", "anag", "anag")
    finally:
        module.select = real


# -- the worker, against a fake AMI ----------------------------------------------------------


class FakeAMI:
    def __init__(self) -> None:
        self.actions: list[tuple[str, dict]] = []
        self.channels: list[str] = []
        self.connected = True

    def action(self, name: str, **kw):
        self.actions.append((name, kw))
        events = []
        if name == "CoreShowChannels":
            events = [_Msg(Event="CoreShowChannel", Channel=c) for c in self.channels]
        return _Resp(events)

    def originated(self) -> list[dict]:
        return [kw for name, kw in self.actions if name == "Originate"]


class _Msg:
    def __init__(self, **headers: str) -> None:
        self.headers = list(headers.items())
        self.name = headers.get("Event", "")

    def get(self, key: str, default=None):
        return dict(self.headers).get(key, default)


class _Resp:
    def __init__(self, events) -> None:
        self.events = events


@pytest.fixture
def worker(tmp_path):
    from ivr.db import ready

    url = f"sqlite:///{tmp_path / 'cb.db'}"
    clock = [datetime(2026, 11, 23, 9)]
    store = CallbackStore(ready(url), clock=lambda: clock[0])
    w = CallbackWorker(
        lambda: None,
        store,
        dial_template="Local/{number}@nu-test-citizen",
        policy=Policy(max_attempts=2, retry_delay_s=10),
    )
    w.clock_cell = clock
    return w


def event(kind: str, request_id: int, **more: str) -> _Msg:
    return _Msg(Event="UserEvent", UserEvent=kind, Id=str(request_id), **more)


def test_worker_queues_a_placeholder_then_records_a_connected_call(worker):
    ami = FakeAMI()
    rid = worker.store.request("3331234567", "de", "anag", "anag", position=1)
    worker.originate_due(ami)
    (orig,) = ami.originated()
    assert orig["Channel"] == f"Local/{rid}@nu-callback/n" and orig["Exten"] == str(rid)
    assert "NU_LANG=de" in orig["Variable"] and "NU_CB_POSITION=1" in orig["Variable"]
    assert "NU_CB_DIAL=Local/3331234567@nu-test-citizen" in orig["Variable"]
    assert worker.store.get(rid).state == "queued"
    worker.originate_due(ami)
    assert len(ami.originated()) == 1  # not twice
    worker.listen(event("NuCallbackCalling", rid))
    worker.listen(event("NuCallbackResult", rid, Status="ANSWER"))
    worker.listen(event("NuCallbackResult", rid, Status="ANSWER"))  # late duplicate: no change
    worker.drain(ami)
    row = worker.store.get(rid)
    assert (row.state, row.outcome, row.attempts) == ("done", "connected", 1)


def test_worker_retries_ahead_of_new_callers_then_gives_up_unreachable(worker):
    ami = FakeAMI()
    rid = worker.store.request("3331234560", "it", "anag", "anag", position=3)
    worker.originate_due(ami)
    worker.listen(event("NuCallbackCalling", rid))
    worker.listen(event("NuCallbackResult", rid, Status="NOANSWER"))
    worker.drain(ami)
    row = worker.store.get(rid)
    assert (row.state, row.attempts) == ("pending", 1)
    worker.originate_due(ami)
    assert len(ami.originated()) == 1  # the retry waits for its delay
    worker.clock_cell[0] += timedelta(seconds=11)
    worker.originate_due(ami)
    retry = ami.originated()[1]
    assert "NU_CB_PRIO=1" in retry["Variable"] and "NU_CB_POSITION=" in retry["Variable"]
    worker.listen(event("NuCallbackCalling", rid))
    worker.listen(event("NuCallbackResult", rid, Status="BUSY"))
    worker.drain(ami)
    row = worker.store.get(rid)
    assert (row.state, row.outcome, row.attempts) == ("failed", "unreachable", 2)


def test_a_vanished_placeholder_is_queued_again_and_a_finished_one_never_dials(worker):
    ami = FakeAMI()
    rid = worker.store.request("3331234567", "it", "anag", "anag")
    worker.originate_due(ami)
    ami.channels = [f"Local/{rid}@nu-callback-00000001;2"]
    worker.clock_cell[0] += timedelta(seconds=10)
    worker.reconcile(ami)
    assert worker.store.get(rid).state == CallbackState.QUEUED  # still there
    ami.channels = []  # Asterisk restarted
    worker.reconcile(ami)
    assert worker.store.get(rid).state == CallbackState.PENDING
    worker.originate_due(ami)
    assert len(ami.originated()) == 2
    assert worker.store.cancel(rid)
    worker.listen(event("NuCallbackCalling", rid, Channel="Local/x;1"))
    worker.drain(ami)
    assert ("Hangup", {"Channel": "Local/x;1"}) in ami.actions
    assert worker.store.get(rid).state == CallbackState.CANCELLED


def test_callbacks_are_off_without_an_outbound_dial_string(tmp_path, monkeypatch, capsys):
    import dataclasses

    from ivr import config
    from ivr.callbacks.worker import build_worker
    from ivr.cli import main

    settings = dataclasses.replace(
        config.load(), database_url=f"sqlite:///{tmp_path / 'c.db'}", callback_dial=""
    )
    assert build_worker(settings, lambda: None) is None
    monkeypatch.setenv("NU_CALLBACK_DIAL", "")
    assert main(["callbacks", "run", "--etc", str(tmp_path)]) == 1
    assert "callbacks are off" in capsys.readouterr().out
    on = dataclasses.replace(settings, callback_dial="PJSIP/{number}@trunk", callback_attempts=5)
    worker = build_worker(on, lambda: None)
    assert worker is not None and worker.policy.max_attempts == 5


def test_with_callbacks_off_the_city_handler_never_takes_a_number(tmp_path):
    """No outbound line: a saturated registry caller choosing "2" hears at once that callbacks
    can't be booked and is put through to the registry, without typing or confirming a number;
    with a line the same key offers the caller id."""
    import dataclasses

    from ivr import config
    from ivr.agi.peer import ScriptedCaller, drive
    from ivr.flow.loader import load_dialplan
    from ivr.service import city_handler, city_services

    EXAMPLE = load_dialplan(config.ROOT / "dialplans" / "example-city.yaml")

    def busy(args):
        return {"logged_in": 0, "available": 0, "waiting": 0}

    base = dataclasses.replace(
        config.load(),
        var_dir=tmp_path,
        redis_url="",
        speech_models="",
        database_url=f"sqlite:///{tmp_path / 'c.db'}",
    )
    clock = lambda zone: datetime(2026, 11, 23, 10, 0, tzinfo=zone)  # noqa: E731
    for dial, offered in (("", False), ("PJSIP/{number}@trunk", True)):
        settings = dataclasses.replace(base, callback_dial=dial)
        # the city's own services, with a registry queue where nobody is available
        services = {**city_services(settings, EXAMPLE, None), "queues.state": busy}
        handler, _ = city_handler(settings, clock=clock, services=services)
        record, outcome = drive(handler, ScriptedCaller(["1", "1", "4", "2", "1"]))
        played = " ".join(record.commands)
        assert ("/callback_offer_number" in played) is offered, dial
        if not offered:
            assert "/callback_unavailable" in played
            assert record.variables["NU_DEPARTMENT"] == "anagrafe"
            assert record.variables["NU_REASON"] == "callback_off"


def test_migration_0002_matches_the_model(tmp_path):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from ivr.db import ready
    from ivr.db.migrations import target_metadata

    url = f"sqlite:///{tmp_path / 'm.db'}"

    def ours(diff) -> bool:
        text = repr(diff)
        return "callback_requests" in text

    with ready(url).connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), target_metadata())
    assert [d for d in diffs if ours(d)] == []


def test_the_loader_wants_a_known_department():
    from ivr.flow.validate import validate

    plan, issues = parse_dialplan(TEXT.replace("department: anag}", "}"), "cb.yaml")
    assert any("needs 'department'" in str(i) for i in issues)
    plan, issues = parse_dialplan(TEXT.replace("department: anag}", "department: nope}"), "x")
    assert issues == []
    assert any("unknown department 'nope'" in str(i) for i in validate(plan))


def test_staff_list_and_cancel_requests_with_numbers_masked(tmp_path, monkeypatch, capsys):
    from ivr import config
    from ivr.cli import main

    url = f"sqlite:///{tmp_path / 'c.db'}"
    monkeypatch.setenv("NU_DATABASE_URL", url)
    callbacks = DatabaseCallbacks(url)
    first = callbacks.request(
        {"number": "3331234567", "language": "en", "department": "anagrafe", "queue": "anagrafe"}
    )["id"]
    callbacks.request({"number": "3339876543", "department": "tributi", "queue": "tributi"})
    assert config.load().database_url == url  # the CLI reads the same database

    assert main(["callbacks", "list"]) == 0
    out = capsys.readouterr().out
    assert "3331234567" not in out and "********67" in out and "********43" in out
    assert out.count("pending") == 2

    assert main(["callbacks", "cancel", str(first)]) == 0
    assert "cancelled" in capsys.readouterr().out
    assert main(["callbacks", "cancel", str(first)]) == 1  # nothing left to cancel
    assert "already cancelled" in capsys.readouterr().out
    assert main(["callbacks", "cancel", "999"]) == 1
    main(["callbacks", "list", "--active"])
    active = capsys.readouterr().out
    assert "tributi" in active and "anagrafe" not in active
    # the number is free again: the citizen may ask anew
    assert callbacks.request({"number": "3331234567", "department": "anagrafe", "queue": "q"})
