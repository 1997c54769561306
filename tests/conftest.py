"""Shared pytest fixtures. Keep each group focused and documented; append, don't clobber."""

from __future__ import annotations

import dataclasses
import os
import shutil
from collections.abc import Iterator

import pytest

from ivr import config

# ---------------------------------------------------------------------------------------------
# Scheduling. ``./nu test`` hands whole files to xdist workers (``--dist loadfile``) in
# collection order (``--no-loadscope-reorder``). Left to xdist's default (most tests first),
# test_first_run.py (one test, minutes: a chroot built from scratch) started last and ran alone
# while the other workers sat idle. It goes first. On CI's two cores the CPU, not the audio, is
# what runs out: the first-run build beside Chromium and the prompt builds took the three of
# them 11-22 minutes where each alone takes a few (and the first run's chroot never finished).
# So the files next to it mostly wait on call audio; the CPU-heavy ones (browsers, speech
# synthesis, benches) come after, still early enough not to finish last. Then the other files
# that call the test Asterisk, so a worker can stop its Asterisk for the rest of the run; then
# the rest, more tests first. Tests inside a file keep their order.

LONGEST_FIRST = (
    "test_first_run.py",  # a chroot and the prompts of a two-language city, from scratch
    # calls in real time: mostly waiting on Asterisk's audio
    "test_asterisk_callback.py",
    "test_asterisk_privacy.py",
    "test_asterisk_booking.py",
    "test_asterisk_saturation.py",
    "test_asterisk_languages.py",
    "test_asterisk_smoke.py",
    "test_asterisk_directory.py",
    "test_asterisk_operators.py",
    # CPU: Chromium, espeak-ng and sox, vosk, benches
    "test_admin_browser.py",
    "test_prompts_build.py",
    "test_admin_security.py",
    "test_bench_isolation.py",
    "test_desk_browser.py",
    "test_asterisk_speech.py",
    "test_prompts_google.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Long files first, then the other files calling the test Asterisk, then the rest; by
    number of tests (descending) within each group, each file's tests together."""
    count: dict[str, int] = {}
    first_seen: dict[str, int] = {}
    calls: set[str] = set()
    for index, item in enumerate(items):
        path = item.nodeid.split("::")[0]  # xdist's loadfile scope
        count[path] = count.get(path, 0) + 1
        first_seen.setdefault(path, index)
        if "asterisk_session" in getattr(item, "fixturenames", ()):
            calls.add(path)

    def rank(item: pytest.Item) -> tuple[int, bool, int, int]:
        path = item.nodeid.split("::")[0]
        name = path.rsplit("/", 1)[-1]
        known = LONGEST_FIRST.index(name) if name in LONGEST_FIRST else len(LONGEST_FIRST)
        return known, path not in calls, -count[path], first_seen[path]

    items.sort(key=rank)  # stable: a file's tests stay in their order


# ---------------------------------------------------------------------------------------------
# Real Asterisk (tests/asterisk_harness.py). One Asterisk per test session, in the sid chroot
# (built on first use), with free ports, the example city's configuration, placeholder prompt
# audio and the test-only contexts. Use ``asterisk`` in a test: a clean harness (no calls, no
# operators). Its ``settings`` say where a FastAGI server for it must listen
# (``settings.agi_host``/``agi_port``) and where Asterisk reads prompts
# (``settings.asterisk_sounds_dir``).

ASTERISK_QUEUE_TIMEOUT = 20  # seconds in a department queue before the general operator
ASTERISK_GENERAL_TIMEOUT = 30  # seconds in the general operator queue before the goodbye


@pytest.fixture(scope="session")
def asterisk_dialplan():
    """The dialplan the test Asterisk is rendered for (the example city)."""
    from ivr.flow.loader import load_dialplan

    return load_dialplan(config.ROOT / "dialplans" / "example-city.yaml")


class _WorkerAsterisk:
    """The test Asterisk of this pytest process, started when a file first needs it and stopped
    when the next file does not (``pytest_runtest_teardown`` below): an idle Asterisk still costs
    a tenth of a core (pjproject polls every 10 ms), and the call files run early in the order,
    so most of a run's later half has none."""

    harness = None
    logs = None  # pytest's tmp_path_factory, where a stopped instance's logs are kept
    started = 0

    @classmethod
    def get(cls, tmp_path_factory, dialplan):
        from tests.asterisk_harness import AsteriskHarness, prepare_instance

        if cls.harness is None:
            cls.started += 1
            instance = prepare_instance(
                f"test-{os.getpid()}-{cls.started}",
                dialplan,
                tmp_path_factory.mktemp("asterisk-city"),
                queue_timeout=ASTERISK_QUEUE_TIMEOUT,
                general_timeout=ASTERISK_GENERAL_TIMEOUT,
            )
            instance.start()
            cls.logs = tmp_path_factory
            cls.harness = AsteriskHarness(instance, dialplan, agi_port=instance.settings.agi_port)
        return cls.harness

    @classmethod
    def stop(cls) -> None:
        from tests.asterisk_harness import retire_instance

        harness, cls.harness = cls.harness, None
        if harness is not None:
            harness.close()
            # Keep the logs with pytest's temporary files (the last runs stay for a post-mortem).
            retire_instance(harness.instance, cls.logs.mktemp("asterisk-log"))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    yield  # the file's fixtures are torn down first (a queue watcher reads the AMI)
    if nextitem is None or (
        nextitem.path != item.path and "asterisk_session" not in nextitem.fixturenames
    ):
        _WorkerAsterisk.stop()


def pytest_sessionfinish() -> None:
    _WorkerAsterisk.stop()


@pytest.fixture(scope="module")
def asterisk_session(tmp_path_factory, asterisk_dialplan):
    """The running test Asterisk, shared by the files a worker runs one after the other. Prefer
    the per-test ``asterisk`` fixture.

    It has the test-only verbose-3 log the harness reads (``tests/asterisk_harness.py``)."""
    return _WorkerAsterisk.get(tmp_path_factory, asterisk_dialplan)


@pytest.fixture
def asterisk(asterisk_session):
    """The test Asterisk, clean: no calls up, no operators logged in, globals as rendered."""
    asterisk_session.reset()
    yield asterisk_session
    asterisk_session.reset()


@pytest.fixture
def ivr_service(asterisk):
    """Start the real FastAGI service for the test Asterisk: ``ivr_service(clock=None, **kw)``.

    ``clock(tz) -> datetime`` fixes "now" for opening hours; other keywords replace settings
    (live state is in memory unless ``redis_url`` is given). Stopped after the test.
    """
    from ivr.service import build_server

    servers = []

    def start(clock=None, **overrides):
        settings = dataclasses.replace(asterisk.settings, **{"redis_url": "", **overrides})
        server = build_server(settings, clock=clock).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()


# ---------------------------------------------------------------------------------------------
# Booking databases. ``postgres_server``: one private PostgreSQL cluster per test session
# (Debian's server binaries, ivr/devenv/postgres.py), on 127.0.0.1 and a free port.
# ``booking_url``: a fresh, migrated city database for one test, parametrised over SQLite (a
# WAL file, not memory: real locking between connections) and PostgreSQL.


@pytest.fixture(scope="session")
def postgres_server() -> Iterator:
    import tempfile
    from pathlib import Path

    from ivr.devenv.postgres import PostgresServer

    # Not under pytest's tmp (mode 0700): the postgres OS user must reach its data folder.
    server = PostgresServer(Path(tempfile.mkdtemp(prefix="nu-pg-"))).start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.data_dir, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def booking_url(request, tmp_path) -> str:
    import uuid

    from ivr.db import migrate

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'booking.db'}"
    else:
        url = request.getfixturevalue("postgres_server").create_database(
            f"t_{uuid.uuid4().hex[:12]}"
        )
    migrate(url)
    return url


