"""``ivr up --nodes N``: the cluster on one machine, on loopback ports (issue 15).

What ``ivr up`` starts, but N Asterisk nodes from the same cached chroot behind Kamailio
(:class:`ivr.devenv.cluster.Cluster`, listening on ``NU_SIP_PORT``: the city number's entry
point). Each node is rendered, then caught up with the live version (``catch_up_before_start``)
before it starts, and gets its own FastAGI service (the other nodes' as fallbacks) and its own
queue watcher (``--node``); every other process (callbacks, outbound, admin, ``nodesync``...)
runs once, against the shared Redis and database, with ``NU_ASTERISK_NODES`` naming every
node's folder and ``NU_KAMAILIO_ACCOUNTS``/``NU_KAMAILIO_CTL`` Kamailio's accounts table and
control socket, so publishing reaches them all (an operator added registers at once).
Single-node ``ivr up`` (``ivr/devenv/up.py``) is not changed by any of this.
"""

from __future__ import annotations

import dataclasses
import signal
import socket
import string
import threading
from pathlib import Path

from ivr import processes
from ivr.admin.cli import catch_up_before_start
from ivr.config import Settings
from ivr.devenv.asterisk import AsteriskInstance, chroot_complete, ensure_chroot, free_port
from ivr.devenv.cluster import Cluster, operator_digests
from ivr.devenv.up import _start_redis, _wait_listening, children_env, prepare_city
from ivr.flow.loader import load_dialplan
from ivr.operators.store import operator_lines
from ivr.supervisor import Supervisor

PER_NODE = ("fastagi", "queues")  # one per Asterisk node; the rest runs once


@dataclasses.dataclass
class ClusterNode:
    """One Asterisk node with the FastAGI port its dialplan tries first."""

    label: str
    asterisk: AsteriskInstance
    agi_port: int


def plan_nodes(settings: Settings, count: int, prefix: str = "node") -> list[ClusterNode]:
    """``count`` nodes on free loopback ports; the first FastAGI service on ``NU_AGI_PORT``."""
    if not 1 <= count <= 26:
        raise ValueError(f"--nodes {count}: from 1 to 26 nodes")
    nodes = []
    for index, label in enumerate(string.ascii_lowercase[:count]):
        instance = AsteriskInstance(
            f"{prefix}-{label}",
            settings=settings,
            ami_port=free_port(),
            sip_port=free_port(socket.SOCK_DGRAM),
        )
        agi = settings.agi_port if index == 0 else free_port()
        nodes.append(ClusterNode(label, instance, agi))
    return nodes


def nodes_setting(nodes: list[ClusterNode]) -> str:
    """``NU_ASTERISK_NODES`` for these nodes: ``a=/folder,b=/folder``."""
    return ",".join(f"{n.label}={n.asterisk.etc_dir}" for n in nodes)


def node_processes(node: ClusterNode) -> list[processes.Process]:
    """The node's own FastAGI service and queue watcher (named after the node)."""
    fastagi = processes.by_name("fastagi")
    queues = processes.by_name("queues")
    return [
        dataclasses.replace(fastagi, name=f"fastagi-{node.label}"),
        dataclasses.replace(
            queues, name=f"queues-{node.label}", args=(*queues.args, f"--node={node.label}")
        ),
    ]


