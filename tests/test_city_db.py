"""One city database (ivr/db/): one base, one engine per process and URL, one Alembic history.

* A database ``main`` made before the one history (booking's 0001-0003 in ``alembic_version``,
  the admin's own ``admin_0001`` in ``alembic_version_admin``), with a row in every table, is
  carried forward with every row, on SQLite and PostgreSQL;
* a new database gets exactly the schema the upgraded one has, and both match the models;
* the FastAGI handler's booking, callbacks and call records share one engine;
* ``ready()`` migrates once however many threads race to it, and a database that is down on
  first use is tried again on the next.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
import uuid
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, MetaData, inspect, select
from sqlalchemy.exc import OperationalError

import ivr.db.engine
import ivr.db.migrations
from ivr.db import NAMING, engine_for, make_engine, migrate, ready
from ivr.db.migrations import current, heads, target_metadata

ROOT = Path(__file__).resolve().parent.parent
LEGACY = Path(__file__).resolve().parent / "legacy_city_db"
T0 = datetime(2026, 11, 23, 9, 30)


@pytest.fixture(params=["sqlite", "postgresql"])
def new_url(request, tmp_path):
    """``new_url()``: the URL of a new, empty database on the parametrised backend."""

    def make() -> str:
        name = f"t_{uuid.uuid4().hex[:12]}"
        if request.param == "sqlite":
            return f"sqlite:///{tmp_path / (name + '.db')}"
        return request.getfixturevalue("postgres_server").create_database(name)

    return make


# -- the database main made ------------------------------------------------------------------


def _legacy_upgrade(engine: Engine, folders: list[Path], target: str, table: str, naming) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(LEGACY))
    cfg.set_main_option("path_separator", "newline")
    cfg.set_main_option("version_locations", "\n".join(str(f) for f in folders))
    with engine.begin() as conn:
        cfg.attributes.update(connection=conn, version_table=table, naming=naming)
        command.upgrade(cfg, target)


def build_main_database(url: str) -> None:
    """The city database as main left it: booking's history up to 0003 and the admin's own."""
    engine = make_engine(url)  # main's engines: foreign keys on, nothing special
    try:
        with tempfile.TemporaryDirectory() as tmp:  # main's revisions only, none newer
            for name in ("booking", "ivr/callbacks", "ivr/kpi"):
                for revision in (ROOT / name / "migrations/versions").glob("000[123]_*.py"):
                    shutil.copy(revision, tmp)
            _legacy_upgrade(engine, [Path(tmp)], "0003", "alembic_version", NAMING)
        admin_part = [LEGACY / "admin_versions"]
        _legacy_upgrade(engine, admin_part, "admin_0001", "alembic_version_admin", None)
    finally:
        engine.dispose()


def fill_every_table(url: str) -> None:
    """A row in every table (two in one), through the schema as it is, ids from the database."""
    engine = make_engine(url)
    meta = MetaData()
    meta.reflect(engine)
    later = T0 + timedelta(minutes=20)
    try:
        with engine.begin() as conn:

            def add(table: str, **row) -> object:
                return conn.execute(meta.tables[table].insert().values(**row)).inserted_primary_key[
                    0
                ]

            add("offices", id="anagrafe", name="Anagrafe", address="Via Roma 1", desk="1-8")
            add(
                "offices", id="tributi", name="Tributi", address="Via Po 2", email="t@x.it", desk=""
            )
            add(
                "services",
                id="cie",
                name_it="Carta d'identità",
                name_en="ID card",
                duration_min=20,
                max_active_per_caller=1,
            )
            add("office_services", office_id="anagrafe", service_id="cie")
            add(
                "slot_templates",
                office_id="anagrafe",
                service_id="cie",
                weekday=0,
                start=clock_time(8, 30),
                end=clock_time(12, 0),
                capacity=2,
            )
            add("closures", office_id=None, day=date(2026, 12, 8), reason="Immacolata")
            slot = add(
                "slots",
                office_id="anagrafe",
                service_id="cie",
                day=T0.date(),
                starts_at=T0,
                ends_at=later,
                capacity=2,
                booked=1,
                closed=False,
            )
            add(
                "bookings",
                code="AB12CD34",
                caller_hash="h" * 64,
                caller_number="3331234567",
                service_id="cie",
                slot_id=slot,
                status="active",
                one_per_caller=True,
                language="it",
                created_at=T0,
                updated_at=T0,
            )
            add(
                "certificate_requests",
                code="CE12AB34",
                type="residence",
                delivery="desk",
                office_id="anagrafe",
                status="requested",
                language="en",
                created_at=T0,
                updated_at=T0,
            )
            add(
                "outbox",
                kind="sms",
                recipient="3331234567",
                subject="",
                body="Prenotato",
                ref="booking:1",
                status="sent",
                attempts=1,
                next_attempt_at=T0,
                created_at=T0,
                sent_at=later,
            )
            add(
                "callback_requests",
                created_at=T0,
                updated_at=T0,
                number="3339876543",
                language="fr",
                department="anagrafe",
                queue="anagrafe",
                position=3,
                state="queued",
                attempts=0,
                next_attempt_at=T0,
                call_id="1790000000.1",
            )
            add(
                "call_records",
                call_id="1790000000.1",
                started_at=T0,
                path="lingua>anagrafe",
                language="fr",
                outcome="callback",
                confidence=0.9,
                queue_wait_s=12.5,
            )
            add(
                "admin_users",
                username="sindaco",
                password_hash="scrypt:32768:8:1$salt$hash",
                role="admin",
                language="it",
                active=True,
                created_at=T0,
            )
            add("admin_audit", at=T0, username="sindaco", action="login", target="", ip="::1")
            version = add(
                "admin_dialplan_versions",
                yaml_text="city: x\n",
                sha256="0" * 64,
                author="system",
                created_at=T0,
                note="imported",
            )
            add(
                "admin_publications",
                version_id=version,
                at=T0,
                username="system",
                action="import",
                ok=True,
                message="",
                seconds=0.25,
            )
            add(
                "admin_drafts",
                id=1,
                yaml_text="city: y\n",
                base_version_id=version,
                updated_by="sindaco",
                updated_at=later,
            )
    finally:
        engine.dispose()


def rows(url: str) -> dict[str, list[tuple]]:
    """Every row of every table but Alembic's, by table, in primary key order."""
    engine = make_engine(url)
    try:
        meta = MetaData()
        meta.reflect(engine)
        with engine.connect() as conn:
            return {
                name: [tuple(r) for r in conn.execute(select(table).order_by(*table.primary_key))]
                for name, table in meta.tables.items()
                if not name.startswith("alembic_version")
            }
    finally:
        engine.dispose()


