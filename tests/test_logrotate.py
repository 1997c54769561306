"""``ivr.logrotate`` with the real ``logrotate`` (Debian's package, installed by bootstrap.sh).

What is checked is what the logs process promises: a log past the size is copied and emptied
under the process that writes it (copytruncate, no signal), a rotation older than the kept days
is deleted even when its log stays quiet, a small log waits for the next day, and
``ivr logs rotate`` rotates Asterisk's logs and ours together.
"""

from __future__ import annotations

import logging
import os
import re
import time
from pathlib import Path

import pytest

from ivr.logrotate import config_text, rotate

DAY = 86400


def rotations(log: Path) -> list[Path]:
    """The rotated copies of ``log``: ``<name>-YYYYMMDD-<epoch seconds>[.gz]`` beside it."""
    pattern = re.compile(re.escape(log.name) + r"-(\d{8})-(\d{10})(\.gz)?")
    return sorted(p for p in log.parent.iterdir() if pattern.fullmatch(p.name))


def aged(path: Path, days: float, text: str = "old\n") -> Path:
    path.write_text(text)
    then = time.time() - days * DAY
    os.utime(path, (then, then))
    return path


@pytest.fixture
def logs(tmp_path) -> Path:
    folder = tmp_path / "log"
    folder.mkdir()
    return folder


def test_a_log_over_the_size_is_emptied_under_the_process_writing_it(logs, tmp_path):
    full = logs / "full"
    before = "a line Asterisk wrote\n" * 100  # 2200 bytes: over 1k
    full.write_text(before)
    writer = open(full, "a")  # noqa: SIM115 - kept open across the rotation, like Asterisk's
    try:
        done = rotate([full], tmp_path / "state", keep_days=14, max_size="1k")
        assert done.returncode == 0, done.stderr
        writer.write("written after the rotation\n")
        writer.flush()
    finally:
        writer.close()

    # copytruncate: the same file, emptied, and the writer's next line at its start (O_APPEND;
    # a writer without it would leave a hole of zeros as long as the old content)
    assert full.read_text() == "written after the rotation\n"
    [copy] = rotations(full)
    assert copy.name.startswith(f"full-{time.strftime('%Y%m%d')}-")
    assert copy.read_text() == before  # delaycompress: the newest copy stays readable


def test_old_rotations_go_when_their_log_rotates_again(logs, tmp_path):
    full = logs / "full"
    old = aged(logs / "full-20200101-1577836800.gz", days=3)
    young = aged(logs / "full-20200102-1577923200.gz", days=1)
    full.write_text("x" * 2000)

    done = rotate([full], tmp_path / "state", keep_days=2, max_size="1k")

    assert done.returncode == 0, done.stderr
    assert not old.exists()
    assert young.exists()
    assert len(rotations(full)) == 2  # the young one and today's


def test_old_rotations_of_a_quiet_log_go_too(logs, tmp_path):
    """logrotate's maxage only looks when it rotates that log; an empty log (notifempty) or a
    log that is gone (missingok) is never rotated, so its old copies would stay for ever."""
    messages = logs / "messages"
    messages.write_text("")  # no warnings this month
    gone = logs / "console.log"  # not written any more
    old = aged(logs / "messages-20200101-1577836800.gz", days=30)
    young = aged(logs / "messages-20200102-1577923200.gz", days=1)
    old_of_gone = aged(logs / "console.log-20200101-1577836800.gz", days=30)
    others = [
        aged(logs / name, days=30)
        for name in (
            "messages.bak",
            "messages-notes.gz",
            "messages-20200101-1.gz",  # not a name logrotate gives (%s is ten digits)
            "messagesx-20200101-1577836800.gz",
            "full",
        )
    ]

    done = rotate([messages, gone], tmp_path / "state", keep_days=14, max_size="1k")

    assert done.returncode == 0, done.stderr
    assert not old.exists() and not old_of_gone.exists()
    assert young.exists()
    assert all(p.exists() for p in others)  # only rotations of the logs named are deleted
    assert messages.exists() and messages.read_text() == ""


