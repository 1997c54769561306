"""Per-operator KPIs: Asterisk's queue events become ``operator_events`` rows and the answering
operator and talk time on ``call_records`` (replayed from a recorded Asterisk 22 session), and
the report's per-operator figures from known rows."""

from __future__ import annotations

import threading
from datetime import datetime
from types import SimpleNamespace

from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr.kpi.models import CallRecord, OperatorEvent
from ivr.kpi.operators import OperatorActivity, member_extension
from ivr.kpi.recorder import CallRecorder
from ivr.kpi.report import by_operator
from ivr.queues.watcher import QueueWatcher
from tests.ami_replay import ReplayPeer, Transcript
from tests.test_ami_replay import MemoryStore, client_for, wait_until

T0 = datetime(2026, 11, 23, 9, 0)


def pause(queue: str, paused: str, at: float, reason: str = "") -> dict[str, str]:
    return {
        "Event": "QueueMemberPause",
        "Queue": queue,
        "MemberName": "150",
        "Interface": "PJSIP/150",
        "Paused": paused,
        "PausedReason": reason,
        "Timestamp": str(at),
    }


def test_a_pause_in_every_queue_is_one_pause_with_its_reason_and_length():
    activity = OperatorActivity()
    start = T0.timestamp()  # naive: local; the events' Timestamp is epoch seconds
    out = []
    for queue in ("tributi", "anagrafe", "operatore"):
        out += activity.feed(pause(queue, "1", start, "break"), T0)
    for queue in ("tributi", "anagrafe", "operatore"):
        out += activity.feed(pause(queue, "0", start + 300), T0)
    assert [(a.kind, a.extension, a.reason) for a in out] == [
        ("pause", "150", "break"),
        ("unpause", "150", "break"),
    ]
    assert out[1].seconds == 300.0
    # An unpause with no pause seen (paused before the watcher listened): nothing invented.
    assert OperatorActivity().feed(pause("tributi", "0", start), T0) == []


def test_who_an_event_is_about():
    assert member_extension({"MemberName": "150", "Interface": "PJSIP/150"}) == "150"
    assert member_extension({"Interface": "PJSIP/151"}) == "151"
    assert member_extension({"MemberName": "A very long member name"}) is None
    assert member_extension({"Event": "QueueCallerJoin"}) is None


def test_a_replayed_session_fills_operator_events_and_the_call_record(tmp_path):
    """queues.txt (Asterisk 22), through the watcher's KPI hook as in production. What came
    before the watcher's first QueueStatus is superseded by it (op701's first pause): from
    there op701 unpauses (a pause never seen: no row, no invented length), answers the caller,
    pauses while talking, ends after 2 s (Asterisk's AgentComplete names no channel: the call is
    the AgentConnect's); op702 logs in."""
    url = f"sqlite:///{tmp_path / 'city.db'}"
    recorder = CallRecorder(url)
    queues = Transcript.load("queues")
    with ReplayPeer(queues.until_action(2), then="pings") as peer:
        watcher = QueueWatcher(
            lambda: client_for(peer).connect(),
            MemoryStore(),
            tick_s=0.1,
            on_event=recorder.queue_event,
            heartbeat_s=0.2,
            deadline_s=1.5,
        )
        thread = threading.Thread(target=watcher.run, args=(0.1,), daemon=True)
        thread.start()
        try:
            assert peer.done.wait(10)
            wait_until(lambda: watcher.resyncs == 1, 5)
        finally:
            watcher.stopped = True
            thread.join(5)
    assert recorder.flush()
    with Session(recorder.engine()) as db:
        events = [
            (e.extension, e.kind, e.queue, e.call_id, e.seconds)
            for e in db.scalars(select(OperatorEvent).order_by(OperatorEvent.id))
        ]
        record = db.scalars(
            select(CallRecord).where(CallRecord.call_id == "nu-52123371f840-ivr")
        ).one()
        assert (record.operator, record.talk_s, record.outcome) == ("op701", 2.0, "answered")
    recorder.close()
    kinds = [(ext, kind) for ext, kind, *_ in events]
    assert kinds == [
        ("op701", "answer"),
        ("op701", "pause"),  # paused while still talking: no new call rings
        ("op701", "hangup"),
        ("op702", "login"),
    ]
    assert events[0][2:4] == ("operatore", "nu-52123371f840-ivr")
    assert events[2][2:] == ("operatore", "nu-52123371f840-ivr", 2.0)  # TalkTime


def ev(extension: str, kind: str, seconds: float | None = None, reason: str | None = None):
    return SimpleNamespace(extension=extension, kind=kind, seconds=seconds, reason=reason)


def test_per_operator_figures_from_known_rows():
    rows = [
        ev("150", "login"),
        ev("150", "answer"),
        ev("150", "hangup", 100.0),
        ev("150", "wrapup", 20.0, "info"),
        ev("150", "answer"),
        ev("150", "hangup", 200.0),  # no wrap-up saved for this one
        ev("150", "pause", None, "break"),
        ev("150", "unpause", 600.0, "break"),
        ev("150", "unpause", 60.0),
        ev("150", "unpause", 300.0, "training"),
        ev("151", "login"),
        ev("151", "pause", None, "break"),  # still open: not counted
    ]
    figures = by_operator(rows)
    assert list(figures) == ["150", "151"]
    maria = figures["150"]
    assert maria.calls == 2
    assert maria.avg_handling_s == (100 + 200 + 20) / 2
    assert maria.avg_wrapup_s == 20.0
    assert maria.pauses == {"-": 60.0, "break": 600.0, "training": 300.0}
    assert maria.pause_s == 960.0
    idle = figures["151"]
    assert (idle.calls, idle.avg_handling_s, idle.avg_wrapup_s, idle.pauses) == (0, None, None, {})


def test_admins_see_the_per_operator_figures_on_the_service_levels_page(tmp_path):
    from ivr.db import make_engine, migrate
    from tests.admin_support import city_settings, login, make_app
    from tests.test_admin_service_levels import DAY, NOW, cells

    settings = city_settings(tmp_path)
    app = make_app(settings, clock=lambda zone: NOW.replace(tzinfo=zone))
    engine = make_engine(settings.database_url)
    try:
        migrate(engine)
        with Session(engine) as session, session.begin():
            session.add_all(
                OperatorEvent(at=DAY, extension="150", kind=kind, seconds=s, reason=r)
                for kind, s, r in [
                    ("answer", None, None),
                    ("hangup", 100.0, None),
                    ("wrapup", 20.0, "info"),
                    ("unpause", 600.0, "break"),
                    ("unpause", 300.0, "training"),
                ]
            )
            session.add(OperatorEvent(at=datetime(2026, 10, 1), extension="151", kind="answer"))
    finally:
        engine.dispose()
    query = "/service-levels?from=2026-11-20&to=2026-11-22"
    page = login(app, "admin").get(query).get_data(as_text=True)
    assert cells(page, "operator", "150") == [
        "150",
        "1",
        "120 s",
        "20 s",
        "break: 600 s, training: 300 s",
    ]
    assert 'data-operator="151"' not in page  # outside the period
    for role in ("viewer", "editor"):
        assert "per-operator" not in login(app, role).get(query).get_data(as_text=True)
