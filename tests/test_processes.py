"""One list of processes (ivr/processes.py) for ``ivr up``, the container and systemd."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from ivr import config
from ivr.cli import main
from ivr.processes import PROCESSES, by_name, wanted
from ivr.systemd_units import target_unit, units

ROOT = Path(__file__).resolve().parent.parent
BARE = dataclasses.replace(
    config.load(),
    smtp_host="",
    sms_gateway_url="",
    callback_dial="",
    speech_models="",
    teleassistance_dial="",
    asterisk_nodes="",
)


def test_what_runs_follows_the_settings():
    assert [p.name for p in wanted(BARE)] == [
        "fastagi",
        "queues",
        "retention",
        "backoffice",
        "logs",
        "sipguard",
        "admin",
    ]
    full = dataclasses.replace(
        BARE,
        smtp_host="smtp",
        callback_dial="PJSIP/{number}@trunk",
        speech_models="it=/m",
        teleassistance_dial="PJSIP/{number}@trunk",
        asterisk_nodes="a=/etc/asterisk-a,b=/etc/asterisk-b",
    )
    assert wanted(full) == list(PROCESSES)


def test_every_process_is_an_ivr_command_that_exists():
    from ivr.cli import build_parser

    for process in PROCESSES:
        parsed = build_parser().parse_args(list(process.args))
        assert callable(parsed.func), process.name


def test_the_committed_systemd_units_are_generated_from_the_list():
    shipped = ROOT / "packaging" / "systemd"
    committed = {
        str(path.relative_to(shipped)): path.read_text()
        for path in shipped.rglob("*")
        if path.is_file()
    }
    assert committed == units()
    assert "numero-unico@fastagi.service.d/watchdog.conf" in committed  # it has a probe
    wants = re.search(r"^Wants=(.*)$", target_unit(), re.M).group(1).split()
    assert wants == [f"numero-unico@{p.name}.service" for p in PROCESSES]


def test_the_container_starts_the_list_and_nothing_of_its_own():
    """The entrypoint starts the platform (Redis, Asterisk) and then `ivr services run`; none of
    the declared processes is started by hand there (the container used to lack the outbox)."""
    script = (ROOT / "scripts" / "docker-entrypoint.sh").read_text()
    commands = [line.split("#")[0].strip() for line in script.splitlines()]
    assert "ivr services run &" in commands
    for process in PROCESSES:
        words = ["ivr", *process.args[:2]]
        assert not any(c.split()[: len(words)] == words for c in commands), process.name
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "NU_ASTERISK_ETC=/etc/asterisk" in dockerfile
    assert "NU_ASTERISK_LOG_DIR=/var/log/asterisk" in dockerfile


def test_systemd_skips_a_process_with_nothing_to_do(monkeypatch, capsys):
    monkeypatch.setenv("NU_CALLBACK_DIAL", "")
    assert main(["services", "wanted", "callbacks"]) == 1
    assert "no NU_CALLBACK_DIAL" in capsys.readouterr().out
    assert main(["services", "wanted", "fastagi"]) == 0
    monkeypatch.setenv("NU_CALLBACK_DIAL", "PJSIP/{number}@trunk")
    assert main(["services", "wanted", "callbacks"]) == 0
    assert by_name("callbacks").args == ("callbacks", "run")
