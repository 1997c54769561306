"""The city database's engine: one per process and URL, shared by every feature.

:func:`engine_for` is the one engine of a URL in this process (booking, callbacks, call records,
the admin, retention all write through it), and :func:`ready` is that engine with its schema
migrated, once per process and URL (:mod:`ivr.db.migrations`). A database that is down when
first used is not marked ready: the caller gets the error (the phone says "unavailable" and puts
the citizen through to an operator) and the next use tries again.

SQLite needs three things the defaults do not give:

* WAL, so readers never wait for the writer;
* ``busy_timeout``, so a writer waits for the lock instead of failing at once;
* ``BEGIN IMMEDIATE`` for write transactions (:func:`writer`). pysqlite opens transactions
  lazily with a deferred BEGIN; a deferred transaction that read first and then writes cannot
  wait for the lock (SQLite returns ``database is locked`` at once to avoid a deadlock), so
  writers take the lock up front.

Writers of one engine also queue on a mutex, first come first served (below). That order only
holds among the writers of one engine, which is why every feature of a process shares it.

PostgreSQL (``postgresql://`` means psycopg 3) runs at READ COMMITTED: the booking's conditional
UPDATE re-checks its WHERE on the row's newest version, which is all the capacity rule needs.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.pool import StaticPool

log = logging.getLogger("ivr.db")

T = TypeVar("T")

WRITE = "city_write"  # execution option: this transaction will write (BEGIN IMMEDIATE)
BUSY_TIMEOUT_MS = 10_000
_CONFIGURED = "_city_configured"
_HOLDS_LOCK = "city_write_lock"


def normalize_url(url: str) -> str:
    """``postgresql://`` means psycopg 3 here (the driver we depend on), not psycopg2."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def make_engine(url: str, *, pool_size: int = 10, max_overflow: int = 20, **kw: Any) -> Engine:
    """A new engine for ``url`` set up for concurrent writers (see the module docstring).

    The product uses :func:`engine_for` (one per URL); this is for what must have an engine of
    its own: a test or bench standing for another process, a pool sized for a measurement."""
    url = normalize_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database in (None, "", ":memory:"):
            # One shared connection: an in-memory database exists only inside it.
            engine = create_engine(
                url, poolclass=StaticPool, connect_args={"check_same_thread": False}, **kw
            )
        else:
            engine = create_engine(
                url,
                pool_size=pool_size,
                max_overflow=max_overflow,
                connect_args={"timeout": BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
                **kw,
            )
    else:
        engine = create_engine(
            url, pool_size=pool_size, max_overflow=max_overflow, pool_pre_ping=True, **kw
        )
    return configure(engine)


def configure(engine: Engine) -> Engine:
    """Install the SQLite hooks on an engine made elsewhere (idempotent; no-op for others)."""
    if engine.dialect.name != "sqlite" or getattr(engine, _CONFIGURED, False):
        return engine
    memory = make_url(str(engine.url)).database in (None, "", ":memory:")

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves (below)
        cur = dbapi_conn.cursor()
        if not memory:
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    # Writers of this process queue on a mutex before BEGIN IMMEDIATE. SQLite's own busy handler
    # polls with sleeps growing to 100 ms, so under 10+ threads a few unlucky writers wait
    # seconds while others get in; the mutex hands the lock over in arrival order. Held until
    # the connection goes back to the pool (after COMMIT/ROLLBACK). Other processes still meet
    # busy_timeout; a timed-out wait falls back to it rather than deadlocking.
    write_lock = threading.Lock()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        if not conn.get_execution_options().get(WRITE, False):
            conn.exec_driver_sql("BEGIN")
            return
        if not conn.info.get(_HOLDS_LOCK) and write_lock.acquire(timeout=BUSY_TIMEOUT_MS / 1000):
            conn.info[_HOLDS_LOCK] = True
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except Exception:
            _release(conn.info)
            raise

    def _release(info: dict[Any, Any]) -> None:
        if info.pop(_HOLDS_LOCK, False):
            write_lock.release()

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_conn: Any, record: Any) -> None:
        _release(record.info)

    setattr(engine, _CONFIGURED, True)
    engine.dispose()  # connections opened before the hooks would miss the pragmas
    return engine


@dataclass
class _City:
    """One URL's engine in this process, and whether its schema is known to be current."""

    engine: Engine
    lock: threading.Lock = field(default_factory=threading.Lock)
    migrated: bool = False


_CITIES: dict[str, _City] = {}
_CITIES_LOCK = threading.Lock()


def _city(url: str, **kw: Any) -> _City:
    key = normalize_url(url)
    with _CITIES_LOCK:
        city = _CITIES.get(key)
        if city is None:
            city = _CITIES[key] = _City(make_engine(key, **kw))
        return city


def engine_for(url: str, **kw: Any) -> Engine:
    """The one engine of ``url`` in this process, made on first use (``kw``, e.g. pool sizes,
    only count then). Making it opens no connection: a database that is down fails later, on
    use. Callers share it: never ``dispose()`` it; :func:`release` does, for tests."""
    return _city(url, **kw).engine


def ready(url: str) -> Engine:
    """:func:`engine_for` ``url``, its schema migrated to the newest revision: once per process
    and URL, however many threads ask at once (the others wait for the first). If migrating
    fails (the database is down) the error is raised and the next call tries again."""
    city = _city(url)
    if city.migrated:
        return city.engine
    with city.lock:
        if not city.migrated:
            from ivr.db.migrations import migrate

            migrate(city.engine)
            city.migrated = True
    return city.engine


def release(url: str) -> None:
    """Forget ``url``'s engine (closing its pooled connections): the next use makes a new one
    and migrates again. For tests and tools that are done with a database."""
    with _CITIES_LOCK:
        city = _CITIES.pop(normalize_url(url), None)
    if city is not None:
        city.engine.dispose()


def release_all() -> None:
    """:func:`release` every URL of this process."""
    with _CITIES_LOCK:
        cities = list(_CITIES.values())
        _CITIES.clear()
    for city in cities:
        city.engine.dispose()


def writer(engine: Engine) -> Engine:
    """The same engine (same pool), flagged so its transactions start as writers."""
    return engine.execution_options(**{WRITE: True})


_PG_RETRY = {"40001", "40P01", "55P03"}  # serialization failure, deadlock, lock not available


def is_retryable(err: BaseException) -> bool:
    """A transient conflict worth running the whole transaction again for."""
    if not isinstance(err, DBAPIError):
        return False
    sqlstate = getattr(err.orig, "sqlstate", None)
    if sqlstate in _PG_RETRY:
        return True
    if isinstance(err, OperationalError):
        message = str(err.orig).lower()
        return "database is locked" in message or "database is busy" in message
    return False


def retrying(
    work: Callable[[], T], *, attempts: int = 8, base_delay: float = 0.01, what: str = "tx"
) -> T:
    """Run ``work`` (one whole transaction) again on lock/serialization conflicts.

    Jittered exponential backoff so the losers of one conflict do not collide again in step.
    """
    for attempt in range(1, attempts + 1):
        try:
            return work()
        except DBAPIError as err:
            if attempt == attempts or not is_retryable(err):
                raise
            delay = base_delay * (2 ** (attempt - 1)) * (0.5 + random.random())
            log.warning("%s: retry %d after %s", what, attempt, type(err.orig).__name__)
            time.sleep(delay)
    raise AssertionError("unreachable")
