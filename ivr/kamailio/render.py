"""Kamailio's configuration for a city: ``kamailio.cfg``, ``dispatcher.list`` and the operator
accounts' table, from the shipped ``kamailio/kamailio.cfg`` (at-sign placeholders, filled as
:func:`ivr.asterisk.render.fill_tokens` fills asterisk-conf/).

The same rendering serves a production host (``ivr kamailio render``: addresses from
``NU_KAMAILIO_LISTEN`` and ``NU_KAMAILIO_NODES``) and the development cluster
(:mod:`ivr.devenv.cluster`, everything on loopback). Every value is checked before it reaches
the file, and a refusal names the setting and the value.

The accounts are a ``db_text`` table (``nu_operators`` in the accounts folder, one line per
enabled operator: extension and digest) that Kamailio's ``htable`` loads at start and again on
``htable.reload`` (:mod:`ivr.kamailio.accounts`): a text database, so no database server for
Kamailio, and one file as the only state.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from ivr import config
from ivr.asterisk.render import OperatorLine, fill_tokens

KAMAILIO_CFG = config.ROOT / "kamailio" / "kamailio.cfg"
DISPATCHER_SET = 1  # kamailio.cfg's ds_select_dst("1", ...)
ACCOUNTS_TABLE = "nu_operators"  # kamailio.cfg's htable "ops" dbtable
ACCOUNTS_HEADER = "key_name(str) key_type(int) value_type(int) key_value(str) expires(int)\n"
PRODUCTION_CTL = "/run/kamailio/kamailio_ctl"  # Debian's kamailio.service RuntimeDirectory

_LABEL = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?")  # one part of a host name
_EXTENSION = re.compile(r"\d{2,6}")
_DIGEST = re.compile(r"[0-9a-f]{32}")


class KamailioConfigError(ValueError):
    """A value Kamailio's configuration cannot take; the message names it."""


def _host_name(text: str) -> bool:
    """A DNS host name (not digits and dots alone: that would be a bad IPv4 address)."""
    labels = text.split(".")
    return (
        len(text) <= 253
        and all(_LABEL.fullmatch(label) for label in labels)
        and not all(label.isdigit() for label in labels)
    )


