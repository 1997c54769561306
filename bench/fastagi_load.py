"""FastAGI under load: N calls at once through the real protocol over TCP on 127.0.0.1.

    python bench/fastagi_load.py [--calls 100 500 1000] [--handler example|demo|pkg.mod:func]
                                 [--time-limit 120]

Each call is placed by ``ivr.agi.peer.AsteriskPeer`` (the same fake Asterisk the tests use) and
walks a menu against the real server (``ivr.agi.server``, CityAGI, runner, engine). The floor is a
minimal raw-socket FastAGI server in the same kind of process: thread per connection, it replays
the command lines a real call sends and reads one reply line for each, with no parsing and no
engine. Each server runs in its own process, so its peak RSS (VmHWM) is its own.

Latency is measured on the Asterisk side, per AGI step: from the moment the peer has written a
reply (or the start-up block) to the moment the next command line arrives, i.e. the dead air the
caller would hear between one step and the next. Every run stops by itself (``--time-limit``).
The calls' records, bookings and live state go to a temporary city (``bench/isolation.py``) that
the server processes share; the city's database and Redis are never opened.
"""

from __future__ import annotations

import argparse
import importlib
import os
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.isolation import isolate  # noqa: E402
from ivr.agi.peer import AsteriskPeer, CallRecord, ScriptedCaller  # noqa: E402
from ivr.flow.actions import Ask, Play, Prompt, Transfer  # noqa: E402

DIALPLAN = ROOT / "dialplans" / "example-city.yaml"
# Italian, main menu, registry office, back to the main menu, local police: 5 inputs, 16 steps.
EXAMPLE_KEYS = ["1", "1", "9", "6"]
EXAMPLE_QUEUE = "polizia"
SOUNDS = "/var/lib/numero-unico/sounds"


# -- handlers (run inside the server process) ---------------------------------------------------


class DemoSession:
    """A fixed three-step menu for when the city engine isn't there: welcome, ask, transfer."""

    def __init__(self) -> None:
        self.language: str | None = "it"
        self.path: list[str] = []

    def start(self) -> Any:
        self.path = ["welcome"]
        return Play((Prompt("welcome", "it"),))

    def feed(self, event: Any) -> Any:
        if self.path[-1] == "welcome":
            self.path.append("menu")
            return Ask((Prompt("intro", "it"), Prompt("main_menu", "it")))
        return self.fallback("menu")

    def fallback(self, reason: str) -> Transfer:
        self.path.append("operatore")
        return Transfer("operatore", "operatore", "it", reason, {"lang": "it"})


def build_handler(name: str) -> Callable[[Any], Any]:
    from ivr.agi.runner import make_handler
    from ivr.config import Settings
    from ivr.service import city_handler

    if name == "example":
        settings = Settings(redis_url="", dialplan_path=DIALPLAN, asterisk_sounds_dir=SOUNDS)
        return city_handler(settings)[0]
    if name == "demo":
        return make_handler(lambda agi: DemoSession(), SOUNDS, fallback_queue="operatore")
    module, _, func = name.partition(":")
    return getattr(importlib.import_module(module), func)()


def caller_script(name: str) -> tuple[list[str], str]:
    """(keys the caller presses, queue the call must end in)."""
    if name == "example":
        return EXAMPLE_KEYS, EXAMPLE_QUEUE
    return ["1"], "operatore"


# -- server process ------------------------------------------------------------------------


def serve_echo(commands: list[str], ready: Callable[[int], None], max_calls: int) -> None:
    """The floor: replay ``commands`` on each connection, one reply line each, nothing else."""
    payloads = [(c + "\n").encode() for c in commands]
    listener = socket.create_server(("127.0.0.1", 0), backlog=max(1024, max_calls))

    def one(conn: socket.socket) -> None:
        with conn, conn.makefile("rb") as rfile:
            while rfile.readline() not in (b"\n", b""):
                pass
            for line in payloads:
                conn.sendall(line)
                if not rfile.readline():
                    return

    ready(listener.getsockname()[1])
    threading.stack_size(512 * 1024)
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=one, args=(conn,), daemon=True).start()


def server_main(args: argparse.Namespace) -> None:
    def ready(port: int) -> None:
        print(f"READY {port}", flush=True)

    threading.Thread(target=lambda: (sys.stdin.read(), os._exit(0)), daemon=True).start()
    if args.serve == "echo":
        serve_echo(args.commands.split("\x1f"), ready, args.max_calls)
        return
    from ivr.agi.server import FastAGIServer

    server = FastAGIServer(
        build_handler(args.handler),
        port=0,
        max_calls=args.max_calls,
        backlog=max(1024, args.max_calls),
        reply_timeout=60,
    ).start()
    ready(server.address[1])
    threading.Event().wait()


class ServerProcess:
    def __init__(self, kind: str, handler: str, max_calls: int, commands: list[str]) -> None:
        cmd = [sys.executable, __file__, "--serve", kind, "--handler", handler]
        cmd += ["--max-calls", str(max_calls), "--commands", "\x1f".join(commands)]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()  # type: ignore[union-attr]
        if not line.startswith("READY "):
            self.stop()
            raise RuntimeError(f"{kind} server did not start")
        self.port = int(line.split()[1])

    def memory_mib(self, field: str) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> None:
        try:
            self.proc.stdin.close()  # type: ignore[union-attr]
            self.proc.wait(5)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()


# -- load ----------------------------------------------------------------------------------


