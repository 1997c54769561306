"""``ivr services …``: the declared processes (``ivr.processes``) for the container and systemd."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import threading
import time

from ivr import processes, sd_notify
from ivr.config import Settings

log = logging.getLogger(__name__)


def command(args: argparse.Namespace, settings: Settings) -> int:
    if args.action == "list":
        for process in processes.PROCESSES:
            off = process.off_because(settings)
            state = "on " if off is None else "off"
            print(f"{state} {process.name:<10} {process.about}{f'  ({off})' if off else ''}")
        return 0
    if args.action == "wanted":
        off = _process(args.name).off_because(settings)
        if off:
            print(f"{args.name}: not started: {off}")
        return 0 if off is None else 1
    if args.action == "exec":
        process = _process(args.name)
        argv = process.command(sys.executable)
        if process.alive is not None and sd_notify.watchdog_seconds() is not None:
            return watched(process, argv)
        os.execv(argv[0], argv)
    if args.action == "systemd":
        from ivr.systemd_units import PREFIX, write_units

        for path in write_units(args.out, args.prefix or PREFIX):
            print(f"wrote {path}")
        return 0
    return run(settings)


def _process(name: str) -> processes.Process:
    try:
        return processes.by_name(name)
    except KeyError as err:
        raise SystemExit(str(err.args[0])) from None


def watched(process: processes.Process, argv: list[str]) -> int:
    """systemd's watchdog for a process with a liveness probe (its unit's ``WatchdogSec``).

    The process runs as our child; we tell systemd READY=1 once its probe first answers and
    WATCHDOG=1 after every answer, so a frozen or wedged service (whose port the kernel keeps
    accepting) stops the pings and systemd kills and restarts the unit, as the supervisor does
    under ``ivr up`` and in the container. SIGTERM/SIGINT are passed on; its exit is ours.
    """
    from ivr.supervisor import ALIVE_EVERY_S

    assert process.alive is not None
    child = subprocess.Popen(argv)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda signum, _frame: child.send_signal(signum))
    environ = dict(os.environ)
    ready = False
    while child.poll() is None:
        if process.alive(environ):
            if not ready:
                ready = sd_notify.notify("READY=1")
            sd_notify.notify("WATCHDOG=1")
        time.sleep(ALIVE_EVERY_S)
    return child.returncode


def run(settings: Settings) -> int:
    """Supervise every wanted process until SIGTERM/SIGINT (the container's foreground)."""
    from ivr.supervisor import Supervisor

    wanted = processes.wanted(settings)
    for process in processes.PROCESSES:
        if process not in wanted:
            log.info("%s: not started: %s", process.name, process.off_because(settings))
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    supervisor = Supervisor(wanted, say=log.warning).start()
    log.info("started %s", ", ".join(supervisor.pids()))
    supervisor.run(stop)
    return 0
