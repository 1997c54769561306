"""Run a private redis-server on loopback: for ``ivr up`` and for the tests.

Uses Debian's ``redis-server`` binary with a config on the command line, data in our own folder,
so it never touches a system Redis.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path


def port_answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.3):
            return True
    except OSError:
        return False


def redis_pings(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """A redis-server child process bound to 127.0.0.1:``port`` with data in ``data_dir``."""

    def __init__(self, port: int, data_dir: Path, *, snapshots: bool = True, hz: int = 10):
        """``snapshots``: save the data to ``data_dir`` every minute it changed (``ivr up``: live
        state survives a restart). ``hz``: Redis's background ticks per second (its default, 10;
        the tests' short-lived servers take 1: an idle server's ticks cost CPU a loaded test
        machine lacks, and nothing here expires keys)."""
        self.port = port
        self.data_dir = Path(data_dir)
        self.snapshots, self.hz = snapshots, hz
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> RedisServer:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [
                binary,
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--dir",
                str(self.data_dir),
                "--save",
                "60 1" if self.snapshots else "",
                "--hz",
                str(self.hz),
                "--appendonly",
                "no",
                "--protected-mode",
                "yes",
                "--daemonize",
                "no",
                "--logfile",
                str(self.data_dir / "redis.log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if redis_pings(self.port):
                return self
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"redis-server did not start on port {self.port}; see {self.data_dir}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
