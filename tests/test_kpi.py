"""KPIs: the rules that fill a call's record, the recorder (SQLite and PostgreSQL), the report."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr.agi.peer import ScriptedCaller, drive
from ivr.config import Settings
from ivr.db import make_engine
from ivr.flow.actions import Hangup, Prompt, Transfer
from ivr.kpi.models import CallRecord
from ivr.kpi.recorder import CallRecorder
from ivr.kpi.records import apply_ivr, apply_queue_event, ivr_outcome, mask_said
from ivr.kpi.report import TARGETS, by_department, kpis, render, summarise

ROOT = Path(__file__).resolve().parent.parent
T0 = datetime(2026, 11, 23, 9, 0, 0)
ANAGRAFE = Transfer("anagrafe", "anagrafe", "it", "menu", {})
BYE = Hangup((Prompt("goodbye", "it"),))


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def ev(kind: str, uid: str = "1.1", **fields: str) -> dict[str, str]:
    return {"Event": kind, "Uniqueid": uid, **fields}


def ivr(rec: CallRecord, final=ANAGRAFE, hung_up=False, data=None, left: float = 30) -> None:
    apply_ivr(
        rec,
        started_at=T0,
        left_at=at(left),
        final=final,
        hung_up=hung_up,
        path=["lingua", "principale", "anagrafe"],
        language="it",
        data=data or {},
    )


# -- the rules (pure) ---------------------------------------------------------------------------


def test_how_a_call_leaves_the_ivr():
    assert ivr_outcome(ANAGRAFE, False, {}) == "transferred"
    assert ivr_outcome(ANAGRAFE, True, {}) == "hung_up"
    assert ivr_outcome(BYE, False, {}) == "self_served"
    assert ivr_outcome(BYE, False, {"callback": True}) == "callback"
    assert ivr_outcome(BYE, False, {"callback_step": "typing"}) == "self_served"
    assert ivr_outcome(None, False, {}) == "error"


def test_the_ivr_part_reads_only_named_keys_and_masks_what_was_said():
    rec = CallRecord()
    data = {
        "said": "certificato per RSSMRA80A01H501U numero 333 123 4567",
        "said_confidence": 0.72,
        "saturation": "waiting",
        "queue_position": 4,
        "queue_wait_s": 180.0,
        "fiscal_code": "RSSMRA80A01H501U",
        "number": "3331234567",
    }
    ivr(rec, data=data)
    assert rec.path == "lingua>principale>anagrafe" and rec.language == "it"
    assert rec.said == "certificato per *** numero ***"
    assert rec.confidence == 0.72
    assert (rec.department, rec.queue, rec.reason) == ("anagrafe", "anagrafe", "menu")
    assert (rec.saturation, rec.est_position, rec.est_wait_s) == ("waiting", 4, 180.0)
    assert rec.outcome == "transferred" and rec.started_at == T0 and rec.left_ivr_at == at(30)
    stored = " ".join(str(getattr(rec, c.key)) for c in CallRecord.__table__.columns)
    assert "RSSMRA" not in stored and "3331234567" not in stored and "4567" not in stored


def test_mask_said_keeps_words_and_cuts_long_text():
    assert mask_said("vorrei pagare la tari") == "vorrei pagare la tari"
    assert mask_said("scrivete a mario.rossi@example.it grazie") == "scrivete a *** grazie"
    assert len(mask_said("tasse " * 100)) == 200


def test_answered_after_the_leave_event_counts_the_wait_once():
    rec = CallRecord()
    ivr(rec)
    apply_queue_event(rec, ev("QueueCallerJoin", Queue="anagrafe"), at(30))
    apply_queue_event(rec, ev("QueueCallerLeave", Queue="anagrafe"), at(42))
    apply_queue_event(rec, ev("AgentConnect", Queue="anagrafe", HoldTime="12"), at(42))
    assert rec.outcome == "answered" and rec.queue_wait_s == 12.0
    apply_queue_event(rec, ev("QueueCallerLeave", Queue="anagrafe"), at(50))
    assert rec.outcome == "answered" and rec.queue_wait_s == 12.0 and rec.ended_at == at(50)


def test_answered_before_the_leave_event_uses_asterisks_hold_time():
    rec = CallRecord()
    apply_queue_event(rec, ev("QueueCallerJoin", Queue="anagrafe"), at(30))
    apply_queue_event(rec, ev("AgentConnect", Queue="anagrafe", HoldTime="7"), at(38))
    apply_queue_event(rec, ev("QueueCallerLeave", Queue="anagrafe"), at(38))
    assert rec.outcome == "answered" and rec.queue_wait_s == 7.0


def test_queue_events_first_then_the_ivr_keeps_the_queues_word():
    rec = CallRecord()
    apply_queue_event(rec, ev("QueueCallerJoin", Queue="anagrafe"), at(31))
    ivr(rec)
    assert rec.outcome == "queued" and rec.path and rec.started_at == T0


def test_a_timed_out_department_then_abandoned_at_the_operator_sums_the_waits():
    rec = CallRecord()
    ivr(rec)
    apply_queue_event(rec, ev("QueueCallerJoin", Queue="anagrafe"), at(30))
    apply_queue_event(rec, ev("QueueCallerLeave", Queue="anagrafe"), at(50))
    assert rec.outcome == "no_operator" and rec.queue_wait_s == 20.0
    apply_queue_event(rec, ev("QueueCallerJoin", Queue="operatore"), at(51))
    apply_queue_event(rec, ev("QueueCallerAbandon", Queue="operatore", HoldTime="5"), at(56))
    apply_queue_event(rec, ev("QueueCallerLeave", Queue="operatore"), at(56))
    assert rec.outcome == "abandoned" and rec.queue_wait_s == 25.0
    assert (rec.department, rec.queue) == ("anagrafe", "operatore")
    assert not apply_queue_event(rec, ev("QueueMemberStatus", Queue="operatore"), at(57))


# -- the report (pure) --------------------------------------------------------------------------


def R(outcome: str, wait: float | None = None, department: str = "anagrafe") -> SimpleNamespace:
    return SimpleNamespace(
        outcome=outcome,
        queue_wait_s=wait,
        department=department,
        queue=None,
        reason="menu",
        path="a",
    )


def test_a_callback_placeholder_is_a_kept_place_not_a_call():
    rec = CallRecord(path="")
    join = ev("QueueCallerJoin", Queue="anagrafe", Context="nu-callback", CallerIDNum="3331234567")
    apply_queue_event(rec, join, at(0))
    apply_queue_event(rec, ev("AgentConnect", Queue="anagrafe", HoldTime="300"), at(300))
    assert (rec.outcome, rec.reason, rec.queue_wait_s) == ("answered", "callback", 300.0)
    assert kpis([rec, R("callback")]).calls == 1 and list(by_department([rec])) == []


RECORDS = [
    R("answered", 10),
    R("answered", 30),
    R("answered", 200),
    R("abandoned", 40),
    R("self_served"),
    R("hung_up"),
    R("callback"),
    R("answered", 5, "tributi"),
    R("no_operator", 60, "tributi"),
    R("self_served", None, "tributi"),
]


def test_kpis_on_hand_made_records():
    k = kpis(RECORDS)
    assert (k.calls, k.served, k.offered, k.answered, k.abandoned, k.callbacks) == (
        10,
        6,
        6,
        4,
        1,
        1,
    )
    assert k.served_pct == 60.0
    assert k.avg_wait_s == pytest.approx((10 + 30 + 200 + 5) / 4)
    assert k.within_20_pct == pytest.approx(100 * 2 / 6)
    assert k.abandoned_pct == pytest.approx(100 / 6)
    assert k.answered_pct == pytest.approx(100 * 4 / 6)
    dept = by_department(RECORDS)
    assert list(dept) == ["anagrafe", "tributi"]
    assert dept["anagrafe"].avg_wait_s == 80.0 and dept["tributi"].abandoned_pct == 0.0


def test_targets_met_and_missed():
    k = kpis(RECORDS)
    met = {f"{t.source} {t.what}": t.met(k) for t in TARGETS}
    assert met == {
        "AGCOM average wait to an operator": True,  # 61 s <= 150
        "AGCOM answered within 20 s": False,  # 33% < 40
        "ARERA average wait to an operator": True,
        "ARERA service level (answered)": False,  # 67% < 80
        "060606 abandoned in queue": False,  # 17% >= 3
    }
    assert all(t.met(kpis([R("self_served")])) is None for t in TARGETS)  # nothing queued
    three_in_100 = kpis([R("abandoned", 1)] * 3 + [R("answered", 1)] * 97)
    assert TARGETS[-1].text() == "< 3%" and TARGETS[-1].met(three_in_100) is False


def test_render_puts_departments_next_to_the_targets():
    text = render(RECORDS, "Calls")
    lines = text.splitlines()
    city = next(line for line in lines if line.startswith("city"))
    assert city.split()[:3] == ["city", "10", "60.0%"] and "61 s" in city
    abandon = next(line for line in lines if line.startswith("060606"))
    assert "16.7%" in abandon and "MISSED" in abandon and abandon.endswith("anagrafe")
    agcom = next(line for line in lines if line.startswith("AGCOM average"))
    assert "≤ 150 s" in agcom and " met " in agcom


def test_summarise_gives_the_page_the_same_figures_as_the_text():
    report = summarise(RECORDS)
    assert report.city == kpis(RECORDS) and report.departments == by_department(RECORDS)
    met = {(r.target.source, r.target.what): (r.met, r.missing) for r in report.targets}
    assert met[("060606", "abandoned in queue")] == (False, ("anagrafe",))
    assert met[("AGCOM", "answered within 20 s")] == (False, ("anagrafe",))  # tributi: 50%
    assert met[("ARERA", "average wait to an operator")] == (True, ())
    empty = summarise([])
    assert empty.city.calls == 0 and all(r.met is None and not r.missing for r in empty.targets)


# -- the recorder, on SQLite and PostgreSQL ------------------------------------------------------


def read(url: str, call_id: str) -> CallRecord | None:
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            return session.scalars(select(CallRecord).where(CallRecord.call_id == call_id)).first()
    finally:
        engine.dispose()


def outcome(final=ANAGRAFE, **kw) -> SimpleNamespace:
    base = dict(
        final=final,
        hung_up=False,
        path=["lingua", "anagrafe"],
        language="it",
        data={"said": "anagrafe", "said_confidence": 0.9},
        error=None,
        started=time.time() - 20,
    )
    return SimpleNamespace(**{**base, **kw})


def test_recorder_upserts_by_call_id_whatever_arrives_first(booking_url):
    recorder = CallRecorder(booking_url)
    try:
        recorder.queue_event(ev("QueueCallerJoin", "a.1", Queue="anagrafe"))
        recorder.ivr_outcome(SimpleNamespace(uniqueid="a.1"), outcome())
        recorder.queue_event(ev("AgentConnect", "a.1", Queue="anagrafe", HoldTime="9"))
        recorder.ivr_outcome(SimpleNamespace(uniqueid="b.2"), outcome(final=BYE))
        recorder.queue_event(ev("QueueMemberStatus", "", Queue="anagrafe"))  # not a call's
        assert recorder.flush(20)
    finally:
        recorder.close()
    a = read(booking_url, "a.1")
    assert (a.outcome, a.queue_wait_s, a.path, a.language) == (
        "answered",
        9.0,
        "lingua>anagrafe",
        "it",
    )
    assert (a.said, a.confidence, a.department) == ("anagrafe", 0.9, "anagrafe")
    assert a.started_at < a.left_ivr_at <= a.ended_at
    assert read(booking_url, "b.2").outcome == "self_served"
    assert recorder.written == 4 and recorder.dropped == 0


def race(url: str, uid: str, *writes: tuple[CallRecorder, object]) -> CallRecord:
    """Run each recorder's write of ``uid`` at the same instant; the row afterwards."""
    gate = threading.Barrier(len(writes))

    def one(recorder: CallRecorder, update) -> None:
        gate.wait()
        recorder.write(uid, update)

    threads = [threading.Thread(target=one, args=w) for w in writes]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    return read(url, uid)


