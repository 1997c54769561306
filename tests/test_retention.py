"""Data retention (ivr/retention.py, ``ivr retention``) on SQLite and PostgreSQL (``booking_url``).

Every affected table gets rows old and new in every state; a purge must remove exactly the old
finished ones and leave every other row of every table as it was.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, select
from sqlalchemy.orm import Session

from booking.models import (
    Base,
    Booking,
    BookingStatus,
    CertificateRequest,
    MessageStatus,
    Office,
    Outbox,
    Service,
    Slot,
)
from ivr import config, retention
from ivr.callbacks.models import ACTIVE_STATES, CallbackRequest, CallbackState
from ivr.cli import main
from ivr.db import make_engine
from ivr.kpi.models import CallRecord

ROME = ZoneInfo("Europe/Rome")
NOW = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
DAYS = 180
# NOW - 180 days = 2026-01-02 12:00 UTC = 13:00 in Rome (CET): call records and callbacks are
# compared in UTC, the outbox in Rome's local time.
CUTOFF_UTC = datetime(2026, 1, 2, 12, 0)
CUTOFF_ROME = datetime(2026, 1, 2, 13, 0)


def utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)


def rome(moment: datetime) -> datetime:
    return moment.astimezone(ROME).replace(tzinfo=None)


def populate(url: str, now: datetime) -> set[str]:
    """Rows of every kind, old and new, in every state; returns the labels a purge of ``DAYS``
    days at ``now`` must delete (call_id of call records and callbacks, ref of outbox rows)."""
    old, new = now - timedelta(days=DAYS + 20), now - timedelta(days=10)
    cutoff = now - timedelta(days=DAYS)
    just_before, just_after = cutoff - timedelta(minutes=30), cutoff + timedelta(minutes=30)
    doomed: set[str] = set()
    engine = make_engine(url)
    with Session(engine) as session, session.begin():
        # The back office's records: old, and never touched.
        office = Office(id="anagrafe", name="Anagrafe", address="Via Roma 1")
        service = Service(id="cie", name_it="Carta d'identità", name_en="ID card", duration_min=20)
        session.add_all([office, service])
        session.flush()
        slot_at = rome(old).replace(hour=9, minute=0, second=0, microsecond=0)
        slot = Slot(
            office_id="anagrafe",
            service_id="cie",
            day=slot_at.date(),
            starts_at=slot_at,
            ends_at=slot_at + timedelta(minutes=20),
            capacity=2,
            booked=2,
        )
        session.add(slot)
        session.flush()
        for code, status in (("OLD00001", BookingStatus.DONE), ("OLD00002", BookingStatus.ACTIVE)):
            session.add(
                Booking(
                    code=code,
                    caller_hash=f"h-{code}",
                    caller_number="3331234567",
                    service_id="cie",
                    slot_id=slot.id,
                    status=status.value,
                    language="it",
                    created_at=rome(old),
                    updated_at=rome(old),
                )
            )
        session.add(
            CertificateRequest(
                code="CERT0001",
                type="residence",
                delivery="post",
                caller_number="3331234567",
                language="it",
                created_at=rome(old),
                updated_at=rome(old),
            )
        )

        # Call records (naive UTC): by end, or by start when no end is known.
        records = {
            "rec-old": (old, old + timedelta(minutes=3), True),
            "rec-old-no-end": (old, None, True),
            "rec-new": (new, new + timedelta(minutes=3), False),
            "rec-new-no-end": (new, None, False),
            # started before the cut-off but ended after it: kept (by its end)
            "rec-ended-after": (just_before - timedelta(hours=1), just_after, False),
            "rec-just-before": (just_before, just_before, True),
            "rec-just-after": (just_after, just_after, False),
        }
        for label, (started, ended, gone) in records.items():
            session.add(
                CallRecord(
                    call_id=label,
                    started_at=utc(started),
                    ended_at=utc(ended) if ended else None,
                    path="main>anagrafe",
                    outcome="answered",
                )
            )
            if gone:
                doomed.add(label)

        # Callback requests (naive UTC), by when they last changed (finished), in every state.
        number = 3330000000  # one per request: one active request per number (the index)
        for state in CallbackState:
            finished = state not in ACTIVE_STATES
            for age, when in (("old", old), ("new", new), ("before", just_before)):
                number += 1
                label = f"cb-{state.value}-{age}"
                session.add(
                    CallbackRequest(
                        created_at=utc(when) - timedelta(hours=1),
                        updated_at=utc(when),
                        number=str(number),
                        language="it",
                        department="anagrafe",
                        queue="anagrafe",
                        state=state.value,
                        attempts=1,
                        next_attempt_at=utc(when),
                        call_id=label,
                    )
                )
                if finished and age != "new":
                    doomed.add(label)

        # Outbox (the city's naive local time): only sent messages, by sent_at.
        for status in MessageStatus:
            sent = status == MessageStatus.SENT
            for age, when in (("old", old), ("new", new), ("before", just_before)):
                label = f"out-{status.value}-{age}"
                session.add(
                    Outbox(
                        kind="sms",
                        recipient="3331234567",
                        body="Prenotazione confermata",
                        ref=label,
                        status=status.value,
                        attempts=1,
                        next_attempt_at=rome(when),
                        created_at=rome(when),
                        sent_at=rome(when) if sent else None,
                    )
                )
                if sent and age != "new":
                    doomed.add(label)
        # written long ago, sent recently: kept (by when it was sent)
        session.add(
            Outbox(
                kind="email",
                recipient="maria@example.it",
                body="Certificato spedito",
                ref="out-sent-late",
                status=MessageStatus.SENT.value,
                next_attempt_at=rome(old),
                created_at=rome(old),
                sent_at=rome(just_after),
            )
        )
    engine.dispose()
    return doomed


LABEL = {"call_records": "call_id", "callback_requests": "call_id", "outbox": "ref"}


def snapshot(url: str) -> dict[str, set[tuple]]:
    """Every row of every table of the city database."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return {t.name: set(conn.execute(select(t)).all()) for t in Base.metadata.sorted_tables}
    finally:
        engine.dispose()


