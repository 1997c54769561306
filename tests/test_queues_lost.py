"""Calls lost with a node, without Asterisk: the rule (ivr/queues/lost.py) on events recorded from
a real Asterisk 22 (tests/data/ami/queues.txt), the watcher's session with a scripted AMI
connection, who waits where in a real redis-server, and the rescue through a real callback store
and KPI recorder (SQLite)."""

from __future__ import annotations

import logging
import time

import pytest

from ivr.callbacks.store import CallbackStore
from ivr.db import make_engine, migrate
from ivr.devenv.asterisk import free_port
from ivr.devenv.redis import RedisServer
from ivr.kpi.cli import load_records
from ivr.kpi.recorder import CallRecorder
from ivr.kpi.report import kpis, render
from ivr.queues.lost import NodeGuard, Waiting, judge, waiting_from
from ivr.queues.rescue import NODE_LOST, Rescue
from ivr.queues.waiting import RedisWaiting
from ivr.queues.watcher import QueueWatcher, _plain
from tests.ami_replay import Transcript


class Msg:
    def __init__(self, headers):
        self.headers = list(headers)

    def get(self, key, default=None):
        return dict(self.headers).get(key, default)


def recorded(kind: str) -> list[Msg]:
    """The events of that kind Asterisk 22 sent in the recorded queue session."""
    return [
        Msg(h) for _, h in Transcript.load("queues").messages("S") if dict(h).get("Event") == kind
    ]


class MemoryWaiting:
    """The waiting store's contract, in memory (RedisWaiting is tested on its own below)."""

    def __init__(self):
        self.rows: dict[tuple[str, str], Waiting] = {}

    def add(self, w):
        self.rows[(w.node, w.call_id)] = w

    def remove(self, node, call_id):
        self.rows.pop((node, call_id), None)

    def all(self, node):
        return [w for (n, _), w in self.rows.items() if n == node]

    def elsewhere(self, number, node):
        return any(w.number == number and w.node != node for w in self.rows.values())


def guard_with(store, grace_s=10.0, now=0.0):
    lost, revived = [], []
    guard = NodeGuard(
        "a",
        store,
        lambda w, at: lost.append((w.call_id, at)),
        grace_s=grace_s,
        languages=("it", "en"),
        revived=revived.append,
        now=now,
    )
    return guard, lost, revived


def join(call_id: str, number: str, queue: str = "tributi_en", **variables: str) -> dict:
    ev = {
        "Event": "QueueCallerJoin",
        "Uniqueid": call_id,
        "Queue": queue,
        "CallerIDNum": number,
        "Position": "1",
        "Context": "nu-enqueue",
    }
    return ev | {f"var:{k}": v for k, v in variables.items()}


# ---------------------------------------------------------------------------------------------
# The rule


def test_a_recorded_join_says_who_waits_where_with_the_channel_variables():
    first = _plain(recorded("QueueCallerJoin")[0])
    variables = {k[4:]: v for k, v in first.items() if k.startswith("var:")}
    w = waiting_from(first, "a", "boot1", 100.0, ("it", "en"), variables)
    assert w is not None
    assert (w.call_id, w.queue, w.department, w.language, w.number, w.position) == (
        "nu-52123371f840-ivr",
        "operatore",
        "operatore",
        "it",
        "3331234567",
        1,
    )
    # a language twin without channel variables: the department and the language from its name
    twin = waiting_from(
        {
            "Event": "QueueEntry",
            "Uniqueid": "u",
            "Queue": "tributi_en",
            "CallerIDNum": "anonymous",
            "Wait": "7",
        },
        "a",
        "b",
        100.0,
        ("it", "en"),
    )
    assert (twin.queue, twin.language, twin.number, twin.joined) == ("tributi", "en", "", 93.0)
    placeholder = {
        "Event": "QueueCallerJoin",
        "Uniqueid": "p",
        "Queue": "tributi",
        "Context": "nu-callback",
        "CallerIDNum": "3331234567",
    }
    assert waiting_from(placeholder, "a", "b", 0.0) is None  # a kept place, not a caller


def test_judge_a_node_that_answers_again():
    def w(call_id, boot):
        return Waiting(call_id, "a", boot, "tributi", "tributi", "it", "3", 1, 0.0)

    verdict = judge([w("1", "old"), w("2", "new"), w("3", "new")], "new", {"2"})
    assert [x.call_id for x in verdict.lost] == ["1"]  # restarted: its calls are gone
    assert [x.call_id for x in verdict.still] == ["2"]
    assert [x.call_id for x in verdict.gone] == ["3"]  # left while nobody watched


