"""Callbacks through a real Asterisk 22: a caller of the busy registry office asks to be called
back, hangs up, keeps their place in the queue (a placeholder channel waits there), and when the
test operator frees up the citizen's phone rings with the caller's number; an unanswered number
ends "unreachable" after its retries.

The worker runs in a thread on its own AMI connection, as ``ivr up`` runs it; the citizen's phone
is ``Local/<number>@nu-test-citizen`` (numbers ending in 0 never answer).
"""

from __future__ import annotations

import threading
import time
from datetime import datetime

import pytest

from ivr.callbacks.store import CallbackStore, Policy
from ivr.callbacks.worker import CallbackWorker
from ivr.db import make_engine, migrate

pytestmark = pytest.mark.asterisk

MONDAY_10 = datetime(2026, 11, 23, 10, 0)  # the registry office is open
REGISTRY = ("1", "1", "4")  # Italian, registry office menu, "talk to the registry office"
DIAL = "Local/{number}@nu-test-citizen"


def clock(zone):
    return MONDAY_10.replace(tzinfo=zone)


# The questions on the way to a callback, in order: the registry office's saturation offer
# ("2": call me back), then the offer of the number the caller calls from ("1": that one).
QUESTIONS = (
    "choose_language",
    "main_menu",
    "registry_booking_menu",
    "registry_busy_menu",
    "callback_offer_number",
)


def keys(*digits: str) -> list[tuple[str, str]]:
    """Each key pressed when its question is asked (tests/asterisk_harness.py)."""
    return list(zip(QUESTIONS, digits, strict=False))


def wait_row(store: CallbackStore, pred, timeout: float = 20.0):
    """The single callback request once ``pred(row)`` holds."""
    deadline = time.monotonic() + timeout
    row = None
    while time.monotonic() < deadline:
        rows = store.in_asterisk() + store.due() + _finished(store)
        row = rows[0] if rows else None
        if row is not None and pred(row):
            return row
        time.sleep(0.1)
    raise TimeoutError(f"callback request never matched; last {row and vars(row)}")


def _finished(store: CallbackStore):
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from ivr.callbacks.models import CallbackRequest

    with Session(store.engine, expire_on_commit=False) as session:
        return list(session.scalars(select(CallbackRequest)))


@pytest.fixture
def callbacks(asterisk, live_queues, ivr_service, tmp_path):
    """FastAGI with callbacks on a fresh database, and the worker (short rings and retries)."""
    url = f"sqlite:///{tmp_path / 'city.db'}"
    migrate(url)
    server = ivr_service(
        clock=clock, redis_url=live_queues.redis_url, database_url=url, callback_dial=DIAL
    )
    store = CallbackStore(make_engine(url))
    worker = CallbackWorker(
        asterisk.instance.ami,
        store,
        dial_template=DIAL,
        policy=Policy(max_attempts=2, retry_delay_s=1.0),
        ring_s=3,
        tick_s=0.2,
        reconcile_s=1.0,
    )
    thread = threading.Thread(target=worker.run, args=(0.2,), name="test-callbacks", daemon=True)
    thread.start()
    yield store
    worker.stopped = True
    thread.join(timeout=5)
    deadline = time.monotonic() + 10
    while server.active_calls and time.monotonic() < deadline:
        time.sleep(0.05)


def test_a_caller_who_asks_is_called_back_when_the_operator_frees_up(
    asterisk, live_queues, callbacks
):
    store = callbacks
    asterisk.add_operator("anagrafe", answers=True)
    live_queues.wait_state("anagrafe", lambda s: s.available == 1)
    busy = asterisk.place_call(keys(*REGISTRY))  # the only operator takes this call
    busy.wait_operator(timeout=20)
    live_queues.wait_state("anagrafe", lambda s: s.available == 0)

    # saturated: a first caller holds anyway ("3"), a second asks for a callback ("2") on the
    # number they call from ("1")
    holder = asterisk.place_call(keys(*REGISTRY, "3"))
    assert holder.wait_queue_join(timeout=25) == "anagrafe"
    live_queues.wait_state("anagrafe", lambda s: s.waiting == 1)
    caller = asterisk.place_call(keys(*REGISTRY, "2", "1"), caller_id="3351112223")
    caller.wait_played("registry_busy_menu", timeout=20)
    caller.wait_played("callback_booked", timeout=20)
    offered = [p.name for p in caller.played()]
    assert offered.index("callback_offer_number") < offered.index("callback_booked")
    caller.wait_hangup(timeout=20)  # said goodbye and hung up: never queued itself
    assert caller.queues() == []

    row = wait_row(store, lambda r: r.state == "queued")
    expected = ("3351112223", "it", "anagrafe", 2)
    assert (row.number, row.language, row.queue, row.position) == expected
    # the kept place is a real one, behind the caller who came first: no queue-jumping
    deadline = time.monotonic() + 10
    while len(asterisk.queue_callers("anagrafe")) != 2:
        assert time.monotonic() < deadline, "placeholder never joined the queue"
        time.sleep(0.1)
    entries = asterisk.queue_status("anagrafe")["callers"]
    order = [e["Channel"] for e in sorted(entries, key=lambda e: int(e["Position"]))]
    assert order[0] == holder.channel() and order[1].startswith(f"Local/{row.id}@nu-callback-")

    mark = asterisk.ami.event_mark()
    holder.hangup()  # gave up waiting: the callback is next
    busy.hangup()  # the operator frees up (after the queue's wrap-up time)
    citizen = asterisk.ami.wait_for(
        Event="UserEvent", UserEvent="NuTestCitizen", since=mark, timeout=30
    )
    assert citizen["Number"] == "3351112223"
    row = wait_row(store, lambda r: r.state == "done")
    assert (row.outcome, row.attempts) == ("connected", 1)
    # the citizen is greeted in the language they chose on the first call
    deadline = time.monotonic() + 10
    while "/it/callback_citizen_intro" not in asterisk.log_text(caller.log_offset):
        assert time.monotonic() < deadline, "the citizen was not greeted in Italian"
        time.sleep(0.1)


