"""Citizens calling the city number the way a carrier's calls arrive: through Kamailio.

One more test Asterisk (:func:`tests.asterisk_harness.prepare_instance`, rendered with the
cluster's ``proxy_port``, so its ``cluster-proxy`` trunk is Kamailio) originates
``PJSIP/cluster-proxy/sip:<city number>@<Kamailio>`` — bench/chaos.py's callers, without the
listening — into ``[nu-test-caller]``, which holds the line. Each caller has a number of its
own (the caller id the nodes see). Kamailio's dispatcher picks the node: which node took a call
is read from the nodes' channels (:func:`node_of`), never chosen by the test. What the caller
lived (answered, hung up) is timed on the caller's side, from its own AMI events.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from bench.chaos import calls_on  # the chaos bench's reading of who is on a node
from ivr.asterisk.ami import AMIClient, Message
from ivr.devenv.asterisk import AsteriskInstance
from ivr.queues.languages import department_queue
from tests.asterisk_harness import prepare_instance, retire_instance


@dataclasses.dataclass
class CarrierCall:
    """One citizen's call, as the caller's side lived it (monotonic seconds)."""

    number: str  # the caller id the nodes see: personal data in production, a test number here
    channel_id: str
    placed: float
    answered: float | None = None
    ended: float | None = None
    cause: str = ""


class Carrier:
    """The callers' Asterisk: calls to the city number through Kamailio (see the module)."""

    def __init__(self, name: str, dialplan: Any, workdir: Path, kamailio_port: int) -> None:
        self.dialplan, self.kamailio_port, self.workdir = dialplan, kamailio_port, workdir
        self.instance = prepare_instance(
            name,
            dialplan,
            workdir,
            queue_timeout=60,
            general_timeout=60,
            test_log=False,
            proxy_port=kamailio_port,
        )
        self.ami: AMIClient | None = None
        self.calls: dict[str, CarrierCall] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def start(self) -> Carrier:
        self.instance.start()
        self.ami = self.instance.ami()
        self.ami.add_listener(self._event)
        return self

    def stop(self) -> None:
        if self.ami is not None:
            with contextlib.suppress(Exception):
                self.ami.close()
        retire_instance(self.instance, self.workdir / "carrier-log")

    def __enter__(self) -> Carrier:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def call(self, number: str, hold_s: float = 120.0) -> CarrierCall:
        """Place a call from ``number`` to the city number through Kamailio (returns at once)."""
        if not number.isdigit():
            raise ValueError("a caller's number is digits")
        assert self.ami is not None, "start() the carrier first"
        # Neither channel id may be a prefix of another (Asterisk's duplicate check)
        call = CarrierCall(number, f"carrier-{next(self._ids):04d}-{number}", time.monotonic())
        with self._lock:
            self.calls[call.channel_id] = call
        self.ami.action(
            "Originate",
            Channel=f"PJSIP/cluster-proxy/sip:{self.dialplan.number}@127.0.0.1:"
            f"{self.kamailio_port}",
            Context="nu-test-caller",
            Exten="s",
            Priority="1",
            Async="true",
            Timeout="20000",
            CallerID=f"<{number}>",
            ChannelId=call.channel_id,
            Variable=[
                "NU_TEST_KEYS=",
                "NU_TEST_HANGUP=",
                f"NU_TEST_MAX={hold_s:.0f}",
                f"NU_TEST_CALL={number}",
            ],
        )
        return call

    def wait_answered(self, call: CarrierCall, timeout: float) -> float:
        """Wait until the city answered ``call``; the caller-side monotonic time it did."""
        deadline = time.monotonic() + timeout
        while call.answered is None:
            if call.ended is not None:
                raise AssertionError(f"call from {call.number} ended unanswered ({call.cause})")
            if time.monotonic() > deadline:
                raise TimeoutError(f"call from {call.number} not answered in {timeout:.0f} s")
            time.sleep(0.02)
        return call.answered

    def hangup(self, call: CarrierCall) -> None:
        assert self.ami is not None
        with contextlib.suppress(Exception):
            self.ami.action("Hangup", Channel=call.channel_id)

    def _event(self, event: Message) -> None:
        call = self.calls.get(event.get("Uniqueid") or "")
        if call is None:
            return
        now = time.monotonic()
        if event.name == "Newstate" and event.get("ChannelStateDesc") == "Up":
            call.answered = call.answered or now
        elif event.name == "Hangup" and call.ended is None:
            call.ended, call.cause = now, event.get("Cause") or ""


def node_of(nodes: Iterable[AsteriskInstance], number: str, timeout: float) -> AsteriskInstance:
    """The one node holding a channel of the caller ``number`` (waits until one does)."""
    nodes = list(nodes)
    deadline = time.monotonic() + timeout
    while True:
        holding = [n for n in nodes if number in calls_on(n)]
        if len(holding) == 1:
            return holding[0]
        assert len(holding) < 2, f"caller {number} has channels on {[n.name for n in holding]}"
        if time.monotonic() > deadline:
            raise TimeoutError(f"no node holds the call from {number} after {timeout:.0f} s")
        time.sleep(0.1)


def queued(node: AsteriskInstance, languages: Iterable[str] = ()) -> dict[str, tuple[str, str]]:
    """Callers waiting in a queue of ``node``: number -> (department queue, call's uniqueid)."""
    languages = tuple(languages)
    with node.ami() as ami:
        status = ami.action("QueueStatus")
    return {
        e.get("CallerIDNum") or "": (
            department_queue(e.get("Queue") or "", languages),
            e.get("Uniqueid") or "",
        )
        for e in status.events
        if e.get("Event") == "QueueEntry"
    }
