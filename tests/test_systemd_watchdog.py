"""systemd's watchdog for the FastAGI service (``numero-unico@fastagi.service.d/watchdog.conf``).

``ivr services exec fastagi`` is run as systemd runs it under that drop-in: ``NOTIFY_SOCKET``
(here a datagram socket the test owns, standing in for systemd's) and ``WATCHDOG_USEC`` set. It
starts the real FastAGI service as its child, says READY=1 once the service answers its
liveness probe and WATCHDOG=1 at each answer. Frozen (SIGSTOP), the service still has its port
accepting connections but answers nothing: the pings stop, which is what makes systemd kill and
restart the unit; thawed, they come back. SIGTERM reaches the service and ends both.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from ivr.devenv.asterisk import free_port

ROOT = Path(__file__).resolve().parent.parent
CEILING = 30.0  # a loaded CI machine's ceiling, never a measurement


def _received(sock: socket.socket, seconds: float) -> list[str]:
    """Every datagram the 'systemd' socket gets during ``seconds``."""
    got, deadline = [], time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            got.append(sock.recv(256).decode())
        except TimeoutError:
            break
    return got


def _wait_for(sock: socket.socket, state: str) -> None:
    deadline = time.monotonic() + CEILING
    while time.monotonic() < deadline:
        if state in _received(sock, 0.5):
            return
    raise AssertionError(f"systemd never got {state}")


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def _service_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The FastAGI service on a free loopback port with a database of the test's own."""
    env = dict(
        os.environ,
        NU_AGI_HOST="127.0.0.1",
        NU_AGI_PORT=str(free_port()),
        NU_VAR_DIR=str(tmp_path / "var"),
        NU_DATABASE_URL=f"sqlite:///{tmp_path / 'city.db'}",
        NU_REDIS_URL="",
        NU_LOG_FILE="",
        **extra,
    )
    if "NOTIFY_SOCKET" not in extra:
        env.pop("NOTIFY_SOCKET", None)
        env.pop("WATCHDOG_USEC", None)
    return env


def test_the_watchdog_pings_stop_while_the_fastagi_service_is_frozen(tmp_path):
    notify = tmp_path / "notify"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(notify))
    env = _service_env(tmp_path, NOTIFY_SOCKET=str(notify), WATCHDOG_USEC="2000000")
    wrapper = subprocess.Popen(
        [sys.executable, "-m", "ivr", "services", "exec", "fastagi"], env=env, cwd=ROOT
    )
    try:
        _wait_for(sock, "READY=1")
        _wait_for(sock, "WATCHDOG=1")
        (service,) = _children(wrapper.pid)  # the FastAGI service runs under the wrapper

        os.kill(service, signal.SIGSTOP)
        _received(sock, 1.5)  # a ping of a probe answered just before the freeze
        assert "WATCHDOG=1" not in _received(sock, 3.0)  # systemd's 2 s would run out

        os.kill(service, signal.SIGCONT)
        _wait_for(sock, "WATCHDOG=1")

        wrapper.send_signal(signal.SIGTERM)
        assert wrapper.wait(CEILING) == 0
        assert not Path(f"/proc/{service}").exists() or _zombie(service)
    finally:
        if wrapper.poll() is None:
            wrapper.kill()
            wrapper.wait()
        sock.close()


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def test_without_systemd_exec_becomes_the_process_itself(tmp_path):
    """No WATCHDOG_USEC (the container, a plain shell): ``exec`` replaces itself, no wrapper."""
    env = _service_env(tmp_path)
    process = subprocess.Popen(
        [sys.executable, "-m", "ivr", "services", "exec", "fastagi"], env=env, cwd=ROOT
    )
    try:
        from ivr.agi.server import fastagi_alive

        deadline = time.monotonic() + CEILING
        while not fastagi_alive("127.0.0.1", int(env["NU_AGI_PORT"])):
            assert time.monotonic() < deadline, "the service never answered"
            time.sleep(0.2)
        assert _children(process.pid) == []  # the service is this very process
        cmdline = Path(f"/proc/{process.pid}/cmdline").read_bytes().split(b"\0")
        assert b"serve" in cmdline
    finally:
        process.terminate()
        process.wait(CEILING)


def test_systemd_reads_the_generated_units_without_a_complaint(tmp_path):
    """Debian's own ``systemd-analyze verify`` on the units as generated (with this checkout as
    the install folder, so ExecStart exists): an unknown key or a bad value would be named."""
    from ivr.systemd_units import write_units

    write_units(tmp_path, prefix=str(ROOT))
    for instance in ("numero-unico@fastagi.service", "numero-unico@queues.service"):
        result = subprocess.run(
            ["systemd-analyze", "verify", "--man=no", instance],
            env=dict(os.environ, SYSTEMD_UNIT_PATH=f"{tmp_path}:", SYSTEMD_LOG_LEVEL="warning"),
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=CEILING,
        )
        complaints = [line for line in result.stderr.splitlines() if str(tmp_path) in line]
        assert result.returncode == 0 and not complaints, result.stderr