def test_callers_are_forgotten_when_they_leave_and_lost_after_the_grace():
    store = MemoryWaiting()
    guard, lost, _ = guard_with(store, grace_s=10.0)
    guard.up("boot1", [], now=0.0)
    guard.event(join("c1", "3351112223"), 1.0, {"NU_QUEUE": "tributi", "NU_LANG": "en"})
    guard.event(join("c2", "3351112224"), 2.0, {})
    guard.event(join("c3", "3351112225"), 3.0, {})
    guard.event({"Event": "QueueCallerLeave", "Uniqueid": "c3", "Queue": "tributi"}, 4.0, {})
    assert sorted(w.call_id for w in store.all("a")) == ["c1", "c2"]
    assert store.all("a")[0].language == "en"

    guard.down(5.0)
    guard.down(8.0)  # failed reconnects do not restart the grace
    assert guard.tick(14.9) == [] and lost == []
    assert sorted(w.call_id for w in guard.tick(15.0)) == ["c1", "c2"]
    assert sorted(lost) == [("c1", 5.0), ("c2", 5.0)]  # lost when last heard
    assert store.all("a") == []  # the numbers are gone with them
    assert guard.tick(30.0) == []  # once


def test_a_restarted_node_loses_its_callers_at_once_a_blip_loses_none():
    store = MemoryWaiting()
    guard, lost, _ = guard_with(store)
    guard.up("boot1", [], now=0.0)
    guard.event(join("c1", "3351112223"), 1.0, {})
    guard.event(join("c2", "3351112224"), 1.0, {})
    guard.down(2.0)
    # back within the grace, same boot: c1 still queued, c2 left meanwhile
    entry = {"Event": "QueueEntry", "Uniqueid": "c1", "Queue": "tributi_en", "Wait": "3"}
    verdict = guard.up("boot1", [entry], now=4.0)
    assert [w.call_id for w in verdict.still] == ["c1"] and lost == []
    assert [w.call_id for w in store.all("a")] == ["c1"]
    guard.down(5.0)
    verdict = guard.up("boot2", [], now=7.0)  # restarted within the grace
    assert [w.call_id for w in verdict.lost] == ["c1"] and lost == [("c1", 5.0)]
    assert guard.tick(100.0) == []


def test_a_node_frozen_past_the_grace_that_resumes_withdraws_the_callback():
    store = MemoryWaiting()
    guard, lost, revived = guard_with(store, grace_s=10.0)
    guard.up("boot1", [], now=0.0)
    guard.event(join("c1", "3351112223"), 1.0, {})
    guard.down(2.0)
    guard.tick(12.0)
    assert lost == [("c1", 2.0)]
    entry = {
        "Event": "QueueEntry",
        "Uniqueid": "c1",
        "Queue": "tributi_en",
        "Wait": "30",
        "CallerIDNum": "3351112223",
    }
    guard.up("boot1", [entry], now=31.0)  # SIGCONT: the caller is still there
    assert revived == ["c1"] and [w.call_id for w in store.all("a")] == ["c1"]


def test_a_new_watcher_judges_what_the_last_one_recorded():
    store = MemoryWaiting()
    store.add(Waiting("c1", "a", "boot1", "tributi", "tributi", "it", "3351112223", 1, 0.0))
    guard, lost, _ = guard_with(store, grace_s=10.0, now=100.0)  # down until it connects
    assert guard.tick(105.0) == []
    assert [w.call_id for w in guard.tick(110.0)] == ["c1"]


# ---------------------------------------------------------------------------------------------
# The watcher's session, scripted: joins recorded from Asterisk 22, then the connection drops


class FakeAMI:
    def __init__(self, events, boot="2026-11-25 12:00:00"):
        self.script, self.boot, self.connected = events, boot, True

    @property
    def answering(self):
        return self.connected

    def add_listener(self, cb):
        self.cb = cb

    def action(self, name):
        r = Msg([])
        r.events = []
        if name == "CoreStatus":
            date, _, clock = self.boot.partition(" ")
            return Msg(
                [("Response", "Success"), ("CoreStartupDate", date), ("CoreStartupTime", clock)]
            )
        assert name == "QueueStatus"
        for ev in self.script:
            self.cb(ev)
        self.script = []
        return r


class NullStore:
    def write(self, *a):
        pass


def test_the_watcher_feeds_the_guard_and_the_grace_runs_after_the_session(caplog):
    store = MemoryWaiting()
    guard, lost, _ = guard_with(store, grace_s=0.5, now=time.time())
    watcher = QueueWatcher(lambda: None, NullStore(), tick_s=0.05, guard=guard)
    ami = FakeAMI(recorded("QueueCallerJoin")[:2])
    original = watcher._apply

    def apply_then_drop(ev):
        changed = original(ev)
        if watcher.events.empty():
            ami.connected = False
        return changed

    watcher._apply = apply_then_drop
    watcher.session(ami)
    assert sorted(w.call_id for w in store.all("a")) == [
        "nu-52123371f840-ivr",
        "nu-ad62db027ce6-ivr",
    ]
    assert all(w.boot == "2026-11-25 12:00:00" for w in store.all("a"))
    assert guard.down_since is not None  # the session ended: the grace runs
    deadline = time.monotonic() + 5
    while len(lost) < 2:
        guard.tick(time.time())
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert store.all("a") == []


