"""Real Asterisk 22 on a Debian 12 host: a Debian sid chroot and instances running inside it.

Debian 12 ships no Asterisk; sid has 22. :func:`ensure_chroot` builds a minimal sid chroot with
``debootstrap`` (about a minute, once; reused afterwards) and :class:`AsteriskInstance` runs
``asterisk -f`` inside it with its own directory tree, its own ``asterisk.conf`` (``-C``) and
configurable ports, so a test instance never collides with the system one started by ``ivr up``.

Layout of an instance named ``NAME`` (paths as Asterisk sees them, inside the chroot)::

    /srv/nu/NAME/etc      rendered configuration + asterisk.conf
    /srv/nu/NAME/run      control socket, pid file
    /srv/nu/NAME/log      log files (``full``: the call trail, no personal data; logger.conf)
    /srv/nu/NAME/spool, lib, cache

Our prompt audio (``Settings.sounds_dir``) is copied to ``Settings.asterisk_sounds_dir`` inside
the chroot, which is where the dialplan and the FastAGI engine tell Asterisk to read it.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import fcntl
import logging
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ivr import config
from ivr.asterisk.ami import AMIClient, AMIError
from ivr.asterisk.render import AMICredentials, install, read_ami_credentials, render
from ivr.devenv.redis import port_answers
from ivr.prompts import deploy
from ivr.supervisor import die_with_parent

log = logging.getLogger(__name__)

SUITE = "sid"
MIRROR = "http://deb.debian.org/debian"
PACKAGES = (
    "asterisk",
    "asterisk-core-sounds-en",
    "asterisk-core-sounds-it",
    "asterisk-core-sounds-en-wav",
    "asterisk-core-sounds-it-wav",
    # numbers and dates said by Asterisk itself in French and Spanish (de/zh/ar: our vocabulary)
    "asterisk-core-sounds-fr",
    "asterisk-core-sounds-fr-wav",
    "asterisk-core-sounds-es",
    "asterisk-core-sounds-es-wav",
)
MARKER = ".numero-unico-chroot"  # written last: the chroot is complete
# Downloaded packages, kept between chroot builds like apt keeps /var/cache/apt/archives: a
# rebuild (a new cache folder, the first-run test) unpacks and configures everything again but
# downloads only what changed in sid. Empty NU_DEB_CACHE: download every time.
DEB_CACHE = "/var/cache/numero-unico/debs"
ASTERISK = "/usr/sbin/asterisk"
INSTANCES = "/srv/nu"  # inside the chroot


# ---------------------------------------------------------------------------------------------
# The chroot


def chroot_complete(root: Path) -> bool:
    return (root / MARKER).is_file()


def _looks_built(root: Path) -> bool:
    """A chroot built by the documented debootstrap command before markers existed."""
    sounds = root / "usr/share/asterisk/sounds"
    return (root / ASTERISK.lstrip("/")).is_file() and (sounds / "it").is_symlink()


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _run(cmd: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
    log.info("running %s", " ".join(cmd))
    return subprocess.run(cmd, check=True, text=True, **kw)


def _ensure_debootstrap() -> str:
    found = shutil.which("debootstrap") or (
        "/usr/sbin/debootstrap" if os.path.exists("/usr/sbin/debootstrap") else None
    )
    if found:
        return found
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    _run(["apt-get", "update", "-q"], env=env)
    _run(["apt-get", "install", "-y", "-q", "--no-install-recommends", "debootstrap"], env=env)
    return shutil.which("debootstrap") or "/usr/sbin/debootstrap"


def _mounts_under(path: Path) -> list[str]:
    """Mount points at or below ``path`` (deepest first), from /proc/self/mountinfo."""
    prefix = str(path.resolve()) if path.exists() else str(path)
    found = []
    with open("/proc/self/mountinfo") as info:
        for line in info:
            point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m[1], 8)), line.split()[4])
            if point == prefix or point.startswith(prefix + "/"):
                found.append(point)
    return sorted(found, key=len, reverse=True)


def _remove_tree(path: Path) -> None:
    """Delete a (partial) chroot without ever following a mount into the host's /dev or /proc."""
    for point in _mounts_under(path):
        subprocess.run(["umount", "-l", point], check=False)
    if _mounts_under(path):
        raise RuntimeError(f"{path} still has mounts; refusing to delete it")
    subprocess.run(["rm", "-rf", "--one-file-system", str(path)], check=True)