def test_an_unanswered_number_ends_unreachable_after_its_retries(asterisk, live_queues, callbacks):
    store = callbacks
    asterisk.add_operator("anagrafe", answers=True)
    live_queues.wait_state("anagrafe", lambda s: s.available == 1)
    mark = asterisk.ami.event_mark()
    request_id = store.request("0612345670", "en", "anagrafe", "anagrafe", position=1)

    row = wait_row(store, lambda r: r.state == "failed", timeout=40)
    assert (row.id, row.outcome, row.attempts) == (request_id, "unreachable", 2)
    calls = asterisk.ami.events(mark, Event="UserEvent", UserEvent="NuCallbackCalling")
    assert [e["Id"] for e in calls] == [str(request_id)] * 2
    results = asterisk.ami.events(mark, Event="UserEvent", UserEvent="NuCallbackResult")
    assert [e["Status"] for e in results] == ["NOANSWER", "NOANSWER"]
    assert asterisk.ami.events(mark, Event="UserEvent", UserEvent="NuTestCitizen") == []


def test_a_lost_placeholder_is_queued_again_ahead_and_still_calls_back(
    asterisk, live_queues, callbacks
):
    """Asterisk lost the placeholder (a restart, a hang-up): the worker notices and queues it
    again, with priority over new callers; the citizen is still called back."""
    store = callbacks
    log_offset = asterisk.log_size()
    request_id = store.request("3387654321", "en", "anagrafe", "anagrafe", position=1)
    first = wait_row(store, lambda r: r.state == "queued")
    prefix = f"Local/{request_id}@nu-callback-"

    def placeholders() -> list[str]:
        return [c for c in asterisk.active_channels() if c.startswith(prefix)]

    deadline = time.monotonic() + 10
    while not placeholders():
        assert time.monotonic() < deadline, "no placeholder"
        time.sleep(0.1)
    lost = placeholders()
    asterisk.ami.action("Hangup", Channel=lost[0])  # the other half goes with it
    deadline = time.monotonic() + 15
    while not (placeholders() and set(placeholders()).isdisjoint(lost)):
        assert time.monotonic() < deadline, "the placeholder was not queued again"
        time.sleep(0.1)
    again = wait_row(store, lambda r: r.state == "queued" and r.updated_at > first.updated_at)
    assert again.attempts == 0  # nobody was called: not an attempt
    (entry,) = asterisk.queue_status("anagrafe")["callers"]
    assert entry["Channel"].startswith(prefix)
    prio = asterisk.ami.action("Getvar", Channel=entry["Channel"], Variable="QUEUE_PRIO")
    assert prio.get("Value") == "1"

    mark = asterisk.ami.event_mark()
    asterisk.add_operator("anagrafe", answers=True)
    # the queue rings the operator once it has told the placeholder its place (the position
    # announcement is played in full first, slowly on this machine): a generous ceiling
    citizen = asterisk.ami.wait_for(
        Event="UserEvent", UserEvent="NuTestCitizen", since=mark, timeout=60
    )
    assert citizen["Number"] == "3387654321"
    assert wait_row(store, lambda r: r.state == "done").outcome == "connected"
    deadline = time.monotonic() + 10  # greeted in English, as asked
    while "/en/callback_citizen_intro" not in asterisk.log_text(log_offset):
        assert time.monotonic() < deadline, "the citizen was not greeted in English"
        time.sleep(0.1)


def test_the_citizen_is_not_dialled_while_still_on_the_line_with_us(
    asterisk, live_queues, callbacks
):
    """An operator free at once must not find the citizen busy hearing our goodbye: the dial
    waits until the original call (the request's call_id) has ended."""
    store = callbacks
    original = asterisk.place_call(max_seconds=60)  # still in the IVR
    original.channel()
    asterisk.add_operator("anagrafe", answers=True)
    live_queues.wait_state("anagrafe", lambda s: s.available == 1)
    mark = asterisk.ami.event_mark()
    request_id = store.request(
        "3341234567", "it", "anagrafe", "anagrafe", position=1, call_id=original.uniqueid
    )
    asterisk.ami.wait_for(
        Event="UserEvent", UserEvent="NuCallbackCalling", Id=str(request_id), since=mark
    )
    time.sleep(2.5)
    assert asterisk.ami.events(mark, Event="UserEvent", UserEvent="NuTestCitizen") == []
    original.hangup()
    citizen = asterisk.ami.wait_for(
        Event="UserEvent", UserEvent="NuTestCitizen", since=mark, timeout=10
    )
    assert citizen["Number"] == "3341234567"
    assert wait_row(store, lambda r: r.state == "done").attempts == 1