def labels(url: str, table: str) -> set[str]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            column = Base.metadata.tables[table].c[LABEL[table]]
            return set(conn.scalars(select(column)))
    finally:
        engine.dispose()


def assert_purged(before: dict, after: dict, doomed: set[str]) -> None:
    """``after`` is ``before`` minus exactly the ``doomed`` rows, in every table."""
    for table, rows in before.items():
        if table in LABEL:
            col = list(Base.metadata.tables[table].c.keys()).index(LABEL[table])
            kept = {row for row in rows if row[col] not in doomed}
            assert after[table] == kept, table
        else:
            assert after[table] == rows, table


def test_every_callback_state_is_either_active_or_finished():
    finished, active = set(retention.FINISHED_CALLBACKS), set(ACTIVE_STATES)
    assert finished | active == set(CallbackState)
    assert not finished & active


def test_purge_deletes_exactly_the_old_finished_rows(booking_url):
    doomed = populate(booking_url, NOW)
    before = snapshot(booking_url)

    report = retention.purge(booking_url, DAYS, now=NOW)

    assert report.cutoff_utc == CUTOFF_UTC
    assert report.counts() == {
        "call_records": 3,  # old, old without an end, just before the cut-off
        "callback_requests": 6,  # done/failed/cancelled, old and just before
        "outbox": 2,  # sent, old and just before
        "backoffice_requests": 0,  # none here: tested on their own below
    }
    assert report.total == len(doomed) == 11
    after = snapshot(booking_url)
    assert_purged(before, after, doomed)
    assert labels(booking_url, "call_records") == {
        "rec-new",
        "rec-new-no-end",
        "rec-ended-after",
        "rec-just-after",
    }
    # every active request is still there, however old
    kept_callbacks = labels(booking_url, "callback_requests")
    for state in ACTIVE_STATES:
        assert {f"cb-{state.value}-old", f"cb-{state.value}-before"} <= kept_callbacks
    kept_outbox = labels(booking_url, "outbox")
    assert {"out-pending-old", "out-sending-old", "out-failed-old", "out-sent-late"} <= kept_outbox
    assert len(after["bookings"]) == 2 and len(after["slots"]) == 1

    # a second purge finds nothing more
    assert retention.purge(booking_url, DAYS, now=NOW).total == 0
    assert snapshot(booking_url) == after


def test_utc_tables_and_the_local_outbox_share_one_cutoff(booking_url):
    """Half an hour either side of the cut-off, in January (Rome = UTC+1): a UTC/local mix-up
    would keep a call record or delete a message one hour off."""
    populate(booking_url, NOW)
    engine = make_engine(booking_url)
    with Session(engine) as session:
        rec = session.scalar(select(CallRecord).where(CallRecord.call_id == "rec-just-before"))
        msg = session.scalar(select(Outbox).where(Outbox.ref == "out-sent-before"))
        late = session.scalar(select(Outbox).where(Outbox.ref == "out-sent-late"))
        assert rec.ended_at == CUTOFF_UTC - timedelta(minutes=30)
        assert msg.sent_at == CUTOFF_ROME - timedelta(minutes=30)  # 11:30 UTC: older
        assert late.sent_at == CUTOFF_ROME + timedelta(minutes=30)  # 12:30 UTC: newer
    engine.dispose()
    assert retention.cutoffs(DAYS, NOW, "Europe/Rome") == (CUTOFF_UTC, CUTOFF_ROME)
    assert retention.cutoffs(DAYS, NOW.replace(tzinfo=None), "Europe/Rome")[0] == CUTOFF_UTC

    retention.purge(booking_url, DAYS, now=NOW)

    assert "rec-just-before" not in labels(booking_url, "call_records")
    assert "rec-just-after" in labels(booking_url, "call_records")
    kept = labels(booking_url, "outbox")
    assert "out-sent-before" not in kept and "out-sent-late" in kept