def test_two_writers_racing_on_one_call_leave_one_row_with_both_parts(booking_url):
    """The FastAGI service and ``ivr queues watch`` may be two processes: an upsert each (the
    queue side has an engine of its own here, as another process would)."""
    other_process = make_engine(booking_url)
    ivr_side, queue_side = CallRecorder(booking_url), CallRecorder(other_process)
    try:
        ivr_side.engine(), queue_side.engine()
        for n in range(5):
            join = ev("QueueCallerJoin", f"race.{n}", Queue="anagrafe")
            rec = race(
                booking_url,
                f"race.{n}",
                (ivr_side, ivr),
                (queue_side, lambda r, e=join: apply_queue_event(r, e, at(31))),
            )
            assert rec.path == "lingua>principale>anagrafe" and rec.outcome == "queued"
            assert rec.queue_joined_at == at(31)
    finally:
        ivr_side.close()
        queue_side.close()
        other_process.dispose()


def test_a_database_down_never_reaches_the_call():
    recorder = CallRecorder("postgresql://nobody@127.0.0.1:1/none", max_pending=2, retry_s=0.05)
    try:
        started = time.monotonic()
        for uid in ("1", "2", "3", "4"):
            recorder.ivr_outcome(SimpleNamespace(uniqueid=uid), outcome())
        recorder.ivr_outcome(SimpleNamespace(uniqueid="5"), object())  # broken outcome: logged
        assert time.monotonic() - started < 3.0  # the call thread never waits on the database
        assert recorder.dropped >= 1 and not recorder.flush(0.3)
    finally:
        recorder.close(timeout=1)


