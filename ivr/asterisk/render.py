"""Render the Asterisk configuration of a city: static files + what the dialplan YAML decides.

``asterisk-conf/`` holds the static files. A few carry ``@TOKEN@`` placeholders (ports, AMI
credentials) that are filled in here; a token left unknown is an error, never a silent blank.
Generated from the dialplan:

* ``extensions_nu.conf`` (included by ``extensions.conf``): globals (FastAGI URL, sounds folder,
  languages, general operator queue, queue timeouts, whether speech is on), the city number in
  ``from-pstn``, one ``nu-queue`` extension per queue, and the operators' per-department codes;
* ``queues.conf``: one queue per department queue;
* ``pjsip_operators.conf`` (included by ``pjsip.conf``): one endpoint, auth and aor per enabled
  operator account (:class:`OperatorLine`, from :mod:`ivr.operators`), with the SIP digest of
  their own secret, never the secret; their login rights and penalties go in
  ``extensions_nu.conf`` (``nu-operator-rights``), their extensions in ``nu-operator-dial``.

Injection safety: every id written into a configuration is checked against :data:`IDENT`
(lowercase letters, digits, ``_``), ports are integers, paths/hosts/secrets are checked against
narrow patterns, and free text (department names, the city name) goes through
:func:`clean_text`, which keeps only letters, digits, spaces and ``.'-/``. A value that cannot
be made safe raises :class:`RenderError` instead of being written.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ivr import config
from ivr.asterisk import variables as V
from ivr.asterisk.variables import assign, ref
from ivr.queues.languages import department_queue, twins
from ivr.sip.render import TLS_FILE, operator_networks, render_tls

STATIC_DIR = config.ROOT / "asterisk-conf"

IDENT = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
LANG = re.compile(r"^[a-z]{2,3}$")
NUMBER = re.compile(r"^[0-9*#+]{1,20}$")
HOST = re.compile(r"^[A-Za-z0-9.-]{1,253}$")
SECRET = re.compile(r"^[A-Za-z0-9_-]{8,128}$")
USER = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
SOUNDS_PATH = re.compile(r"^/[A-Za-z0-9._/-]{0,200}$")
TOKEN = re.compile(r"@([A-Z][A-Z0-9_]*)@")

# Files rendered from the dialplan (never copied from asterisk-conf/).
CLUSTER_FILE = "pjsip_cluster.conf"
GENERATED = (
    "extensions_nu.conf",
    "queues.conf",
    "pjsip_operators.conf",
    TLS_FILE,
    CLUSTER_FILE,
)
EXTENSION = re.compile(r"^[0-9]{2,6}$")
DIGEST = re.compile(r"^[0-9a-f]{32}$")
MAX_DEPARTMENTS = 99  # department codes are two digits: *11NN, *12NN, 8NN


class RenderError(ValueError):
    """A value that cannot be written into the Asterisk configuration safely."""


@dataclass(frozen=True)
class OperatorLine:
    """What Asterisk needs of one enabled operator account: ``digest`` is MD5 of
    ``extension:realm:secret``; ``rights`` the queues they may log in to, with their penalty."""

    extension: str
    name: str
    digest: str
    rights: tuple[tuple[str, int], ...] = ()
    tls: bool = False  # pjsip.conf's operator-endpoint-tls: TLS transport, SRTP (SDES)


@dataclass(frozen=True)
class AMICredentials:
    host: str
    port: int
    username: str
    secret: str


def ident(value: object, what: str) -> str:
    """``value`` if it is a safe identifier (queue, department), else :class:`RenderError`."""
    if not isinstance(value, str) or not IDENT.fullmatch(value):
        raise RenderError(f"{what} {value!r} is not an identifier (a-z, 0-9, _; a letter first)")
    return value


def clean_text(value: object, max_len: int = 60) -> str:
    """Free text made harmless for any place in an Asterisk config or an AMI header.

    Keeps letters (accents included), digits, spaces and ``. ' - /``; every other character
    (newlines, ``;``, ``,``, ``$``, braces, brackets, quotes, parentheses, ``=``, ``&``, ``|``...)
    becomes a space; runs of spaces collapse. ``${X}`` can therefore never survive.
    """
    text = unicodedata.normalize("NFC", str(value))
    kept = [
        ch if (ch.isalnum() and unicodedata.category(ch)[0] in "LN") or ch in ".'-/" else " "
        for ch in text
    ]
    return " ".join("".join(kept).split())[:max_len].strip()


def _port(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 65536:
        raise RenderError(f"{what} {value!r} is not a TCP/UDP port")
    return value


def _match(pattern: re.Pattern[str], value: object, what: str) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise RenderError(f"{what} {value!r} is not allowed in the Asterisk configuration")
    return value


def _existing(path: Path, key: str) -> str | None:
    """Value of ``key = value`` in a previously rendered file (keeps secrets stable)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return None
    m = re.search(rf"^\s*{re.escape(key)}\s*=\s*(\S+)\s*$", text, re.M)
    return m.group(1) if m and SECRET.fullmatch(m.group(1)) else None


