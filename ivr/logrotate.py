"""Rotate our log file and Asterisk's logs by size and age, with Debian's ``logrotate``.

Asterisk only reopens its logs when told; Python's handlers keep their file open. ``copytruncate``
needs neither: both append (O_APPEND), so after the copy they go on writing at the start of the
emptied file. A line written during the copy may be lost, which these logs (no personal data,
kept for support) can afford. The ``logs`` process (``ivr.processes``) runs this every hour with
its own state file, in ``ivr up``, in the container and under systemd alike.

Rotations older than ``keep_days`` (by modification time, as logrotate's ``maxage`` counts) are
deleted by :func:`prune` after every run: logrotate's ``maxage`` only looks when it rotates that
log again, so a log that stays empty (``notifempty``: Asterisk's ``messages`` on a good month)
or has gone (``missingok``) would otherwise keep its old rotations for ever.
"""

from __future__ import annotations

import grp
import logging
import os
import pwd
import re
import subprocess
import threading
import time
from collections.abc import Iterable
from pathlib import Path

log = logging.getLogger(__name__)

ASTERISK_LOGS = ("full", "messages", "console.log")
# What ``dateext`` + ``dateformat -%Y%m%d-%s`` name a rotation, compressed or not yet: exactly
# the files logrotate itself counts as rotations (its glob takes %s as ten digits).
ROTATED_SUFFIX = r"-\d{8}-\d{10}(?:\.gz)?"


def config_text(paths: Iterable[str | Path], keep_days: int, max_size: str) -> str:
    """A logrotate stanza: rotate daily or as soon as a file passes ``max_size``, compress,
    delete rotations older than ``keep_days``."""
    if keep_days < 1:
        raise ValueError(f"keep_days must be at least 1, not {keep_days}")
    quoted = " ".join(f'"{p}"' for p in paths)
    user = pwd.getpwuid(os.getuid()).pw_name
    group = grp.getgrgid(os.getgid()).gr_name
    return f"""{quoted} {{
    su {user} {group}
    daily
    maxsize {max_size}
    rotate {keep_days * 24}
    maxage {keep_days}
    missingok
    notifempty
    copytruncate
    compress
    delaycompress
    dateext
    dateformat -%Y%m%d-%s
}}
"""


def rotate(
    paths: Iterable[str | Path], state_dir: Path, keep_days: int, max_size: str
) -> subprocess.CompletedProcess[str]:
    """Run logrotate once over ``paths`` (its config and state file live in ``state_dir``),
    then :func:`prune` what is older than ``keep_days``."""
    paths = [Path(p) for p in paths]
    state_dir.mkdir(parents=True, exist_ok=True)
    conf = state_dir / "logrotate.conf"
    conf.write_text(config_text(paths, keep_days, max_size))
    conf.chmod(0o644)  # logrotate refuses a config others may write
    done = subprocess.run(
        ["logrotate", "--state", str(state_dir / "logrotate.state"), str(conf)],
        capture_output=True,
        text=True,
    )
    prune(paths, keep_days)
    return done


def prune(paths: Iterable[str | Path], keep_days: int, now: float | None = None) -> list[Path]:
    """Delete the rotations of ``paths`` (``<log>-YYYYMMDD-<epoch>[.gz]`` beside each log)
    last modified more than ``keep_days`` ago; returns what was deleted. The log itself and any
    other file are never touched."""
    if keep_days < 1:
        raise ValueError(f"keep_days must be at least 1, not {keep_days}")
    cutoff = (time.time() if now is None else now) - keep_days * 86400
    deleted = []
    for log_path in map(Path, paths):
        rotated = re.compile(re.escape(log_path.name) + ROTATED_SUFFIX)
        try:
            candidates = list(log_path.parent.iterdir())
        except OSError:
            continue
        for path in candidates:
            if not rotated.fullmatch(path.name):
                continue
            try:
                if path.stat().st_mtime < cutoff:
                    path.unlink()
                    deleted.append(path)
            except OSError as err:
                log.warning("cannot delete old log %s: %s", path, err)
    if deleted:
        log.info("deleted %d log rotations older than %d days", len(deleted), keep_days)
    return deleted


def run_forever(
    paths: list[Path],
    state_dir: Path,
    keep_days: int,
    max_size: str,
    stop: threading.Event,
    every_s: float = 3600.0,
) -> None:
    """Rotate now and then every ``every_s`` seconds until ``stop`` is set."""
    while True:
        done = rotate(paths, state_dir, keep_days, max_size)
        if done.returncode != 0:
            log.warning("logrotate failed (exit %s): %s", done.returncode, done.stderr.strip())
        if stop.wait(every_s):
            return