def test_every_call_through_the_city_handler_is_recorded(tmp_path):
    from ivr.kpi.recorder import shared_recorder
    from ivr.service import city_handler

    url = f"sqlite:///{tmp_path / 'city.db'}"
    settings = Settings(
        redis_url="",
        database_url=url,
        dialplan_path=ROOT / "dialplans" / "example-city.yaml",
        asterisk_sounds_dir="/snd",
    )
    handler, _ = city_handler(settings)
    env = {"agi_uniqueid": "1790000000.77"}
    _, result = drive(handler, ScriptedCaller(["2", "9"]), env=env)
    assert shared_recorder(url).flush(20)
    rec = read(url, "1790000000.77")
    assert rec.path == ">".join(result.path) and rec.path.endswith("operatore")
    assert (rec.language, rec.outcome, rec.department, rec.reason) == (
        "en",
        "transferred",
        "operatore",
        "menu",
    )


def test_the_migration_matches_the_model(booking_url):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from ivr.db.migrations import target_metadata

    engine = make_engine(booking_url)
    try:
        with engine.connect() as conn:
            diffs = compare_metadata(MigrationContext.configure(conn), target_metadata())
    finally:
        engine.dispose()
    assert [d for d in diffs if "call_records" in repr(d)] == []
    columns = {c.key for c in CallRecord.__table__.columns}
    # never the number itself; caller_hash is a keyed HMAC (the desk's earlier calls)
    assert not columns & {"number", "caller", "caller_number", "fiscal_code"}


