"""Two real Asterisk nodes behind a real Kamailio: the city number keeps answering when one dies.

A baresip caller (not registered anywhere: a carrier's call) dials the city number at
Kamailio's port; Kamailio's dispatcher hands each new call to node A or B, both rendered for the
example city and both using one FastAGI service. Node A is killed (SIGKILL: a crash, not a
shutdown): the next calls are answered by B. Node A started again is put back by the OPTIONS
probes and takes calls again. Each node knows two FastAGI services: with the first one down,
calls reach the IVR through the second.
"""

from __future__ import annotations

import dataclasses
import os
import re
import signal
import time

import pytest

from ivr.devenv.asterisk import AsteriskInstance, free_port
from tests.softphone import Softphone

pytestmark = pytest.mark.asterisk

ISSUE_TARGET_S = 5.0  # issue 15: answered by B within 5 s of the kill (printed, see below)
CALL_TIMEOUT = 15.0  # a ceiling for a loaded CI machine, never a measurement


class FastAGIServices:
    """The cluster's two FastAGI services (both nodes know both: primary, then fallback)."""

    def __init__(self, settings, fallback_port: int):
        from ivr.service import build_server

        base = dataclasses.replace(settings, redis_url="")
        self.servers = {
            name: build_server(dataclasses.replace(base, agi_port=port))
            for name, port in (("primary", settings.agi_port), ("fallback", fallback_port))
        }

    def calls(self, name: str | None = None) -> int:
        """Calls the service(s) took so far (counted when Asterisk connects)."""
        return sum(s.stats["calls"] for key, s in self.servers.items() if name in (None, key))

    def start(self) -> FastAGIServices:
        for server in self.servers.values():
            server.start()
        return self

    def stop(self, name: str | None = None) -> None:
        for key, server in self.servers.items():
            if name in (None, key):
                server.shutdown()


@pytest.fixture
def cluster(tmp_path, asterisk_dialplan):
    from ivr.devenv.cluster import Cluster
    from tests.asterisk_harness import prepare_instance, retire_instance

    cluster = Cluster(tmp_path / "cluster")
    fallback_port = free_port()
    first = None
    nodes: list[AsteriskInstance] = []
    for label in ("a", "b"):
        shared = (
            {}
            if first is None
            else {
                # the same FastAGI services for both nodes, and node A's prompts (same chroot)
                "agi_port": first.settings.agi_port,
                "sounds_path": first.settings.asterisk_sounds_dir,
            }
        )
        node = prepare_instance(
            f"cluster-{os.getpid()}-{label}",
            asterisk_dialplan,
            tmp_path / label,
            queue_timeout=20,
            general_timeout=30,
            proxy_port=cluster.sip_port,
            agi_fallbacks=f"127.0.0.1:{fallback_port}",
            **shared,
        )
        first = first or node
        nodes.append(node)
    services = FastAGIServices(first.settings, fallback_port)
    try:
        cluster.start(nodes)
        cluster.agi = services.start()
        yield cluster
    finally:
        services.stop()
        cluster.stop()
        for label, node in zip(("a", "b"), nodes, strict=True):
            retire_instance(node, tmp_path / f"log-{label}")


def _active_calls(node: AsteriskInstance) -> int:
    match = re.search(r"(\d+) active call", node.cli("core show channels count"))
    return int(match.group(1)) if match else 0


def _idle(nodes: list[AsteriskInstance], timeout: float = CALL_TIMEOUT) -> None:
    """Wait until no live node has a call up (so the next call is told apart)."""
    deadline = time.monotonic() + timeout
    while any(_active_calls(n) for n in nodes if n.running):
        if time.monotonic() > deadline:
            raise TimeoutError("a call stayed up after the caller hung up")
        time.sleep(0.1)


