"""Calls lost with a node, for real: two callers wait in a queue of an Asterisk node (A, a private
instance, its FastAGI service down so Asterisk queues them for the general operator itself), the
node is killed (SIGKILL), and each caller gets a callback request marked ``node_lost``; the
callback worker, on the surviving node (B, the session's test Asterisk), calls both back at
``Local/{number}@nu-test-citizen`` once an operator takes the kept places; ``ivr kpi report``
counts 2 calls lost with a node.

The queue watcher of node A runs as ``ivr queues watch`` runs it: its guard records who waits in
Redis and offers the callbacks after the grace. Node B is never killed: the tests after this one
find it as it was.

A node frozen (SIGSTOP) past the grace looks dead and its caller is offered a callback; when it
runs again (SIGCONT) with the caller still queued, the callback is withdrawn and the call is
counted as queued again, not lost.

The same through Kamailio's dispatcher, with real operators taking the kept place on the
surviving node: tests/test_cluster_operators.py.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import threading
import time

import pytest

from ivr.callbacks.store import CallbackStore, Policy
from ivr.callbacks.worker import CallbackWorker
from ivr.db import make_engine, migrate
from ivr.kpi.cli import load_records
from ivr.kpi.recorder import CallRecorder
from ivr.kpi.report import render
from ivr.queues.lost import NodeGuard
from ivr.queues.rescue import NODE_LOST, Rescue
from ivr.queues.store import RedisQueueStore
from ivr.queues.waiting import RedisWaiting
from ivr.queues.watcher import QueueWatcher
from tests.asterisk_harness import AsteriskHarness, prepare_instance
from tests.test_asterisk_wedged import asterisk_pid

pytestmark = pytest.mark.asterisk

DIAL = "Local/{number}@nu-test-citizen"
CALLERS = ("3351112223", "3351112224")  # people who answer (tests/asterisk_harness.py)
GRACE_S = 3.0


def wait_until(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout}s")
        time.sleep(0.1)


@pytest.fixture
def node_a(tmp_path, asterisk_dialplan):
    """A second Asterisk node; nothing listens on its FastAGI port (its callers are queued for
    the general operator by Asterisk's own fallback)."""
    instance = prepare_instance(
        f"lost-{os.getpid()}",
        asterisk_dialplan,
        tmp_path / "node-a",
        queue_timeout=120,
        general_timeout=120,
    )
    instance.start()
    harness = AsteriskHarness(instance, asterisk_dialplan, agi_port=instance.settings.agi_port)
    try:
        yield harness
    finally:
        harness.close()
        instance.stop()
        shutil.rmtree(instance.host_dir, ignore_errors=True)


def watch_node_a(node_a, redis_server, tmp_path, languages, grace_s=GRACE_S):
    """Node A's queue watcher with its guard, as ``ivr queues watch`` runs it (started)."""
    url = f"sqlite:///{tmp_path / 'city.db'}"
    migrate(url)
    engine = make_engine(url)
    callbacks = CallbackStore(engine)
    recorder = CallRecorder(engine, migrate=False)
    redis_url = redis_server.url.rsplit("/", 1)[0] + "/8"  # this test's own keys
    waiting = RedisWaiting(redis_url)
    waiting._redis.flushdb()
    rescue = Rescue(callbacks, recorder, waiting)
    guard = NodeGuard(
        "a",
        waiting,
        rescue.lost,
        grace_s=grace_s,
        languages=languages,
        revived=rescue.revived,
        now=time.time(),
    )
    watcher = QueueWatcher(
        node_a.instance.ami,
        RedisQueueStore(redis_url),
        tick_s=0.3,
        on_event=recorder.queue_event,
        heartbeat_s=1.0,
        deadline_s=3.0,
        languages=languages,
        guard=guard,
    )
    watching = threading.Thread(target=watcher.run, args=(0.2,), daemon=True)
    watching.start()
    return engine, callbacks, recorder, waiting, watcher, watching


def test_callers_queued_on_a_killed_node_are_called_back_from_the_other(
    asterisk, node_a, redis_server, tmp_path, caplog
):
    caplog.set_level(logging.DEBUG)
    engine, callbacks, recorder, waiting, watcher, watching = watch_node_a(
        node_a, redis_server, tmp_path, asterisk.dialplan.languages
    )
    worker = None
    try:
        wait_until(lambda: watcher.answering, 20, "watcher on node A")
        calls = [node_a.place_call(caller_id=number, max_seconds=120) for number in CALLERS]
        for call in calls:
            assert call.wait_queue_join(timeout=30) == asterisk.dialplan.operator.queue
        queued = wait_until(lambda: len(waiting.all("a")) == 2 and waiting.all("a"), 10, "both")
        assert sorted(w.number for w in queued) == sorted(CALLERS)

        killed = time.time()
        os.kill(asterisk_pid(node_a.instance), signal.SIGKILL)
        rows = wait_until(
            lambda: len(callbacks.due()) == 2 and callbacks.due(), 30, "callback requests"
        )
        assert time.time() - killed >= GRACE_S  # not before the grace
        assert sorted((r.number, r.outcome, r.queue) for r in rows) == sorted(
            (n, NODE_LOST, asterisk.dialplan.operator.queue) for n in CALLERS
        )
        assert {r.call_id for r in rows} == {c.uniqueid for c in calls}
        assert waiting.all("a") == []  # the numbers are gone with the waits
        assert not waiting._redis.exists("nu:waiting:a")

        # Node B, alive: the callback worker keeps the places and calls both back.
        mark = asterisk.ami.event_mark()
        worker = CallbackWorker(
            asterisk.instance.ami,
            callbacks,
            dial_template=DIAL,
            policy=Policy(max_attempts=2, retry_delay_s=1.0),
            ring_s=5,
            tick_s=0.2,
            reconcile_s=1.0,
        )
        threading.Thread(target=worker.run, args=(0.2,), daemon=True).start()
        for _ in CALLERS:  # each citizen's call lasts: an operator each
            asterisk.add_operator(asterisk.dialplan.operator.queue, answers=True)
        called = set()
        deadline = time.monotonic() + 120
        while called != set(CALLERS):
            assert time.monotonic() < deadline, f"called back only {called}"
            for event in asterisk.ami.events(mark, Event="UserEvent", UserEvent="NuTestCitizen"):
                called.add(event["Number"])
            time.sleep(0.2)

        assert recorder.flush()
        from datetime import datetime, timedelta

        now = datetime.utcnow()
        records = load_records(engine, now - timedelta(days=1), now + timedelta(days=1))
        lost = [r for r in records if r.outcome == "lost_with_node"]
        assert sorted(r.call_id for r in lost) == sorted(c.uniqueid for c in calls)
        assert "lost with a node: 2" in render(records, "today")
        messages = [r.getMessage() for r in caplog.records]
        assert any("lost with node a" in m for m in messages)
        assert not [m for m in messages if any(n in m for n in CALLERS)]  # never the number
    finally:
        if worker is not None:
            worker.stopped = True
        watcher.stopped = True
        watching.join(timeout=10)
        recorder.close()
        waiting._redis.flushdb()


def test_a_node_frozen_past_the_grace_withdraws_the_callback_when_it_runs_again(
    asterisk, node_a, redis_server, tmp_path
):
    engine, callbacks, recorder, waiting, watcher, watching = watch_node_a(
        node_a, redis_server, tmp_path, asterisk.dialplan.languages
    )
    pid = asterisk_pid(node_a.instance)
    try:
        wait_until(lambda: watcher.answering, 20, "watcher on node A")
        call = node_a.place_call(caller_id=CALLERS[0], max_seconds=120)
        call.wait_queue_join(timeout=30)
        wait_until(lambda: waiting.all("a"), 10, "the caller recorded")
        os.kill(pid, signal.SIGSTOP)
        try:
            (row,) = wait_until(callbacks.due, 30, "callback request")
            assert (row.outcome, row.call_id) == (NODE_LOST, call.uniqueid)
        finally:
            os.kill(pid, signal.SIGCONT)
        wait_until(lambda: not callbacks.due(), 30, "callback withdrawn")
        assert callbacks.get(row.id).state == "cancelled"
        (again,) = wait_until(lambda: waiting.all("a"), 10, "waiting again")
        assert again.call_id == call.uniqueid
        assert recorder.flush()
        from datetime import datetime, timedelta

        now = datetime.utcnow()
        records = load_records(engine, now - timedelta(days=1), now + timedelta(days=1))
        assert [r.outcome for r in records if r.call_id == call.uniqueid] == ["queued"]
    finally:
        os.kill(pid, signal.SIGCONT)
        watcher.stopped = True
        watching.join(timeout=10)
        recorder.close()
        waiting._redis.flushdb()


def test_a_node_restarted_within_the_grace_loses_its_callers_at_once(
    asterisk, node_a, redis_server, tmp_path
):
    """Restarted before the grace ran out: the new boot says the calls died with the old one."""
    engine, callbacks, recorder, waiting, watcher, watching = watch_node_a(
        node_a, redis_server, tmp_path, asterisk.dialplan.languages, grace_s=600
    )
    try:
        wait_until(lambda: watcher.answering, 20, "watcher on node A")
        call = node_a.place_call(caller_id=CALLERS[1], max_seconds=120)
        call.wait_queue_join(timeout=30)
        wait_until(lambda: waiting.all("a"), 10, "the caller recorded")
        resyncs = watcher.resyncs
        os.kill(asterisk_pid(node_a.instance), signal.SIGKILL)
        node_a.instance.stop()
        node_a.instance.start()
        wait_until(lambda: watcher.resyncs > resyncs, 60, "watcher back on node A")
        (row,) = wait_until(callbacks.due, 10, "callback request")
        assert (row.number, row.outcome, row.call_id) == (CALLERS[1], NODE_LOST, call.uniqueid)
        assert waiting.all("a") == []
    finally:
        watcher.stopped = True
        watching.join(timeout=10)
        recorder.close()
        waiting._redis.flushdb()
