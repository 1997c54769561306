"""``ivr up``: the whole system on one machine, on the embedded defaults.

Builds the prompts, starts a private Redis (unless one answers already), Asterisk 22 from the
cached chroot, and the FastAGI service; stops them all on Ctrl-C.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from ivr.config import Settings
from ivr.devenv.asterisk import AsteriskInstance, _die_with_parent
from ivr.devenv.redis import RedisServer, redis_pings
from ivr.flow.loader import load_dialplan
from ivr.prompts.build import build_prompts
from ivr.prompts.google_tts import synthesizers
from ivr.queues.watcher import QueueWatcher
from ivr.service import build_server

if TYPE_CHECKING:
    from ivr.callbacks.worker import CallbackWorker


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


def _start_outbox(settings: Settings) -> threading.Event | None:
    """Booking confirmations sent in the background when a sender is configured (NU_SMTP_HOST,
    NU_SMS_GATEWAY_URL); otherwise they wait in the outbox for ``ivr booking outbox``."""
    from booking.cli import open_service, senders
    from booking.outbox import OutboxWorker

    configured = senders(settings)
    if not configured:
        return None
    service = open_service(settings)
    stop = threading.Event()
    worker = OutboxWorker(service.engine, configured, timezone=str(service.zone))
    threading.Thread(target=worker.run_forever, args=(stop,), daemon=True).start()
    return stop


def _start_queue_watcher(settings: Settings, asterisk: AsteriskInstance) -> QueueWatcher:
    """Live queue state for saturation policies: a daemon thread, as ``ivr queues watch``."""
    from ivr.kpi.recorder import shared_recorder
    from ivr.queues.store import RedisQueueStore

    # the same recorder as the FastAGI service's: one writer for each call's record
    recorder = shared_recorder(settings.database_url)
    watcher = QueueWatcher(
        asterisk.ami, RedisQueueStore(settings.redis_url), on_event=recorder.queue_event
    )
    threading.Thread(target=watcher.run, name="queue-watcher", daemon=True).start()
    return watcher


def _start_callbacks(settings: Settings, asterisk: AsteriskInstance) -> CallbackWorker | None:
    """The callback worker (``ivr callbacks run``) as a daemon thread, when NU_CALLBACK_DIAL
    says how to reach citizens; None otherwise."""
    from ivr.callbacks.worker import build_worker

    worker = build_worker(settings, asterisk.ami)
    if worker is not None:
        threading.Thread(target=worker.run, name="callbacks", daemon=True).start()
    return worker


def _start_speech(settings: Settings) -> subprocess.Popen[bytes] | None:
    """The recognition service when NU_SPEECH_MODELS is set: ``ivr speech serve`` as its own
    process, because models are big and slow to load and a broken one must not take the phone
    system down. It prints its start-up check (missing models, unknown grammar words); until it
    answers, or if it stops, speech nodes hand their callers to the operator."""
    if not settings.speech_models:
        return None
    env = dict(
        os.environ,
        NU_SPEECH_MODELS=settings.speech_models,
        NU_DIALPLAN=str(settings.dialplan_path),
        NU_PROMPTS_DIR=str(settings.prompts_dir),
    )
    command = [sys.executable, "-m", "ivr", "speech", "serve", "--port", str(settings.speech_port)]
    # its own session (Ctrl-C is ours to handle), and it dies with us
    return subprocess.Popen(
        command,
        env=env,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        preexec_fn=_die_with_parent,
    )


def _keep_speech_alive(
    settings: Settings, process: subprocess.Popen[bytes] | None
) -> subprocess.Popen[bytes] | None:
    """Start the recognition service again if it crashed (killed by a signal, e.g. inside
    vosk); one that stopped on its own (no usable model) stays stopped: its check said why."""
    if process is None or process.poll() is None or process.returncode >= 0:
        return process
    print(f"speech recognition crashed (signal {-process.returncode}): restarting", flush=True)
    return _start_speech(settings)


def _stop_process(process: subprocess.Popen[bytes] | None) -> None:
    if process is not None and process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def run_system(settings: Settings) -> int:
    dialplan = load_dialplan(settings.dialplan_path, settings.prompts_dir)
    print(f"[1/4] prompts for {dialplan.city or dialplan.number}: ", end="", flush=True)
    first, fallback = synthesizers(settings)  # Google when configured, else espeak-ng
    report = build_prompts(
        dialplan, settings.prompts_dir, settings.sounds_dir, synthesizer=first, fallback=fallback
    )
    print(report.summary())
    if not report.ok:
        return 1
    from booking.cli import seed_if_empty

    seeded = seed_if_empty(settings)
    if seeded:
        print(f"      booking database was empty: {seeded}")
    print("[2/4] Redis (live state) ...", flush=True)
    redis = _start_redis(settings)
    asterisk = AsteriskInstance("system", settings=settings)
    server = None
    speech = None
    outbox_stop = None
    watcher = None
    callbacks = None
    try:
        print("[3/4] Asterisk 22 (first run builds its chroot: about 2 minutes) ...", flush=True)
        asterisk.render(dialplan)
        asterisk.start(timeout=300)
        print("[4/4] FastAGI service ...", flush=True)
        speech = _start_speech(settings)
        if speech is not None:
            print(f"      speech recognition: 127.0.0.1:{settings.speech_port}", flush=True)
        server = build_server(asterisk.speech_settings(settings)).start()
        host, port = server.address
        outbox_stop = _start_outbox(settings)
        watcher = _start_queue_watcher(settings, asterisk)
        callbacks = _start_callbacks(settings, asterisk)
        print(
            f"""
Numero Unico is answering {dialplan.number} ({", ".join(dialplan.languages)}).
  Place a call:
    - console phone, in another terminal:   .venv/bin/ivr call
    - a SIP softphone on this machine:       sip:{dialplan.number}@127.0.0.1:{asterisk.sip_port}
  Operators register as 101/102 (password in {asterisk.etc_dir}/pjsip.conf).
  Asterisk CLI:  chroot {asterisk.root} asterisk -C {asterisk.inner_dir}/etc/asterisk.conf -r
  FastAGI on {host}:{port}; Asterisk log: {asterisk.full_log}
Press Ctrl-C to stop.""",
            flush=True,
        )
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        while not stop.wait(1.0):
            if not asterisk.running:
                print("Asterisk stopped; see", asterisk.log_dir / "console.log")
                return 1
            speech = _keep_speech_alive(settings, speech)
        return 0
    finally:
        if outbox_stop is not None:
            outbox_stop.set()
        if watcher is not None:
            watcher.stopped = True
        if callbacks is not None:
            callbacks.stopped = True
        if server is not None:
            server.shutdown()
        _stop_process(speech)
        asterisk.stop()
        if redis is not None:
            redis.stop()
