"""Make a dialplan live, safely, and go back to any earlier version in one step. No Flask here.

Publishing a YAML text:

1. **validate** it exactly like ``ivr dialplan check`` (shape, graph and every reachable prompt in
   every language); any issue refuses the publication and nothing changes;
2. **store** it as an immutable :class:`~ivr.admin.models.DialplanVersion` (an identical text
   reuses its row);
3. **render** the Asterisk configuration into a scratch folder first (a value the renderer
   refuses stops here), seeded with the current files so secrets stay the same, and install only
   the files whose content changed, each by temp file + rename;
4. **reload** Asterisk through AMI actions (``Reload`` of ``pbx_config`` and ``app_queue``) and
   **confirm**, with more AMI actions, that what Asterisk now runs is what was rendered: every
   rendered context's extensions (``ShowDialPlan``), globals (``Getvar``) and queues
   (``QueueSummary``); see :func:`reload_asterisk`;
5. only then **write the live YAML** (temp + rename) to ``Settings.dialplan_path``. The FastAGI
   service (:class:`~ivr.flow.source.DialplanSource`) notices the new modification time on its
   next call; each call keeps the immutable model it started with, so calls in progress finish on
   their version.

If the reload fails or cannot be confirmed, the previous configuration files are put back (and
Asterisk reloaded on them, best effort), the live YAML is not touched, the failure is recorded
with its reason, and the last good version stays live. Asterisk is reloaded before the YAML
changes so that a new call never reaches a queue Asterisk does not know yet; an old call that
still transfers to a queue the new version removed is caught by Asterisk's own check
(``nu-check-result``) and goes to the general operator.

Publications are serialised with a lock file in ``Settings.var_dir`` so two browsers (or a CLI)
cannot interleave their steps.

**Several nodes** (``NU_ASTERISK_NODES``): steps 3 and 4 run on every node at once, each with its
own folder and AMI login, and the result says per node confirmed or failed (why). The version
goes live (step 5) when at least one node confirmed; a node that failed keeps its previous files
and is listed as *behind* (ARCHITECTURE.md, *Two nodes*). Each confirmed node gets a marker file,
:data:`MARKER`, naming what it runs (the live text's digest and the operator accounts'); a node
whose marker or files differ from what the live version renders is behind, and
:meth:`Publisher.sync` (``ivr asterisk sync``, the ``nodesync`` process) brings it up to date.

**Kamailio** (``NU_KAMAILIO_ACCOUNTS``): once the nodes went live, the enabled operator accounts
become Kamailio's (its accounts table rewritten and reloaded over its control socket,
:mod:`ivr.kamailio.accounts`), so an operator added, disabled or removed registers, or stops,
without a Kamailio restart; a Kamailio that cannot be reached is said behind in the result and
caught up by ``sync``.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from ivr.admin.models import AuditEntry, DialplanVersion, Draft, Publication
from ivr.asterisk.ami import AMIClient, AMIError
from ivr.asterisk.render import (
    GENERATED,
    OperatorLine,
    RenderError,
    all_queues,
    clean_text,
    read_ami_credentials,
    render,
    render_extensions,
)
from ivr.config import Settings
from ivr.flow.issues import Issue
from ivr.flow.loader import parse_dialplan
from ivr.flow.model import Dialplan
from ivr.flow.validate import validate
from ivr.kamailio.accounts import apply_accounts
from ivr.kamailio.render import operator_digests
from ivr.operators.store import enabled_lines

log = logging.getLogger("ivr.admin.publish")

_LOCK = threading.Lock()


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def check_text(
    text: str, settings: Settings, *, prompts: bool = True, source: str | None = None
) -> tuple[Dialplan | None, list[Issue]]:
    """Parse and validate like ``ivr dialplan check`` (same messages). No issues = publishable."""
    name = source or Path(settings.dialplan_path).name
    dialplan, issues = parse_dialplan(text, name)
    if dialplan is not None:
        issues += validate(dialplan, prompts_dir=settings.prompts_dir if prompts else None)
    return dialplan, sorted(set(issues))


# ---------------------------------------------------------------------------------------------
# Where the Asterisk configuration goes


@dataclass
class AsteriskTarget:
    """An Asterisk to publish to: its configuration folder, render options and AMI access.

    ``ami`` returns a logged-in client (the publisher closes it); ``None`` means there is no
    Asterisk to reload (files only, e.g. preparing a Docker image) and is said so in the result.
    """

    etc_dir: Path
    render_options: dict[str, Any] = field(default_factory=dict)
    ami: Callable[[], AMIClient] | None = None
    reload_timeout: float = 10.0
    name: str = ""  # how the admin and ``ivr asterisk sync`` call this node (default: its folder)

    @property
    def label(self) -> str:
        return self.name or str(self.etc_dir)

    @classmethod
    def from_etc(cls, etc_dir: str | Path, **kw: Any) -> AsteriskTarget:
        """Target an Asterisk whose configuration was rendered into ``etc_dir`` already: keep
        its ports, FastAGI address, sounds folder and queue timeouts, log in with its AMI user."""
        etc = Path(etc_dir)
        options = current_render_options(etc)

        def connect() -> AMIClient:
            creds = read_ami_credentials(etc)
            return AMIClient(creds.host, creds.port, creds.username, creds.secret).connect()

        return cls(etc, options, connect, **kw)


def current_render_options(etc_dir: Path) -> dict[str, Any]:
    """What a previous render decided (ports, timeouts, paths), read back from its files."""
    options: dict[str, Any] = {}

    def read(name: str) -> str:
        try:
            return (etc_dir / name).read_text(encoding="utf-8")
        except OSError:
            return ""

    if m := re.search(r"^\s*port\s*=\s*(\d+)", read("manager.conf"), re.M):
        options["ami_port"] = int(m[1])
    if m := re.search(r"^\s*bind\s*=\s*[\d.]+:(\d+)", read("pjsip.conf"), re.M):
        options["sip_port"] = int(m[1])
    ext = read("extensions_nu.conf")
    if m := re.search(r"^NU_AGI_URL=agi://([^:\s]+):(\d+)", ext, re.M):
        options["agi_host"], options["agi_port"] = m[1], int(m[2])
    if m := re.search(r"^NU_SOUNDS=(\S+)", ext, re.M):
        options["sounds_path"] = m[1]
    if m := re.search(r"^NU_QUEUE_TIMEOUT=(\d+)", ext, re.M):
        options["queue_timeout"] = int(m[1])
    if m := re.search(r"^NU_GENERAL_TIMEOUT=(\d+)", ext, re.M):
        options["general_timeout"] = int(m[1])
    if m := re.search(r"^NU_AGI_FALLBACKS=(\S*)", ext, re.M):
        options["agi_fallbacks"] = ",".join(u.removeprefix("agi://") for u in m[1].split("|") if u)
    # a cluster node stays one: Kamailio's address and port ("Two nodes")
    if m := re.search(r"^match\s*=\s*([\w.-]+):(\d+)", read("pjsip_cluster.conf"), re.M):
        options["proxy_host"], options["proxy_port"] = m[1], int(m[2])
    return options


# ---------------------------------------------------------------------------------------------
# Results


class PublishError(Exception):
    """Why a publication did not go live. ``stage``: invalid, render, reload, write."""

    def __init__(self, stage: str, message: str, issues: list[Issue] | None = None):
        super().__init__(message)
        self.stage, self.message, self.issues = stage, message, issues or []


@dataclass
class NodeResult:
    """How one Asterisk node took a publication (or a sync): confirmed, or why not."""

    name: str
    ok: bool
    message: str
    stage: str = "live"
    changed_files: list[str] = field(default_factory=list)
    reload_output: str = ""


@dataclass
class PublishResult:
    ok: bool
    message: str
    stage: str = "live"
    version_id: int | None = None
    publication_id: int | None = None
    seconds: float = 0.0
    issues: list[Issue] = field(default_factory=list)
    changed_files: list[str] = field(default_factory=list)
    reload_output: str = ""
    nodes: list[NodeResult] = field(default_factory=list)  # one per Asterisk node, in order
    kamailio: NodeResult | None = None  # the operator accounts at Kamailio (NU_KAMAILIO_ACCOUNTS)

    @property
    def behind(self) -> list[NodeResult]:
        """The nodes that did not confirm: they still run the previous version."""
        return [node for node in self.nodes if not node.ok]


# ---------------------------------------------------------------------------------------------


def write_atomic(path: Path, data: bytes) -> None:
    """Temp file in the same folder + rename; the modification time always moves forward.

    DialplanSource reloads when ``st_mtime_ns`` changes: two writes within the filesystem's
    timestamp granularity would otherwise look like one, and the second version never load.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        before = path.stat().st_mtime_ns
    except OSError:
        before = None
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if before is not None:
            with contextlib.suppress(OSError):
                os.chmod(tmp, path.stat().st_mode & 0o7777)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    after = path.stat().st_mtime_ns
    if before is not None and after <= before:
        os.utime(path, ns=(before + 1_000_000, before + 1_000_000))