def one_call(port: int, keys: list[str], deadline: float, media: float) -> CallRecord:
    peer = AsteriskPeer(ScriptedCaller(keys, when_done=""), media_seconds=media)
    return peer.connect("127.0.0.1", port, read_timeout=max(1.0, deadline - time.monotonic()))


def load(
    port: int,
    calls: int,
    keys: list[str],
    ok: Callable[[CallRecord], bool],
    time_limit: float,
    media: float,
    jitter: float,
) -> dict[str, Any]:
    deadline = time.monotonic() + time_limit
    records: list[CallRecord | None] = [None] * calls
    spans: list[tuple[float, float]] = []  # (first command, end) of each call: being served
    failures: list[str] = []
    gate = threading.Barrier(calls + 1)

    def worker(i: int) -> None:
        try:
            gate.wait(30)
            begun = time.monotonic()
            pace = media * random.uniform(1 - jitter, 1 + jitter)  # callers aren't in lockstep
            records[i] = record = one_call(port, keys, deadline, pace)
            if record.latencies:
                spans.append((begun + record.latencies[0], time.monotonic()))
        except Exception as err:  # counted as an error
            failures.append(type(err).__name__)

    threading.stack_size(256 * 1024)
    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(calls)]
    for t in threads:
        t.start()
    gate.wait(30)
    started = time.monotonic()
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    wall = time.monotonic() - started
    done = [r for r in records if r is not None]
    good = [r for r in done if r.error is None and ok(r)]
    steps = sorted(x for r in done for x in r.latencies[1:])
    setup = sorted(r.latencies[0] for r in done if r.latencies)
    return {
        "completed": len(good),
        "errors": calls - len(good),
        "error_kinds": sorted(set(failures)),
        "wall": wall,
        "steps": len(steps),
        "p50": pct(steps, 50),
        "p99": pct(steps, 99),
        "setup_p99": pct(setup, 99),
        "peak_concurrent": peak_overlap(spans),
    }


def peak_overlap(spans: list[tuple[float, float]]) -> int:
    events = sorted([(a, 1) for a, _ in spans] + [(b, -1) for _, b in spans])
    peak = now = 0
    for _, delta in events:
        now += delta
        peak = max(peak, now)
    return peak


def pct(values: list[float], p: int) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0] * 1000
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1] * 1000


def recorded_commands(handler: str, keys: list[str]) -> list[str]:
    """The command lines one real call sends: what the floor server replays."""
    from ivr.agi.peer import drive

    record, _ = drive(build_handler(handler), ScriptedCaller(keys, when_done=""))
    return record.commands


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, nargs="+", default=[100, 500, 1000])
    default = "example" if (ROOT / "ivr/flow/engine.py").exists() and DIALPLAN.exists() else "demo"
    parser.add_argument("--handler", default=default)
    parser.add_argument("--time-limit", type=float, default=120.0, help="seconds per run")
    parser.add_argument(
        "--media-ms",
        type=float,
        default=1000.0,
        help="how long each prompt / wait for keys lasts on the fake Asterisk (keeps calls alive)",
    )
    parser.add_argument(
        "--jitter", type=float, default=0.5, help="each call's pace varies by +/- this fraction"
    )
    parser.add_argument("--serve", choices=["real", "echo"], help=argparse.SUPPRESS)
    parser.add_argument("--max-calls", type=int, default=1000, help=argparse.SUPPRESS)
    parser.add_argument("--commands", default="", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    isolate("fastagi_load")  # a temporary city: the calls' records never reach the city's figures
    if args.serve:
        server_main(args)
        return 0

    keys, queue = caller_script(args.handler)
    commands = recorded_commands(args.handler, keys)
    print(
        f"FastAGI load on 127.0.0.1: handler={args.handler}, keys={','.join(keys)}, "
        f"{len(commands)} AGI steps per call, each prompt/input {args.media_ms:.0f} ms "
        f"+/- {args.jitter:.0%}, "
        f"{os.cpu_count()} CPUs"
    )
    print(
        "p50/p99 = per AGI step, peer wrote reply -> next command arrived (ms); setup = start-up"
        " block -> 1st command (ms); concur = peak calls being served at once"
    )
    header = (
        f"{'calls':>5} {'server':>6} {'done':>5} {'err':>4} {'wall_s':>7} "
        f"{'p50_ms':>7} {'p99_ms':>7} {'setup_p99':>9} {'concur':>6} {'idle_MiB':>8} "
        f"{'peak_MiB':>8}"
    )
    print(header)
    for n in args.calls:
        for kind in ("echo", "real"):
            server = ServerProcess(kind, args.handler, n, commands)
            try:
                idle = server.memory_mib("VmRSS")
                if kind == "real":
                    ok = lambda r: r.variables.get("NU_QUEUE") == queue  # noqa: E731
                else:  # the floor routes nowhere: a call is done when every step was answered
                    ok = lambda r: r.commands == commands  # noqa: E731
                r = load(
                    server.port, n, keys, ok, args.time_limit, args.media_ms / 1000, args.jitter
                )
                peak = server.memory_mib("VmHWM")
            finally:
                server.stop()
            print(
                f"{n:>5} {kind:>6} {r['completed']:>5} {r['errors']:>4} {r['wall']:>7.2f} "
                f"{r['p50']:>7.2f} {r['p99']:>7.2f} {r['setup_p99']:>9.2f} "
                f"{r['peak_concurrent']:>6} {idle:>8.1f} {peak:>8.1f}"
                + (f"  {r['error_kinds']}" if r["error_kinds"] else "")
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
