"""``ivr up``: the whole system on one machine, on the embedded defaults.

Builds the prompts, starts a private Redis (unless one answers already) and Asterisk 22 from the
cached chroot, then every process of ``ivr.processes`` the settings give work to, supervised
(``ivr.supervisor``); stops them all on Ctrl-C. On a new machine the chroot is built in the
background while the prompts are synthesised: both take minutes, one downloading and unpacking,
the other on the CPU. The terminal shows the numbered steps and how to place a call; everything
else goes to ``<var_dir>/log/ivr.log``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

from ivr import processes
from ivr.config import Settings
from ivr.devenv.asterisk import AsteriskInstance, chroot_complete, ensure_chroot
from ivr.devenv.redis import RedisServer, redis_pings
from ivr.flow.loader import load_dialplan
from ivr.flow.model import Dialplan
from ivr.operators.store import operator_lines
from ivr.prompts.build import build_prompts
from ivr.prompts.google_tts import synthesizers
from ivr.supervisor import Supervisor

log = logging.getLogger(__name__)


def _start_redis(settings: Settings) -> RedisServer | None:
    """A private redis-server when the configured local Redis isn't answering; None if it is."""
    if not settings.redis_url:
        return None
    url = urlparse(settings.redis_url)
    port = url.port or 6379
    if redis_pings(port, url.hostname or "127.0.0.1"):
        return None
    if url.hostname not in ("127.0.0.1", "localhost"):
        raise RuntimeError(f"Redis at {settings.redis_url} does not answer")
    return RedisServer(port, settings.var_dir / "redis").start()


def children_env(settings: Settings, asterisk: AsteriskInstance) -> dict[str, str]:
    """The processes' settings: ours, plus where this Asterisk instance keeps its files."""
    speech = asterisk.speech_settings(settings)
    backoffice = asterisk.backoffice_settings(settings)
    return dict(
        os.environ,
        NU_VAR_DIR=str(settings.var_dir),
        NU_DATABASE_URL=settings.database_url,
        NU_ASTERISK_ROOT=str(asterisk.root),
        NU_ASTERISK_ETC=str(asterisk.etc_dir),
        NU_ASTERISK_SOUNDS_SYNC_DIR=str(asterisk.sounds_dir),
        NU_ASTERISK_LOG_DIR=str(asterisk.log_dir),
        NU_SPEECH_SPOOL_DIR=speech.speech_spool_dir,
        NU_ASTERISK_SPEECH_SPOOL_DIR=speech.asterisk_speech_spool_dir,
        NU_BACKOFFICE_SPOOL_DIR=backoffice.backoffice_spool_dir,
        NU_ASTERISK_BACKOFFICE_SPOOL_DIR=backoffice.asterisk_backoffice_spool_dir,
        NU_LOG_FILE=settings.log_file,
        NU_CONSOLE_LOG_LEVEL=settings.console_log_level,
    )


def _wait_listening(port: int, supervisor: Supervisor, name: str, timeout: float = 60.0) -> None:
    """Return once 127.0.0.1:``port`` accepts (the process is serving), or raise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock, contextlib.suppress(OSError):
            sock.settimeout(0.5)
            sock.connect(("127.0.0.1", port))
            return
        supervisor.poll()
        time.sleep(0.2)
    raise RuntimeError(f"{name} did not start listening on 127.0.0.1:{port}; see the log")


class _ChrootBuild:
    """The first run's chroot build, in a thread; :meth:`wait` re-raises its failure."""

    def __init__(self, root: Path) -> None:
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._build, args=(root,), name="chroot", daemon=True)
        self.thread.start()

    def _build(self, root: Path) -> None:
        try:
            ensure_chroot(root)
        except BaseException as exc:  # handed to wait(), in the main thread
            self.error = exc

    def wait(self) -> None:
        self.thread.join()
        if self.error is not None:
            raise self.error


