"""``ivr services …``: the declared processes (``ivr.processes``) for the container and systemd."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading

from ivr import processes
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