@pytest.fixture(autouse=True)
def _root_logger_as_it_was() -> Iterator[None]:
    """A test that configures logging (``ivr.logs.configure``, a CLI's ``main``) leaves the
    root logger as it found it: a handler left on pytest's captured stream, closed after the
    test, would break every later log line of the worker ("I/O operation on closed file")."""
    import logging

    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in [h for h in root.handlers if h not in handlers]:
        root.removeHandler(handler)
        handler.close()
    root.setLevel(level)


@pytest.fixture(autouse=True)
def _release_city_engines() -> Iterator[None]:
    """After each test, the shared engines it made (``ivr.db.engine_for``) let go of their
    connections: test databases come and go, the process stays."""
    yield
    from ivr.db import release_all

    release_all()


# ---------------------------------------------------------------------------------------------
# Live queue state. ``redis_server``: one private redis-server per test session (free port).
# ``live_queues``: the product's queue watcher (ivr/queues/watcher.py) on the test Asterisk's AMI,
# writing to that Redis, as ``ivr up`` runs it; pass ``live_queues.redis_url`` to ``ivr_service``
# so saturation policies see real state. ``live_queues.wait_state(queue, pred)`` waits until
# the published state satisfies ``pred`` (state follows Asterisk's events, not the test's pace).


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory) -> Iterator:
    from ivr.devenv.asterisk import free_port
    from ivr.devenv.redis import RedisServer

    server = RedisServer(
        free_port(), tmp_path_factory.mktemp("redis"), snapshots=False, hz=1
    ).start()
    try:
        yield server
    finally:
        server.stop()


