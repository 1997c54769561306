"""Operator accounts: from "save" in the admin to "can register", for 20 operators.

    python bench/operators_bench.py [--operators 20] [--rounds 3] [--no-phone] [--time-limit 300]

What the admin's Operators page does on "Add", timed on a private Asterisk 22 (the chroot's,
started for the bench with its own ports and folders, like ``publish_bench.py --asterisk``):
``OperatorStore.add`` then ``Publisher.apply_operators`` (render, reload with res_pjsip, every
enabled endpoint's name and digest confirmed over AMI). When it returns ok, every account can
register. Each round starts with no operator and adds ``--operators`` one at a time:

* **one save**: add + apply, with 1..N accounts in the city (the reload grows with them);
* **the Nth save**: the same for the last one, N-1 already live;
* **all N at once**: N adds, one apply (an import's shape);
* **a real phone**: baresip (``tests/softphone.py``) started after the Nth save returned, until
  its REGISTER is accepted (includes baresip's own start-up).

Figures, never pass/fail; everything in a temporary city (``bench/isolation.py``).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import shutil
import socket
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.isolation import isolate  # noqa: E402
from ivr import config  # noqa: E402


def pct(values: list[float], p: int) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1]


def ms(values: list[float]) -> str:
    return f"p50 {pct(values, 50) * 1000:.0f} ms, max {max(values) * 1000:.0f} ms (n={len(values)})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--operators", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-phone", action="store_true", help="skip the baresip registration")
    parser.add_argument("--time-limit", type=float, default=300.0)
    args = parser.parse_args(argv)
    isolate("operators_bench")
    logging.basicConfig(level=logging.WARNING)
    deadline = time.monotonic() + args.time_limit

    from ivr.admin.db import open_database
    from ivr.admin.publish import AsteriskTarget, Publisher
    from ivr.db import ready
    from ivr.devenv.asterisk import INSTANCES, AsteriskInstance, free_port
    from ivr.flow.loader import load_dialplan
    from ivr.operators.rules import AccountSpec
    from ivr.operators.store import OperatorStore

    settings = config.load()
    live = settings.var_dir / "example-city.yaml"
    shutil.copy(ROOT / "dialplans" / "example-city.yaml", live)
    settings = dataclasses.replace(settings, dialplan_path=live, redis_url="")
    dialplan = load_dialplan(live)
    instance = AsteriskInstance(
        "bench-operators",
        settings=dataclasses.replace(
            settings, asterisk_sounds_dir=f"{INSTANCES}/bench-operators/sounds"
        ),
        ami_port=free_port(),
        sip_port=free_port(socket.SOCK_DGRAM),
    )
    shutil.rmtree(instance.host_dir, ignore_errors=True)
    try:
        instance.render(dialplan)
        instance.start()
        publisher = Publisher(
            settings,
            open_database(settings.database_url),
            AsteriskTarget.from_etc(instance.etc_dir),
        )
        first = publisher.publish(live.read_text(), "bench")
        if not first.ok:
            print("could not publish the example city:", first.message)
            return 1
        store = OperatorStore(ready(settings.database_url), lambda: dialplan)
        departments = sorted(dialplan.departments)

        def spec(i: int) -> AccountSpec:
            return AccountSpec(
                extension=str(200 + i),
                name=f"Operatore {i}",
                languages=("it", "en") if i % 2 else ("it",),
                skills=((departments[i % len(departments)], 1), ("generale", 2))
                if "generale" in departments and departments[i % len(departments)] != "generale"
                else ((departments[i % len(departments)], 1),),
            )

        def apply(what: str) -> None:
            result = publisher.apply_operators("bench", what)
            if not result.ok:
                raise RuntimeError(f"apply_operators failed: {result.message}")

        def clear() -> None:
            for account in store.accounts():
                store.remove(account.extension)
            apply("clear")

        n = args.operators
        one_save: list[float] = []
        last_save: list[float] = []
        batch: list[float] = []
        phone: list[float] = []
        print(
            f"operators bench: {n} operators, {args.rounds} rounds, private Asterisk "
            f"(AMI {instance.ami_port}, SIP {instance.sip_port})"
        )
        for _ in range(args.rounds):
            if time.monotonic() > deadline:
                break
            clear()
            secret = ""
            for i in range(n):
                started = time.monotonic()
                secret = store.add(spec(i))
                apply(f"add operator {200 + i}")
                one_save.append(time.monotonic() - started)
            last_save.append(one_save[-1])
            if not args.no_phone:
                phone.append(_register(str(200 + n - 1), secret, instance.sip_port))
            clear()
            started = time.monotonic()
            for i in range(n):
                store.add(spec(i))
            apply(f"add {n} operators")
            batch.append(time.monotonic() - started)
        clear()
        print(f"one save (add + apply, 1..{n} accounts in the city): {ms(one_save)}")
        print(f"the {n}th save ({n - 1} already live) to all {n} confirmed: {ms(last_save)}")
        print(f"all {n} added, then one apply, to all {n} confirmed: {ms(batch)}")
        if phone:
            print(f"baresip started after the {n}th save, to REGISTER accepted: {ms(phone)}")
        return 0
    finally:
        instance.stop()
        shutil.rmtree(instance.host_dir, ignore_errors=True)


def _register(extension: str, secret: str, sip_port: int) -> float:
    """Seconds from starting a real softphone with the new secret to its accepted REGISTER."""
    from tests.softphone import Softphone

    started = time.monotonic()
    with Softphone(extension, secret, sip_port) as softphone:
        softphone.wait_registered()
        return time.monotonic() - started


if __name__ == "__main__":
    sys.exit(main())
