"""Run a private PostgreSQL cluster on loopback: for the tests and the benches.

Uses Debian's server binaries (``/usr/lib/postgresql/<version>/bin``): ``initdb`` a fresh cluster
in our own folder, ``pg_ctl`` it on 127.0.0.1 and a free port, as the ``postgres`` OS user when
we are root (PostgreSQL refuses to run as root). It never touches a system cluster.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import time
from pathlib import Path

from ivr.devenv.asterisk import free_port


def server_bin_dir() -> Path:
    """The newest Debian PostgreSQL server binaries (``apt-get install postgresql``)."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
        key=lambda p: int(Path(p).parent.parent.name),
    )
    if not found:
        raise RuntimeError("PostgreSQL server binaries not found: apt-get install postgresql")
    return Path(found[-1]).parent


class PostgresServer:
    """A throw-away cluster in ``data_dir`` on 127.0.0.1:``port``; trust auth, user ``postgres``."""

    def __init__(self, data_dir: Path, port: int | None = None, user: str = "postgres") -> None:
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self.os_user = user
        self.bin = server_bin_dir()

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = list(argv)
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", self.os_user, "--", *cmd]
        return subprocess.run(cmd, capture_output=True, text=True, check=check, timeout=120)

    @property
    def pgdata(self) -> Path:
        return self.data_dir / "pgdata"

    def start(self, timeout: float = 30.0) -> PostgresServer:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.data_dir, self.os_user)
        if not (self.pgdata / "PG_VERSION").exists():
            self._run(
                str(self.bin / "initdb"),
                "-D",
                str(self.pgdata),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--no-sync",
            )
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories=''"
            " -c max_connections=300 -c fsync=off -c synchronous_commit=off"
            " -c full_page_writes=off -c shared_buffers=64MB"
            # the background and WAL writers wake 5 times a second by default: most of an idle
            # cluster's CPU, which a loaded test machine lacks (fsync is off: nothing to hurry)
            " -c bgwriter_delay=10000ms -c wal_writer_delay=10000ms"
        )
        self._run(
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.pgdata),
            "-l",
            str(self.data_dir / "postgres.log"),
            "-o",
            options,
            "-w",
            "-t",
            str(int(timeout)),
            "start",
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready = self._run(
                str(self.bin / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port), check=False
            )
            if ready.returncode == 0:
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"PostgreSQL did not start on port {self.port}; see {self.data_dir}")

    def create_database(self, name: str) -> str:
        """A new empty database; returns its URL."""
        import psycopg

        dsn = f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres"
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        if (self.pgdata / "postmaster.pid").exists():
            self._run(
                str(self.bin / "pg_ctl"), "-D", str(self.pgdata), "-m", "fast", "stop", check=False
            )