@dataclasses.dataclass
class LiveQueues:
    redis_url: str
    store: object
    watcher: object

    def state(self, queue: str):
        from ivr.queues.estimate import queue_state

        return queue_state(self.store.read(queue))

    def wait_state(self, queue: str, pred, timeout: float = 10.0):
        """The queue's published state once ``pred(state)`` holds (TimeoutError otherwise)."""
        import time

        import redis

        deadline = time.monotonic() + timeout
        state = None
        while True:
            try:
                state = self.state(queue)
            except redis.RedisError:  # the product's 0.5 s read bound, missed on a loaded machine
                state = None
            if state is not None and pred(state):
                return state
            if time.monotonic() > deadline:
                raise TimeoutError(f"queue {queue!r} never matched; last state {state}")
            time.sleep(0.05)


@pytest.fixture(scope="module")
def live_queues_session(asterisk_session, redis_server) -> Iterator[LiveQueues]:
    import threading

    from ivr.queues.store import RedisQueueStore
    from ivr.queues.watcher import QueueWatcher

    store = RedisQueueStore(redis_server.url)
    watcher = QueueWatcher(
        asterisk_session.instance.ami,
        store,
        tick_s=0.5,
        languages=asterisk_session.dialplan.languages,
    )
    thread = threading.Thread(target=watcher.run, args=(0.2,), name="test-queue-watcher")
    thread.start()
    try:
        yield LiveQueues(redis_server.url, store, watcher)
    finally:
        watcher.stopped = True
        thread.join(timeout=5)


@pytest.fixture
def live_queues(asterisk, live_queues_session) -> LiveQueues:
    """Live queue state of the clean test Asterisk: every queue published with no operator."""
    for queue in {d.queue for d in asterisk.dialplan.departments.values()}:
        live_queues_session.wait_state(queue, lambda s: s.logged_in == 0 and s.waiting == 0)
    return live_queues_session


# ---------------------------------------------------------------------------------------------
# Operator accounts on the test Asterisk, made live the way the admin does it: the account in
# the instance's city database (ivr/operators/store.py), then the publish path's
# ``apply_operators`` (render, reload, confirm over AMI). Removed again after the test.


@pytest.fixture
def operator_accounts(asterisk, asterisk_dialplan, tmp_path):
    """``(store, apply)``: ``store.add(AccountSpec(...))`` returns the secret; ``apply()``
    publishes the accounts as they are (raises when Asterisk did not confirm them)."""
    from ivr.admin.db import open_database
    from ivr.admin.publish import AsteriskTarget, Publisher
    from ivr.db import ready
    from ivr.operators.store import OperatorStore

    settings = dataclasses.replace(
        asterisk.settings,
        dialplan_path=config.ROOT / "dialplans" / "example-city.yaml",
        var_dir=tmp_path / "var",
    )
    store = OperatorStore(ready(settings.database_url), lambda: asterisk_dialplan)
    publisher = Publisher(
        settings,
        open_database(settings.database_url),
        AsteriskTarget.from_etc(asterisk.instance.etc_dir),
    )

    def apply(what: str = "test"):
        result = publisher.apply_operators("test", what)
        assert result.ok, result.message
        return result

    yield store, apply
    for account in store.accounts():
        store.remove(account.extension)
    apply("cleanup")