def _port(text: str, where: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise KamailioConfigError(f"{where}: {text!r} is not a port (1-65535)")
    return int(text)


def parse_listen(text: str, where: str = "NU_KAMAILIO_LISTEN") -> tuple[str, int]:
    """``address:port`` Kamailio listens on: an IPv4 address of this host (not 0.0.0.0: the
    address goes into Record-Route, where the nodes and the phones must reach it)."""
    host, sep, port = text.strip().rpartition(":")
    if not sep or not host:
        raise KamailioConfigError(f"{where}: {text!r} is not address:port (e.g. 192.0.2.10:5060)")
    try:
        address = ipaddress.IPv4Address(host)
    except ValueError:
        raise KamailioConfigError(f"{where}: {host!r} is not an IPv4 address") from None
    if address.is_unspecified:
        raise KamailioConfigError(
            f"{where}: {host!r} is not one address: give the one the nodes and phones reach"
        )
    return str(address), _port(port, where)


def parse_nodes(text: str, where: str = "NU_KAMAILIO_NODES") -> list[tuple[str, int]]:
    """The Asterisk nodes' SIP ``host:port`` list (commas or spaces), at least one, no twice."""
    nodes: list[tuple[str, int]] = []
    for item in text.replace(",", " ").split():
        host, sep, port = item.rpartition(":")
        if not sep or not host:
            raise KamailioConfigError(f"{where}: {item!r} is not host:port (e.g. 10.0.0.11:5060)")
        try:
            host = str(ipaddress.IPv4Address(host))
        except ValueError:
            if not _host_name(host):
                raise KamailioConfigError(
                    f"{where}: {host!r} is neither an IPv4 address nor a host name"
                ) from None
        node = (host, _port(port, where))
        if node in nodes:
            raise KamailioConfigError(f"{where}: {item!r} is named twice")
        nodes.append(node)
    if not nodes:
        raise KamailioConfigError(f"{where} is empty: name the Asterisk nodes as host:port,...")
    return nodes


def accounts_table(operators: Mapping[str, str]) -> str:
    """The ``nu_operators`` db_text table: extension -> digest (MD5 of extension:realm:secret,
    the value Asterisk checks too), nothing else; a value that is not one refuses the lot."""
    lines = [ACCOUNTS_HEADER]
    for ext, digest in sorted(operators.items()):
        if not _EXTENSION.fullmatch(ext) or not _DIGEST.fullmatch(digest):
            raise KamailioConfigError(f"operator {ext!r}: not an extension with an MD5 digest")
        lines.append(f"{ext}:0:0:{digest}:0\n")  # key type 0, value type 0 (string), no expiry
    return "".join(lines)


def operator_digests(operators: Sequence[OperatorLine]) -> dict[str, str]:
    """extension -> digest of the enabled accounts (what :func:`accounts_table` takes)."""
    return {op.extension: op.digest for op in operators}


def write_accounts(folder: Path, operators: Mapping[str, str]) -> bool:
    """Write the accounts' table into ``folder`` (temp file + rename, mode 0640: Kamailio's
    group reads it). False when it already said exactly that (nothing written).

    db_text notices a changed table by its modification time in whole seconds, so the new
    file's is moved past the old one's: two changes within a second are never taken for one."""
    text = accounts_table(operators)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / ACCOUNTS_TABLE
    try:
        if path.read_text(encoding="utf-8") == text:
            return False
        before = int(path.stat().st_mtime)
    except OSError:
        before = 0
    fd, tmp = tempfile.mkstemp(prefix=f".{ACCOUNTS_TABLE}.", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o640)
        stamp = max(int(time.time()), before + 1)
        os.utime(tmp, (stamp, stamp))
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return True


def render_tls(certificate: str, private_key: str) -> str:
    """``tls.cfg``: Kamailio's TLS server for the operators' softphones (TLS 1.2 and later, no
    client certificate asked: operators authenticate with their digest, as over UDP); as a
    client (reaching a phone on its own connection) it does not check the phone's certificate,
    as Asterisk does not."""
    return (
        "# Rendered by Numero Unico (ivr/kamailio/render.py): TLS for operators' softphones.\n"
        "[server:default]\nmethod = TLSv1.2+\nverify_certificate = no\n"
        f"require_certificate = no\ncertificate = {certificate}\nprivate_key = {private_key}\n\n"
        "[client:default]\nmethod = TLSv1.2+\nverify_certificate = no\nrequire_certificate = no\n"
    )


def render_kamailio(
    folder: Path,
    *,
    listen: tuple[str, int],
    nodes: Sequence[tuple[str, int]],
    ctl_socket: str | Path,
    accounts_dir: Path | None = None,
    operators: Mapping[str, str] | None = None,
    ping_s: int = 1,
    fr_timer_ms: int = 1500,
    log_stderror: bool = False,
    tls: tuple[str, str] | None = None,
    template: Path = KAMAILIO_CFG,
) -> Path:
    """Write ``kamailio.cfg`` and ``dispatcher.list`` into ``folder`` and the accounts' table
    into ``accounts_dir`` (default ``folder``); returns the cfg's path.

    ``listen``: Kamailio's own address and SIP port; ``nodes``: the Asterisk nodes' SIP
    addresses (dispatcher set 1). ``ping_s``: seconds between OPTIONS probes; ``fr_timer_ms``:
    how long an INVITE may go unanswered (not even 100 Trying) before the node is marked down
    and the next one tried. ``ctl_socket``: kamcmd's Unix socket (a path under 104 bytes).
    ``operators``: extension -> digest of the accounts that may register. ``log_stderror``:
    errors to standard error (Kamailio as a child process) instead of syslog. ``tls``: the
    certificate and key (PEM paths Kamailio reads) of a TLS listener on ``listen``'s port + 1
    for operators' softphones (``tls.cfg``); None: UDP only."""
    host, port = parse_listen(f"{listen[0]}:{listen[1]}", "listen address")
    checked = parse_nodes(",".join(f"{h}:{p}" for h, p in nodes), "nodes")
    ctl = str(ctl_socket)
    if not ctl.startswith("/") or len(ctl.encode()) >= 104 or re.search(r'[\s"]', ctl):
        raise KamailioConfigError(
            f"control socket {ctl!r}: an absolute path without spaces, under 104 bytes"
        )
    for value, name in ((ping_s, "probe interval"), (fr_timer_ms, "INVITE timeout")):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise KamailioConfigError(f"{name}: {value!r} is not a positive whole number")
    accounts = Path(accounts_dir or folder).absolute()
    if re.search(r'[\s"]', str(accounts)):
        raise KamailioConfigError(f"accounts folder {str(accounts)!r}: no spaces or quotes")
    if port == 65535 and tls:
        raise KamailioConfigError("listen address: port 65535 leaves no port + 1 for TLS")
    for pem in tls or ():
        if not pem.startswith("/") or re.search(r"[\s\"\[\]]", pem):
            raise KamailioConfigError(
                f"TLS certificate or key {pem!r}: an absolute path, no spaces"
            )
    folder.mkdir(parents=True, exist_ok=True)
    tls_config = folder / "tls.cfg"
    if tls:
        tls_config.write_text(render_tls(*tls))
    dispatcher = folder / "dispatcher.list"
    dispatcher.write_text(
        "# setid destination flags priority (rendered by Numero Unico: ivr/kamailio/render.py)\n"
        + "".join(f"{DISPATCHER_SET} sip:{h}:{p} 0 0\n" for h, p in checked)
    )
    write_accounts(accounts, operators or {})
    values = {
        "LISTEN": host,
        "SIP_PORT": str(port),
        "DISPATCHER_LIST": str(dispatcher.absolute()),
        "ACCOUNTS_DB": str(accounts),
        "PING_S": str(ping_s),
        "FR_TIMER_MS": str(fr_timer_ms),
        "CTL_SOCKET": ctl,
        "LOG_STDERROR": "yes" if log_stderror else "no",
        "TLS_DEFINE": "#!define WITH_TLS" if tls else "# no TLS listener (no certificate)",
        "TLS_PORT": str(port + 1),
        "TLS_CONFIG": str(tls_config.absolute()),
    }
    cfg = folder / "kamailio.cfg"
    cfg.write_text(fill_tokens(template, values))
    return cfg
