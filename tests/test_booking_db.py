"""The SQLite engine set-up in ivr/db/engine.py: WAL, writers queued in arrival order, no lock
left behind by a failed transaction."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from ivr.db import is_retryable, make_engine, writer


@pytest.fixture
def engine(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE counter (n INTEGER NOT NULL)"))
        conn.execute(text("INSERT INTO counter VALUES (0)"))
    yield engine
    engine.dispose()


def test_wal_and_busy_timeout_are_set(engine):
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 10_000


def test_a_failed_write_does_not_keep_the_writers_lock(engine):
    with pytest.raises(RuntimeError), Session(writer(engine)) as s, s.begin():
        s.execute(text("UPDATE counter SET n = n + 1"))
        raise RuntimeError("caller hung up")
    started = time.monotonic()
    with Session(writer(engine)) as s, s.begin():
        s.execute(text("UPDATE counter SET n = n + 1"))
    assert time.monotonic() - started < 5.0  # not the 10 s busy timeout
    with engine.connect() as conn:
        assert conn.execute(text("SELECT n FROM counter")).scalar() == 1


def test_concurrent_read_modify_write_loses_nothing(engine):
    """Read then write in one transaction, 20 threads: BEGIN IMMEDIATE makes it safe."""

    def bump() -> None:
        for _ in range(25):
            with Session(writer(engine)) as s, s.begin():
                n = s.execute(text("SELECT n FROM counter")).scalar()
                s.execute(text("UPDATE counter SET n = :n"), {"n": n + 1})

    threads = [threading.Thread(target=bump) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT n FROM counter")).scalar() == 500


def test_readers_do_not_wait_for_a_writer(engine):
    with Session(writer(engine)) as s, s.begin():
        s.execute(text("UPDATE counter SET n = 7"))
        started = time.monotonic()
        with engine.connect() as reader:
            assert reader.execute(text("SELECT n FROM counter")).scalar() == 0  # WAL snapshot
        assert time.monotonic() - started < 5.0  # not the 10 s busy timeout


def test_only_lock_conflicts_are_retryable():
    from sqlalchemy.exc import IntegrityError, OperationalError

    locked = OperationalError("UPDATE", {}, Exception("database is locked"))
    assert is_retryable(locked)
    assert not is_retryable(IntegrityError("INSERT", {}, Exception("UNIQUE constraint failed")))
    assert not is_retryable(ValueError("nope"))