# ---------------------------------------------------------------------------------------------
# The edges: Redis, the callback store, the call records and the report


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    server = RedisServer(free_port(), tmp_path_factory.mktemp("redis"), snapshots=False).start()
    yield server.url
    server.stop()


def test_who_waits_where_in_redis_with_an_expiry(redis_url):
    waiting = RedisWaiting(redis_url, ttl_s=60)
    a = Waiting("c1", "a", "b", "tributi", "tributi", "en", "3351112223", 2, 1.5)
    waiting.add(a)
    waiting.add(Waiting("c9", "b", "b", "tributi", "tributi", "it", "3359999999", 1, 1.0))
    assert waiting.all("a") == [a]
    assert 0 < waiting._redis.ttl("nu:waiting:a") <= 60
    assert waiting.elsewhere("3359999999", "a") and not waiting.elsewhere("3351112223", "a")
    waiting.remove("a", "c1")
    waiting.remove("b", "c9")
    assert waiting.all("a") == [] and not waiting._redis.exists("nu:waiting:a")


def test_lost_callers_get_one_callback_each_and_count_in_the_report(tmp_path, caplog):
    url = f"sqlite:///{tmp_path / 'city.db'}"
    migrate(url)
    engine = make_engine(url)
    callbacks = CallbackStore(engine)
    recorder = CallRecorder(engine, migrate=False)
    waiting = MemoryWaiting()
    rescue = Rescue(callbacks, recorder, waiting)
    caplog.set_level(logging.INFO)

    def w(call_id, number, node="a"):
        return Waiting(call_id, node, "b", "tributi", "tributi", "en", number, 3, 0.0)

    now = time.time()
    for call_id in ("c1", "c2", "c3", "c4", "c5"):  # their queue records, as the watcher wrote
        recorder.queue_event(
            {"Event": "QueueCallerJoin", "Uniqueid": call_id, "Queue": "tributi_en"}
        )
    already = callbacks.request("3350000004", "it", "tributi", "tributi")
    waiting.add(w("c9", "3350000005", node="b"))  # called again: now waits on node b
    results = [
        rescue.lost(w("c1", "3350000001"), now),
        rescue.lost(w("c2", "3350000002"), now),
        rescue.lost(w("c3", ""), now),  # withheld number
        rescue.lost(w("c4", "3350000004"), now),
        rescue.lost(w("c5", "3350000005"), now),
    ]
    assert results[0].startswith("callback") and results[1].startswith("callback")
    assert results[2:] == [
        "counted (no number to call back)",
        "counted (the caller already has a callback)",
        "counted (the caller already waits on another node)",
    ]
    rows = callbacks.due()
    assert {(r.number, r.language, r.queue, r.position, r.call_id, r.outcome) for r in rows} == {
        ("3350000001", "en", "tributi", 3, "c1", NODE_LOST),
        ("3350000002", "en", "tributi", 3, "c2", NODE_LOST),
        ("3350000004", "it", "tributi", 0, None, None),
    }
    assert already in {r.id for r in rows}
    assert recorder.flush()
    records = load_records(engine, *_today())
    assert sorted(r.outcome for r in records) == ["lost_with_node"] * 5
    assert kpis(records).lost_with_node == 5
    text = render(records, "today")
    assert "lost with a node: 5 (tributi_en 5)" in text  # no IVR part: the queue names it
    for record in caplog.records:  # never the number in a log line
        assert "335000000" not in record.getMessage()

    rescue.revived("c1")  # the node resumed with c1 still queued
    assert recorder.flush()
    assert [r.call_id for r in callbacks.due() if r.outcome == NODE_LOST] == ["c2"]
    recorder.close()


def _today():
    from datetime import datetime, timedelta

    now = datetime.utcnow()
    return now - timedelta(days=1), now + timedelta(days=1)


def test_the_watch_command_builds_its_guard_from_the_settings(redis_url, tmp_path):
    import dataclasses

    from ivr import config
    from ivr.queues.rescue import build_guard

    url = f"sqlite:///{tmp_path / 'city.db'}"
    base = dataclasses.replace(
        config.Settings(), redis_url=redis_url, database_url=url, node_lost_grace_s=7.0
    )
    off = build_guard("a", dataclasses.replace(base, callback_dial=""), clock=lambda: 5.0)
    assert (off.node, off.grace_s, off.down_since) == ("a", 7.0, 5.0)
    assert off.lost.__self__.callbacks is None  # callbacks off: lost calls are only counted
    on = build_guard("a", dataclasses.replace(base, callback_dial="Local/{number}@x"))
    assert on.lost.__self__.callbacks is not None
