"""``ivr up --nodes 2``: the whole cluster on one machine, and a real call through Kamailio.

The same start sequence as tests/test_first_run.py's ``ivr up``, on the cached chroot: two
Asterisk nodes rendered and caught up with the live version, Kamailio in front on
``NU_SIP_PORT``, a FastAGI service and a queue watcher per node (``--node``), the other
processes once with ``NU_ASTERISK_NODES`` naming both nodes. A baresip caller (a carrier's call,
registered nowhere) dials the city number at Kamailio: a node answers and runs the IVR.
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from bench.chaos import cluster_env
from ivr.asterisk.render import read_ami_credentials
from ivr.devenv.asterisk import AsteriskInstance
from ivr.flow.loader import load_dialplan
from ivr.kamailio.accounts import KamailioControlError, loaded_accounts
from tests.prompts_support import example_text
from tests.softphone import Softphone
from tests.test_first_run import Console, _children, _settings

pytestmark = [pytest.mark.asterisk, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parent.parent
CEILING = 60.0  # a loaded CI machine's ceiling, never a measurement


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace")
    return dict(item.split("=", 1) for item in raw.split("\0") if "=" in item)


def _accounts(ctl: str, ceiling: float = 60.0) -> dict[str, str]:
    """Kamailio's operator accounts over its control socket (asked again while a loaded
    machine keeps kamcmd from an answer; the last refusal is the failure)."""
    deadline = time.monotonic() + ceiling
    while True:
        try:
            return loaded_accounts(ctl)
        except KamailioControlError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def _in_agi(node: AsteriskInstance) -> bool:
    """Whether a call on ``node`` is running the IVR (the dialplan's AGI application)."""
    return "!AGI!" in node.cli("core show channels concise")


def test_ivr_up_nodes_2_answers_a_call_through_kamailio(tmp_path):
    var = tmp_path / "var"
    city = tmp_path / "city.yaml"
    city.write_text(example_text(("it", "en")), encoding="utf-8")
    prefix = f"up{os.getpid()}"
    # the chaos bench's temporary city: free ports, its own sounds folder in the shared chroot
    env = dict(cluster_env(var, prefix), NU_DIALPLAN=str(city))
    settings = _settings(env)
    up = subprocess.Popen(
        [str(ROOT / ".venv/bin/ivr"), "up", "--nodes", "2", "--node-prefix", prefix],
        env=env,
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    console = Console(up)
    try:
        console.wait_for("Press Ctrl-C to stop.", timeout=800)
        kamailio_port = settings.sip_port
        assert f"127.0.0.1:{kamailio_port}" in console.text  # how to place a call
        assert "node a:" in console.text and "node b:" in console.text

        # a FastAGI service and a queue watcher per node, the rest once, all children of `ivr up`
        children = {
            pid: cmd[cmd.index("ivr") + 1 :]
            for pid, cmd in _children(up.pid).items()
            if cmd[1:3] == ["-m", "ivr"]
        }
        commands = sorted(" ".join(args) for args in children.values())
        assert commands.count("serve") == 2, commands
        assert "queues watch --node=a" in commands and "queues watch --node=b" in commands
        assert commands.count("admin") == 1 and "asterisk sync --every-s=30" in commands
        admin = next(pid for pid, args in children.items() if args == ["admin"])
        nodes = _environ(admin)["NU_ASTERISK_NODES"].split(",")
        assert [item.split("=")[0] for item in nodes] == ["a", "b"]  # publishing reaches both
        for item in nodes:
            assert (Path(item.split("=", 1)[1]) / "numero-unico.version").is_file()  # caught up
        # ... and Kamailio's operator accounts, reloaded over its control socket (no restart)
        environ = _environ(admin)
        assert (Path(environ["NU_KAMAILIO_ACCOUNTS"]) / "nu_operators").is_file()
        assert _accounts(environ["NU_KAMAILIO_CTL"]) == {}  # a new city: no operator yet

        instances = []
        for item in nodes:
            label, folder = item.split("=", 1)
            port = read_ami_credentials(Path(folder)).port
            instances.append(
                AsteriskInstance(f"{prefix}-{label}", settings=settings, ami_port=port)
            )

        # a real call to the city number at Kamailio, answered by a node running the IVR
        number = load_dialplan(city).number
        with Softphone("citizen", "unused-secret", kamailio_port, register_interval=0) as phone:
            since = phone.mark()
            phone.dial(f"sip:{number}@127.0.0.1:{kamailio_port}")
            phone.wait_event("CALL_ESTABLISHED", CEILING, since=since)
            deadline = time.monotonic() + CEILING
            while not any(_in_agi(node) for node in instances):
                assert time.monotonic() < deadline, "the call never reached the IVR"
                time.sleep(0.2)
            since = phone.mark()
            phone.hangup()
            phone.wait_event("CALL_CLOSED", CEILING, since=since)
        assert _call_records(var / "numero-unico.db") >= 1  # the IVR recorded the call
    finally:
        up.send_signal(signal.SIGINT)
        try:
            up.wait(60)
        except subprocess.TimeoutExpired:
            up.kill()
        leftovers = _children(up.pid)
        for label in ("a", "b", "sounds"):  # this run's nodes and sounds in the shared chroot
            shutil.rmtree(AsteriskInstance(f"{prefix}-{label}").host_dir, ignore_errors=True)
    assert up.returncode == 0, console.text
    assert leftovers == {}


def _call_records(db: Path, timeout: float = CEILING) -> int:
    deadline = time.monotonic() + timeout
    count = 0
    while time.monotonic() < deadline:
        with sqlite3.connect(db) as conn:
            count = conn.execute("SELECT COUNT(*) FROM call_records").fetchone()[0]
        if count:
            return count
        time.sleep(0.5)
    return count