def test_dry_run_counts_and_deletes_nothing(booking_url):
    populate(booking_url, NOW)
    before = snapshot(booking_url)

    dry = retention.purge(booking_url, DAYS, now=NOW, dry_run=True)

    assert snapshot(booking_url) == before
    assert dry.dry_run and dry.counts() == {
        "call_records": 3,
        "callback_requests": 6,
        "outbox": 2,
        "backoffice_requests": 0,
    }
    assert dry.lines()[0] == "call_records: 3 would be deleted (dry run)"
    real = retention.purge(booking_url, DAYS, now=NOW)
    assert real.counts() == dry.counts()


def test_a_failure_part_way_rolls_every_table_back(booking_url, monkeypatch):
    populate(booking_url, NOW)
    before = snapshot(booking_url)
    missing = Table("no_such_table", MetaData(), Column("id", Integer, primary_key=True))
    conditions = retention._conditions

    def then_fail(cutoff_utc, cutoff_local):
        where = conditions(cutoff_utc, cutoff_local)  # the three real deletes first...
        return {**where, "missing": (missing, missing.c.id > 0)}  # ...then one that fails

    monkeypatch.setattr(retention, "_conditions", then_fail)
    with pytest.raises(Exception, match="no_such_table"):
        retention.purge(booking_url, DAYS, now=NOW)
    assert snapshot(booking_url) == before


