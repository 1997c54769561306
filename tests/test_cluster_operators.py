"""Operators across two real Asterisk nodes behind a real Kamailio (issue 15, "Two nodes").

Two baresip operators register with Kamailio (not with a node) using their accounts' secrets;
each node rings an operator through Kamailio. Each node has its own queue watcher writing to
one Redis: an operator logs in once (``*11NN``, on whichever node Kamailio hands the code's
call to) and the other node's watcher re-applies the membership (ivr/queues/roster.py). While
an operator talks to a caller of one node, the other node's caller is not offered to them
(Kamailio answers 486) but goes to the other operator. The node the login happened on is
killed: the survivor's next caller reaches the same operator, who never logged in again.
"""

from __future__ import annotations

import os
import secrets
import signal
import threading
import time

import pytest

from ivr.asterisk.render import OperatorLine, department_codes
from ivr.devenv.asterisk import AsteriskInstance
from ivr.operators.rules import digest
from tests.softphone import Softphone

pytestmark = pytest.mark.asterisk

TIMEOUT = 30.0  # a ceiling for a loaded CI machine, never a measurement
OPERATORS = ("201", "202")


@pytest.fixture
def secrets_():
    return {ext: secrets.token_urlsafe(12) for ext in OPERATORS}


@pytest.fixture
def cluster(tmp_path, asterisk_dialplan, redis_server, secrets_):
    from ivr.devenv.cluster import Cluster, operator_digests
    from ivr.queues.roster import KEY, MemberRoster
    from ivr.queues.store import RedisQueueStore
    from ivr.queues.watcher import QueueWatcher
    from tests.asterisk_harness import prepare_instance, retire_instance

    general = asterisk_dialplan.departments[asterisk_dialplan.general_operator].queue
    lines = [
        OperatorLine(ext, f"Operatore {ext}", digest(ext, secret), ((general, 0),))
        for ext, secret in secrets_.items()
    ]
    cluster = Cluster(tmp_path / "cluster")
    nodes: list[AsteriskInstance] = []
    first = None
    for label in ("a", "b"):
        shared = {} if first is None else {"agi_port": first.settings.agi_port}
        node = prepare_instance(
            f"ops-{os.getpid()}-{label}",
            asterisk_dialplan,
            tmp_path / label,
            queue_timeout=120,
            general_timeout=120,
            proxy_port=cluster.sip_port,
            operators=lines,
            **shared,
        )
        first = first or node
        nodes.append(node)
    import redis

    redis.Redis.from_url(redis_server.url).delete(KEY)
    added: list[tuple[str, str]] = []  # (node label, interface) of each QueueMemberAdded
    watchers: list[QueueWatcher] = []
    threads: list[threading.Thread] = []
    try:
        cluster.start(nodes, operators=operator_digests(lines))
        for label, node in zip("AB", nodes, strict=True):

            def seen(ev, label=label):
                if ev.get("Event") == "QueueMemberAdded":
                    added.append((label, ev.get("Interface", "")))

            watcher = QueueWatcher(
                node.ami,
                RedisQueueStore(redis_server.url),
                tick_s=0.5,
                on_event=seen,
                languages=asterisk_dialplan.languages,
                roster=MemberRoster(redis_server.url),
            )
            thread = threading.Thread(target=watcher.run, args=(0.2,), daemon=True)
            thread.start()
            watchers.append(watcher)
            threads.append(thread)
        cluster.general = general
        cluster.added = added
        yield cluster
    finally:
        for watcher in watchers:
            watcher.stopped = True
        for thread in threads:
            thread.join(timeout=5)
        cluster.stop()
        for label, node in zip(("a", "b"), nodes, strict=True):
            retire_instance(node, tmp_path / f"log-{label}")


def _members(node: AsteriskInstance, queue: str) -> set[str]:
    with node.ami() as ami:
        status = ami.action("QueueStatus", Queue=queue)
    return {
        e.get("Location") or ""
        for e in status.events
        if e.get("Event") == "QueueMember" and e.get("Queue") == queue
    }


def _paused(node: AsteriskInstance, queue: str) -> set[str]:
    with node.ami() as ami:
        status = ami.action("QueueStatus", Queue=queue)
    return {
        e.get("Location") or ""
        for e in status.events
        if e.get("Event") == "QueueMember" and e.get("Queue") == queue and e.get("Paused") == "1"
    }