@contextlib.contextmanager
def _publish_lock(var_dir: Path) -> Iterator[None]:
    var_dir.mkdir(parents=True, exist_ok=True)
    with _LOCK, open(var_dir / "publish.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# In each node's configuration folder: what that node was rendered with and whether Asterisk
# confirmed it. Not a ``.conf``: Asterisk never reads it, only publishing and sync do.
MARKER = "numero-unico.version"


def marker_text(text: str, operators: Sequence[OperatorLine], *, confirmed: bool) -> str:
    """The marker for a node rendered from live text ``text`` with ``operators``."""
    accounts = hashlib.sha256(repr(sorted(operators, key=repr)).encode()).hexdigest()
    return (
        "; What this Asterisk node runs: written by Numero Unico's publishing and\n"
        "; `ivr asterisk sync` (confirmed = Asterisk said so over AMI). Do not edit.\n"
        f"sha256={sha256(text)}\noperators={accounts}\nconfirmed={'yes' if confirmed else 'no'}\n"
    )


def read_marker(etc_dir: Path) -> str:
    try:
        return (Path(etc_dir) / MARKER).read_text(encoding="utf-8")
    except OSError:
        return ""


DIALPLAN_MODULE = "pbx_config"  # extensions.conf (and extensions_nu.conf, which it includes)
QUEUE_MODULE = "app_queue"  # queues.conf
SIP_MODULE = "res_pjsip.so"  # pjsip.conf (and pjsip_operators.conf, which it includes)


def reload_asterisk(
    client: AMIClient,
    dialplan: Dialplan,
    timeout: float = 10.0,
    *,
    extensions: str | None = None,
    operators: Sequence[OperatorLine] | None = None,
) -> str:
    """Reload the dialplan and the queues, then confirm Asterisk runs what was rendered.

    ``extensions`` is the rendered ``extensions_nu.conf`` as installed (default: rendered here
    from ``dialplan``, without its globals, which depend on the render options). Returns a short
    transcript; raises :class:`PublishError` (stage ``reload``) saying why not.

    Everything goes through AMI actions with structured answers, never CLI text to scrape:

    * ``Reload`` with ``Module: pbx_config`` then ``Module: app_queue`` answers ``Success`` or
      ``Error`` with Asterisk's reason (``No such module``, ``A reload is in progress``, which
      is retried until ``timeout``). It proves little by itself: a reload Asterisk *queued*
      behind another is acknowledged as a success before it happens. So the new configuration is
      then read back, until it is all there or ``timeout`` passes:
    * ``ShowDialPlan`` of every context ``extensions_nu.conf`` renders (``from-pstn`` with the
      city number, ``nu-queue``, ``nu-transfer``, the operator codes...): Asterisk must run
      exactly the rendered extensions, every priority with the same application and arguments,
      and nothing left from before (a removed department's extension). The arguments carry the
      department labels and codes, so even a renamed department is proven live, and a context
      can only come from that file;
    * ``Getvar`` of every rendered global (``NU_LANGS``, ``NU_GENERAL_QUEUE``...): extensions.conf
      sets ``clearglobalvars``, so a reload replaces them with the rendered ones;
    * ``QueueSummary``: every rendered queue runs in app_queue (a queue only comes from
      queues.conf, so its presence after the reload shows the new file was read; a queue a
      version removed lingers while callers wait in it, which is harmless and not checked).

    Why not ``ModuleCheck`` or ``CoreSettings``: they say a module is loaded or when Asterisk
    last reloaded, not *what* it loaded; the read-back above compares the content itself.

    With ``operators`` (the enabled accounts as rendered), ``res_pjsip`` is reloaded too and
    confirmed with ``PJSIPShowEndpoint``: each account's endpoint with its name and its secret's
    digest; then every queue member ``PJSIP/<extension>`` that is no longer an enabled account
    is removed (``QueueRemove``): a disabled operator stops receiving calls at once.
    """
    rendered = _Rendered.parse(extensions if extensions is not None else _render_contexts(dialplan))
    deadline = time.monotonic() + timeout
    timeout = max(timeout, 5.0)  # for one answer: a slow answer is not a refusal
    transcript = []
    modules = [(DIALPLAN_MODULE, "dialplan"), (QUEUE_MODULE, "queue")]
    if operators is not None:
        modules.append((SIP_MODULE, "SIP"))
    for module, what in modules:
        answer = _reload_module(client, module, what, deadline, timeout)
        transcript.append(f"Reload {module}: {answer}")
    wanted = all_queues(dialplan)
    while True:  # a reload Asterisk queued behind another one lands a moment later
        missing = _not_running(client, dialplan, rendered, wanted, timeout)
        if operators is not None:
            missing += _operators_not_running(client, operators, timeout)
        if not missing:
            break
        if time.monotonic() > deadline:
            raise PublishError(
                "reload", "Asterisk reloaded but does not run: " + ", ".join(missing)
            )
        time.sleep(0.1)
    transcript.append(
        f"confirmed: number {dialplan.number}, queues {', '.join(wanted)}; "
        f"{rendered.priorities} priorities in {len(rendered.contexts)} contexts and "
        f"{len(rendered.globals)} globals as rendered"
        + ("" if operators is None else f"; {len(operators)} operator endpoints")
    )
    if operators is not None:
        removed = _remove_retired_members(client, {op.extension for op in operators}, timeout)
        if removed:
            transcript.append(f"out of the queues: {', '.join(removed)}")
    return "\n".join(transcript)


def _operators_not_running(
    client: AMIClient, operators: Sequence[OperatorLine], timeout: float
) -> list[str]:
    missing = []
    for op in operators:
        answer = client.action(
            "PJSIPShowEndpoint", Endpoint=op.extension, timeout=timeout, check=False
        )
        if not answer.ok:
            missing.append(f"operator endpoint {op.extension}")
            continue
        details = {e.name: e for e in answer.events}
        endpoint, auth = details.get("EndpointDetail"), details.get("AuthDetail")
        callerid = (endpoint.get("Callerid") or "") if endpoint else ""
        if f"<{op.extension}>" not in callerid or clean_text(op.name, 60) not in callerid:
            missing.append(f"operator endpoint {op.extension} as rendered")
        elif auth is None or op.digest not in (
            auth.get("PasswordDigest") or auth.get("Md5Cred") or ""
        ):
            missing.append(f"operator {op.extension}'s secret as rendered")
    return missing


def _remove_retired_members(client: AMIClient, enabled: set[str], timeout: float) -> list[str]:
    """QueueRemove every ``PJSIP/<digits>`` member that is not an enabled account."""
    status = client.action("QueueStatus", timeout=timeout, check=False)
    removed = []
    for event in status.events:
        if event.name != "QueueMember":
            continue
        interface = event.get("StateInterface") or event.get("Location") or ""
        m = re.fullmatch(r"PJSIP/(\d+)", interface)
        if m and m[1] not in enabled:
            queue = event.get("Queue") or ""
            if client.action("QueueRemove", Queue=queue, Interface=interface, check=False).ok:
                removed.append(f"{m[1]} ({queue})")
    return removed


def _render_contexts(dialplan: Dialplan) -> str:
    """The generated contexts of ``dialplan`` (the globals left out: they depend on ports)."""
    text = render_extensions(
        dialplan,
        agi_host="127.0.0.1",
        agi_port=4573,
        sounds="/",
        queue_timeout=1,
        general_timeout=1,
    )
    return re.sub(r"(?ms)^\[globals\]\n.*?(?=^\[)", "", text)


def _reload_module(
    client: AMIClient, module: str, what: str, deadline: float, timeout: float
) -> str:
    while True:
        response = client.action("Reload", Module=module, timeout=timeout, check=False)
        if response.ok:
            return response.message or "ok"
        reason = response.message or "no reason given"
        if "in progress" in reason.lower() and time.monotonic() < deadline:
            time.sleep(0.2)  # another reload (CLI, another publisher) is running: wait for it
            continue
        raise PublishError("reload", f"Asterisk refused the {what} reload: {reason}")


Priorities = dict[int, tuple[str, str]]  # priority -> (application, arguments)


@dataclass
class _Rendered:
    """What ``extensions_nu.conf`` declares: globals, and per context, per extension, its
    priorities as Asterisk's ``ShowDialPlan`` reports them (comments and spacing dropped, ``n``
    numbered, the application's arguments between its parentheses)."""

    globals: dict[str, str] = field(default_factory=dict)
    contexts: dict[str, dict[str, Priorities]] = field(default_factory=dict)

    @property
    def priorities(self) -> int:
        return sum(len(p) for exts in self.contexts.values() for p in exts.values())

    @classmethod
    def parse(cls, text: str) -> _Rendered:
        out = cls()
        context = ""
        exten, priority = "", 0
        for raw in text.splitlines():
            line = re.split(r"(?<!\\);", raw, maxsplit=1)[0].strip()
            if not line:
                continue
            if m := re.fullmatch(r"\[([^\]]+)\](\(.*\))?", line):
                context = m[1]
                if context != "globals":
                    out.contexts.setdefault(context, {})
                continue
            if context == "globals":
                name, _, value = line.partition("=")
                out.globals[name.strip()] = value.strip()
                continue
            m = re.fullmatch(r"(exten|same)\s*=>?\s*(.*)", line)
            if m is None or not context:
                continue  # include =>, switch =>: none are rendered
            rest = m[2]
            if m[1] == "exten":
                exten, _, rest = rest.partition(",")
                exten = exten.strip()
            prio, _, call = rest.partition(",")
            prio = re.sub(r"\(.*\)$", "", prio.strip())  # n(label)
            priority = priority + 1 if prio == "n" else int(prio)
            app, paren, args = call.partition("(")
            if paren and args.endswith(")"):
                args = args[:-1]
            out.contexts[context].setdefault(exten, {})[priority] = (app.strip(), args)
        return out


def _not_running(
    client: AMIClient,
    dialplan: Dialplan,
    rendered: _Rendered,
    queues: list[str],
    timeout: float,
) -> list[str]:
    missing: list[str] = []
    left: list[str] = []
    for context, wanted in rendered.contexts.items():
        listing = client.action("ShowDialPlan", Context=context, timeout=timeout, check=False)
        if not listing.ok:  # "Did not find context ..."
            missing.append(f"context {context}")
            continue
        running: dict[str, Priorities] = {}
        for event in listing.events:
            if event.name != "ListDialplan" or event.get("Context") != context:
                continue
            if event.get("Registrar") not in (None, "pbx_config"):
                continue
            running.setdefault(event.get("Extension") or "", {})[
                int(event.get("Priority") or 0)
            ] = (event.get("Application") or "", event.get("AppData") or "")
        for exten, priorities in wanted.items():
            name = (
                f"city number {exten} in {context}"
                if context == "from-pstn" and exten == dialplan.number
                else f"extension {exten} in {context}"
            )
            if exten not in running:
                missing.append(name)
            elif running[exten] != priorities:
                missing.append(f"{name} as rendered")
        left += [f"old extension {e} in {context}" for e in running if e not in wanted]
    for name, value in rendered.globals.items():
        answer = client.action("Getvar", Variable=name, timeout=timeout, check=False)
        if (answer.get("Value") or "") != value:
            missing.append(f"global {name}")
    summary = client.action("QueueSummary", timeout=timeout, check=False)
    running_queues = {e.get("Queue") for e in summary.events if e.name == "QueueSummary"}
    missing += [f"queue {name}" for name in queues if name not in running_queues]
    return missing + left


class Publisher:
    """Publishes YAML texts and earlier versions for one city (see the module docstring)."""

    def __init__(
        self,
        settings: Settings,
        sessions: sessionmaker[Session],
        target: AsteriskTarget | Sequence[AsteriskTarget] | None,
    ):
        self.settings = settings
        self.sessions = sessions
        if target is None:
            self.targets: list[AsteriskTarget] = []
        elif isinstance(target, AsteriskTarget):
            self.targets = [target]
        else:
            self.targets = list(target)

    @property
    def target(self) -> AsteriskTarget | None:
        """The first node (the only one without ``NU_ASTERISK_NODES``)."""
        return self.targets[0] if self.targets else None

    # -- state ----------------------------------------------------------------------------------

    @property
    def live_path(self) -> Path:
        return Path(self.settings.dialplan_path)

    def live_text(self) -> str:
        return self.live_path.read_text(encoding="utf-8")

    def published_text(self) -> str:
        """The live version as the city database has it (the last successful publication),
        else the live YAML: what every node must run. The database, not this host's file, so
        that a sync on any host that shares the database renders the same version."""
        with self.sessions() as db:
            version = self.live_version(db)
            if version is not None:
                return version.yaml_text
        return self.live_text()

    def live_version(self, db: Session) -> DialplanVersion | None:
        """The version of the last successful publication."""
        row = db.scalars(
            select(Publication)
            .where(Publication.ok.is_(True))
            .order_by(Publication.id.desc())
            .limit(1)
        ).first()
        return row.version if row else None

    def ensure_imported(self) -> None:
        """Record the file on disk as a version when it is not the last one published (first
        start, or a hand edit), and create the draft from it if there is none."""
        try:
            text = self.live_text()
        except OSError:
            return
        with self.sessions.begin() as db:
            live = self.live_version(db)
            if live is None or live.sha256 != sha256(text):
                version = self._version_for(db, text, "system", f"imported from {self.live_path}")
                db.add(
                    Publication(
                        version_id=version.id,
                        username="system",
                        action="import",
                        ok=True,
                        message="the dialplan file on disk",
                    )
                )
                live = version
            if db.get(Draft, 1) is None:
                db.add(Draft(id=1, yaml_text=text, base_version_id=live.id, updated_by="system"))

    def _version_for(self, db: Session, text: str, author: str, note: str) -> DialplanVersion:
        digest = sha256(text)
        found = db.scalars(
            select(DialplanVersion).where(DialplanVersion.sha256 == digest).limit(1)
        ).first()
        if found is not None and found.yaml_text == text:
            return found
        version = DialplanVersion(yaml_text=text, sha256=digest, author=author, note=note)
        db.add(version)
        db.flush()
        return version

    # -- publishing -----------------------------------------------------------------------------

    def publish(
        self, text: str, author: str, note: str = "", *, ip: str = "", action: str = "publish"
    ) -> PublishResult:
        """Validate, store, render, reload, confirm, then make ``text`` the live dialplan."""
        started = time.monotonic()
        dialplan, issues = check_text(text, self.settings)
        if issues or dialplan is None:
            return PublishResult(
                False,
                f"{len(issues)} problem(s): nothing was published",
                stage="invalid",
                issues=issues,
                seconds=time.monotonic() - started,
            )
        with _publish_lock(Path(self.settings.var_dir)):
            with self.sessions.begin() as db:
                version_id = self._version_for(db, text, author, note).id
            try:
                before = self.live_text()
            except OSError:
                before = ""
            result = PublishResult(False, "", version_id=version_id)
            self._attempt(result, dialplan, text, f"publication of version {version_id}")
            result.seconds = time.monotonic() - started
            with self.sessions.begin() as db:
                pub = Publication(
                    version_id=version_id,
                    username=author,
                    action=action,
                    ok=result.ok,
                    message=result.message,
                    seconds=result.seconds,
                )
                db.add(pub)
                db.add(
                    AuditEntry(
                        username=author,
                        action=action if result.ok else f"{action}_failed",
                        target=f"version {version_id}",
                        before=before,
                        after=text if result.ok else result.message,
                        ip=ip,
                    )
                )
                db.flush()
                result.publication_id = pub.id
                if result.ok:
                    draft = db.get(Draft, 1)
                    if draft is not None and draft.yaml_text == text:
                        draft.base_version_id = version_id
        return result

    def apply_operators(self, author: str, what: str, *, ip: str = "") -> PublishResult:
        """Make the operator accounts, as the database has them now, live: the live dialplan
        rendered again with them, reloaded (SIP endpoints included) and confirmed; accounts no
        longer enabled are taken out of every queue. One audit entry says ``what`` changed."""
        started = time.monotonic()
        result = PublishResult(False, "")
        try:
            text = self.live_text()
        except OSError as err:
            text, result.stage = "", "invalid"
            result.message = f"no live dialplan to render the operators with: {err}"
        dialplan = None
        if text:
            dialplan, issues = check_text(text, self.settings, prompts=False)
            if dialplan is None or issues:
                result.stage = "invalid"
                result.message = "the live dialplan does not validate: operators not published"
        if dialplan is not None and result.stage != "invalid":
            with _publish_lock(Path(self.settings.var_dir)):
                self._attempt(result, dialplan, text, f"operators ({what})")
        result.seconds = time.monotonic() - started
        with self.sessions.begin() as db:
            db.add(
                AuditEntry(
                    username=author,
                    action="operators" if result.ok else "operators_failed",
                    target=what,
                    before="",
                    after=result.message,
                    ip=ip,
                )
            )
        return result

    def restore(self, version_id: int, author: str, *, ip: str = "") -> PublishResult:
        """Roll back (or forward) to an earlier version: the same checks and steps as publishing."""
        with self.sessions() as db:
            version = db.get(DialplanVersion, version_id)
            if version is None:
                return PublishResult(False, f"no version {version_id}", stage="invalid")
            text = version.yaml_text
        return self.publish(
            text, author, f"restore of version {version_id}", ip=ip, action="rollback"
        )

    def _attempt(self, result: PublishResult, dialplan: Dialplan, text: str, what: str) -> None:
        """Go live with ``text``, saying in ``result`` how it went (a failure is logged)."""
        try:
            self._go_live(dialplan, text, result)
            result.ok, result.stage = True, "live"
            if not self.targets or all(t.ami is None for t in self.targets):
                result.message = "live (no Asterisk to reload)"
            elif len(self.targets) == 1:
                result.message = "live"
            else:
                confirmed = [n.name for n in result.nodes if n.ok]
                result.message = "live on " + ", ".join(confirmed)
                if result.behind:
                    result.message += "; behind: " + "; ".join(
                        f"{n.name} ({n.message})" for n in result.behind
                    )
                    log.warning(
                        "%s live on %d of %d nodes; behind: %s",
                        what,
                        len(confirmed),
                        len(result.nodes),
                        ", ".join(n.name for n in result.behind),
                    )
        except PublishError as err:
            result.stage, result.message = err.stage, err.message
            log.error("%s failed: %s", what, err.message)
            return
        if result.kamailio is not None and not result.kamailio.ok:
            result.message += f"; Kamailio behind: {result.kamailio.message}"
            log.warning("%s: Kamailio behind: %s", what, result.kamailio.message)

    def _go_live(self, dialplan: Dialplan, text: str, result: PublishResult) -> None:
        """Every node rendered, reloaded and confirmed at once; then, if one confirmed at
        least, the live YAML. Raises :class:`PublishError` when none did (or the write fails)."""
        operators = self._operators(dialplan) if self.targets or self._kamailio_on else []
        done = self._on_every_node(
            lambda target: self._node_live(target, dialplan, text, operators)
        )
        result.nodes = [node for node, _ in done]
        result.changed_files = sorted(
            {name for node in result.nodes for name in node.changed_files}
        )
        result.reload_output = "\n".join(
            node.reload_output if len(done) == 1 else f"[{node.name}] {node.reload_output}"
            for node in result.nodes
            if node.reload_output
        )
        confirmed = [
            (target, backup)
            for target, (node, backup) in zip(self.targets, done, strict=True)
            if node.ok
        ]
        if self.targets and not confirmed:
            if len(done) == 1:
                node = result.nodes[0]
                raise PublishError(node.stage, f"{node.message}; the previous version stays live")
            raise PublishError(
                result.nodes[0].stage,
                "no node confirmed: "
                + "; ".join(f"{n.name}: {n.message}" for n in result.nodes)
                + "; the previous version stays live",
            )
        try:
            if not self.live_path.exists() or self.live_text() != text:
                write_atomic(self.live_path, text.encode("utf-8"))
        except OSError as err:
            for target, backup in confirmed:
                self._restore_config(backup, target)
            raise PublishError("write", f"cannot write {self.live_path}: {err}") from err
        result.kamailio = self._kamailio(operators)

    def _on_every_node(
        self, job: Callable[[AsteriskTarget], tuple[NodeResult, dict[Path, bytes | None]]]
    ) -> list[tuple[NodeResult, dict[Path, bytes | None]]]:
        """``job`` on every node, at the same time (the nodes change together, and a node that
        is down costs its timeout once, not once per node before it)."""
        if len(self.targets) <= 1:
            return [job(target) for target in self.targets]
        with ThreadPoolExecutor(len(self.targets), thread_name_prefix="nu-publish") as pool:
            return list(pool.map(job, self.targets))

    @property
    def _kamailio_on(self) -> bool:
        return bool(self.settings.kamailio_accounts)

    def _kamailio(self, operators: Sequence[OperatorLine]) -> NodeResult | None:
        """The enabled accounts made Kamailio's (its table rewritten and reloaded: no restart),
        once the nodes have them; None without a Kamailio (``NU_KAMAILIO_ACCOUNTS``)."""
        if not self._kamailio_on:
            return None
        applied = apply_accounts(
            Path(self.settings.kamailio_accounts),
            self.settings.kamailio_ctl or None,
            operator_digests(operators),
        )
        return NodeResult(
            "kamailio", applied.ok, applied.message, "live" if applied.ok else "reload"
        )

    def _operators(self, dialplan: Dialplan) -> list[OperatorLine]:
        with self.sessions() as db:
            return list(enabled_lines(db, dialplan))

    def _node_live(
        self,
        target: AsteriskTarget,
        dialplan: Dialplan,
        text: str,
        operators: Sequence[OperatorLine],
        *,
        reload: bool = True,
    ) -> tuple[NodeResult, dict[Path, bytes | None]]:
        """Render into one node, reload and confirm it, then write its marker; on a failure
        its previous files (and marker) are put back. ``reload=False``: files only (a node
        not started yet reads them when it starts), the marker saying unconfirmed."""
        node = NodeResult(target.label, False, "")
        backup: dict[Path, bytes | None] = {}
        try:
            node.changed_files, backup = self._install_config(dialplan, target, operators)
            confirmed = False
            if reload and target.ami is not None:
                node.reload_output = self._reload(target, dialplan, operators)
                confirmed = True
            marker = Path(target.etc_dir) / MARKER
            old = marker.read_bytes() if marker.exists() else None
            new = marker_text(text, operators, confirmed=confirmed).encode()
            if old != new:
                backup.setdefault(marker, old)
                write_atomic(marker, new)
            node.ok = True
            node.message = "confirmed" if confirmed else "rendered (not reloaded)"
        except PublishError as err:
            node.stage, node.message = err.stage, err.message
            if err.stage == "reload":
                self._restore_config(backup, target)
            backup = {}
        except OSError as err:
            node.stage, node.message = "render", f"cannot write the configuration: {err}"
            self._restore_config(backup, target)
            backup = {}
        return node, backup

    def _install_config(
        self, dialplan: Dialplan, target: AsteriskTarget, operators: Sequence[OperatorLine]
    ) -> tuple[list[str], dict[Path, bytes | None]]:
        etc = Path(target.etc_dir)
        etc.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="nu-publish-") as tmp:
            changed, scratch = self._render_node(dialplan, target, operators, Path(tmp))
            backup: dict[Path, bytes | None] = {}
            for name in changed:
                dest = etc / name
                backup[dest] = dest.read_bytes() if dest.exists() else None
            for dest in backup:
                write_atomic(dest, (scratch / dest.name).read_bytes())
        return changed, backup

    def _render_node(
        self,
        dialplan: Dialplan,
        target: AsteriskTarget,
        operators: Sequence[OperatorLine],
        scratch: Path,
    ) -> tuple[list[str], Path]:
        """Render ``target``'s configuration into ``scratch`` (seeded with its current files so
        secrets stay); returns the names of the files that differ from the node's."""
        etc = Path(target.etc_dir)
        for existing in etc.glob("*.conf"):  # secrets are kept from the current files
            shutil.copy2(existing, scratch / existing.name)
        try:
            written = render(
                dialplan, self.settings, scratch, operators=operators, **target.render_options
            )
        except (RenderError, OSError) as err:
            raise PublishError(
                "render", f"cannot render the Asterisk configuration: {err}"
            ) from err
        changed = []
        for path in written:
            dest = etc / path.name
            old = dest.read_bytes() if dest.exists() else None
            if old != path.read_bytes():
                changed.append(path.name)
        return changed, scratch

    def _reload(
        self, target: AsteriskTarget, dialplan: Dialplan, operators: Sequence[OperatorLine]
    ) -> str:
        assert target.ami is not None
        try:
            client = target.ami()
        except (OSError, AMIError) as err:
            raise PublishError("reload", f"Asterisk cannot be reached (AMI): {err}") from err
        try:
            extensions = (Path(target.etc_dir) / "extensions_nu.conf").read_text(encoding="utf-8")
        except OSError:
            extensions = None  # the contexts rendered here, globals unchecked
        try:
            return reload_asterisk(
                client,
                dialplan,
                target.reload_timeout,
                extensions=extensions,
                operators=operators,
            )
        except (OSError, AMIError, TimeoutError) as err:
            raise PublishError("reload", f"Asterisk reload failed: {err}") from err
        finally:
            client.close()

    def _restore_config(self, backup: dict[Path, bytes | None], target: AsteriskTarget) -> None:
        for dest, old in backup.items():
            try:
                if old is None:
                    dest.unlink(missing_ok=True)
                else:
                    write_atomic(dest, old)
            except OSError:
                log.exception("could not restore %s", dest)
        if any(dest.name != MARKER for dest in backup) and target.ami is not None:
            try:
                client = target.ami()
                try:
                    for module in (DIALPLAN_MODULE, QUEUE_MODULE, SIP_MODULE):
                        if not client.action("Reload", Module=module, check=False).ok:
                            log.warning("Asterisk refused to reload %s (restored)", module)
                finally:
                    client.close()
            except (OSError, AMIError):
                log.warning("Asterisk not reachable to reload the restored configuration")

    # -- catching up ----------------------------------------------------------------------------

    def sync(self, *, reload: bool = True) -> list[NodeResult]:
        """Bring every node that is behind the live version up to it: rendered, reloaded and
        confirmed like a publication (``reload=False``: files only, for a node about to
        start). A node is behind when its marker is missing, unconfirmed or for another text
        or other operator accounts, or when rendering the live version now would change one
        of its files. Nodes already up to date are not touched. With a Kamailio
        (``NU_KAMAILIO_ACCOUNTS``) and ``reload``, its accounts are caught up too: the last
        result, named ``kamailio``."""
        try:
            text = self.published_text()
        except (OSError, SQLAlchemyError) as err:
            why = f"no live dialplan to render: {type(err).__name__}"
            return [NodeResult(t.label, False, why, "invalid") for t in self.targets]
        dialplan, issues = check_text(text, self.settings, prompts=False)
        if dialplan is None or issues:
            return [
                NodeResult(t.label, False, "the live dialplan does not validate", "invalid")
                for t in self.targets
            ]
        with _publish_lock(Path(self.settings.var_dir)):
            try:
                operators = self._operators(dialplan)
            except SQLAlchemyError as err:  # which accounts to render is unknown: wait for it
                why = f"the operator accounts cannot be read: {type(err).__name__}"
                return [NodeResult(t.label, False, why, "invalid") for t in self.targets]
            wanted = marker_text(text, operators, confirmed=False)

            def one(target: AsteriskTarget) -> tuple[NodeResult, dict[Path, bytes | None]]:
                try:
                    with tempfile.TemporaryDirectory(prefix="nu-sync-") as tmp:
                        changed, _ = self._render_node(dialplan, target, operators, Path(tmp))
                except PublishError as err:
                    return NodeResult(target.label, False, err.message, err.stage), {}
                marker = read_marker(target.etc_dir)
                same = marker.replace("confirmed=yes", "confirmed=no") == wanted
                if not changed and same and (not reload or "confirmed=yes" in marker):
                    return NodeResult(target.label, True, "up to date", "current"), {}
                if reload and target.ami is not None:
                    try:  # a node that is down keeps its files (it renders them as it starts)
                        target.ami().close()
                    except (OSError, AMIError) as err:
                        why = f"Asterisk cannot be reached (AMI): {err}"
                        return NodeResult(target.label, False, why, "reload"), {}
                node, backup = self._node_live(target, dialplan, text, operators, reload=reload)
                if node.ok:
                    node.stage = "caught up"
                    node.message = ("caught up: " if reload else "files caught up: ") + node.message
                return node, backup

            done = self._on_every_node(one)
            kamailio = self._kamailio(operators) if reload else None
        if kamailio is not None:
            if not kamailio.ok:
                log.warning("Kamailio is behind the operator accounts: %s", kamailio.message)
            elif kamailio.message != "up to date":
                log.info("Kamailio caught up: %s", kamailio.message)
        for node, _ in done:
            if node.stage == "caught up":
                log.info("node %s caught up with the live version", node.name)
            elif not node.ok:
                log.warning("node %s is behind the live version: %s", node.name, node.message)
        return [node for node, _ in done] + ([kamailio] if kamailio is not None else [])


__all__ = [
    "GENERATED",
    "MARKER",
    "AsteriskTarget",
    "NodeResult",
    "PublishError",
    "PublishResult",
    "Publisher",
    "check_text",
    "current_render_options",
    "reload_asterisk",
    "write_atomic",
]