def read_ami_credentials(etc_dir: str | Path) -> AMICredentials:
    """The AMI port, user and secret a rendered ``manager.conf`` declares."""
    path = Path(etc_dir) / "manager.conf"
    section, port, users = "", None, {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split(";", 1)[0].strip()
        if m := re.match(r"^\[([^\]]+)\]", line):
            section = m.group(1)
        elif m := re.match(r"^(\w+)\s*=\s*(\S+)$", line):
            if section == "general" and m.group(1) == "port":
                port = int(m.group(2))
            elif section != "general" and m.group(1) == "secret":
                users[section] = m.group(2)
    if not users:
        raise RenderError(f"{path} declares no AMI user")
    user, secret = next(iter(users.items()))
    return AMICredentials("127.0.0.1", port or 5038, user, secret)


def render(
    dialplan: Any,
    settings: config.Settings | None = None,
    out_dir: str | Path = ".",
    *,
    ami_port: int | None = None,
    sip_port: int | None = None,
    agi_host: str | None = None,
    agi_port: int | None = None,
    agi_fallbacks: str | None = None,
    ami_user: str = "numero-unico",
    ami_secret: str | None = None,
    operators: Sequence[OperatorLine] = (),
    sounds_path: str | None = None,
    queue_timeout: int = 180,
    general_timeout: int = 900,
    static_dir: str | Path = STATIC_DIR,
    proxy_port: int | None = None,
    proxy_host: str = "127.0.0.1",
) -> list[Path]:
    """Write the full Asterisk configuration for ``dialplan`` into ``out_dir``.

    Ports default to the settings' (SIP, AMI, FastAGI), ``sounds_path`` (where
    Asterisk reads our prompts) to ``settings.asterisk_sounds_dir``. The AMI secret left ``None``
    is kept from a previous render in ``out_dir`` or generated. ``operators``: the enabled
    operator accounts (none: no softphone can register). ``queue_timeout`` is how long a
    caller waits in a department queue before the general operator takes over;
    ``general_timeout`` how long in the general operator queue before the polite goodbye.
    ``proxy_port``: this node sits behind the cluster's Kamailio on that port of ``proxy_host``
    (its address: loopback for the one-machine cluster), whose calls land in ``from-pstn``
    (``pjsip_cluster.conf``; ``None``: a single node, the file holds only a comment). Returns
    the written paths.
    """
    settings = settings or config.load()
    out = Path(out_dir)
    values = {
        "AMI_PORT": str(_port(settings.ami_port if ami_port is None else ami_port, "AMI port")),
        "SIP_PORT": str(_port(settings.sip_port if sip_port is None else sip_port, "SIP port")),
        "AMI_USER": _match(USER, ami_user, "AMI user"),
        "AMI_SECRET": _match(
            SECRET,
            ami_secret or _existing(out / "manager.conf", "secret") or secrets.token_urlsafe(18),
            "AMI secret",
        ),
        "DEFAULT_LANG": _match(LANG, dialplan.default_language, "default language"),
        "OPERATOR_NETWORKS": operator_networks(settings),  # acl.conf: ivr/sip/render.py
    }
    globals_ = {
        "agi_host": _match(HOST, agi_host or settings.agi_host, "FastAGI host"),
        "agi_port": _port(agi_port or settings.agi_port, "FastAGI port"),
        "agi_fallbacks": agi_services(
            settings.agi_fallbacks if agi_fallbacks is None else agi_fallbacks
        ),
        "sounds": _match(
            SOUNDS_PATH,
            (sounds_path or settings.asterisk_sounds_dir).rstrip("/") or "/",
            "sounds path",
        ),
        "queue_timeout": _port(queue_timeout, "queue timeout"),
        "general_timeout": _port(general_timeout, "general operator timeout"),
        "speech": bool(settings.speech_models),
    }

    values["SOUNDS"] = globals_["sounds"]
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for src in sorted(Path(static_dir).glob("*.conf")):
        if src.name in GENERATED:
            continue
        written.append(_write(out / src.name, fill_tokens(src, values)))
    written.append(
        _write(
            out / "extensions_nu.conf",
            render_extensions(dialplan, operators=operators, **globals_),
        )
    )
    written.append(_write(out / "queues.conf", render_queues(dialplan)))
    written.append(_write(out / TLS_FILE, render_tls(settings, int(values["SIP_PORT"]))))
    written.append(
        _write(
            out / "pjsip_operators.conf",
            render_operators(dialplan, operators, proxy_port=proxy_port, proxy_host=proxy_host),
        )
    )
    written.append(_write(out / CLUSTER_FILE, render_cluster(proxy_port, proxy_host)))
    return written


def render_cluster(proxy_port: int | None, proxy_host: str = "127.0.0.1") -> str:
    """``pjsip_cluster.conf``: the cluster's Kamailio (``proxy_host:proxy_port``) as a trunk into
    ``from-pstn``, matched by address *and* port, so its INVITEs and OPTIONS probes are known
    whatever ``local-pstn`` becomes. ``None``: no cluster, nothing but a comment."""
    head = "; The cluster's SIP proxy (Kamailio), rendered by `ivr asterisk render`.\n"
    if proxy_port is None:
        return head + "; No cluster configured: calls come straight from the trunk.\n"
    port = _port(proxy_port, "Kamailio port")
    host = _match(HOST, proxy_host, "Kamailio address")
    return (
        head
        + "[cluster-proxy](trunk-endpoint)\n\n"
        + f"[cluster-proxy](trunk-identify)\nendpoint = cluster-proxy\nmatch = {host}:{port}\n"
    )


def fill_tokens(src: Path, values: dict[str, str]) -> str:
    """``src``'s text with every ``@TOKEN@`` replaced; an unknown token is an error."""

    def value(m: re.Match[str]) -> str:
        if m.group(1) not in values:
            raise RenderError(f"{src.name}: unknown placeholder {m.group(0)}")
        return values[m.group(1)]

    return TOKEN.sub(value, src.read_text(encoding="utf-8"))


def _write(path: Path, text: str) -> Path:
    """Owner read/write, group read, nothing for others: manager.conf holds the AMI secret and
    pjsip.conf the operators' passwords (Asterisk reads them as its group: docs/production.md)."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        os.fchmod(out.fileno(), 0o640)
        out.write(text)
    tmp.replace(path)
    return path


def install(src_dir: str | Path, etc_dir: str | Path) -> list[Path]:
    """Copy a rendered configuration (every ``*.conf``) into an Asterisk etc directory."""
    etc = Path(etc_dir)
    etc.mkdir(parents=True, exist_ok=True)
    copied = []
    for src in sorted(Path(src_dir).glob("*.conf")):
        copied.append(Path(shutil.copy2(src, etc / src.name)))
    return copied


# ---------------------------------------------------------------------------------------------
# Generated files


@dataclass(frozen=True)
class _Queue:
    name: str
    label: str
    department: str  # the first department using this queue
    code: str  # two digits, by position of that department in the YAML


def queues_of(dialplan: Any) -> list[_Queue]:
    """The dialplan's queues in YAML order, checked. Departments may share a queue."""
    departments = list(dialplan.departments.values())
    if len(departments) > MAX_DEPARTMENTS:
        raise RenderError(f"more than {MAX_DEPARTMENTS} departments")
    seen: dict[str, _Queue] = {}
    for position, dept in enumerate(departments, start=1):
        name = ident(dept.queue, f"queue of department {dept.id!r}")
        if name not in seen:
            label = dept.names.get(dialplan.default_language) or next(
                iter(dept.names.values()), dept.id
            )
            seen[name] = _Queue(
                name=name,
                label=clean_text(label, 40) or ident(dept.id, "department"),
                department=ident(dept.id, "department"),
                code=f"{position:02d}",
            )
    for name in seen:
        base = department_queue(name, dialplan.languages)
        if base != name and base in seen:
            raise RenderError(f"queue {name!r} is the {base!r} queue's twin for another language")
    return list(seen.values())


def general_queue(dialplan: Any) -> str:
    general = ident(dialplan.general_operator, "general operator")
    if general not in dialplan.departments:
        raise RenderError(f"general operator {general!r} is not a department")
    return ident(dialplan.departments[general].queue, "general operator queue")


def _header(dialplan: Any, what: str) -> str:
    city = clean_text(getattr(dialplan, "city", ""), 80)
    source = clean_text(Path(str(getattr(dialplan, "source", "") or "")).name, 80)
    return (
        f"; {what} for {city or 'the city'} - rendered by `ivr asterisk render`"
        f"{f' from {source}' if source else ''}.\n"
        "; Do not edit: change the dialplan YAML and render again.\n"
    )


def agi_services(text: str) -> tuple[tuple[str, int], ...]:
    """``"host:port,host:port"`` (``NU_AGI_FALLBACKS``) as checked (host, port) pairs."""
    services = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        host, _, port = item.rpartition(":")
        if not port.isdigit():
            raise RenderError(f"FastAGI service {item!r}: host:port expected")
        services.append((_match(HOST, host, "FastAGI host"), _port(int(port), "FastAGI port")))
    return tuple(services)


def render_extensions(
    dialplan: Any,
    *,
    agi_host: str,
    agi_port: int,
    agi_fallbacks: Sequence[tuple[str, int]] = (),
    sounds: str,
    queue_timeout: int,
    general_timeout: int,
    operators: Sequence[OperatorLine] = (),
    speech: bool = False,
) -> str:
    number = _match(NUMBER, dialplan.number, "city number")
    languages = [_match(LANG, lang, "language") for lang in dialplan.languages]
    default = _match(LANG, dialplan.default_language, "default language")
    general = general_queue(dialplan)
    queues = queues_of(dialplan)

    lines = [_header(dialplan, "City dialplan")]
    lines += [
        "[globals]",
        assign(V.AGI_URL, f"agi://{agi_host}:{agi_port}"),
        assign(V.AGI_FALLBACKS, "|".join(f"agi://{h}:{p}" for h, p in agi_fallbacks)),
        assign(V.SOUNDS, sounds),
        assign(V.LANGS, "|".join(languages)),
        assign(V.DEFAULT_LANG, default),
        assign(V.GENERAL_QUEUE, general),
        assign(V.QUEUE_TIMEOUT, queue_timeout),
        assign(V.GENERAL_TIMEOUT, general_timeout),
        assign(V.SPEECH, 1 if speech else 0),
        "",
        "; The city number (and calls that arrive without a number) start the IVR.",
        "[from-pstn]",
        f"exten => {number},1,Goto(nu-ivr,s,1)",
        "exten => s,1,Goto(nu-ivr,s,1)",
        "",
        "; One extension per queue: Goto(nu-queue,<queue>,1). A department queue that gives up",
        "; overflows to the general operator; the general operator's queue to a polite goodbye.",
        "[nu-queue]",
    ]
    for q in queues:
        last = q.name == general
        lines += [
            f"exten => {q.name},1,Set({assign(V.QUEUE_LABEL, q.label)})",
            f" same => n,ExecIf($[${{LEN({ref(V.DEPARTMENT)})}} = 0]"
            f"?Set({assign(V.DEPARTMENT, q.department)}))",
            f" same => n,Gosub(nu-enqueue,s,1({q.name},"
            f"{ref(V.GENERAL_TIMEOUT if last else V.QUEUE_TIMEOUT)}))",
            f" same => n,Goto({'nu-last-resort' if last else 'nu-overflow'},s,1)",
        ]
    lines += [
        "",
        "; Operators: *11NN log in, *12NN log out (NN = department code below).",
        "[nu-operator-codes]",
    ]
    for q in queues:
        others = [name for _, name in queue_twins(dialplan, q.name)[1:]]
        lines += [f"exten => *11{q.code},1,NoOp(Log in to {q.label})"]
        lines += [f" same => n,Gosub(nu-join,s,1({name}))" for name in others]
        lines += [f" same => n,Gosub(nu-login,s,1({q.name}))", " same => n,Hangup()"]
        lines += [f"exten => *12{q.code},1,NoOp(Log out of {q.label})"]
        lines += [
            f" same => n,RemoveQueueMember({name},PJSIP/${{CHANNEL(endpoint)}})" for name in others
        ]
        lines += [f" same => n,Gosub(nu-logout,s,1({q.name}))", " same => n,Hangup()"]
    lines += ["", "; Transfers (and calls) to a department: 8NN.", "[nu-transfer]"]
    for q in queues:
        lines += [
            f"exten => 8{q.code},1,Set({assign(V.REASON, 'transfer')})  ; {q.label}",
            f" same => n,Set({assign(V.DEPARTMENT, '')})",
            f" same => n,Goto(nu-queue,{q.name},1)",
        ]
    lines += ["", "[nu-logout-all]", "exten => s,1,NoOp(Log out of every queue)"]
    for name in all_queues(dialplan):
        lines.append(f" same => n,RemoveQueueMember({name},PJSIP/${{CHANNEL(endpoint)}})")
    lines += [" same => n,Return()", ""]
    lines += _operator_contexts(operators, set(all_queues(dialplan)))
    return "\n".join(lines)


def _operator_contexts(operators: Sequence[OperatorLine], queues: set[str]) -> list[str]:
    """Each operator's extension (``nu-operator-dial``) and login rights: extension
    ``<operator>_<queue>`` of ``nu-operator-rights`` returns their penalty in that queue; no
    such extension, no login (extensions.conf's ``nu-login`` asks before AddQueueMember)."""
    lines = [
        "; Operators call each other by extension.",
        "[nu-operator-dial]",
        "exten => none,1,Hangup()  ; keeps the context when there is no operator yet",
    ]
    for op in operators:
        ext = _match(EXTENSION, op.extension, "operator extension")
        lines += [f"exten => {ext},1,Dial(PJSIP/{ext},30)", " same => n,Hangup()"]
    lines += [
        "",
        "; Who may log in to which queue, and with which penalty (Gosub: GOSUB_RETVAL).",
        "[nu-operator-rights]",
        "exten => none,1,Return()",
    ]
    for op in operators:
        ext = _match(EXTENSION, op.extension, "operator extension")
        for queue, penalty in op.rights:
            name = ident(queue, f"queue of operator {ext}")
            if name not in queues:
                raise RenderError(f"operator {ext}: no queue {name!r} in the dialplan")
            if isinstance(penalty, bool) or not isinstance(penalty, int) or not 0 <= penalty < 100:
                raise RenderError(f"operator {ext}: penalty {penalty!r} in {name}")
            lines.append(f"exten => {ext}_{name},1,Return({penalty})")
    lines.append("")
    return lines


def render_operators(
    dialplan: Any,
    operators: Sequence[OperatorLine],
    *,
    proxy_port: int | None = None,
    proxy_host: str = "127.0.0.1",
) -> str:
    """``pjsip_operators.conf``: endpoint, auth and aor per enabled operator, on the
    templates of ``pjsip.conf``. A disabled or removed operator is simply not here.

    ``proxy_port``: a cluster node. The operator's softphone registers with Kamailio, not with
    this node, so the aor is a fixed contact at Kamailio (``sip:<ext>@<proxy_host>:<port>``):
    any node rings any operator through it, and Kamailio refuses a second call to an operator
    already in one (ARCHITECTURE.md, "Two nodes")."""
    via = None if proxy_port is None else _port(proxy_port, "Kamailio port")
    via_host = _match(HOST, proxy_host, "Kamailio address")
    parts = [
        _header(dialplan, "Operator accounts"),
        "; From the operator accounts (admin: Operators; `ivr operators`). Each has their own\n"
        "; secret, stored only as the digest Asterisk checks (MD5 of extension:realm:secret).\n",
    ]
    seen: set[str] = set()
    for op in operators:
        ext = _match(EXTENSION, op.extension, "operator extension")
        if ext in seen:
            raise RenderError(f"operator extension {ext} twice")
        seen.add(ext)
        digest = _match(DIGEST, op.digest, f"secret digest of operator {ext}")
        name = clean_text(op.name, 60) or ext
        parts.append(
            f"\n[{ext}]({'operator-endpoint-tls' if op.tls else 'operator-endpoint'})\n"
            f"auth = {ext}\naors = {ext}\n"
            f'callerid = "{name}" <{ext}>\n\n'
            f"[{ext}](operator-auth)\nusername = {ext}\npassword_digest = MD5:{digest}\n\n"
            f"[{ext}](operator-aor)\n"
            + ("" if via is None else f"contact = sip:{ext}@{via_host}:{via}\n")
        )
    return "".join(parts)


_QUEUE_GENERAL = """[general]
persistentmembers = yes      ; logged-in operators survive a restart
autofill = yes
shared_lastcall = yes
log_membername_as_agent = yes
"""

_QUEUE_TEMPLATES = f"""
; Department queues. A caller waits even when nobody is logged in yet (operators log in at the
; start of their shift; Asterisk announces the position meanwhile); after {V.QUEUE_TIMEOUT}
; (extensions_nu.conf) the general operator takes over.
[nu-department](!)
strategy = rrmemory
timeout = 15                 ; ring an operator this long, then the next one
retry = 2
wrapuptime = 5
ringinuse = no
joinempty = yes
leavewhenempty = no
announce-frequency = 90
min-announce-frequency = 30
announce-position = yes
announce-holdtime = no
periodic-announce = queue-periodic-announce
periodic-announce-frequency = 60
setinterfacevar = yes
setqueuevar = yes
setqueueentryvar = yes

; The general operator: the last resort. After {V.GENERAL_TIMEOUT} a polite goodbye.
[nu-general](nu-department)
"""


def render_queues(dialplan: Any) -> str:
    general = general_queue(dialplan)
    parts = [_header(dialplan, "Operator queues"), _QUEUE_GENERAL, _QUEUE_TEMPLATES]
    for q in queues_of(dialplan):
        template = "nu-general" if q.name == general else "nu-department"
        parts.append(f"\n; {q.label} (department {q.department}, code {q.code})\n")
        for lang, name in queue_twins(dialplan, q.name):
            parts.append(f"; callers speaking {lang}\n[{name}]({template})\n")
    return "".join(parts)


def queue_twins(dialplan: Any, queue: str) -> list[tuple[str, str]]:
    """(language, Asterisk queue) for department queue ``queue``: itself for the default
    language, ``<queue>_<lang>`` for the others (:mod:`ivr.queues.languages`)."""
    default = _match(LANG, dialplan.default_language, "default language")
    langs = [_match(LANG, lang, "language") for lang in dialplan.languages]
    return [(lang, ident(name, "queue")) for lang, name in twins(queue, langs, default)]


def all_queues(dialplan: Any) -> list[str]:
    """Every queue Asterisk runs for ``dialplan``: department queues and their twins."""
    return [name for q in queues_of(dialplan) for _, name in queue_twins(dialplan, q.name)]


def department_codes(dialplan: Any) -> dict[str, str]:
    """Queue name -> the two-digit code operators dial (*11NN, *12NN, 8NN)."""
    return {q.name: q.code for q in queues_of(dialplan)}
