"""Record the AMI fixtures of ``tests/data/ami/`` from a real Asterisk 22 (run by hand).

    .venv/bin/python -m tests.ami_record [--out tests/data/ami]

Starts a private test Asterisk (the example city, as the test fixtures render it), drives it
with a second, unrecorded AMI connection (operators, calls) and records our own
:class:`~ivr.asterisk.ami.AMIClient` through :class:`tests.ami_replay.Recorder`. The login
secret is replaced by a placeholder. Re-record when Asterisk's AMI or our client changes; the
replay tests (``tests/test_ami_replay.py``) say what each session must contain.

Sessions:

* ``basics``: login, Ping, Command (one that works, one that fails), Getvar, errors
  (QueueAdd to an unknown queue, an unknown action, Reload of an unknown module), Logoff.
* ``heartbeat``: login with the heartbeat on (Ping every 0.3 s) for about a second.
* ``queues``: what the queue watcher sees: login, QueueStatus with a member (on a break) and
  two callers waiting, then the events of the operator coming back and answering, a caller
  giving up, a pause, a call completed, a second operator whose phone only rings, a new
  caller; then a final QueueStatus (the truth to compare the watcher with).
  Events no client of ours reads (:data:`NOISE`: dialplan steps and variables, hundreds per
  call) are left out; the fixture's header counts them.
* ``live_view``: one refresh of the admin's live view (``ivr.admin.live_view.snapshot``: login,
  events off, QueueStatus, CoreShowChannels) while a caller waits for the general operator.
* ``publish``: :func:`ivr.admin.publish.reload_asterisk` for the example city, as publishing
  runs it (Reload, ShowDialPlan, Getvar, QueueSummary).
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

from ivr import config
from ivr.asterisk.ami import AMIClient
from ivr.flow.loader import load_dialplan
from tests.ami_replay import DATA, Recorder
from tests.asterisk_harness import AsteriskHarness, prepare_instance

# Events no client of ours reads, by the hundred per call (dialplan steps, variables, caller ids,
# and Asterisk's own TestEvents): left out of the "queues" fixture, counted in its header.
NOISE = {"Newexten", "VarSet", "TestEvent", "NewCallerid", "NewConnectedLine"}


def _client(recorder: Recorder, creds, **kw) -> AMIClient:
    return AMIClient("127.0.0.1", recorder.port, creds.username, creds.secret, **kw).connect()


def _save(out: Path, name: str, recorder: Recorder, version: str, about: str) -> None:
    time.sleep(0.3)  # the last answers through the proxy
    recorder.close()
    comments = [
        f"# {name}: {about}",
        f"# Recorded by tests/ami_record.py from {version} on {time.strftime('%Y-%m-%d')};",
        "# C: our AMIClient, S: Asterisk. The login secret is a placeholder.",
    ]
    if recorder.dropped:
        left_out = ", ".join(f"{k} x{v}" for k, v in sorted(recorder.dropped.items()))
        comments.append(f"# Events left out (noise, see NOISE): {left_out}")
    transcript = recorder.transcript(comments)
    text = transcript.dump()
    assert recorder.secret not in text
    (out / f"{name}.txt").write_text(text, encoding="utf-8")
    print(f"{name}: {len(transcript.lines)} lines")


def record(out: Path) -> None:
    dialplan = load_dialplan(config.ROOT / "dialplans" / "example-city.yaml")
    work = Path(tempfile.mkdtemp(prefix="nu-ami-record-"))
    instance = prepare_instance(
        f"ami-record-{os.getpid()}", dialplan, work, queue_timeout=120, general_timeout=120
    )
    instance.start()
    harness = AsteriskHarness(instance, dialplan, agi_port=instance.settings.agi_port)
    creds = instance.credentials()
    try:
        version = "Asterisk " + (harness.ami.action("CoreSettings")["AsteriskVersion"] or "?")
        out.mkdir(parents=True, exist_ok=True)

        rec = Recorder(instance.ami_port, creds.secret)
        client = _client(rec, creds)
        client.ping()
        client.command("queue show anagrafe")
        client.command("dialplan show no-such-context")
        client.action("Getvar", Variable="NU_DEFAULT_LANG")
        client.action("QueueAdd", Queue="no_such_queue", Interface="Local/1@x", check=False)
        client.action("NoSuchAction", check=False)
        client.action("Reload", Module="no_such_module", check=False)
        client.action("Logoff")
        deadline = time.monotonic() + 2
        while client.connected and time.monotonic() < deadline:  # Asterisk hangs up after it
            time.sleep(0.05)
        client.close()
        _save(out, "basics", rec, version, "login, Ping, Command, Getvar, errors, Logoff")

        rec = Recorder(instance.ami_port, creds.secret)
        client = _client(rec, creds, heartbeat_s=0.3, heartbeat_deadline_s=2.0)
        time.sleep(1.0)
        client.close()
        _save(out, "heartbeat", rec, version, "login, then the heartbeat's Pings")

        # Callers come in on the city number; with no FastAGI service they hear the apology and
        # wait for the general operator (answered calls: they stay until hung up).
        queue = harness.general_queue
        rec = Recorder(instance.ami_port, creds.secret, keep=lambda event, _: event not in NOISE)
        client = _client(rec, creds)
        answering = harness.add_operator(queue, answers=True, name="701")
        pause = {"Queue": queue, "Interface": answering.interface}
        harness.ami.action("QueuePause", Paused="true", **pause)  # on a break: callers wait
        first = harness.place_call()
        first.wait_queue_join(timeout=30)
        second = harness.place_call()
        second.wait_queue_join(timeout=30)
        client.action("QueueStatus")  # one member, two callers
        harness.ami.action("QueuePause", Paused="false", **pause)  # back: takes the first
        # (after Asterisk's own queue announcements: half a minute on a busy machine)
        connected = harness.ami.wait_for(Event="AgentConnect", since=first.mark, timeout=60)
        talking = first if connected["Uniqueid"] == first.uniqueid else second
        waiting = second if talking is first else first
        waiting.hangup()  # gives up: QueueCallerAbandon
        waiting.wait_hangup()
        time.sleep(1.0)  # a talk time of a second or more
        harness.ami.action("QueuePause", Paused="true", **pause)
        talking.hangup()
        harness.ami.wait_for(Event="AgentComplete", since=first.mark, timeout=10)
        harness.add_operator(queue, answers=False, name="702")  # rings, never answers
        third = harness.place_call()
        third.wait_queue_join(timeout=30)
        time.sleep(0.5)
        client.action("QueueStatus")
        client.close()
        _save(out, "queues", rec, version, "the queue watcher's view of a few calls")

        from ivr.admin import live_view

        rec = Recorder(instance.ami_port, creds.secret)
        snap = live_view.snapshot(lambda: _client(rec, creds), {queue: "Operatore"})
        assert snap.ok, snap.error
        live_view.close_links()
        _save(out, "live_view", rec, version, "the admin's live view: one refresh")
        harness.reset()

        from ivr.admin.publish import reload_asterisk

        rendered = (instance.etc_dir / "extensions_nu.conf").read_text(encoding="utf-8")
        rec = Recorder(instance.ami_port, creds.secret)
        client = _client(rec, creds)
        print(reload_asterisk(client, dialplan, 20, extensions=rendered))
        client.close()
        _save(out, "publish", rec, version, "reload_asterisk for the example city")
        (out / "publish-extensions_nu.conf").write_text(rendered, encoding="utf-8")
    finally:
        harness.close()
        instance.stop()
        shutil.rmtree(instance.host_dir, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=DATA)
    record(parser.parse_args().out)


if __name__ == "__main__":
    main()
