"""Publishing under load: publish-to-live time, and no call in progress dropped while publishing.

    python bench/publish_bench.py [--publishes 20] [--load 50] [--media-ms 200]
                                  [--asterisk] [--time-limit 120]

Two versions of the example city alternate: A (key 6 -> local police) and B (key 6 -> general
operator). Every probe call presses 1 (Italian) then 6, so the queue it ends in says which
version it ran on.

* **publish-to-live**: ``Publisher.publish`` (validate, store, render, reload Asterisk when
  ``--asterisk`` starts a private one in the chroot, confirm, write the YAML), then probe calls
  back to back until one ends in the new version's queue. Reported: the publish step alone and
  publish + first call on the new version.
* **under load**: ``--load`` callers call continuously through the real FastAGI server (a
  separate process, like ``ivr serve``), each prompt and wait lasting ``--media-ms`` on the fake
  Asterisk (``ivr.agi.peer``), while the bench publishes ``--publishes`` times. A call is
  *dropped* when it errors, or ends without a queue, or in a queue neither version routes 6 to.

Figures, never pass/fail. Every run stops by itself (``--time-limit``). Everything is published
into a temporary city (``bench/isolation.py``: database, var folder, live YAML, a private Asterisk
instance with its own sounds folder), never the city's.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.isolation import isolate  # noqa: E402
from ivr import config  # noqa: E402
from ivr.agi.peer import AsteriskPeer, ScriptedCaller  # noqa: E402

KEYS = ["1", "6"]
QUEUE = {"A": "polizia", "B": "operatore"}


def versions() -> dict[str, str]:
    a = (ROOT / "dialplans" / "example-city.yaml").read_text()
    # The polizia node stays: the speech menu ("say what you need") still routes to it.
    b = a.replace('"6": polizia', '"6": operatore')
    return {"A": a, "B": b}


def serve(port_file: str) -> None:
    """Server process: the product's FastAGI service on the bench's settings."""
    from datetime import datetime

    from ivr.service import build_server

    settings = _settings()
    monday = datetime(2026, 11, 23, 10, 0)
    server = build_server(
        settings, port=0, max_calls=1000, clock=lambda zone: monday.replace(tzinfo=zone)
    ).start()
    Path(port_file).write_text(str(server.address[1]))
    sys.stdin.read()  # the bench closes our stdin when it is done
    server.shutdown()


def _settings() -> config.Settings:
    """The temporary city's settings (``isolate`` ran first), its live YAML in its var folder."""
    settings = config.load()
    return dataclasses.replace(
        settings, dialplan_path=settings.var_dir / "example-city.yaml", redis_url=""
    )


def call(port: int, media: float, deadline: float) -> str | None:
    """One probe call; returns the queue it ended in (None: dropped)."""
    peer = AsteriskPeer(ScriptedCaller(KEYS, when_done=""), media_seconds=media)
    try:
        record = peer.connect("127.0.0.1", port, read_timeout=max(1.0, deadline - time.monotonic()))
    except OSError:
        return None
    if record.error:
        return None
    return record.variables.get("NU_QUEUE")


