"""Two (or N) Asterisk nodes behind Kamailio on one machine, for development and tests.

Kamailio (Debian's ``kamailio``, installed by scripts/bootstrap.sh) runs as our own process on
loopback with its own folder: the shipped ``kamailio/kamailio.cfg`` rendered with this run's
port by :mod:`ivr.kamailio.render` (as a production host's is), a ``dispatcher.list`` naming the
nodes' SIP ports and the operator accounts' table (:attr:`Kamailio.accounts_dir`, which
publishing keeps current over :attr:`Kamailio.ctl`). It dispatches the city number's new calls
to the nodes that answer its OPTIONS probes; each node is an :class:`AsteriskInstance` from the
same cached chroot, rendered for the same dialplan with ``proxy_port`` (so it knows Kamailio as
a ``from-pstn`` trunk) and pointing at the same FastAGI service(s).
"""

from __future__ import annotations

import logging
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ivr.devenv.asterisk import AsteriskInstance, free_port, stop_group
from ivr.kamailio.render import KAMAILIO_CFG, operator_digests
from ivr.kamailio.render import render_kamailio as render_config
from ivr.supervisor import die_with_parent

log = logging.getLogger(__name__)

KAMAILIO = "/usr/sbin/kamailio"
__all__ = ["Cluster", "Kamailio", "KamailioError", "operator_digests", "render_kamailio"]


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
    tls: tuple[str, str] | None = None,
    template: Path = KAMAILIO_CFG,
) -> Path:
    """:func:`ivr.kamailio.render.render_kamailio` on loopback: Kamailio on ``sip_port``, the
    nodes on ``node_ports`` of 127.0.0.1, the accounts' table (``operators``: extension ->
    digest) and kamcmd's socket (default ``folder/kamailio_ctl``) in ``folder``; ``tls``: the
    certificate and key of a TLS listener on ``sip_port + 1``."""
    for port in (sip_port, *node_ports):
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise ValueError(f"{port!r} is not a port")
    if not node_ports:
        raise ValueError("a cluster needs at least one node")
    return render_config(
        folder,
        listen=("127.0.0.1", sip_port),
        nodes=[("127.0.0.1", port) for port in node_ports],
        ctl_socket=ctl_socket or folder / "kamailio_ctl",
        operators=operators,
        ping_s=int(ping_s),
        fr_timer_ms=int(fr_timer_ms),
        log_stderror=True,  # into the run's kamailio.log
        tls=tls,
        template=template,
    )


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

    @property
    def ctl(self) -> str:
        """kamcmd's socket while it runs (``NU_KAMAILIO_CTL`` for publishing)."""
        if self.run_dir is None:
            raise KamailioError("kamailio is not running")
        return str(self.run_dir / "ctl")

    @property
    def accounts_dir(self) -> Path:
        """The folder of its operator accounts' table (``NU_KAMAILIO_ACCOUNTS``)."""
        return self.folder

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
        if proc is not None:
            stop_group(proc, timeout)
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
