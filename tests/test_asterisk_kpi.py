"""Call records through a real Asterisk 22: the FastAGI service writes each call's IVR part, the
queue watcher's AMI events (``QueueCallerJoin``, ``AgentConnect``/``QueueCallerAbandon`` with
``HoldTime``, ``QueueCallerLeave``) its wait and outcome, into one row keyed by Uniqueid."""

from __future__ import annotations

import threading
import time
from datetime import datetime

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr.db import make_engine
from ivr.kpi.models import CallRecord
from ivr.kpi.recorder import shared_recorder
from ivr.queues.watcher import QueueWatcher

pytestmark = pytest.mark.asterisk

MONDAY_10 = datetime(2026, 11, 23, 10, 0)  # every department open
# Italian, registry office, "an operator": each key pressed when its question is asked
REGISTRY = [("choose_language", "1"), ("main_menu", "1"), ("registry_booking_menu", "4")]
REGISTRY_PATH = "lingua>benvenuto>principale>anagrafe>anagrafe_orari>anagrafe_operatori"


def clock(zone):
    return MONDAY_10.replace(tzinfo=zone)


class NoStore:
    """The watcher's Redis side is not under test here: its writes go nowhere."""

    def write(self, *_: object) -> None:
        return None


@pytest.fixture
def recorded(asterisk, ivr_service, tmp_path):
    """The city service and a queue watcher writing call records to one SQLite database."""
    url = f"sqlite:///{tmp_path / 'kpi.db'}"
    recorder = shared_recorder(url)
    watcher = QueueWatcher(
        asterisk.instance.ami, NoStore(), tick_s=1.0, on_event=recorder.queue_event
    )
    thread = threading.Thread(target=watcher.run, args=(0.2,), name="kpi-test-watcher")
    thread.start()
    ivr_service(clock=clock, database_url=url)
    engine = make_engine(url)
    try:
        yield asterisk, engine
    finally:
        watcher.stopped = True
        thread.join(timeout=5)
        engine.dispose()
        recorder.close()


def wait_record(engine, call_id: str, outcome: str, timeout: float = 10.0) -> CallRecord:
    deadline = time.monotonic() + timeout
    while True:
        with Session(engine) as session:
            rec = session.scalars(select(CallRecord).where(CallRecord.call_id == call_id)).first()
        if rec is not None and rec.outcome == outcome and rec.path:
            return rec
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {outcome!r} record; last: {rec and vars(rec)}")
        time.sleep(0.1)


def test_an_answered_call_is_recorded_with_its_path_and_wait(recorded):
    city, engine = recorded
    city.add_operator("anagrafe")
    call = city.place_call(REGISTRY)
    connected = call.wait_operator(timeout=20)
    assert connected["HoldTime"].isdigit()  # Asterisk 22's AgentConnect field
    rec = wait_record(engine, call.uniqueid, "answered")
    assert rec.path == REGISTRY_PATH and rec.language == "it"
    assert (rec.department, rec.queue, rec.reason) == ("anagrafe", "anagrafe", "menu")
    # Asterisk 22 sends QueueCallerLeave just before AgentConnect: the wait is our clock's,
    # between join and leave, finer than HoldTime's whole seconds
    assert 0 <= rec.queue_wait_s - float(connected["HoldTime"]) < 1
    assert rec.started_at <= rec.left_ivr_at <= rec.ended_at
    call.hangup()


def test_a_caller_who_hangs_up_in_the_queue_is_abandoned(recorded):
    city, engine = recorded
    city.add_operator("anagrafe", answers=False)  # rings for ever: the caller waits
    call = city.place_call(REGISTRY)
    assert call.wait_queue_join(timeout=20) == "anagrafe"
    time.sleep(2.0)
    call.hangup()
    abandon = city.ami.wait_for(
        Event="QueueCallerAbandon", Uniqueid=call.uniqueid, since=call.mark, timeout=10
    )
    rec = wait_record(engine, call.uniqueid, "abandoned")
    (join,) = call.events("QueueCallerJoin")
    assert join["Context"].startswith("nu-")  # the field that tells callback placeholders apart
    assert rec.reason == "menu"
    assert rec.path == REGISTRY_PATH and rec.language == "it"
    assert rec.queue == "anagrafe" and rec.queue_wait_s == float(abandon["HoldTime"]) >= 2