def ensure_chroot(
    root: str | Path | None = None,
    *,
    suite: str = SUITE,
    mirror: str = MIRROR,
    packages: tuple[str, ...] = PACKAGES,
) -> Path:
    """Return a complete Asterisk chroot at ``root`` (default ``Settings.asterisk_root``).

    Built once with debootstrap into ``<root>.tmp`` and renamed into place when complete (a
    marker file says so), under a file lock so concurrent callers build it only once. A chroot
    made by hand with the same debootstrap command is adopted. /proc and /dev are mounted.
    """
    root = Path(root or config.load().asterisk_root)
    if not chroot_complete(root):
        with _file_lock(root.parent / f".{root.name}.lock"):
            if not chroot_complete(root):
                if root.exists() and _looks_built(root):
                    (root / MARKER).write_text("adopted\n")
                else:
                    _build_chroot(root, suite, mirror, packages)
    ensure_mounts(root)
    if _missing_packages(root, packages):
        with _file_lock(root.parent / f".{root.name}.lock"):
            _add_packages(root, packages)
    return root


def _missing_packages(root: Path, packages: tuple[str, ...]) -> list[str]:
    """Packages the marker doesn't list: a chroot cached before they were added to PACKAGES."""
    listed = set((root / MARKER).read_text().split())
    return [p for p in packages if p not in listed]


def _add_packages(root: Path, packages: tuple[str, ...]) -> None:
    """Install what an older cached chroot lacks (apt inside it), then list it in the marker."""
    listed = _missing_packages(root, packages)
    # only what is really absent: never upgrade the Asterisk a running instance uses
    query = ["chroot", str(root), "dpkg-query", "-W", "-f=${Package} ${Status}\\n", *listed]
    done = subprocess.run(query, capture_output=True, text=True).stdout
    installed = {line.split()[0] for line in done.splitlines() if line.endswith(" installed")}
    missing = [p for p in listed if p not in installed]
    if missing:
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        # a mirror snapshot older than its Valid-Until is still what debootstrap installed from
        update = ["apt-get", "-o", "Acquire::Check-Valid-Until=false", "update", "-q"]
        install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing]
        for cmd in (update, install):
            _run(["chroot", str(root), *cmd], env=env, stdout=subprocess.DEVNULL)
    with open(root / MARKER, "a") as marker:
        marker.write(f"added {' '.join(listed)}\n")


def _build_chroot(root: Path, suite: str, mirror: str, packages: tuple[str, ...]) -> None:
    """debootstrap into ``<root>.tmp``, then swap it into place.

    Instance trees (``srv/nu/*``) written before the chroot existed — ``ivr up`` and the tests
    render an instance's configuration first and start it afterwards — are carried into the new
    chroot, so the order of "make the chroot" and "write files into it" never matters.
    """
    tmp = root.with_name(root.name + ".tmp")
    if tmp.exists():
        _remove_tree(tmp)
    started = time.monotonic()
    _debootstrap(tmp, suite, mirror, packages)
    for point in _mounts_under(tmp):  # debootstrap may leave /proc mounted on failure paths
        subprocess.run(["umount", "-l", point], check=False)
    (tmp / MARKER).write_text(f"debootstrap {suite} {' '.join(packages)}\n")
    if root.exists():
        _carry_instances(root, tmp)
        _set_aside(root)
    tmp.rename(root)
    log.info("built Asterisk chroot %s in %.0f s", root, time.monotonic() - started)