def test_kpi_report_command(tmp_path, monkeypatch, capsys):
    from ivr.cli import main

    url = f"sqlite:///{tmp_path / 'kpi.db'}"
    monkeypatch.setenv("NU_DATABASE_URL", url)
    recorder = CallRecorder(url)

    def call(uid: str, last: str, hold: str) -> None:
        recorder.write(uid, lambda r: ivr(r, left=20))
        recorder.write(uid, lambda r: apply_queue_event(r, ev("QueueCallerJoin", uid), at(20)))
        recorder.write(uid, lambda r: apply_queue_event(r, ev(last, uid, HoldTime=hold), at(40)))

    def old(r: CallRecord) -> None:  # three days earlier: outside the report
        day = T0 - timedelta(days=3)
        apply_ivr(
            r,
            started_at=day,
            left_at=day,
            final=BYE,
            hung_up=False,
            path=[],
            language="it",
            data={},
        )

    try:
        call("c.1", "AgentConnect", "12")
        call("c.2", "QueueCallerAbandon", "50")
        recorder.write("old", old)
    finally:
        recorder.close()
    assert main(["kpi", "report", "--from", "2026-11-23", "--to", "2026-11-23"]) == 0
    out = capsys.readouterr().out
    assert "Calls from 2026-11-23 to 2026-11-23 (Europe/Rome)" in out
    city = next(line for line in out.splitlines() if line.startswith("city"))
    assert city.split()[:2] == ["city", "2"] and "50.0%" in city and "12 s" in city
    assert "060606 abandoned in queue" in out and "MISSED" in out