def test_the_purge_command_prints_a_count_per_table(booking_url, monkeypatch, capsys):
    doomed = populate(booking_url, datetime.now(UTC))
    monkeypatch.setenv("NU_DATABASE_URL", booking_url)
    monkeypatch.delenv("NU_RETENTION_DAYS", raising=False)

    assert main(["retention", "purge", "--dry-run"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "call_records: 3 would be deleted (dry run)",
        "callback_requests: 6 would be deleted (dry run)",
        "outbox: 2 would be deleted (dry run)",
        "backoffice_requests: 0 would be deleted (dry run)",
    ]

    monkeypatch.setenv("NU_RETENTION_DAYS", str(DAYS + 30))  # the setting: nothing that old
    assert main(["retention", "purge"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "call_records: 0 deleted",
        "callback_requests: 0 deleted",
        "outbox: 0 deleted",
        "backoffice_requests: 0 deleted",
    ]

    assert main(["retention", "purge", "--days", str(DAYS)]) == 0  # --days wins
    assert capsys.readouterr().out.splitlines() == [
        "call_records: 3 deleted",
        "callback_requests: 6 deleted",
        "outbox: 2 deleted",
        "backoffice_requests: 0 deleted",
    ]
    assert not doomed & labels(booking_url, "call_records")
    assert not doomed & labels(booking_url, "outbox")

    assert main(["retention", "purge", "--days", "0"]) == 2
    assert "at least 1" in capsys.readouterr().err


def test_the_setting(monkeypatch):
    monkeypatch.delenv("NU_RETENTION_DAYS", raising=False)
    assert config.load().retention_days == 180
    monkeypatch.setenv("NU_RETENTION_DAYS", "365")
    assert config.load().retention_days == 365
    for bad in ("0", "-5", "six months"):
        monkeypatch.setenv("NU_RETENTION_DAYS", bad)
        with pytest.raises(ValueError, match="NU_RETENTION_DAYS"):
            config.load()


def test_the_city_timezone_comes_from_the_dialplan(tmp_path, monkeypatch):
    plan = tmp_path / "city.yaml"
    source = (config.ROOT / "dialplans" / "example-city.yaml").read_text()
    plan.write_text(source.replace("timezone: Europe/Rome", "timezone: Europe/Lisbon"))
    monkeypatch.setenv("NU_DIALPLAN", str(plan))
    assert retention.city_timezone(config.load()) == "Europe/Lisbon"
    monkeypatch.setenv("NU_DIALPLAN", str(tmp_path / "missing.yaml"))  # the purge still runs
    assert retention.city_timezone(config.load()) == "Europe/Rome"


def _start_run(url: str, **kw):
    stop, reports = threading.Event(), []
    result: list[int] = []
    thread = threading.Thread(
        target=lambda: result.append(
            retention.run(url, DAYS, stop=stop, on_report=reports.append, **kw)
        ),
        daemon=True,
    )
    thread.start()
    return stop, reports, result, thread


def _wait(pred, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_run_purges_at_start_and_stops_at_once_on_its_event(booking_url):
    doomed = populate(booking_url, datetime.now(UTC))
    stop, reports, result, thread = _start_run(booking_url, every_s=24 * 3600)

    _wait(lambda: reports)
    assert reports[0].total == len(doomed)
    assert not doomed & labels(booking_url, "callback_requests")
    started = time.monotonic()
    stop.set()
    thread.join(timeout=5)
    assert not thread.is_alive()
    assert time.monotonic() - started < 4.0  # not the rest of a day's sleep
    assert result == [1]


def test_run_purges_again_every_interval(booking_url):
    stop, reports, result, thread = _start_run(booking_url, every_s=0.2)
    try:
        _wait(lambda: reports)
        engine = make_engine(booking_url)
        with Session(engine) as session, session.begin():
            when = utc(datetime.now(UTC) - timedelta(days=DAYS + 1))
            session.add(CallRecord(call_id="aged", started_at=when, ended_at=when, path=""))
        engine.dispose()
        _wait(lambda: "aged" not in labels(booking_url, "call_records"))
        assert any(r.call_records == 1 for r in reports)
    finally:
        stop.set()
        thread.join(timeout=5)
    assert not thread.is_alive() and result[0] >= 2


def test_run_keeps_going_when_the_database_is_unreachable(tmp_path, caplog):
    url = f"sqlite:///{tmp_path / 'no' / 'such' / 'dir' / 'city.db'}"
    stop, reports, result, thread = _start_run(url, every_s=3600, retry_s=0.05)
    try:
        _wait(lambda: sum("retention purge failed" in m for m in caplog.messages) >= 3)
    finally:
        stop.set()
        thread.join(timeout=5)
    assert not thread.is_alive() and result == [0] and not reports


def test_the_run_command_stops_promptly_on_sigterm(booking_url):
    populate(booking_url, datetime.now(UTC))
    env = {**os.environ, "NU_DATABASE_URL": booking_url, "NU_RETENTION_DAYS": str(DAYS)}
    code = "import sys; from ivr.cli import main; sys.exit(main(sys.argv[1:]))"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "retention", "run", "--every-hours", "24"],
        env=env,
        cwd=config.ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait(lambda: "rec-old" not in labels(booking_url, "call_records"), timeout=180)
        assert proc.poll() is None  # still running, waiting for the next day
        proc.send_signal(signal.SIGTERM)
        # stopped at once, not after the day's sleep (communicate() gives up after 60 s: a
        # loaded machine, not a day)
        _out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        assert "SIGTERM, stopping" in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def test_closed_backoffice_requests_go_with_their_history_and_files(booking_url, tmp_path):
    """Closed requests older than the period go (history, then files through ``on_erased``);
    open ones are kept however old, recent closed ones too."""
    from ivr.backoffice.models import BackofficeEvent
    from ivr.backoffice.rules import Category, NewRequest
    from ivr.backoffice.store import BackofficeStore

    local = NOW.astimezone(ZoneInfo("Europe/Rome")).replace(tzinfo=None)
    clock = {"now": local - timedelta(days=DAYS + 30)}
    store = BackofficeStore(make_engine(booking_url), clock=lambda: clock["now"])
    store.save_category(Category("buche", "mobilita", "Buche stradali"))

    def new(text: str, recording: str = "") -> int:
        data = NewRequest(
            category="buche", description=text, number="3331234567", recording=recording
        )
        return store.create(data, "ivr").id

    old_closed = new("vecchia chiusa", "msg-old.wav")
    old_open = new("vecchia aperta")
    store.move(old_closed, "closed", "m.bianchi")
    clock["now"] = local - timedelta(days=1)
    recent_closed = new("recente chiusa")
    store.move(recent_closed, "closed", "m.bianchi")

    erased: list[tuple[int, str]] = []
    report = retention.purge(
        booking_url, DAYS, now=NOW, on_erased=lambda i, r: erased.append((i, r))
    )
    assert report.counts()["backoffice_requests"] == 1
    assert erased == [(old_closed, "msg-old.wav")]
    assert store.get(old_closed) is None
    assert store.get(old_open) is not None and store.get(recent_closed) is not None
    with Session(store.engine) as db:
        left = {e.request_id for e in db.scalars(select(BackofficeEvent))}
    assert left == {old_open, recent_closed}