def _call(phone: Softphone, cluster, number: str) -> str:
    """Place one call to the city number through Kamailio; the label of the node that answered."""
    names = {node.name: label for node, label in zip(cluster.nodes, "AB", strict=True)}
    _idle(cluster.nodes)
    reached = cluster.agi.calls()
    since = phone.mark()
    phone.dial(f"sip:{number}@127.0.0.1:{cluster.sip_port}")
    phone.wait_event("CALL_ESTABLISHED", CALL_TIMEOUT, since=since)
    try:
        answering = [n for n in cluster.nodes if n.running and _active_calls(n)]
        assert len(answering) == 1, f"call up on {[n.name for n in answering]}"
        # answered by the IVR: the node's dialplan reached a FastAGI service
        deadline = time.monotonic() + CALL_TIMEOUT
        while cluster.agi.calls() == reached:
            assert time.monotonic() < deadline, "the call never reached the IVR"
            time.sleep(0.05)
        return names[answering[0].name]
    finally:
        since = phone.mark()
        phone.hangup()
        phone.wait_event("CALL_CLOSED", CALL_TIMEOUT, since=since)


def _wait_state(cluster, node: AsteriskInstance, state: str) -> float:
    """Seconds until Kamailio's dispatcher shows ``node`` in ``state`` (``A``ctive or
    ``I``nactive)."""
    started = time.monotonic()
    while not cluster.kamailio.node_states()[node.sip_port].startswith(state):
        assert time.monotonic() - started < CALL_TIMEOUT, f"{node.name} never {state}"
        time.sleep(0.1)
    return time.monotonic() - started


def _crash(node: AsteriskInstance) -> None:
    """SIGKILL: a crash, not a shutdown (nothing tells Kamailio)."""
    os.killpg(node.process.pid, signal.SIGKILL)
    node.stop()


def test_number_answers_on_b_when_a_dies_and_a_comes_back(cluster, asterisk_dialplan):
    number = asterisk_dialplan.number
    node_a, node_b = cluster.nodes
    with Softphone("citizen", "unused-secret", cluster.sip_port, register_interval=0) as phone:
        # both nodes take calls (round robin over the nodes that answer the probes)
        answered = [_call(phone, cluster, number) for _ in range(2)]
        while answered[-1] != "B" and len(answered) < 6:
            answered.append(_call(phone, cluster, number))
        assert set(answered) == {"A", "B"}
        # the last call went to B, so the next one is A's turn: the first call after the kill
        # is the one that must find its way to B

        killed_at = time.monotonic()
        _crash(node_a)
        first = _call(phone, cluster, number)
        failover = time.monotonic() - killed_at
        print(f"\nfirst call after the kill answered by {first} {failover:.2f} s after the kill")
        assert first == "B"
        assert failover < CALL_TIMEOUT  # a ceiling; the issue's target is ISSUE_TARGET_S
        assert cluster.kamailio.node_states()[node_a.sip_port].startswith("I")  # taken out
        assert {_call(phone, cluster, number) for _ in range(3)} == {"B"}

        # node A restarted: the probes put it back in the set, and it takes calls again
        node_a.start()
        print(f"node A back in the set {_wait_state(cluster, node_a, 'A'):.2f} s after its start")
        answered = [_call(phone, cluster, number) for _ in range(2)]
        assert "A" in answered

        # node B crashes while no call comes: the probes alone take it out
        _crash(node_b)
        print(f"node B taken out by the probes {_wait_state(cluster, node_b, 'I'):.2f} s after")
        assert {_call(phone, cluster, number) for _ in range(2)} == {"A"}


def test_nodes_use_the_next_fastagi_service_when_the_first_is_down(cluster, asterisk_dialplan):
    number = asterisk_dialplan.number
    with Softphone("citizen", "unused-secret", cluster.sip_port, register_interval=0) as phone:
        answered = {_call(phone, cluster, number)}
        assert (cluster.agi.calls("primary"), cluster.agi.calls("fallback")) == (1, 0)

        cluster.agi.stop("primary")
        answered |= {_call(phone, cluster, number) for _ in range(2)}
        assert (cluster.agi.calls("primary"), cluster.agi.calls("fallback")) == (1, 2)
        assert answered == {"A", "B"}  # both nodes fell back (round robin)
    for node in cluster.nodes:
        assert "FastAGI service 1 unreachable, trying the next" in node.full_log.read_text()