def test_what_the_speech_node_heard_reaches_the_record():
    """The speech node keeps the confidence next to the text; the record takes both."""
    from ivr.flow.actions import Heard
    from tests.test_speech_node import session, until_transfer

    s = session()
    s.start()
    end = until_transfer(s, s.feed(Heard("vorrei un certificato di residenza", 0.9)))
    rec = CallRecord()
    apply_ivr(
        rec,
        started_at=T0,
        left_at=at(12),
        final=end,
        hung_up=False,
        path=s.path,
        language=s.lang,
        data=s.data,
    )
    assert (rec.said, rec.confidence) == ("vorrei un certificato di residenza", 0.9)
    assert (rec.path, rec.department, rec.outcome) == ("speak>anagrafe", "anag", "transferred")


def test_a_callback_booked_by_the_node_is_recorded_as_a_callback():
    """The contract between the callback node and the records: its goodbye after a booked (or
    already booked) request marks the call; a failed request goes on to the department."""
    from ivr.flow.actions import Digits, Result
    from ivr.flow.engine import CallSession
    from ivr.flow.loader import parse_dialplan

    text = """\
number: "020202"
languages: [it]
general_operator: op
departments:
  op: {names: {it: Operatore}, hours: always}
nodes:
  start: {type: callback, department: op}
"""
    dialplan, issues = parse_dialplan(text, "c.yaml")
    assert dialplan is not None, issues
    for answer, outcome in (
        (Result({"id": 1}), "callback"),
        (Result(error="duplicate"), "callback"),
    ):
        call = CallSession(
            dialplan, now=datetime(2026, 11, 23, 10), caller={"number": "3331234567"}
        )
        call.start()
        action = call.feed(Digits("1"))  # "call me back on this number"
        assert action.service == "callbacks.request"
        end = call.feed(answer)
        assert ivr_outcome(end, False, call.data) == outcome
    call = CallSession(dialplan, now=datetime(2026, 11, 23, 10), caller={"number": "3331234567"})
    call.start()
    call.feed(Digits("1"))
    call.feed(Result(error="unavailable"))
    assert "callback" not in call.data


def test_a_language_twin_is_recorded_as_its_department_queue():
    from datetime import datetime

    from ivr.kpi.records import apply_queue_event

    rec = CallRecord(call_id="1", language="en", path="")
    at = datetime(2026, 11, 24, 10, 0)
    apply_queue_event(rec, {"Event": "QueueCallerJoin", "Queue": "tributi_en"}, at)
    assert rec.queue == "tributi"
    apply_queue_event(rec, {"Event": "AgentConnect", "Queue": "tributi_en", "HoldTime": "3"}, at)
    assert (rec.queue, rec.outcome) == ("tributi", "answered")
    italian = CallRecord(call_id="2", language="it", path="")
    apply_queue_event(italian, {"Event": "QueueCallerJoin", "Queue": "servizi_en"}, at)
    assert italian.queue == "servizi_en"  # not a twin of the caller's language: kept as named