def prepare_city(settings: Settings, dialplan: Dialplan, step: str) -> bool:
    """The first step of ``ivr up`` (one node or ``--nodes``): the prompts built and an empty
    booking database seeded. False when a prompt could not be built (nothing seeded then)."""
    print(f"{step} prompts for {dialplan.city or dialplan.number}: ", end="", flush=True)
    first, fallback = synthesizers(settings)  # Google when configured, else espeak-ng
    report = build_prompts(
        dialplan, settings.prompts_dir, settings.sounds_dir, synthesizer=first, fallback=fallback
    )
    print(report.summary())
    if not report.ok:
        return False
    from booking.cli import seed_if_empty

    seeded = seed_if_empty(settings)
    if seeded:
        print(f"      booking database was empty: {seeded}")
    return True


def run_system(settings: Settings) -> int:
    dialplan = load_dialplan(settings.dialplan_path, settings.prompts_dir)
    root = Path(settings.asterisk_root)
    chroot = None if chroot_complete(root) else _ChrootBuild(root)
    if not prepare_city(settings, dialplan, "[1/5]"):
        if chroot is not None:
            print("      waiting for the Asterisk chroot build to finish ...", flush=True)
            chroot.wait()
        return 1
    print("[2/5] Redis (live state) ...", flush=True)
    redis = _start_redis(settings)
    asterisk = AsteriskInstance("system", settings=settings)
    supervisor = None
    children_out = open(settings.log_file, "ab")  # noqa: SIM115 - children print there
    try:
        first = " (the first run waits for its chroot: minutes)" if chroot is not None else ""
        print(f"[3/5] Asterisk 22{first} ...", flush=True)
        if chroot is not None:
            chroot.wait()
        asterisk.render(dialplan, operators=operator_lines(settings.database_url, dialplan))
        asterisk.start(timeout=300)
        wanted = processes.wanted(settings)
        print(f"[4/5] services: {', '.join(p.name for p in wanted)}", flush=True)
        for process in processes.PROCESSES:
            if process not in wanted:
                print(f"      not started: {process.name}: {process.off_because(settings)}")

        def say(text: str) -> None:
            print(f"      {text}", flush=True)

        env = children_env(settings, asterisk)
        supervisor = Supervisor(wanted, env=env, stdout=children_out, say=say).start()
        print("[5/5] waiting for the FastAGI service and the admin ...", flush=True)
        _wait_listening(settings.agi_port, supervisor, "the FastAGI service")
        _wait_listening(settings.admin_port, supervisor, "the admin web")
        print(
            f"""
Numero Unico is answering {dialplan.number} ({", ".join(dialplan.languages)}).
  Place a call:
    - console phone, in another terminal:   .venv/bin/ivr call
    - a SIP softphone on this machine:       sip:{dialplan.number}@127.0.0.1:{asterisk.sip_port}
  Operators: add an account (its SIP secret is printed once), then register as
    sip:EXT@127.0.0.1:{asterisk.sip_port}:  .venv/bin/ivr operators add 101 --name "Anna Rossi" \\
      --languages it,en --departments {next(iter(dialplan.departments))}:1
  Admin web: http://{settings.admin_host}:{settings.admin_port}/ (first account:
    .venv/bin/ivr admin create-user NAME --role admin)
  Asterisk CLI:  chroot {asterisk.root} asterisk -C {asterisk.inner_dir}/etc/asterisk.conf -r
  Logs: {settings.log_file} and {asterisk.log_dir}/
Press Ctrl-C to stop.""",
            flush=True,
        )
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        while not stop.wait(0.5):
            if not asterisk.running:
                say(f"Asterisk stopped; see {asterisk.log_dir / 'console.log'}")
                return 1
            supervisor.poll()
        return 0
    finally:
        if supervisor is not None:
            supervisor.stop()
        asterisk.stop()
        if redis is not None:
            redis.stop()
        children_out.close()
