"""A wedged Asterisk, for real: the process is stopped (SIGSTOP), so its AMI connections stay
open and say nothing, the way a deadlocked or frozen Asterisk looks from outside.

The queue watcher must notice it through the AMI heartbeat (warning logged, ``answering`` false,
the Redis ``updated`` stamp stops advancing so readers see the state age) and, once Asterisk runs
again (SIGCONT), reconnect, resync from QueueStatus and write fresh state within seconds.

A private Asterisk instance is used (never the session one other tests share), and it is always
continued before it is stopped.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import threading
import time
from pathlib import Path

import pytest

from ivr.devenv.asterisk import ASTERISK, _pids_where
from ivr.queues.store import KEY, RedisQueueStore
from ivr.queues.watcher import QueueWatcher
from tests.asterisk_harness import prepare_instance

HEARTBEAT_S, DEADLINE_S = 1.0, 3.0


def asterisk_pid(instance) -> int:
    """The real asterisk process of an instance. It runs under ``chroot``, which execs it (same
    pid as ``instance.process``); if that ever changes, it is found by its own asterisk.conf."""
    conf = f"{instance.inner_dir}/etc/asterisk.conf".encode()
    try:
        cmdline = Path(f"/proc/{instance.process.pid}/cmdline").read_bytes()
    except OSError:
        cmdline = b""
    if conf in cmdline and cmdline.split(b"\0")[0].endswith(b"asterisk"):
        return instance.process.pid
    (pid,) = _pids_where(lambda cmd: conf in cmd and cmd.split(b"\0")[0] == ASTERISK.encode())
    return pid


def wait_until(predicate, timeout: float, what: str) -> float:
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"{what}: not within {timeout}s")
        time.sleep(0.05)
    return time.monotonic() - start


@pytest.fixture
def private_asterisk(tmp_path, asterisk_dialplan):
    instance = prepare_instance(
        f"wedged-{os.getpid()}",
        asterisk_dialplan,
        tmp_path / "asterisk",
        queue_timeout=20,
        general_timeout=30,
        test_log=False,
    )
    instance.start()
    try:
        yield instance
    finally:
        if instance.process is not None:
            os.kill(asterisk_pid(instance), signal.SIGCONT)  # stopped or not: it must go
        instance.stop()
        shutil.rmtree(instance.host_dir, ignore_errors=True)


def test_a_wedged_asterisk_is_noticed_and_the_watcher_recovers(
    private_asterisk, redis_server, caplog
):
    instance = private_asterisk
    store = RedisQueueStore(redis_server.url.rsplit("/", 1)[0] + "/9")  # this test's own keys
    raw = store._redis
    raw.delete(KEY.format("tributi"))

    def updated() -> float:
        return float(raw.hget(KEY.format("tributi"), "updated") or 0)

    watcher = QueueWatcher(
        instance.ami, store, tick_s=0.3, heartbeat_s=HEARTBEAT_S, deadline_s=DEADLINE_S
    )
    thread = threading.Thread(target=watcher.run, args=(0.2,), daemon=True)
    caplog.set_level(logging.INFO)
    thread.start()
    pid = asterisk_pid(instance)
    try:
        wait_until(lambda: watcher.answering and updated() > 0, 20, "first state")
        before = updated()
        wait_until(lambda: updated() > before, 5, "updated advancing")

        os.kill(pid, signal.SIGSTOP)
        try:
            took = wait_until(lambda: not watcher.answering, 10, "watcher noticing")
            assert took <= HEARTBEAT_S + DEADLINE_S + 1  # the heartbeat, not a TCP timeout
            messages = [r.getMessage() for r in caplog.records]
            assert any("Asterisk not answering" in m for m in messages), messages
            frozen = updated()
            wait_until(
                lambda: any("nothing received for" in r.getMessage() for r in caplog.records),
                DEADLINE_S + 2,
                "connection dropped at the heartbeat deadline",
            )
            time.sleep(1.5)
            assert updated() == frozen  # readers see the state age
            assert watcher.resyncs == 1
        finally:
            os.kill(pid, signal.SIGCONT)
        resumed = time.time()

        wait_until(lambda: watcher.answering and watcher.resyncs == 2, 10, "resync")
        wait_until(lambda: updated() > resumed, 5, "fresh state")
        # The new session follows Asterisk again.
        with instance.ami() as ami:
            ami.action(
                "QueueAdd",
                Queue="tributi",
                Interface="Local/r901@nu-test-operator/n",
                MemberName="op901",
            )
        wait_until(
            lambda: float(raw.hget(KEY.format("tributi"), "logged_in") or 0) == 1,
            5,
            "an operator logging in after the recovery",
        )
    finally:
        watcher.stopped = True
        thread.join(timeout=10)
        raw.delete(KEY.format("tributi"))
