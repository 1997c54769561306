"""The operator desk's ring-to-context latency on a real Asterisk 22.

    python bench/desk_bench.py [--calls 20] [--time-limit 300]

A private Asterisk (the test harness's chroot instance), the product's FastAGI service
publishing call contexts to a private Redis, and the admin's desk feed (``ivr.desk.hub.DeskHub``
with the context read from Redis and the citizen looked up in the city database, as the admin
runs it). One Local/ operator that answers at once; ``--calls`` calls one after the other (the
caller picks Italian, then 9: the general operator). Measured per call: from Asterisk's own
``AgentCalled`` timestamp to the moment the desk's subscriber queue (what ``/desk/events``
writes to the browser) holds the completed ringing event. Figures, never pass/fail; nothing is
written to the city's own database (``bench/isolation.py``).

Measured on the shared 2-core development machine (load average 10-16, other engineers' test
runs), 20 calls: p50 37.5 ms, p90 410 ms, max 505 ms; every ring had its context.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.isolation import isolate  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--time-limit", type=float, default=300.0)
    args = parser.parse_args()
    isolate("desk_bench")

    from ivr import config
    from ivr.db import ready
    from ivr.desk.citizen import citizen
    from ivr.desk.hub import DeskHub
    from ivr.desk.store import CallContexts
    from ivr.devenv.asterisk import free_port
    from ivr.devenv.redis import RedisServer
    from ivr.flow.loader import load_dialplan
    from ivr.kpi.desk_events import utcnow
    from ivr.service import build_server
    from tests.asterisk_harness import AsteriskHarness, prepare_instance

    work = Path(tempfile.mkdtemp(prefix="nu-desk-bench-"))
    dialplan = load_dialplan(config.ROOT / "dialplans" / "example-city.yaml")
    redis = RedisServer(free_port(), work / "redis").start()
    instance = prepare_instance(
        "desk-bench", dialplan, work / "asterisk", queue_timeout=20, general_timeout=30
    )
    instance.start()
    harness = AsteriskHarness(instance, dialplan, agi_port=instance.settings.agi_port)
    settings = dataclasses.replace(instance.settings, redis_url=redis.url)
    server = build_server(settings).start()
    url = settings.database_url

    def lookup(context: dict) -> dict:
        return citizen(
            ready(url),
            number=context.get("number") or "",
            hashed=context.get("caller_hash"),
            call_id=context["call_id"],
            now=utcnow(),
        )

    hub = DeskHub(instance.ami, CallContexts(redis.url), lookup).start()
    latencies: list[float] = []
    missing_context = 0
    deadline = time.monotonic() + args.time_limit
    try:
        operator = harness.add_operator(harness.general_queue, answers=True, name="901")
        inbox = hub.subscribe(operator.name)
        while not hub.connected:
            time.sleep(0.05)
        for _ in range(args.calls):
            if time.monotonic() > deadline:
                break
            call = harness.place_call([("choose_language", "1"), ("main_menu", "9")])
            while time.monotonic() < deadline:
                event = inbox.get(timeout=60)
                if event.kind == "ringing" and event.data["call_id"] == call.uniqueid:
                    latencies.append(time.time() - event.data["asterisk_at"])
                    missing_context += event.data["context"] is None
                    break
            call.hangup()
            call.wait_hangup()
    finally:
        hub.stop()
        server.shutdown()
        harness.close()
        instance.stop()
        redis.stop()
    if not latencies:
        print("no call measured")
        return 1
    ms = sorted(x * 1000 for x in latencies)
    print(f"calls measured: {len(ms)} (context missing: {missing_context})")
    p90 = ms[int(0.9 * (len(ms) - 1))]
    print(
        f"AgentCalled -> desk event with context: p50 {statistics.median(ms):.1f} ms, "
        f"p90 {p90:.1f} ms, max {ms[-1]:.1f} ms"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
