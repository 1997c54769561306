"""Two (or N) Asterisk nodes behind Kamailio on one machine, for development and tests.

Kamailio (Debian's ``kamailio``, installed by scripts/bootstrap.sh) runs as our own process on
loopback with its own folder: the shipped ``kamailio/kamailio.cfg`` rendered with this run's
port (placeholders filled as :func:`ivr.asterisk.render.fill_tokens` fills asterisk-conf/), and
a ``dispatcher.list`` naming the nodes' SIP ports. It dispatches the city number's new calls
to the nodes that answer its OPTIONS probes; each node is an :class:`AsteriskInstance` from the
same cached chroot, rendered for the same dialplan with ``proxy_port`` (so it knows Kamailio as
a ``from-pstn`` trunk) and pointing at the same FastAGI service(s).
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ivr import config
from ivr.asterisk.render import OperatorLine, fill_tokens
from ivr.devenv.asterisk import AsteriskInstance, _signal_group, free_port
from ivr.supervisor import die_with_parent

log = logging.getLogger(__name__)

KAMAILIO_CFG = config.ROOT / "kamailio" / "kamailio.cfg"
KAMAILIO = "/usr/sbin/kamailio"
DISPATCHER_SET = 1  # kamailio.cfg's ds_select_dst("1", ...)


class KamailioError(RuntimeError):
    """Kamailio is missing, refused its configuration or did not start."""


def kamailio_binary() -> str:
    """The kamailio executable; missing is an error (bootstrap installs it), never a skip."""
    found = shutil.which("kamailio") or (KAMAILIO if Path(KAMAILIO).is_file() else None)
    if not found:
        raise KamailioError("kamailio is not installed: run scripts/bootstrap.sh (as root)")
    return found


def render_kamailio(
    folder: Path,
    sip_port: int,
    node_ports: Sequence[int],
    *,
    ping_s: int = 1,
    fr_timer_ms: int = 1500,
    ctl_socket: Path | None = None,
    operators: Mapping[str, str] | None = None,
    template: Path = KAMAILIO_CFG,
) -> Path:
    """Write ``kamailio.cfg`` and ``dispatcher.list`` into ``folder``; returns the cfg path.

    ``node_ports``: the nodes' SIP ports on 127.0.0.1. ``ping_s``: seconds between OPTIONS
    probes; ``fr_timer_ms``: how long an INVITE may go unanswered (not even 100 Trying) before
    the node is marked down and the next one tried. ``ctl_socket``: kamcmd's Unix socket
    (default ``folder/kamailio_ctl``; a Unix socket path must stay under 104 bytes).
    ``operators``: extension -> digest (MD5 of extension:realm:secret, as stored) of the
    operators whose softphones may register here (``operators.cfg``, owner-only)."""
    for port in (sip_port, *node_ports):
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise ValueError(f"{port!r} is not a port")
    if not node_ports:
        raise ValueError("a cluster needs at least one node")
    folder.mkdir(parents=True, exist_ok=True)
    nodes = folder / "dispatcher.list"
    nodes.write_text(
        "# setid destination flags priority (rendered by ivr/devenv/cluster.py)\n"
        + "".join(f"{DISPATCHER_SET} sip:127.0.0.1:{port} 0 0\n" for port in node_ports)
    )
    accounts = folder / "operators.cfg"
    fd = os.open(accounts, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(render_operator_digests(operators or {}))
    values = {
        "OPERATORS": str(accounts),
        "LISTEN": "127.0.0.1",
        "SIP_PORT": str(sip_port),
        "DISPATCHER_LIST": str(nodes),
        "PING_S": str(int(ping_s)),
        "FR_TIMER_MS": str(int(fr_timer_ms)),
        "CTL_SOCKET": str(ctl_socket or folder / "kamailio_ctl"),
    }
    cfg = folder / "kamailio.cfg"
    cfg.write_text(fill_tokens(template, values))
    return cfg


def render_operator_digests(operators: Mapping[str, str]) -> str:
    """The operators' digests as Kamailio's ``ops`` htable, filled when the module starts."""
    lines = ["# operator digests (rendered by ivr/devenv/cluster.py): owner-only\n"]
    if not operators:  # an empty route is a syntax error: no route, no operator registers
        return lines[0]
    lines.append("event_route[htable:mod-init] {\n")
    for ext, digest in sorted(operators.items()):
        if not re.fullmatch(r"\d{2,6}", ext) or not re.fullmatch(r"[0-9a-f]{32}", digest):
            raise ValueError(f"operator {ext!r}: not an extension with an MD5 digest")
        lines.append(f'\t$sht(ops=>{ext}) = "{digest}";\n')
    lines.append("}\n")
    return "".join(lines)


def operator_digests(operators: Sequence[OperatorLine]) -> dict[str, str]:
    """extension -> digest of the enabled accounts (what :func:`render_kamailio` takes)."""
    return {op.extension: op.digest for op in operators}


class Kamailio:
    """Kamailio as a child process (foreground, its own runtime folder, no root daemon)."""

    def __init__(self, folder: Path, sip_port: int, node_ports: Sequence[int], **kw: Any):
        self.folder = Path(folder)
        self.sip_port = sip_port
        self.node_ports = list(node_ports)
        self.options = kw
        self.process: subprocess.Popen[bytes] | None = None
        self.run_dir: Path | None = None  # short private folder: pid file, control socket

    @property
    def log_file(self) -> Path:
        return self.folder / "kamailio.log"

    def start(self, timeout: float = 15.0) -> Kamailio:
        binary = kamailio_binary()
        # a Unix socket path is limited to 104 bytes: not under a test's deep tmp folder
        self.run_dir = run = Path(tempfile.mkdtemp(prefix="nu-kamailio-"))
        cfg = render_kamailio(
            self.folder,
            self.sip_port,
            self.node_ports,
            ctl_socket=run / "ctl",
            **self.options,  # type: ignore[arg-type]
        )
        check = subprocess.run([binary, "-c", "-f", str(cfg)], capture_output=True, text=True)
        if check.returncode != 0:
            self.stop()
            raise KamailioError(f"kamailio.cfg refused:\n{check.stderr[-2000:]}")
        command = [binary, "-f", str(cfg), "-DD", "-E", "-Y", str(run), "-P", str(run / "pid")]
        with open(self.log_file, "ab") as out:
            self.process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=die_with_parent,
            )
        deadline = time.monotonic() + timeout
        while not _udp_bound(self.sip_port):
            if self.process.poll() is not None:
                self.stop()
                tail = self.log_file.read_text(errors="replace")[-1500:]
                raise KamailioError(f"kamailio exited at start ({self.log_file}):\n{tail}")
            if time.monotonic() > deadline:
                self.stop()
                raise KamailioError(f"kamailio did not listen on {self.sip_port}")
            time.sleep(0.1)
        log.info(
            "Kamailio up (pid %s, SIP %s, nodes %s)",
            self.process.pid,
            self.sip_port,
            self.node_ports,
        )
        return self

    def node_states(self) -> dict[int, str]:
        """Dispatcher flags per node SIP port, from ``kamcmd dispatcher.list``: ``A``ctive or
        ``I``nactive, then ``P`` while probed (``AP``: taking calls; ``IP``: taken out)."""
        if self.run_dir is None:
            raise KamailioError("kamailio is not running")
        return dispatcher_states(self.run_dir / "ctl")

    def stop(self, timeout: float = 10.0) -> None:
        proc, self.process = self.process, None
        run, self.run_dir = self.run_dir, None
        if proc is None:
            if run is not None:
                shutil.rmtree(run, ignore_errors=True)
            return
        _signal_group(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            _signal_group(proc.pid, signal.SIGKILL)
            proc.wait(5)
        if run is not None:
            shutil.rmtree(run, ignore_errors=True)

    def __enter__(self) -> Kamailio:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def dispatcher_states(ctl_socket: Path, timeout: float | None = None) -> dict[int, str]:
    """:meth:`Kamailio.node_states` of the Kamailio whose ctl socket is ``ctl_socket`` (also one
    run by another process: the chaos bench reads ``ivr up --nodes``' own)."""
    binary = str(Path(kamailio_binary()).with_name("kamcmd"))
    out = subprocess.run(
        [binary, "-s", f"unix:{ctl_socket}", "dispatcher.list"],
        capture_output=True,
        text=True,
        check=True,
        timeout=timeout,
    ).stdout
    found = re.findall(r"URI:\s*sip:127\.0\.0\.1:(\d+)\s+FLAGS:\s*(\w+)", out)
    return {int(port): flags for port, flags in found}


def _udp_bound(port: int) -> bool:
    """Whether something listens on UDP 127.0.0.1:``port`` (binding it fails)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
        return False


class Cluster:
    """Kamailio on a free port in front of ``nodes`` (rendered, not necessarily started).

    Render each node with ``proxy_port=cluster.sip_port`` (make the cluster first, then the
    nodes), start the nodes, then :meth:`start`."""

    def __init__(self, folder: Path, sip_port: int | None = None):
        self.folder = Path(folder)
        self.sip_port = sip_port or free_port(socket.SOCK_DGRAM)
        self.nodes: list[AsteriskInstance] = []
        self.kamailio: Kamailio | None = None

    def start(self, nodes: Sequence[AsteriskInstance], **kw: Any) -> Cluster:
        self.nodes = list(nodes)
        for node in self.nodes:
            node.start()
        self.kamailio = Kamailio(
            self.folder / "kamailio", self.sip_port, [n.sip_port for n in self.nodes], **kw
        ).start()
        return self

    def stop(self) -> None:
        if self.kamailio is not None:
            self.kamailio.stop()
        for node in self.nodes:
            node.stop()
