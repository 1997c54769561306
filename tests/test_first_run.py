"""The first run on a new machine: ``ivr up`` with an empty Asterisk cache.

A clean clone on a machine that already ran the project finds the cached chroot; a new machine
does not, and that path once failed (the configuration was rendered into the chroot's folder
before the chroot existed, then set aside with it). Here ``NU_ASTERISK_ROOT`` is an empty folder:
``ivr up`` builds the chroot with debootstrap (needs the Debian mirror, as the README says),
starts Redis, Asterisk and the declared processes, and a real call is answered by an operator.
Slow (a chroot build: minutes) and deliberately in the suite: CI proves the first run.

The city is the example city offering two of its seven languages (``NU_DIALPLAN``): the prompts
are synthesised from scratch as on any new machine, but 146 of them rather than 1,210, which
took minutes of the CI's two cores and proved nothing the prompt build tests don't
(tests/test_prompts_build.py; every language's texts and voices are checked there).
"""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

from ivr import config
from ivr.devenv.asterisk import AsteriskInstance, _remove_tree, chroot_complete, free_port
from ivr.flow.loader import load_dialplan
from ivr.processes import wanted
from tests.asterisk_harness import TEST_CONTEXTS, AsteriskHarness
from tests.prompts_support import example_text

pytestmark = [pytest.mark.asterisk, pytest.mark.timeout(1500)]

ROOT = Path(__file__).resolve().parent.parent
CALLER = "3471122334"
STEP = re.compile(r"^(\[\d/5\] |      |$|Numero Unico is answering |  |Press Ctrl-C)")


def _children(pid: int) -> dict[int, list[str]]:
    """Direct children of ``pid``: their command lines."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found[int(entry.name)] = [part for part in cmdline if part]
    return found


class Console:
    """``ivr up``'s terminal, read line by line in the background."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self.process = process
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not any(text in line for line in self.lines):
            if self.process.poll() is not None:
                time.sleep(0.5)  # the last lines
                raise AssertionError(f"ivr up exited {self.process.returncode}:\n{self.text}")
            assert time.monotonic() < deadline, f"no {text!r} after {timeout} s:\n{self.text}"
            time.sleep(0.5)

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def test_ivr_up_on_a_machine_without_the_chroot_answers_a_call(tmp_path):
    cache = Path(tempfile.mkdtemp(prefix="nu-first-run-"))  # not under pytest's 0700 tmp
    root = cache / "asterisk-sid"
    var = tmp_path / "var"
    city = tmp_path / "city.yaml"
    city.write_text(example_text(("it", "en")), encoding="utf-8")
    env = dict(
        os.environ,
        NU_ASTERISK_ROOT=str(root),
        NU_VAR_DIR=str(var),
        NU_DIALPLAN=str(city),
        NU_DATABASE_URL="",
        NU_SIP_PORT=str(free_port()),
        NU_AMI_PORT=str(free_port()),
        NU_AGI_PORT=str(free_port()),
        NU_ADMIN_PORT=str(free_port()),
        NU_SPEECH_PORT=str(free_port()),
        NU_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0",
        NU_SPEECH_MODELS="",
        NU_CALLBACK_DIAL="",
        NU_SMTP_HOST="",
        NU_SMS_GATEWAY_URL="",
        NU_LOG_FILE="",
    )
    env.pop("NU_SOUNDS_DIR", None)  # the prompts are built into the new var folder
    settings = _settings(env)
    instance = AsteriskInstance("system", settings=settings)
    # A site-local file (here: the test caller and operator contexts) written before the chroot
    # exists, as `ivr up` itself writes its configuration before starting Asterisk.
    instance.etc_dir.mkdir(parents=True)
    (instance.etc_dir / "extensions_local.conf").write_text(TEST_CONTEXTS)

    started = time.monotonic()
    up = subprocess.Popen(
        [str(ROOT / ".venv/bin/ivr"), "up"],
        env=env,
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    console = Console(up)
    harness = None
    try:
        console.wait_for("Press Ctrl-C to stop.", timeout=1200)
        print(f"first run: answering after {time.monotonic() - started:.0f} s")

        assert chroot_complete(root)
        assert not list(cache.glob("asterisk-sid.broken-*"))  # nothing was set aside
        # the terminal: the numbered steps and the call block, no library chatter
        noise = [line for line in console.lines if not STEP.match(line)]
        assert noise == [], console.text
        assert "INFO" not in console.text and "alembic" not in console.text

        # exactly the declared processes, each a child of `ivr up`
        running = sorted(
            tuple(cmd[cmd.index("ivr") + 1 :])
            for cmd in _children(up.pid).values()
            if cmd[1:3] == ["-m", "ivr"]
        )
        assert running == sorted(p.args for p in wanted(settings))

        # a real call: Asterisk -> FastAGI -> English, operator -> the operator answers
        dialplan = load_dialplan(settings.dialplan_path)
        harness = AsteriskHarness(instance, dialplan, agi_port=settings.agi_port)
        operator_queue = harness.general_queue
        harness.add_operator(operator_queue)
        # English, then the operator: each key pressed when its question is asked, however long
        # the real (synthesised) prompts last; no guessed times, no spare "9" for a late menu
        call = harness.place_call([("choose_language", "2"), ("main_menu", "9")], caller_id=CALLER)
        assert call.wait_queue_join(timeout=90) == operator_queue
        call.wait_operator(timeout=30)
        assert call.variable("NU_LANG") == "en"
        record = _wait_record(var / "numero-unico.db", call.uniqueid)
        assert record["language"] == "en" and record["queue"] == operator_queue
        assert record["outcome"] == "answered"  # the queue watcher process saw the answer
        call.hangup()
    finally:
        if harness is not None:
            harness.close()
        up.send_signal(signal.SIGINT)
        try:
            up.wait(60)
        except subprocess.TimeoutExpired:
            up.kill()
        leftovers = _children(up.pid)
        logs = _log_files(var, instance)
        _remove_tree(cache)
    assert up.returncode == 0, console.text
    assert leftovers == {}
    # nothing personal in any log the system wrote (Asterisk's included)
    assert logs, "no log files found"
    for path, text in logs.items():
        assert CALLER not in text, f"{path} has the caller's number"


def _settings(env: dict[str, str]) -> config.Settings:
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        return config.load()
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _wait_record(db: Path, uniqueid: str, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    row = None
    while time.monotonic() < deadline:
        with sqlite3.connect(db) as conn:
            conn.row_factory = sqlite3.Row
            row = conn.execute(
                "SELECT * FROM call_records WHERE call_id = ?", (uniqueid,)
            ).fetchone()
        if row is not None and row["outcome"] == "answered":
            return dict(row)
        time.sleep(0.5)
    raise AssertionError(f"call record of {uniqueid}: {dict(row) if row else None}")


def _log_files(var: Path, instance: AsteriskInstance) -> dict[Path, str]:
    files = [*var.rglob("*.log"), *instance.log_dir.rglob("*")]
    return {
        path: path.read_bytes().decode("utf-8", errors="replace")
        for path in files
        if path.is_file()
    }
