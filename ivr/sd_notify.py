"""systemd's notify protocol (``sd_notify``): READY=1 and the watchdog's WATCHDOG=1.

Hand-written rather than a dependency: the protocol is one datagram to ``$NOTIFY_SOCKET``
(``man sd_notify``), the Debian binding (python3-systemd) does not install into a venv and the
PyPI ones are unmaintained. Outside systemd (no ``NOTIFY_SOCKET``) every call is a no-op.
"""

from __future__ import annotations

import os
import socket


def notify(state: str, environ: dict[str, str] | None = None) -> bool:
    """Send ``state`` (e.g. ``"READY=1"``) to systemd; False when not run by systemd."""
    address = (environ if environ is not None else os.environ).get("NOTIFY_SOCKET", "")
    if not address:
        return False
    if address.startswith("@"):  # an abstract socket
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(address)
            sock.sendall(state.encode())
        except OSError:
            return False
    return True


def watchdog_seconds(environ: dict[str, str] | None = None) -> float | None:
    """The unit's ``WatchdogSec`` when meant for this process (``WATCHDOG_PID``), else None."""
    env = environ if environ is not None else os.environ
    usec = env.get("WATCHDOG_USEC", "")
    pid = env.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0 or (pid and pid != str(os.getpid())):
        return None
    return int(usec) / 1_000_000