def pct(values: list[float], p: int) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--publishes", type=int, default=20)
    parser.add_argument("--load", type=int, default=50, help="concurrent callers")
    parser.add_argument("--media-ms", type=float, default=200.0)
    parser.add_argument("--asterisk", action="store_true", help="reload a real Asterisk too")
    parser.add_argument("--time-limit", type=float, default=120.0)
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    isolate("publish_bench")  # a temporary city; the FastAGI server process shares it
    if args.serve:
        serve(args.serve)
        return 0
    logging.basicConfig(level=logging.WARNING)
    deadline = time.monotonic() + args.time_limit
    texts = versions()

    from ivr.admin.db import open_database
    from ivr.admin.publish import AsteriskTarget, Publisher

    settings = _settings()
    work = settings.var_dir
    instance = None
    server = None
    try:
        settings.dialplan_path.write_text(texts["A"])
        target = None
        if args.asterisk:
            from ivr.devenv.asterisk import INSTANCES, AsteriskInstance, free_port
            from ivr.flow.loader import load_dialplan

            instance = AsteriskInstance(
                "bench-publish",
                # prompts in the instance's own folder (removed with it), not the chroot's
                # /var/lib/numero-unico/sounds that the city's Asterisk (`ivr up`) plays
                settings=dataclasses.replace(
                    settings, asterisk_sounds_dir=f"{INSTANCES}/bench-publish/sounds"
                ),
                ami_port=free_port(),
                sip_port=free_port(socket.SOCK_DGRAM),
            )
            shutil.rmtree(instance.host_dir, ignore_errors=True)
            instance.render(load_dialplan(settings.dialplan_path))
            instance.start()
            target = AsteriskTarget.from_etc(instance.etc_dir)
        publisher = Publisher(settings, open_database(settings.database_url), target)
        publisher.ensure_imported()

        port_file = work / "port"
        server = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(port_file)],
            stdin=subprocess.PIPE,
        )
        while not port_file.exists() or not port_file.read_text():
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError("FastAGI server did not start")
            time.sleep(0.05)
        port = int(port_file.read_text())
        media = args.media_ms / 1000

        print(
            f"publish bench: example city, versions A/B differ in key 6; "
            f"{'real Asterisk reload' if target else 'no Asterisk (files only)'}; "
            f"FastAGI in its own process"
        )

        # 1. publish-to-live, no load.
        publish_s, live_s = [], []
        current = "A"
        for _ in range(min(args.publishes, 10)):
            current = "B" if current == "A" else "A"
            started = time.monotonic()
            result = publisher.publish(texts[current], "bench")
            published = time.monotonic()
            if not result.ok:
                print("publish failed:", result.message)
                return 1
            while call(port, 0.0, deadline) != QUEUE[current]:
                if time.monotonic() > deadline:
                    raise RuntimeError("new version never went live")
            publish_s.append(published - started)
            live_s.append(time.monotonic() - started)
        print(
            f"publish-to-live over {len(live_s)} publications: publish step p50 "
            f"{pct(publish_s, 50) * 1000:.0f} ms, max {max(publish_s) * 1000:.0f} ms; "
            f"publish + first call on the new version p50 {pct(live_s, 50) * 1000:.0f} ms, "
            f"max {max(live_s) * 1000:.0f} ms"
        )

        # 2. Under load.
        outcomes: list[str | None] = []
        lock = threading.Lock()
        stop = threading.Event()

        def caller() -> None:
            while not stop.is_set() and time.monotonic() < deadline:
                queue = call(port, media, deadline)
                with lock:
                    outcomes.append(queue)

        threads = [threading.Thread(target=caller, daemon=True) for _ in range(args.load)]
        for t in threads:
            t.start()
        time.sleep(2 * media * 4)  # let calls be in progress before the first publication
        in_flight_publish = []
        seen_before = len(outcomes)
        for _ in range(args.publishes):
            current = "B" if current == "A" else "A"
            started = time.monotonic()
            result = publisher.publish(texts[current], "bench")
            in_flight_publish.append(time.monotonic() - started)
            if not result.ok:
                print("publish under load failed:", result.message)
            time.sleep(0.3)
        stop.set()
        for t in threads:
            t.join(max(1.0, deadline - time.monotonic()))
        dropped = sum(1 for q in outcomes if q not in QUEUE.values())
        by_version = {v: sum(1 for q in outcomes if q == queue) for v, queue in QUEUE.items()}
        print(
            f"under load: {args.load} concurrent callers, {args.publishes} publications "
            f"(publish step p50 {pct(in_flight_publish, 50) * 1000:.0f} ms, "
            f"max {max(in_flight_publish) * 1000:.0f} ms); {len(outcomes)} calls "
            f"({len(outcomes) - seen_before} after the first publication): "
            f"{by_version['A']} on A, {by_version['B']} on B, {dropped} dropped"
        )
        return 0
    finally:
        if server is not None:
            server.stdin.close()
            try:
                server.wait(10)
            except subprocess.TimeoutExpired:
                server.kill()
        if instance is not None:
            instance.stop()
            shutil.rmtree(instance.host_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