def _debootstrap(target: Path, suite: str, mirror: str, packages: tuple[str, ...]) -> None:
    """debootstrap's progress goes to our log, not the terminal; its last lines if it fails."""
    cache = os.environ.get("NU_DEB_CACHE", DEB_CACHE)
    command = [
        _ensure_debootstrap(),
        "--variant=minbase",
        f"--include={','.join(packages)}",
        *([f"--cache-dir={Path(cache).resolve()}"] if cache else []),
        suite,
        str(target),
        mirror,
    ]
    if cache:
        Path(cache).mkdir(parents=True, exist_ok=True)
    log.info("running %s", " ".join(command))
    done = subprocess.run(command, capture_output=True, text=True)
    for line in (done.stdout + done.stderr).splitlines():
        log.debug("debootstrap: %s", line)
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-15:])
        raise RuntimeError(f"debootstrap failed (exit {done.returncode}):\n{tail}")
    if cache:
        _prune_deb_cache(Path(cache), target)


def _prune_deb_cache(cache: Path, root: Path) -> None:
    """Keep only the packages this chroot was built from: sid moves on, the cache must not grow."""
    query = ["chroot", str(root), "dpkg-query", "-W", "-f=${Package}_${Version}_${Architecture}\\n"]
    done = subprocess.run(query, capture_output=True, text=True)
    if done.returncode != 0:
        return  # nothing to go by: keep the cache as it is
    used = {line.replace(":", "%3a") + ".deb" for line in done.stdout.split()}
    for deb in cache.glob("*.deb"):
        if deb.name not in used:
            deb.unlink(missing_ok=True)


def _carry_instances(old_root: Path, new_root: Path) -> None:
    """Move the instance trees of an incomplete root into the freshly built chroot."""
    instances = old_root / INSTANCES.lstrip("/")
    if not instances.is_dir():
        return
    target = new_root / INSTANCES.lstrip("/")
    target.mkdir(parents=True, exist_ok=True)
    for tree in instances.iterdir():
        tree.rename(target / tree.name)


def _set_aside(root: Path) -> None:
    """What is left of an incomplete root: removed if only empty folders, else kept aside
    (never deleted blindly: it may be somebody's hand-made chroot gone wrong)."""
    for point in _mounts_under(root):
        subprocess.run(["umount", "-l", point], check=False)
    if all(p.is_dir() and not p.is_symlink() for p in root.rglob("*")):
        shutil.rmtree(root)
        return
    aside = root.with_name(f"{root.name}.broken-{int(time.time())}")
    log.warning("moving incomplete chroot %s to %s", root, aside)
    root.rename(aside)


def ensure_mounts(root: Path) -> None:
    """Mount /proc and bind /dev into the chroot, unless already there."""
    mounted = set(_mounts_under(root))
    proc, dev = root / "proc", root / "dev"
    if str(proc.resolve()) not in mounted:
        _run(["mount", "-t", "proc", "proc", str(proc)])
    if str(dev.resolve()) not in mounted:
        _run(["mount", "--bind", "/dev", str(dev)])


# ---------------------------------------------------------------------------------------------
# An Asterisk instance