def schema(url: str) -> dict[str, dict]:
    """What ``sqlalchemy.inspect`` sees, table by table, names of everything included."""
    engine = make_engine(url)
    try:
        insp = inspect(engine)
        out = {}
        for name in sorted(insp.get_table_names()):
            out[name] = {
                "columns": [
                    (c["name"], str(c["type"]), c["nullable"], c.get("default"))
                    for c in insp.get_columns(name)
                ],
                "pk": insp.get_pk_constraint(name),
                "fks": sorted(
                    (
                        f["name"],
                        f["constrained_columns"],
                        f["referred_table"],
                        f["referred_columns"],
                        sorted(f.get("options", {}).items()),
                    )
                    for f in insp.get_foreign_keys(name)
                ),
                "unique": sorted(
                    (u["name"], u["column_names"]) for u in insp.get_unique_constraints(name)
                ),
                "indexes": sorted(
                    (i["name"], i["column_names"], i["unique"], _options(i))
                    for i in insp.get_indexes(name)
                ),
                "checks": sorted(
                    (c["name"], c["sqltext"]) for c in insp.get_check_constraints(name)
                ),
            }
        return out
    finally:
        engine.dispose()


def _options(index: dict) -> list[tuple[str, str]]:
    """An index's dialect options (a partial index's WHERE) as text."""
    return sorted((k, str(v)) for k, v in index.get("dialect_options", {}).items())