def test_the_age_of_a_rotation_is_its_modification_time_not_its_name(logs, tmp_path):
    """As logrotate's maxage counts it (checked on logrotate 3.21): the file's mtime."""
    full = logs / "full"
    today = time.strftime("%Y%m%d")
    named_today_but_old = aged(logs / f"full-{today}-{int(time.time()) - 60}.gz", days=20)
    named_old_but_recent = aged(logs / "full-20200101-1577836800.gz", days=0)
    full.write_text("x" * 2000)

    done = rotate([full], tmp_path / "state", keep_days=14, max_size="1k")

    assert done.returncode == 0, done.stderr
    assert not named_today_but_old.exists()
    assert named_old_but_recent.exists()


def test_a_small_log_is_not_rotated_the_same_day(logs, tmp_path):
    messages = logs / "messages"
    messages.write_text("one warning\n")
    for _ in range(2):  # the first run records it, the second finds it rotated today
        done = rotate([messages], tmp_path / "state", keep_days=14, max_size="1k")
        assert done.returncode == 0, done.stderr
    assert rotations(messages) == []
    assert messages.read_text() == "one warning\n"
    assert '"' + str(messages) + '"' in (tmp_path / "state" / "logrotate.state").read_text()


@pytest.mark.parametrize("days", [0, -1])
def test_fewer_than_one_day_kept_is_refused(days, logs):
    with pytest.raises(ValueError, match="keep_days"):
        config_text([logs / "full"], days, "50M")


def test_the_config_is_one_stanza_for_every_log(logs):
    text = config_text([logs / "full", logs / "my log"], 3, "10M")
    assert text.startswith(f'"{logs / "full"}" "{logs / "my log"}" {{')
    for line in ("maxage 3", "rotate 72", "maxsize 10M", "copytruncate", "daily"):
        assert f"    {line}\n" in text


def test_ivr_logs_rotate_rotates_asterisks_logs_and_ours(
    tmp_path, monkeypatch, capsys
):  # the root logger it configures is restored by conftest
    from ivr.cli import main

    asterisk_logs = tmp_path / "asterisk"
    asterisk_logs.mkdir()
    ours = tmp_path / "var" / "log" / "ivr.log"
    ours.parent.mkdir(parents=True)
    full = asterisk_logs / "full"
    full.write_text("asterisk\n" * 300)
    ours.write_text("ours\n" * 300)
    (asterisk_logs / "messages").write_text("small\n")
    monkeypatch.setenv("NU_ASTERISK_LOG_DIR", str(asterisk_logs))
    monkeypatch.setenv("NU_LOG_FILE", str(ours))
    monkeypatch.setenv("NU_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("NU_LOG_MAX_SIZE", "1k")
    monkeypatch.setenv("NU_LOG_KEEP_DAYS", "14")
    monkeypatch.setenv("NU_CONSOLE_LOG_LEVEL", "WARNING")

    # main() opens our log file for its own handler, as every ivr process does
    assert main(["logs", "rotate"]) == 0

    assert "4 logs checked" in capsys.readouterr().out  # full, messages, console.log, ivr.log
    assert full.read_text() == "" and ours.read_text() == ""
    assert [p.read_text() for p in rotations(full)] == ["asterisk\n" * 300]
    assert [p.read_text() for p in rotations(ours)] == ["ours\n" * 300]
    assert rotations(asterisk_logs / "messages") == []
    assert (tmp_path / "var" / "logrotate" / "logrotate.state").is_file()
    # the handler opened before the rotation writes at the start of the emptied file
    logging.getLogger("ivr.test").warning("after the rotation")
    assert ours.read_text().endswith("after the rotation\n")
    assert ours.stat().st_size < 200
