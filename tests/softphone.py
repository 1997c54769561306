"""A real SIP softphone in tests: baresip (Debian's ``baresip``), driven over its ``ctrl_tcp``.

Each :class:`Softphone` is one ``baresip`` process with a private config folder (removed on
exit) holding ``config`` (no sound card: a sine tone as microphone, ALSA's ``null`` device as
speaker; optionally ``sndfile`` to record what the phone heard) and ``accounts`` (one account).
It is bound to one loopback address (``-n``), so tests can tell phones — and attackers — apart
by source address. ``ctrl_tcp`` speaks netstring-framed JSON: commands go as
``{"command": ..., "params": ..., "token": ...}``; responses (``"response": true``, echoing the
token) and events (``"event": true``, ``"type": "CALL_INCOMING"``, ...) come back on the same
connection and are collected by a reader thread::

    with Softphone("101", secret, asterisk.instance.sip_port) as phone:
        phone.wait_registered()
        phone.dial("*1101")
        phone.wait_event("CALL_CLOSED")

baresip 1.0.0 (Debian 12) has blind transfer (``transfer``) but no attended transfer.
The process gets SIGTERM if the thread that started it dies (no orphans), and is killed on exit.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ivr.devenv.asterisk import free_port
from ivr.supervisor import die_with_parent

BARESIP = "/usr/bin/baresip"
MODULES = "/usr/lib/baresip/modules"

# A ceiling for a loaded CI machine, never a measurement.
DEFAULT_TIMEOUT = 20.0


@dataclass(frozen=True)
class Event:
    """One baresip event: ``type`` (``REGISTER_OK``, ``CALL_ESTABLISHED``...), the call's
    ``id`` and ``peeruri`` when it is about a call, ``param`` (a reason, a status line)."""

    type: str
    call_id: str = ""
    peer_uri: str = ""
    param: str = ""
    direction: str = ""  # "incoming" / "outgoing" for call events
    raw: dict[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def parse(cls, message: dict[str, Any]) -> Event:
        return cls(
            type=str(message.get("type", "")),
            call_id=str(message.get("id", "")),
            peer_uri=str(message.get("peeruri", "")),
            param=str(message.get("param", "")),
            direction=str(message.get("direction", "")),
            raw=message,
        )


class SoftphoneError(RuntimeError):
    """baresip refused a command or did not start."""


def _netstring(payload: bytes) -> bytes:
    return b"%d:%s," % (len(payload), payload)


class Softphone:
    """One baresip registered (or trying to) as ``ext`` at ``host:sip_port``.

    ``transport``: ``udp``, ``tcp`` or ``tls`` (TLS on ``sip_port + 1``, as pjsip.conf
    renders it). ``media_encryption="srtp"`` offers SDES-SRTP and refuses plain RTP
    (baresip's ``srtp-mand``). ``answer``: ``auto`` answers every call, ``manual`` waits for
    :meth:`accept`. ``record``: keep what the phone sent and heard as WAV files
    (:meth:`recordings`).
    """

    def __init__(
        self,
        ext: str,
        password: str,
        sip_port: int,
        *,
        bind: str = "127.0.0.1",
        host: str = "127.0.0.1",
        transport: Literal["udp", "tcp", "tls"] = "udp",
        answer: Literal["auto", "manual"] = "auto",
        media_encryption: Literal["srtp"] | None = None,
        register_interval: int = 60,
        record: bool = False,
    ):
        if not ext or not all(c.isalnum() or c in "-_." for c in ext):
            raise ValueError(f"bad extension {ext!r}")
        if any(c in password for c in ";>\n\r"):
            raise ValueError("password has characters an account line cannot hold")
        self.ext, self.bind, self.transport = ext, bind, transport
        port = sip_port + 1 if transport == "tls" else sip_port
        self.aor = f"sip:{ext}@{host}:{port}"
        self._account = (
            f"<{self.aor};transport={transport}>;auth_pass={password}"
            f";answermode={answer};regint={register_interval}"
            + (";mediaenc=srtp-mand" if media_encryption == "srtp" else "")
        )
        self.record = record
        self.dir = Path(tempfile.mkdtemp(prefix=f"nu-baresip-{ext}-"))
        self.ctrl_port = 0
        self.events: list[Event] = []
        self._process: subprocess.Popen[bytes] | None = None
        self._sock: socket.socket | None = None
        self._reader: threading.Thread | None = None
        self._cond = threading.Condition()
        self._responses: dict[str, dict[str, Any]] = {}
        self._tokens = 0
        self._send_lock = threading.Lock()

    # lifetime ----------------------------------------------------------------------------------

    def __enter__(self) -> Softphone:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self, timeout: float = DEFAULT_TIMEOUT) -> Softphone:
        """Write the config, start baresip, connect to its ctrl_tcp."""
        self.ctrl_port = free_port()
        modules = ["g711", "aubridge", "alsa", "srtp"] + (["sndfile"] if self.record else [])
        config = [
            "poll_method\tepoll",
            f"sip_listen\t{self.bind}:0",
            # aubridge: what the phone hears is what it says back, paced by a clock of its own
            # (ALSA's null device as a source sends as fast as the CPU allows)
            f"audio_player\taubridge,nu{self.ctrl_port}",
            f"audio_source\taubridge,nu{self.ctrl_port}",
            "audio_alert\talsa,null",
            f"module_path\t{MODULES}",
            *(f"module\t{name}.so" for name in modules),
            "module_app\taccount.so",
            "module_app\tmenu.so",
            "module_app\tctrl_tcp.so",
            f"ctrl_tcp_listen\t127.0.0.1:{self.ctrl_port}",
            f"snd_path\t{self.dir / 'sound'}",
            "rtp_ports\t20000-39998",
        ]
        (self.dir / "sound").mkdir()
        if self.transport == "tls":
            # Asterisk opens its own TLS connection to the phone (a call, a BYE): baresip needs
            # a certificate to accept it (self-signed: Asterisk does not verify clients)
            pem, key = self.dir / "cert.pem", self.dir / "key.pem"
            subprocess.run(
                ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"]
                + ["-subj", f"/CN={self.bind}", "-keyout", str(key), "-out", str(pem)],
                check=True,
                capture_output=True,
            )
            pem.write_text(pem.read_text() + key.read_text())
            config.append(f"sip_certificate\t{pem}")
        (self.dir / "config").write_text("\n".join(config) + "\n")
        # No account at start: it is added over ctrl_tcp once we listen (uanew), so that no
        # registration outcome is reported before there is anyone to hear it.
        (self.dir / "accounts").write_text("")
        self._process = subprocess.Popen(
            [BARESIP, "-f", str(self.dir), "-n", self.bind],
            stdin=subprocess.DEVNULL,
            stdout=open(self.dir / "baresip.log", "wb"),  # noqa: SIM115 - the child owns it
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,
        )
        deadline = time.monotonic() + timeout
        while True:
            if self._process.poll() is not None:
                raise SoftphoneError(f"baresip exited at start: {self.log()[-2000:]}")
            try:
                self._sock = socket.create_connection(("127.0.0.1", self.ctrl_port), timeout=1)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SoftphoneError("baresip's ctrl_tcp never answered") from None
                time.sleep(0.1)
        self._sock.settimeout(None)
        self._reader = threading.Thread(target=self._read, name=f"baresip-{self.ext}", daemon=True)
        self._reader.start()
        self.command("uanew", self._account)
        return self

    def close(self) -> None:
        """Stop baresip (SIGTERM, then SIGKILL) and remove its folder."""
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_RDWR)
            self._sock.close()
            self._sock = None
        if self._process is not None:
            if self._process.poll() is None:
                self._process.terminate()
                try:
                    self._process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self._process.kill()
                    self._process.wait(timeout=5)
            self._process = None
        if self._reader is not None:
            self._reader.join(timeout=5)
            self._reader = None
        shutil.rmtree(self.dir, ignore_errors=True)

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def log(self) -> str:
        """baresip's own output (for failure messages)."""
        try:
            return (self.dir / "baresip.log").read_text(errors="replace")
        except FileNotFoundError:
            return ""

    # ctrl_tcp ------------------------------------------------------------------------------------

    def _read(self) -> None:
        buffer = b""
        sock = self._sock
        while sock is not None:
            try:
                chunk = sock.recv(65536)
            except OSError:
                break
            if not chunk:
                break
            buffer += chunk
            while True:
                colon = buffer.find(b":")
                if colon < 0:
                    break
                size = int(buffer[:colon])
                if len(buffer) < colon + size + 2:
                    break
                payload = buffer[colon + 1 : colon + 1 + size]
                buffer = buffer[colon + size + 2 :]
                self._dispatch(json.loads(payload.decode("utf-8", errors="replace")))
        with self._cond:
            self._cond.notify_all()

    def _dispatch(self, message: dict[str, Any]) -> None:
        with self._cond:
            if message.get("event"):
                self.events.append(Event.parse(message))
            elif message.get("response"):
                self._responses[str(message.get("token", ""))] = message
            self._cond.notify_all()

    def command(self, command: str, params: str = "", timeout: float = DEFAULT_TIMEOUT) -> str:
        """Run a baresip command; its answer's text. Raises :class:`SoftphoneError` if refused."""
        if self._sock is None:
            raise SoftphoneError("baresip is not running")
        with self._send_lock:
            self._tokens += 1
            token = f"t{self._tokens}"
            body = json.dumps({"command": command, "params": params, "token": token})
            self._sock.sendall(_netstring(body.encode()))
        with self._cond:
            if not self._cond.wait_for(lambda: token in self._responses, timeout=timeout):
                raise SoftphoneError(f"no answer to {command!r} in {timeout:.0f} s")
            response = self._responses.pop(token)
        if not response.get("ok"):
            raise SoftphoneError(f"{command} {params!r} refused: {response.get('data')!r}")
        return str(response.get("data", ""))

    # events ------------------------------------------------------------------------------------

    def wait_event(
        self,
        type_: str | tuple[str, ...],
        timeout: float = DEFAULT_TIMEOUT,
        *,
        since: int = 0,
        where: Callable[[Event], bool] | None = None,
    ) -> Event:
        """The first event of ``type_`` (one or several) at index ``since`` or later."""
        types = (type_,) if isinstance(type_, str) else type_

        def found() -> Event | None:
            for event in self.events[since:]:
                if event.type in types and (where is None or where(event)):
                    return event
            return None

        with self._cond:
            self._cond.wait_for(lambda: found() is not None or not self.running, timeout)
            event = found()
        if event is None:
            seen = [e.type for e in self.events[since:]]
            raise TimeoutError(f"{self.ext}: no {types} in {timeout:.0f} s (saw {seen})")
        return event

    def mark(self) -> int:
        """An index for ``wait_event(since=...)``: only events after now."""
        with self._cond:
            return len(self.events)

    def wait_registered(self, timeout: float = DEFAULT_TIMEOUT, since: int = 0) -> Event:
        """Wait for REGISTER_OK; a REGISTER_FAIL first raises :class:`SoftphoneError`."""
        event = self.wait_event(("REGISTER_OK", "REGISTER_FAIL"), timeout, since=since)
        if event.type != "REGISTER_OK":
            raise SoftphoneError(f"{self.ext} failed to register: {event.param}")
        return event

    def registration_failed(self, timeout: float = DEFAULT_TIMEOUT, since: int = 0) -> bool:
        """Whether the next registration outcome is REGISTER_FAIL (False: it succeeded).

        A registration nobody answers ends as REGISTER_FAIL too, after baresip's own
        transaction timeout (32 s on UDP)."""
        event = self.wait_event(("REGISTER_OK", "REGISTER_FAIL"), timeout, since=since)
        return event.type == "REGISTER_FAIL"

    # calls -------------------------------------------------------------------------------------

    def wait_answered_incoming(self, timeout: float = DEFAULT_TIMEOUT, since: int = 0) -> Event:
        """The next incoming call's CALL_ESTABLISHED (baresip 1.0.0 reports no CALL_INCOMING
        for a call it answers by itself: ``answer="auto"``)."""
        return self.wait_event(
            "CALL_ESTABLISHED", timeout, since=since, where=lambda e: e.direction == "incoming"
        )

    def dial(self, target: str) -> None:
        """Call ``target``: an extension (``*1101``, dialled at this phone's registrar) or a
        full ``sip:`` URI."""
        uri = target if target.startswith("sip") else f"sip:{target}@{self.aor.split('@', 1)[1]}"
        self.command("dial", uri)

    def accept(self) -> None:
        """Answer the ringing call (``answer="manual"``)."""
        self.command("accept")

    def hangup(self) -> None:
        """Hang up the current call."""
        self.command("hangup")

    def send_dtmf(self, digits: str, pause: float = 0.2) -> None:
        """Press keys on the current call (RFC 4733, as pjsip.conf asks)."""
        for i, digit in enumerate(digits):
            if i:
                time.sleep(pause)
            self.command("sndcode", digit)

    def transfer(self, target: str) -> None:
        """Blind transfer of the current call (SIP REFER) to an extension or ``sip:`` URI.
        (baresip 1.0.0 has no attended transfer.)"""
        uri = target if target.startswith("sip") else f"sip:{target}@{self.aor.split('@', 1)[1]}"
        self.command("transfer", uri)

    def recordings(self) -> list[Path]:
        """WAV files ``sndfile`` wrote (``record=True``): ``*-dec.wav`` is what was heard."""
        return sorted((self.dir / "sound").glob("*.wav"))


# ---------------------------------------------------------------------------------------------
# Test-only SIP accounts

TEST_ACCOUNT_MARK = "; test account (tests/softphone.py)"


@contextlib.contextmanager
def temporary_account(
    instance: Any, ext: str, secret: str, queues: Sequence[str] = (), *, template: str = ""
) -> Iterator[None]:
    """:func:`add_test_account` for the block, then the instance's files as they were and
    reloaded: a test account left behind is an extension in ``nu-operator-rights`` that no
    rendered configuration has, and every later publication on the shared test Asterisk would
    find it there ("old extension ... the previous version stays live")."""
    etc = instance.etc_dir
    files = [etc / "pjsip.conf", etc / "extensions_local.conf"]
    before = {f: f.read_text() if f.exists() else None for f in files}
    add_test_account(instance, ext, secret, queues, template=template)
    try:
        yield
    finally:
        for f, text in before.items():
            if text is None:
                f.unlink(missing_ok=True)
            else:
                f.write_text(text)
        instance.cli("module reload res_pjsip.so")
        instance.cli("dialplan reload")


def add_test_account(
    instance: Any, ext: str, secret: str, queues: Sequence[str] = (), *, template: str = ""
) -> None:
    """Give a test Asterisk one more operator account ``ext`` with a known ``secret``, allowed
    to log in to ``queues``: sections on pjsip.conf's operator templates
    (``operator-endpoint``, or ``template`` for the endpoint), appended to *that test
    instance's* configuration and reloaded. Tests need an account whose secret they know,
    however the city's real accounts are made; a production render never has these."""
    etc = instance.etc_dir
    pjsip = etc / "pjsip.conf"
    text = pjsip.read_text()
    if f"{TEST_ACCOUNT_MARK} {ext}\n" not in text:
        endpoint = template or "operator-endpoint"
        text += (
            f"\n{TEST_ACCOUNT_MARK} {ext}\n"
            f"[{ext}]({endpoint})\nauth = {ext}\naors = {ext}\n"
            f'callerid = "Test {ext}" <{ext}>\n\n'
            f"[{ext}](operator-auth)\nauth_type = userpass\nusername = {ext}\n"
            f"password = {secret}\n\n[{ext}](operator-aor)\n"
        )
        pjsip.write_text(text)
    # Login rights (extensions.conf's nu-login asks nu-operator-rights when it exists).
    local = etc / "extensions_local.conf"
    rights = "".join(
        f"exten => {ext}_{queue},1,Return(0)  {TEST_ACCOUNT_MARK}\n" for queue in queues
    )
    current = local.read_text() if local.exists() else ""
    if rights and rights not in current:
        local.write_text(current + f"\n[nu-operator-rights]\n{rights}")
    instance.cli("module reload res_pjsip.so")
    instance.cli("dialplan reload")
