"""The desk's call context: the path in words, why the caller is here, the keyed caller hash,
and the FastAGI hook that stores it in a real Redis (ivr/desk/)."""

from __future__ import annotations

import dataclasses
import os
import stat
import time
from types import SimpleNamespace

import pytest

from ivr import config
from ivr.agi.runner import CallOutcome
from ivr.desk.context import build_context, main_menu, path_in_words, why
from ivr.desk.store import CallContexts
from ivr.flow.actions import Hangup, Transfer
from ivr.flow.loader import load_dialplan
from ivr.kpi import caller_hash as ch


@pytest.fixture(scope="module")
def city():
    return load_dialplan(config.ROOT / "dialplans" / "example-city.yaml")


def test_the_path_is_said_in_department_and_menu_names_not_node_ids(city):
    path = ["lingua", "benvenuto", "principale", "tributi_orari", "tributi_operatori"]
    assert main_menu(city) == "principale"
    assert path_in_words(city, path, "it") == ["Menu principale", "Tributi"]
    assert path_in_words(city, path, "en") == ["Main menu", "Local taxes"]
    # a repeated menu and the registry's own menu; speech and the switchboard by their kind
    path = ["lingua", "principale", "principale", "anagrafe", "anagrafe_orari", "parla"]
    assert path_in_words(city, path, "en") == ["Main menu", "Registry office", "Spoken request"]
    assert path_in_words(city, ["principale", "centralino"], "it") == [
        "Menu principale",
        "Centralino",
    ]
    words = " ".join(path_in_words(city, list(city.nodes), "it"))
    assert "_" not in words  # no node id slips through


@pytest.mark.parametrize(
    ("reason", "saturation", "expected"),
    [
        ("menu", None, "menu"),
        ("menu", "max_waiting", "saturation"),
        ("overflow", None, "overflow"),
        ("transfer", "max_waiting", "transfer"),  # the dialplan's later reason wins
        ("callback", None, "callback"),
        ("callback_failed", None, "callback"),
        ("directory_closed", None, "directory"),
        ("retries", None, "fallback"),
        ("ivr_unavailable", None, "fallback"),
    ],
)
def test_why_the_caller_is_here(reason, saturation, expected):
    assert why(reason, saturation) == expected


def test_the_context_holds_what_the_operator_needs(city):
    ctx = build_context(
        city,
        call_id="1.2",
        department="tributi",
        queue="tributi",
        language="en",
        reason="menu",
        path=["lingua", "principale", "parla", "tributi_orari", "tributi_operatori"],
        data={"said": "pay my taxes", "said_confidence": 0.82, "pin": "9876"},
        at=100.0,
        caller_hash="h",
        number="3331234567",
    )
    assert ctx["path"] == ["Menu principale", "Richiesta a voce", "Tributi"]
    assert ctx["department_name"] == "Tributi"  # the city's language: the operators'
    assert (ctx["said"], ctx["confidence"], ctx["why"]) == ("pay my taxes", 0.82, "menu")
    assert ctx["number"] == "3331234567" and "9876" not in repr(ctx)  # only named data keys


def test_the_caller_hash_is_keyed_and_the_key_kept_private(tmp_path, monkeypatch):
    monkeypatch.delenv(ch.ENV, raising=False)
    key = ch.load_key(tmp_path)
    assert ch.load_key(tmp_path) == key  # kept in var/
    assert stat.S_IMODE(os.stat(tmp_path / ch.FILE).st_mode) == 0o600
    same = {ch.caller_hash(key, n) for n in ("+39 333 1234567", "00393331234567", "3331234567")}
    assert len(same) == 1 and "3331234567" not in same.pop()
    assert ch.caller_hash(b"another city" * 3, "3331234567") != ch.caller_hash(key, "3331234567")
    assert ch.caller_hash(key, "anonymous") is None
    monkeypatch.setenv(ch.ENV, "from the environment")
    assert ch.load_key(tmp_path) == b"from the environment"


def test_the_fastagi_hook_stores_a_transfers_context_in_redis(redis_server, tmp_path, monkeypatch):
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from ivr.db import ready
    from ivr.flow.source import DialplanSource
    from ivr.kpi.models import CallRecord
    from ivr.kpi.recorder import shared_recorder
    from ivr.service import publish_contexts

    monkeypatch.delenv(ch.ENV, raising=False)
    settings = dataclasses.replace(
        config.load(),
        var_dir=tmp_path,
        redis_url=redis_server.url,
        database_url=f"sqlite:///{tmp_path / 'city.db'}",
    )
    source = DialplanSource(
        config.ROOT / "dialplans" / "example-city.yaml", config.ROOT / "prompts"
    )
    hook = publish_contexts(settings, source, clock=lambda: 42.0)
    agi = SimpleNamespace(env={"agi_uniqueid": "desk-1.1", "agi_callerid": "3331234567"})
    moved = CallOutcome(
        final=Transfer("rifiuti", "rifiuti", "fr", "menu"),
        path=["lingua", "benvenuto", "principale", "rifiuti_orari", "rifiuti_operatori"],
        language="fr",
    )
    hook(agi, moved)
    gone = SimpleNamespace(env={"agi_uniqueid": "desk-1.2", "agi_callerid": "3331234567"})
    hook(gone, CallOutcome(final=Hangup(()), path=["lingua"]))
    assert hook.publisher.flush()
    contexts = CallContexts(redis_server.url)
    # get() answers None when its read misses the product's 0.5 s bound (a loaded machine)
    deadline = time.monotonic() + 10
    while (ctx := contexts.get("desk-1.1")) is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert ctx is not None
    assert ctx["path"] == ["Menu principale", "Raccolta rifiuti"]
    assert (ctx["language"], ctx["why"], ctx["queued_at"]) == ("fr", "menu", 42.0)
    key = ch.load_key(tmp_path)
    assert ctx["caller_hash"] == ch.caller_hash(key, "3331234567")
    assert ctx["number"] == "3331234567"
    assert contexts.get("desk-1.2") is None  # no transfer, no context
    assert 0 < contexts.redis.ttl("nu:call:desk-1.1") <= 4 * 3600
    contexts.add_note("desk-1.1", "201", "  wants the bulky waste form ", "805", 50.0)
    assert contexts.get("desk-1.1")["notes"][0]["text"] == "wants the bulky waste form"

    # every call's record gets the keyed hash (the desk's earlier calls), never the number
    recorder = shared_recorder(settings.database_url)
    assert recorder.flush()
    recorder.close()  # its thread must not outlive the test (it migrates its database)
    with Session(ready(settings.database_url)) as db:
        hashes = {r.call_id: r.caller_hash for r in db.scalars(select(CallRecord))}
    assert hashes == {"desk-1.1": ctx["caller_hash"], "desk-1.2": ctx["caller_hash"]}