def model_diffs(url: str) -> list:
    """Alembic's autogenerate: how the database differs from every feature's models."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return compare_metadata(MigrationContext.configure(conn), target_metadata())
    finally:
        engine.dispose()


def test_the_history_is_one_line_with_every_old_revision_id():
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(ivr.db.migrations.alembic_config())
    chain = [s.revision for s in script.walk_revisions("base", "heads")][::-1]
    assert chain[:4] == ["0001", "0002", "0003", "admin_0001"]  # main's ids, kept
    assert heads() == [chain[-1]]
    owners = {
        s.revision: Path(s.path).relative_to(ROOT).parts[:-3] for s in script.walk_revisions()
    }
    assert owners["0001"] == ("booking",)
    assert owners["0002"] == ("ivr", "callbacks")
    assert owners["0003"] == ("ivr", "kpi")
    assert owners["admin_0001"] == ("ivr", "admin")


def test_a_database_made_by_main_is_carried_forward_with_every_row(new_url):
    url = new_url()
    build_main_database(url)
    old_tables = set(inspect_tables(url))
    assert {"alembic_version", "alembic_version_admin", "admin_users", "call_records"} <= old_tables
    fill_every_table(url)
    before = rows(url)
    assert all(before.values()), [name for name, found in before.items() if not found]

    migrate(url)

    after = rows(url)
    # every old row, every old column (new columns come last, empty)
    kept = {name: [row[: len(old[0])] for row in after[name]] for name, old in before.items()}
    assert kept == before
    assert all(not any(row[len(before[n][0]) :]) for n in before for row in after[n])
    assert not any(after[name] for name in after.keys() - before.keys())  # new tables: empty
    tables = inspect_tables(url)
    assert "alembic_version_admin" not in tables
    assert current(url) == heads()[0]
    assert model_diffs(url) == []
    migrate(url)  # idempotent
    assert rows(url) == after

    # The adopted admin tables work as before: a new account after the old one, a sign-in.
    from ivr.admin import auth
    from ivr.admin.db import open_database
    from ivr.admin.models import AuditEntry, User

    sessions = open_database(url)
    with sessions.begin() as db:
        auth.create_user(db, "assessore", "correct horse battery", "editor", "it")
        db.add(AuditEntry(username="sindaco", action="user_create", target="assessore"))
    with sessions() as db:
        users = db.scalars(select(User).order_by(User.id)).all()
        assert [(u.id, u.username) for u in users] == [(1, "sindaco"), (2, "assessore")]


def inspect_tables(url: str) -> list[str]:
    engine = make_engine(url)
    try:
        return inspect(engine).get_table_names()
    finally:
        engine.dispose()


def test_a_new_database_gets_the_schema_an_upgraded_one_has(new_url):
    upgraded, fresh = new_url(), new_url()
    build_main_database(upgraded)
    fill_every_table(upgraded)
    migrate(upgraded)
    migrate(fresh)
    assert schema(fresh) == schema(upgraded)
    assert model_diffs(fresh) == []
    assert schema(fresh)["admin_users"]["pk"]["name"] == "pk_admin_users"  # the city's names


# -- one engine per process and URL ----------------------------------------------------------


def test_the_city_handler_shares_one_engine(tmp_path, monkeypatch):
    from booking.phone_services import DatabaseBooking
    from ivr.admin.db import open_database
    from ivr.agi.peer import ScriptedCaller, drive
    from ivr.callbacks.store import DatabaseCallbacks
    from ivr.config import Settings
    from ivr.flow.loader import load_dialplan
    from ivr.kpi.recorder import shared_recorder
    from ivr.service import city_handler

    made: list[str] = []
    real = ivr.db.engine.make_engine

    def counting(url: str, **kw):
        made.append(url)
        return real(url, **kw)

    monkeypatch.setattr(ivr.db.engine, "make_engine", counting)
    url = f"sqlite:///{tmp_path / 'city.db'}"
    settings = Settings(
        redis_url="",
        database_url=url,
        dialplan_path=ROOT / "dialplans" / "example-city.yaml",
        asterisk_sounds_dir="/snd",
        callback_dial="Local/{number}@nu-test-citizen",
    )
    handler, _ = city_handler(settings)  # booking migrates the database at start
    _, result = drive(handler, ScriptedCaller(["2", "9"]), env={"agi_uniqueid": "1790000000.5"})
    recorder = shared_recorder(url)
    assert recorder.flush(20) and recorder.written >= 1

    engine = engine_for(url)
    assert made == [url]  # booking, callbacks and the call's record: one engine
    assert recorder.engine() is engine
    dialplan = load_dialplan(settings.dialplan_path)
    assert DatabaseBooking(url, dialplan).engine is engine
    assert DatabaseCallbacks(url).store.engine is engine
    assert open_database(url).kw["bind"] is engine
    assert made == [url]


def test_one_in_memory_database_is_shared_by_every_feature():
    """``sqlite://`` lives in one connection: with one engine, every feature sees the same one."""
    from ivr.callbacks.store import DatabaseCallbacks
    from ivr.kpi.models import CallRecord
    from ivr.kpi.recorder import CallRecorder

    url = "sqlite://"
    callbacks = DatabaseCallbacks(url)
    request_id = callbacks.request({"number": "3331234567", "department": "a", "queue": "a"})["id"]
    recorder = CallRecorder(url)
    try:
        recorder.submit("1790000000.9", lambda rec: setattr(rec, "outcome", "callback"))
        assert recorder.flush(10)
    finally:
        recorder.close()
    with ready(url).connect() as conn:
        assert conn.scalar(select(CallRecord.outcome)) == "callback"
    assert callbacks.store.get(request_id).state == "pending"


# -- ready(): once per process and URL -------------------------------------------------------


def test_ready_migrates_once_however_many_threads_race(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'race.db'}"
    calls: list[Engine] = []
    real = ivr.db.migrations.migrate

    def slow(engine, revision: str = "head") -> None:
        calls.append(engine)
        time.sleep(0.3)  # the others arrive while the first migrates
        real(engine, revision)

    monkeypatch.setattr(ivr.db.migrations, "migrate", slow)
    gate = threading.Barrier(12)
    got: list[Engine] = []

    def one() -> None:
        gate.wait()
        got.append(ready(url))

    threads = [threading.Thread(target=one) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(got) == 12 and all(e is engine_for(url) for e in got)
    assert calls == [engine_for(url)]
    assert current(url) == heads()[0]
    ready(url)
    assert len(calls) == 1


def test_a_database_down_on_first_use_is_tried_again(tmp_path):
    from ivr.callbacks.store import DatabaseCallbacks

    path = tmp_path / "city.db"
    path.mkdir()  # a folder where the database file should be: it cannot be opened
    url = f"sqlite:///{path}"
    with pytest.raises(OperationalError):
        ready(url)
    callbacks = DatabaseCallbacks(url)
    args = {"number": "3331234567", "department": "anagrafe", "queue": "anagrafe"}
    with pytest.raises(Exception) as err:  # the runner's ServiceError
        callbacks.request(args)
    assert getattr(err.value, "code", None) == "unavailable"  # the caller is put through
    path.rmdir()  # the database comes back
    assert callbacks.request(args)["id"] == 1
    assert current(url) == heads()[0]
