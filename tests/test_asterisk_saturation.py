"""Saturation through a real Asterisk 22: the queue watcher's live state in a real Redis steers
callers of the example city's registry office (``anagrafe``: no operator available -> its offer
menu ``anagrafe_pieno``), and callers who hold hear their place and the estimated wait.

What callers heard is read from Asterisk's log: prompts, and SAY NUMBER as ``digits/<n>`` files.
"""

from __future__ import annotations

import time
from datetime import datetime

import pytest

from ivr.queues.estimate import estimate_wait_s, minutes_to_say

pytestmark = pytest.mark.asterisk

MONDAY_10 = datetime(2026, 11, 23, 10, 0)  # the registry office is open
REGISTRY = ("1", "1", "4")  # Italian, registry office menu, "talk to the registry office"


def clock(zone):
    return MONDAY_10.replace(tzinfo=zone)


# The questions on the way to the registry office, in order; the last is its saturation offer.
QUESTIONS = ("choose_language", "main_menu", "registry_booking_menu", "registry_busy_menu")


def menu_keys(*digits: str) -> list[tuple[str, str]]:
    """Each key pressed when its question is asked (tests/asterisk_harness.py)."""
    return list(zip(QUESTIONS, digits, strict=False))


@pytest.fixture
def city(asterisk, live_queues, ivr_service):
    server = ivr_service(clock=clock, redis_url=live_queues.redis_url)
    yield asterisk
    deadline = time.monotonic() + 10
    while server.active_calls and time.monotonic() < deadline:
        time.sleep(0.05)


def test_watcher_publishes_real_asterisk_state(city, live_queues):
    asterisk = city
    """Operators logged in, paused, available; callers waiting and the longest wait; handling
    time from a completed call: all from Asterisk 22's own events, as the estimator reads them."""
    operator = asterisk.add_operator("tributi", answers=False)
    live_queues.wait_state("tributi", lambda s: s.logged_in == 1 and s.available == 1)
    asterisk.ami.action("QueuePause", Queue="tributi", Interface=operator.interface, Paused="true")
    live_queues.wait_state("tributi", lambda s: s.paused == 1 and s.available == 0)

    waiting = asterisk.place_call(menu_keys("1", "2"))  # Italian, taxes: the operator is paused
    assert waiting.wait_queue_join(timeout=20) == "tributi"
    state = live_queues.wait_state("tributi", lambda s: s.waiting == 1)
    # the watcher rewrites every queue each tick (0.5 s here): the published wait grows
    later = live_queues.wait_state("tributi", lambda s: s.longest_wait_s >= 1.0)
    assert later.waiting == 1 and later.longest_wait_s > state.longest_wait_s
    waiting.hangup()
    live_queues.wait_state("tributi", lambda s: s.waiting == 0)

    # an operator who answers, a two-second call: the handling time comes from AgentComplete
    asterisk.remove_operator(operator)
    asterisk.add_operator("tributi", answers=True)
    live_queues.wait_state("tributi", lambda s: s.logged_in == 1 and s.available == 1)
    before = live_queues.state("tributi").aht_s
    talked = asterisk.place_call(menu_keys("1", "2"))
    talked.wait_operator(timeout=20)
    live_queues.wait_state("tributi", lambda s: s.available == 0)
    time.sleep(2.0)  # a two-second conversation
    talked.hangup()
    talked.wait_hangup(timeout=20)
    after = live_queues.wait_state("tributi", lambda s: s.aht_s != before and s.available == 1)
    assert 0 < after.aht_s < 60


def test_redis_emptied_is_whole_again_within_a_tick(asterisk, live_queues):
    asterisk.add_operator("sociali", answers=False)
    live_queues.wait_state("sociali", lambda s: s.logged_in == 1)
    assert live_queues.store._redis.flushall()
    # (no "it is gone" check here: the watcher may write it back before the test could look)
    assert live_queues.wait_state("sociali", lambda s: s.logged_in == 1, timeout=10).available == 1


def test_no_operator_available_sends_the_caller_to_the_offer(city, live_queues):
    live_queues.wait_state("anagrafe", lambda s: s.logged_in == 0)
    # self-service: "1" at the offer goes back to the registry's own menu (certificates, booking)
    call = city.place_call(menu_keys(*REGISTRY, "1"))
    call.wait_played("registry_busy_menu", timeout=20)
    names = [p.name for p in call.played()]
    assert "transferring" not in names
    deadline = time.monotonic() + 10
    while [p.name for p in call.played()].count("registry_booking_menu") < 2:
        assert time.monotonic() < deadline, [p.name for p in call.played()]
        time.sleep(0.1)
    assert call.queues() == []  # never queued
    call.hangup()