def run_cluster(settings: Settings, count: int, prefix: str = "node") -> int:
    dialplan = load_dialplan(settings.dialplan_path, settings.prompts_dir)
    root = Path(settings.asterisk_root)
    if not prepare_city(settings, dialplan, "[1/6]"):
        return 1
    print("[2/6] Redis (live state) ...", flush=True)
    redis = _start_redis(settings)
    cluster = Cluster(settings.var_dir / "cluster", sip_port=settings.sip_port)
    nodes = plan_nodes(settings, count, prefix)
    supervisors: list[Supervisor] = []
    children_out = open(settings.log_file, "ab")  # noqa: SIM115 - children print there

    def say(text: str) -> None:
        print(f"      {text}", flush=True)

    try:
        if not chroot_complete(root):
            print("[3/6] Asterisk chroot (the first run: minutes) ...", flush=True)
            ensure_chroot(root)
        else:
            print("[3/6] Asterisk chroot: cached", flush=True)
        operators = operator_lines(settings.database_url, dialplan)
        print(f"[4/6] {count} Asterisk 22 nodes behind Kamailio ...", flush=True)
        for node in nodes:
            fallbacks = ",".join(f"127.0.0.1:{n.agi_port}" for n in nodes if n is not node)
            node.asterisk.render(
                dialplan,
                operators=operators,
                agi_port=node.agi_port,
                agi_fallbacks=fallbacks,
                proxy_port=cluster.sip_port,
            )
            caught_up = catch_up_before_start(settings, node.asterisk.etc_dir)
            state = "live version" if caught_up else "its rendered files (nodesync catches up)"
            say(f"node {node.label}: SIP {node.asterisk.sip_port}, starts on {state}")
        cluster.start([n.asterisk for n in nodes], operators=operator_digests(operators))
        assert cluster.kamailio is not None
        shared_env = dict(
            children_env(settings, nodes[0].asterisk),
            NU_ASTERISK_NODES=nodes_setting(nodes),
            # publishing (admin, `ivr operators`, nodesync) reloads Kamailio's accounts too
            NU_KAMAILIO_ACCOUNTS=str(cluster.kamailio.accounts_dir),
            NU_KAMAILIO_CTL=cluster.kamailio.ctl,
        )
        wanted = processes.wanted(
            dataclasses.replace(settings, asterisk_nodes=shared_env["NU_ASTERISK_NODES"])
        )
        once = [p for p in wanted if p.name not in PER_NODE]
        print(
            f"[5/6] services: fastagi and queues per node; {', '.join(p.name for p in once)}",
            flush=True,
        )
        for node in nodes:
            env = dict(
                children_env(settings, node.asterisk),
                NU_AGI_PORT=str(node.agi_port),
                NU_NODE=node.label,
            )
            supervisors.append(
                Supervisor(node_processes(node), env=env, stdout=children_out, say=say).start()
            )
        supervisors.append(Supervisor(once, env=shared_env, stdout=children_out, say=say).start())
        print("[6/6] waiting for the FastAGI services and the admin ...", flush=True)
        for node, supervisor in zip(nodes, supervisors, strict=False):
            _wait_listening(node.agi_port, supervisor, f"node {node.label}'s FastAGI service")
        _wait_listening(settings.admin_port, supervisors[-1], "the admin web")
        node_lines = "\n".join(
            f"    node {n.label}: SIP 127.0.0.1:{n.asterisk.sip_port}, FastAGI {n.agi_port}, "
            f"CLI: chroot {root} asterisk -C {n.asterisk.inner_dir}/etc/asterisk.conf -r"
            for n in nodes
        )
        print(
            f"""
Numero Unico is answering {dialplan.number} on {count} nodes behind Kamailio.
  Place a call through Kamailio (it picks a node that answers its probes):
    - a SIP softphone on this machine:  sip:{dialplan.number}@127.0.0.1:{cluster.sip_port}
    - baresip:  baresip -e "/dial sip:{dialplan.number}@127.0.0.1:{cluster.sip_port}"
  Nodes:
{node_lines}
  Admin web: http://{settings.admin_host}:{settings.admin_port}/ (publishing reaches every node)
  Logs: {settings.log_file}, {cluster.folder}/kamailio/kamailio.log and each node's log/
Press Ctrl-C to stop.""",
            flush=True,
        )
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        while not stop.wait(0.5):
            # a node that dies is Kamailio's to route around while it is started again, caught
            # up first (its probes put it back once it answers); Redis likewise
            for node in nodes:
                if not node.asterisk.running and not stop.is_set():
                    say(f"node {node.label} stopped: catching up and starting it again")
                    catch_up_before_start(settings, node.asterisk.etc_dir)
                    node.asterisk.start()
            if redis is not None and redis.process is not None and redis.process.poll() is not None:
                say("Redis stopped: starting it again")
                redis.start()
            for supervisor in supervisors:
                supervisor.poll()
            if cluster.kamailio is None or cluster.kamailio.process is None:
                break
            if cluster.kamailio.process.poll() is not None:
                say(f"Kamailio stopped; see {cluster.kamailio.log_file}")
                return 1
        return 0
    finally:
        for supervisor in reversed(supervisors):
            supervisor.stop()
        cluster.stop()
        if redis is not None:
            redis.stop()
        children_out.close()
