"""The supervisor that ``ivr up`` and ``ivr services run`` share: crashed children start again,
children that said they cannot run stay stopped, nothing outlives a stop."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

from ivr.processes import EXIT_CONFIG, Process
from ivr.supervisor import Supervisor


def _fake_python(tmp_path: Path, body: str) -> str:
    """An executable standing in for ``python -m ivr …``: ``body`` is shell; ``$RUNS`` counts."""
    script = tmp_path / "python"
    script.write_text(
        f"#!/bin/sh\necho x >> {tmp_path}/runs\nRUNS=$(wc -l < {tmp_path}/runs)\n{body}\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return str(script)


def _process(name: str = "fake") -> Process:
    return Process(name, ("fake",), "a test child", lambda settings: None)


def _poll_until(supervisor: Supervisor, pred, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, "timed out"
        supervisor.poll()
        time.sleep(0.05)


def test_a_crashed_child_starts_again_after_a_back_off(tmp_path):
    # the first run kills itself with SIGSEGV, the second one stays up
    python = _fake_python(tmp_path, 'if [ "$RUNS" = 1 ]; then kill -SEGV $$; fi\nexec sleep 60')
    said: list[str] = []
    supervisor = Supervisor([_process()], python=python, say=said.append).start()
    (child,) = supervisor.children
    try:
        _poll_until(supervisor, lambda: child.restarts == 1 and "fake" in supervisor.pids())
        assert said[0] == "fake: crashed (signal 11); starting again in 1 s"
        assert said[1] == "fake: starting again"
        pid = supervisor.pids()["fake"]
        supervisor.poll()
        assert supervisor.pids()["fake"] == pid  # running: left alone
    finally:
        supervisor.stop()
    assert not supervisor.pids()
    assert not os.path.exists(f"/proc/{pid}") or "Z" in Path(f"/proc/{pid}/stat").read_text()


def test_a_child_that_cannot_run_with_its_settings_stays_stopped(tmp_path):
    python = _fake_python(tmp_path, f"exit {EXIT_CONFIG}")
    said: list[str] = []
    supervisor = Supervisor([_process()], python=python, say=said.append).start()
    (child,) = supervisor.children
    _poll_until(supervisor, lambda: child.done)
    time.sleep(1.5)
    supervisor.poll()
    assert child.restarts == 0
    assert (tmp_path / "runs").read_text().count("x") == 1
    assert said == [f"fake: cannot run with these settings (exit {EXIT_CONFIG}); not restarted"]


def test_the_back_off_doubles_for_a_child_that_keeps_crashing(tmp_path):
    python = _fake_python(tmp_path, "exit 3")
    said: list[str] = []
    supervisor = Supervisor([_process()], python=python, say=said.append).start()
    (child,) = supervisor.children
    try:
        _poll_until(supervisor, lambda: child.restarts == 2 and child.restart_at is not None)
    finally:
        supervisor.stop()
    crashes = [line for line in said if "crashed" in line]
    assert crashes[:3] == [
        "fake: crashed (exit 3); starting again in 1 s",
        "fake: crashed (exit 3); starting again in 2 s",
        "fake: crashed (exit 3); starting again in 4 s",
    ]


def test_stop_ends_a_child_that_ignores_sigterm(tmp_path):
    python = _fake_python(tmp_path, "trap '' TERM\nwhile true; do sleep 0.1; done")
    supervisor = Supervisor([_process()], python=python).start()
    (child,) = supervisor.children
    time.sleep(0.3)  # the trap is set
    supervisor.stop(timeout=0.5)
    assert child.popen.poll() is not None


def test_a_frozen_fastagi_service_is_killed_and_started_again(tmp_path):
    # a real FastAGI server as the child; SIGSTOP leaves its port accepting (the kernel's
    # backlog) but nothing answers: the liveness probe sees it and the child is replaced
    import signal
    import sys

    from ivr.agi.server import fastagi_alive
    from ivr.devenv.asterisk import free_port

    port = free_port()
    server = tmp_path / "agi.py"
    server.write_text(
        "from ivr.agi.server import FastAGIServer\n"
        f"FastAGIServer(lambda agi: None, port={port}).serve_forever()\n"
    )
    root = Path(__file__).resolve().parent.parent
    python = _fake_python(
        tmp_path, f"cd {root} && PYTHONPATH={root} exec {sys.executable} {server}"
    )
    process = Process(
        "fastagi",
        ("fake",),
        "a test child",
        lambda s: None,
        lambda env: fastagi_alive("127.0.0.1", port, timeout=1.0),
    )
    said: list[str] = []
    supervisor = Supervisor([process], python=python, say=said.append).start()
    try:
        child = supervisor.children[0]
        _poll_until(supervisor, lambda: child.answered, timeout=20)
        frozen = child.popen.pid
        os.kill(frozen, signal.SIGSTOP)
        _poll_until(supervisor, lambda: child.restarts == 1 and child.answered, timeout=30)
        assert child.popen.pid != frozen
        assert fastagi_alive("127.0.0.1", port)
        assert any("not answering" in line for line in said), said
    finally:
        supervisor.stop()