def test_third_caller_in_line_hears_position_and_estimated_wait(city, live_queues):
    city.set_global("NU_QUEUE_TIMEOUT", "300")  # the first in line still waits when the third comes
    city.add_operator("anagrafe", answers=True)
    live_queues.wait_state("anagrafe", lambda s: s.available == 1)
    busy = city.place_call(menu_keys(*REGISTRY))  # the only operator takes this call
    busy.wait_operator(timeout=20)
    assert "queue_position" not in [p.name for p in busy.played()]  # answered at once
    live_queues.wait_state("anagrafe", lambda s: s.available == 0)

    # saturated now: two callers choose to hold ("3" at the offer) and queue up
    for place in (1, 2):
        call = city.place_call(menu_keys(*REGISTRY, "3"))
        assert call.wait_queue_join(timeout=25) == "anagrafe"
        assert call.said_between("queue_position", "queue_wait_about") == [str(place)]
        live_queues.wait_state("anagrafe", lambda s, n=place: s.waiting == n)

    state = live_queues.state("anagrafe")
    expected = minutes_to_say(estimate_wait_s(3, state))
    third = city.place_call(menu_keys(*REGISTRY, "3"))
    assert third.wait_queue_join(timeout=25) == "anagrafe"
    names = [p.name for p in third.played()]
    assert third.said_between("queue_position", "queue_wait_about") == ["3"]
    assert third.said_between("queue_wait_about", "minutes" if expected > 1 else "minute") == [
        str(expected)
    ]
    assert names.index("transferring") > names.index("queue_wait_about")
    assert third.variable("NU_DEPARTMENT") == "anagrafe"
    assert len(city.queue_callers("anagrafe")) == 3


def test_watcher_survives_asterisk_and_redis_restarts(tmp_path, asterisk_session):
    """A private Asterisk and Redis, each restarted under the watcher: after each restart the
    published state is Asterisk's truth again (QueueStatus resync; full rewrite every tick)."""
    import os
    import shutil
    import socket
    import threading

    from ivr.devenv.asterisk import AsteriskInstance, free_port
    from ivr.devenv.redis import RedisServer
    from ivr.queues.store import RedisQueueStore
    from ivr.queues.watcher import QueueWatcher
    from tests.asterisk_harness import TEST_CONTEXTS
    from tests.conftest import LiveQueues

    redis = RedisServer(free_port(), tmp_path / "redis").start()
    instance = AsteriskInstance(
        f"restart-{os.getpid()}",
        settings=asterisk_session.settings,
        ami_port=free_port(),
        sip_port=free_port(socket.SOCK_DGRAM),
    )
    shutil.rmtree(instance.host_dir, ignore_errors=True)
    instance.render(asterisk_session.dialplan)
    (instance.etc_dir / "extensions_local.conf").write_text(TEST_CONTEXTS)  # the operators
    instance.start()
    store = RedisQueueStore(redis.url)
    watcher = QueueWatcher(instance.ami, store, tick_s=0.3)
    thread = threading.Thread(target=watcher.run, args=(0.2,), daemon=True)
    thread.start()
    live = LiveQueues(redis.url, store, watcher)

    def members() -> int:
        with instance.ami() as ami:
            listing = ami.action("QueueStatus", Queue="tributi").events
            return sum(1 for e in listing if e.name == "QueueMember")

    def add(ident: str) -> None:
        with instance.ami() as ami:
            ami.action(
                "QueueAdd",
                Queue="tributi",
                Interface=f"Local/r{ident}@nu-test-operator/n",
                MemberName=f"op{ident}",
            )

    try:
        add("701")
        live.wait_state("tributi", lambda s: s.logged_in == 1)

        instance.stop()
        instance.start()  # dynamic members may come back (persistentmembers) or not
        truth = members()
        add("702")
        live.wait_state("tributi", lambda s: s.logged_in == truth + 1, timeout=20)

        redis.stop()
        add("703")  # while Redis is down: the watcher keeps tracking, writes fail
        redis.start()
        live.wait_state("tributi", lambda s: s.logged_in == truth + 2, timeout=10)
    finally:
        watcher.stopped = True
        thread.join(timeout=5)
        instance.stop()
        shutil.rmtree(instance.host_dir, ignore_errors=True)
        redis.stop()