_FREE_PORTS = (10000, 32767)  # below Linux's default ephemeral range (32768-60999)


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A port nobody uses right now (TCP by default, or ``socket.SOCK_DGRAM``), chosen outside
    the kernel's range for outgoing connections: a port handed out now is bound later (the
    FastAGI port when its service starts, perhaps minutes on), and in the ephemeral range any
    outgoing connection meanwhile could take it ("Address already in use")."""
    low, high = _FREE_PORTS
    for _ in range(200):
        port = random.randint(low, high)
        with socket.socket(socket.AF_INET, kind) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket(socket.AF_INET, kind) as sock:  # a crowded range: any port will do
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class AsteriskInstance:
    """One Asterisk process in the chroot, with its own tree, config and ports.

    ``AsteriskInstance("system")`` with the settings' ports is what ``ivr up`` runs;
    tests use another name and free ports. Typical use::

        inst = AsteriskInstance("test", ami_port=free_port(), sip_port=free_port(SOCK_DGRAM))
        inst.render(dialplan, settings)     # or inst.install_config(rendered_dir)
        with inst.start():
            ami = inst.ami()                # logged-in AMIClient
    """

    def __init__(
        self,
        name: str = "system",
        *,
        settings: config.Settings | None = None,
        root: str | Path | None = None,
        ami_port: int | None = None,
        sip_port: int | None = None,
    ):
        if not name.replace("-", "").replace("_", "").isalnum():
            raise ValueError(f"instance name {name!r}: letters, digits, - and _ only")
        self.name = name
        self.settings = settings or config.load()
        self.root = Path(root or self.settings.asterisk_root)
        self.ami_port = ami_port or self.settings.ami_port
        self.sip_port = sip_port or self.settings.sip_port
        self.process: subprocess.Popen[bytes] | None = None
        self._ami: AMIClient | None = None
        self.timezone = "Europe/Rome"  # the rendered dialplan's, once render() ran

    # paths -------------------------------------------------------------------------------------

    @property
    def inner_dir(self) -> str:
        """The instance's directory as Asterisk sees it (inside the chroot)."""
        return f"{INSTANCES}/{self.name}"

    @property
    def host_dir(self) -> Path:
        return self.root / self.inner_dir.lstrip("/")

    def host_path(self, inner: str) -> Path:
        """Host path of a path inside the chroot."""
        return self.root / inner.lstrip("/")

    @property
    def etc_dir(self) -> Path:
        return self.host_dir / "etc"

    @property
    def log_dir(self) -> Path:
        return self.host_dir / "log"

    @property
    def full_log(self) -> Path:
        """Asterisk's call trail (``logger.conf``: ``full``): notices and warnings, no digits."""
        return self.log_dir / "full"

    @property
    def sounds_dir(self) -> Path:
        """Host path of ``Settings.asterisk_sounds_dir`` in the chroot."""
        return self.host_path(self.settings.asterisk_sounds_dir)

    def speech_settings(self, settings: config.Settings | None = None) -> config.Settings:
        """``settings`` with the speech spool in this instance's spool: Asterisk records into
        ``<instance>/spool/speech`` (its path in the chroot), we read the same files from the
        host. Creates the folder."""
        inner = f"{self.inner_dir}/spool/speech"
        host = self.host_path(inner)
        host.mkdir(parents=True, exist_ok=True)
        return dataclasses.replace(
            settings or self.settings, speech_spool_dir=str(host), asterisk_speech_spool_dir=inner
        )

    def backoffice_settings(self, settings: config.Settings | None = None) -> config.Settings:
        """``settings`` with the back office's voice messages in this instance's spool:
        Asterisk records into ``<instance>/spool/backoffice``, we read them from the host."""
        inner = f"{self.inner_dir}/spool/backoffice"
        host = self.host_path(inner)
        host.mkdir(parents=True, exist_ok=True)
        return dataclasses.replace(
            settings or self.settings,
            backoffice_spool_dir=str(host),
            asterisk_backoffice_spool_dir=inner,
        )

    # configuration -----------------------------------------------------------------------------

    def render(self, dialplan: Any, **kw: Any) -> list[Path]:
        """Render the city's configuration into this instance's etc, with its ports."""
        self.timezone = dialplan.timezone
        kw.setdefault("ami_port", self.ami_port)
        kw.setdefault("sip_port", self.sip_port)
        return render(dialplan, self.settings, self.etc_dir, **kw)

    def install_config(self, src_dir: str | Path) -> list[Path]:
        """Use an already rendered configuration (``ivr asterisk render --out DIR``)."""
        return install(src_dir, self.etc_dir)

    def credentials(self) -> AMICredentials:
        return read_ami_credentials(self.etc_dir)

    def _module_dir(self) -> str:
        """The chroot's Asterisk module directory (its architecture, not necessarily ours)."""
        for found in (self.root / "usr/lib").glob("*-linux-gnu/asterisk/modules"):
            return "/" + str(found.relative_to(self.root))
        return "/usr/lib/asterisk/modules"

    def _set_local_time(self) -> None:
        """SAY DATE/TIME speak Asterisk's local time (the chroot's /etc/localtime; Asterisk
        ignores TZ): make it the city's, or an 08:30 appointment in Rome is read as 07:30."""
        inner = f"/usr/share/zoneinfo/{self.timezone}"
        if not self.host_path(inner).is_file():
            log.warning("no zone %s in the chroot: Asterisk keeps its local time", self.timezone)
            return
        link = self.root / "etc" / "localtime"
        if link.is_symlink() and os.readlink(link) == inner:
            return
        link.unlink(missing_ok=True)
        link.symlink_to(inner)

    def _write_asterisk_conf(self) -> None:
        d = self.inner_dir
        (self.etc_dir / "asterisk.conf").write_text(
            f"""; Written by ivr.devenv.asterisk for instance {self.name}.
[directories]   ; no "(!)": a template would be ignored
astetcdir => {d}/etc
astmoddir => {self._module_dir()}
astvarlibdir => {d}/lib
astdbdir => {d}/lib
astkeydir => {d}/lib
astdatadir => /usr/share/asterisk
astagidir => /usr/share/asterisk/agi-bin
astspooldir => {d}/spool
astrundir => {d}/run
astlogdir => {d}/log
astcachedir => {d}/cache
astsbindir => /usr/sbin

[options]
verbose = 3
debug = 0
documentation_language = en_US
hideconnect = yes
transmit_silence = yes
"""
        )

    def sync_sounds(self) -> Path:
        """Copy ``Settings.sounds_dir`` to ``Settings.asterisk_sounds_dir`` in the chroot.

        Replaces the target as a whole (:func:`ivr.prompts.deploy.sync_sounds`), so a call never
        sees half a rebuild. Call again after ``ivr prompts build`` while Asterisk runs.
        """
        return deploy.sync_sounds(self.settings.sounds_dir, self.sounds_dir)

    # process -----------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, timeout: float = 60.0) -> AsteriskInstance:
        """Start Asterisk and return once the AMI answers and Asterisk is fully booted.

        Asterisk gets SIGTERM if the thread that called this exits (PR_SET_PDEATHSIG): call it
        from a thread that lives as long as Asterisk should (the main thread, a session fixture).
        """
        if self.running:
            return self
        if not (self.etc_dir / "extensions.conf").is_file():
            raise RuntimeError(f"no configuration in {self.etc_dir}: render() or install_config()")
        ensure_chroot(self.root)
        self._refuse_if_running_elsewhere()
        if port_answers("127.0.0.1", self.ami_port):
            raise RuntimeError(
                f"port {self.ami_port} is already in use: another Asterisk (or program) runs "
                "there; give this instance other ports"
            )
        for sub in ("run", "log", "spool", "lib", "cache"):
            (self.host_dir / sub).mkdir(parents=True, exist_ok=True)
        for stale in ("asterisk.ctl", "asterisk.pid"):
            (self.host_dir / "run" / stale).unlink(missing_ok=True)
        self._write_asterisk_conf()
        self._set_local_time()
        self.sync_sounds()
        console = open(self.log_dir / "console.log", "ab")  # noqa: SIM115 - child keeps it
        try:
            self.process = subprocess.Popen(
                [
                    "chroot",
                    str(self.root),
                    ASTERISK,
                    "-f",
                    "-n",
                    "-C",
                    f"{self.inner_dir}/etc/asterisk.conf",
                ],
                stdin=subprocess.DEVNULL,
                stdout=console,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_asterisk_child,
                env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"},
            )
        finally:
            console.close()
        try:
            self._wait_booted(timeout)
        except BaseException:
            self.stop()
            raise
        log.info("Asterisk %s up (pid %s, AMI %s)", self.name, self.process.pid, self.ami_port)
        return self

    def _wait_booted(self, timeout: float) -> None:
        creds = self.credentials()
        deadline = time.monotonic() + timeout
        client = AMIClient("127.0.0.1", self.ami_port, creds.username, creds.secret)
        while True:
            if not self.running:
                raise RuntimeError(
                    f"Asterisk {self.name} exited at start-up; see {self.log_dir}/console.log"
                )
            try:
                client.connect()
                break
            except (OSError, AMIError) as err:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"Asterisk {self.name}: AMI did not answer: {err}") from err
                time.sleep(0.1)
        try:
            left = max(1.0, deadline - time.monotonic())
            answer = client.command("core waitfullybooted", timeout=left)
            if "fully booted" not in answer:
                raise RuntimeError(f"Asterisk {self.name} did not boot: {answer!r}")
        finally:
            client.close()

    def ami(self, **kw: Any) -> AMIClient:
        """A new, logged-in AMI client for this instance (close it when done)."""
        creds = self.credentials()
        return AMIClient("127.0.0.1", self.ami_port, creds.username, creds.secret, **kw).connect()

    def cli(self, command: str) -> str:
        """Run an Asterisk CLI command and return its output."""
        with self.ami() as client:
            return client.command(command)

    def reload(self, module: str = "") -> str:
        """Reload the configuration: all of it, or one module (``pbx_config``, ``app_queue``)."""
        return self.cli(f"module reload {module}".strip())

    def stop(self, timeout: float = 15.0) -> None:
        """Stop Asterisk: SIGTERM to its process group, SIGKILL if it lingers. Nothing is left."""
        proc = self.process
        self.process = None
        if proc is not None:
            stop_group(proc, timeout)

    def _refuse_if_running_elsewhere(self) -> None:
        """Another Asterisk of this same instance (same asterisk.conf) is not ours to stop."""
        marker = f"{self.inner_dir}/etc/asterisk.conf".encode()
        pids = _pids_where(lambda cmd: marker in cmd and ASTERISK.encode() in cmd)
        if pids:
            raise RuntimeError(
                f"Asterisk instance {self.name!r} already runs (pid {', '.join(map(str, pids))}):"
                " stop it first, or use another instance name and ports"
            )

    def __enter__(self) -> AsteriskInstance:
        return self.start() if not self.running else self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# Asterisk's pjproject threads (res_pjsip's "SIP", res_rtp_asterisk's "timer") wake every 10 ms
# even with no call; on the 2-core VM an idle instance measured 27% of a core, and the tests run
# three or four at once. A 50 ms timer slack lets the kernel batch those wake-ups (measured: 17-
# 20%). Call audio is paced by timerfd (res_timing_timerfd), which the slack does not touch.
TIMER_SLACK_NS = 50_000_000


def _asterisk_child() -> None:
    """In the child, before exec: die with the parent, and the development timer slack."""
    die_with_parent()
    ctypes.CDLL(None).prctl(29, TIMER_SLACK_NS, 0, 0, 0)  # PR_SET_TIMERSLACK, inherited


def stop_group(proc: subprocess.Popen, timeout: float) -> None:
    """Stop a daemon started in its own session (Asterisk, Kamailio): SIGTERM to its process
    group, SIGKILL if it lingers past ``timeout``, then SIGKILL to any child left in the group."""
    if proc.poll() is None:
        _signal_group(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            _signal_group(proc.pid, signal.SIGKILL)
            proc.wait(5)
    _signal_group(proc.pid, signal.SIGKILL)


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _pids_where(test: Callable[[bytes], bool]) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if test(cmdline):
            pids.append(int(entry.name))
    return pids