def _until(check, what: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


def _caller(node: AsteriskInstance, queue: str) -> None:
    """A caller (a test citizen who answers and stays) queued on ``node``."""
    with node.ami() as ami:
        ami.action(
            "Originate",
            Channel="Local/3335550005@nu-test-citizen",
            Application="Queue",
            Data=queue,
            Async="true",
        )


def _incoming(phone: Softphone, since: int = 0) -> list:
    """Calls the phone answered (by itself: baresip reports no CALL_INCOMING then)."""
    return [
        e
        for e in phone.events[since:]
        if e.type == "CALL_ESTABLISHED" and e.direction == "incoming"
    ]


def test_operator_logged_in_once_answers_both_nodes_never_two_calls(
    cluster, secrets_, asterisk_dialplan
):
    queue = cluster.general
    code = department_codes(asterisk_dialplan)[queue]
    port = cluster.sip_port
    names = dict(zip("AB", cluster.nodes, strict=True))
    with (
        Softphone("201", secrets_["201"], port) as x,
        Softphone("202", secrets_["202"], port, bind="127.0.0.2") as y,
        Softphone("201", secrets_["201"] + "x", port, bind="127.0.0.3") as intruder,
    ):
        x.wait_registered()
        y.wait_registered()
        assert intruder.registration_failed()  # Kamailio checks the account's digest

        # each operator logs in once, on whichever node Kamailio hands the code's call to
        for phone in (x, y):
            mark = phone.mark()
            phone.dial(f"*11{code}")
            phone.wait_event("CALL_CLOSED", TIMEOUT, since=mark)
        both = {"PJSIP/201", "PJSIP/202"}
        _until(
            lambda: all(_members(n, queue) == both for n in cluster.nodes),
            "the logins were not re-applied to the other node",
        )
        login_node = next(label for label, iface in cluster.added if iface == "PJSIP/201")
        other = "B" if login_node == "A" else "A"
        first, survivor = names[login_node], names[other]
        print(f"\noperator 201 logged in on node {login_node}, re-applied on node {other}")

        # a caller on the login node is answered by one operator ...
        marks = {id(x): x.mark(), id(y): y.mark()}
        _caller(first, queue)
        _until(lambda: _incoming(x) or _incoming(y), "the first caller reached no operator")
        talking, free = (x, y) if _incoming(x) else (y, x)
        assert len(_incoming(talking)) == 1 and not _incoming(free)

        # ... and a caller on the other node is never offered to them: the other one answers
        _caller(survivor, queue)
        free.wait_answered_incoming(TIMEOUT, since=marks[id(free)])
        assert len(_incoming(talking)) == 1  # Kamailio refused the second call (486)
        assert len(_incoming(free)) == 1
        for phone in (x, y):
            mark = phone.mark()
            phone.hangup()
            phone.wait_event("CALL_CLOSED", TIMEOUT, since=mark)

        # the node 201 logged in on dies (a crash); 202 pauses on the survivor (*13)
        os.killpg(first.process.pid, signal.SIGKILL)
        first.stop()
        mark = y.mark()
        y.dial("*13")
        y.wait_event("CALL_CLOSED", TIMEOUT, since=mark)
        _until(lambda: _paused(survivor, queue) == {"PJSIP/202"}, "202 was not paused")

        # the survivor's next caller reaches 201, who never logged in again
        answered = len(_incoming(x))
        mark = x.mark()
        _caller(survivor, queue)
        x.wait_answered_incoming(TIMEOUT, since=mark)
        assert len(_incoming(x)) == answered + 1
        assert not _incoming(y, mark)

        # the dead node restarted (its own saved members as they were at the crash): its
        # watcher's first session gives it the pause made meanwhile
        first.start()
        _until(
            lambda: _members(first, queue) == both and _paused(first, queue) == {"PJSIP/202"},
            "the restarted node did not get the membership and pause recorded meanwhile",
        )

    # Kamailio's log: no caller number, no secret, no digest
    logged = cluster.kamailio.log_file.read_text()
    assert "3335550005" not in logged
    for ext, secret in secrets_.items():
        assert secret not in logged and digest(ext, secret) not in logged
