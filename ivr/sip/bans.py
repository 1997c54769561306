"""The ban list and the failure counter behind ``sipguard`` and ``ivr sip bans|unban``.

The list lives in one file, the ``pjsip_bans.conf`` that Asterisk's ``pjsip.conf`` includes:
a ``type = acl`` section denying each banned address (res_pjsip_acl answers them 403 before
any endpoint or password is looked at), each line carrying its expiry as a comment. The file is
the only state, so the guard and the CLI (another process) read and write it under a lock, and
a restarted guard keeps the bans. Addresses only, never account names or secrets.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import os
import re
from collections import defaultdict, deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

BANS_FILE = "pjsip_bans.conf"
SECTION = "nu-bans"

# AMI security events that are a failed login or call attempt from RemoteAddress.
FAILURE_EVENTS = frozenset(
    {"InvalidAccountID", "ChallengeResponseFailed", "InvalidPassword", "FailedACL"}
)

_LINE = re.compile(r"^deny\s*=\s*(?P<addr>[0-9A-Fa-f:.]+)\s*;\s*until=(?P<until>\d+)", re.M)


@dataclass(frozen=True, order=True)
class Ban:
    until: int  # epoch seconds
    address: str


def event_address(remote: str | None) -> str | None:
    """``IPV4/UDP/127.0.0.3/5060`` (an AMI security event's RemoteAddress) → ``127.0.0.3``."""
    if not remote:
        return None
    parts = remote.split("/")
    if len(parts) < 3:
        return None
    try:
        return str(ipaddress.ip_address(parts[2].strip("[]")))
    except ValueError:
        return None


def networks(spec: str, what: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """``"127.0.0.0/8, 10.1.0.0/16"`` → networks; a clear error naming the setting if bad."""
    out = []
    for item in filter(None, (part.strip() for part in spec.split(","))):
        try:
            out.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(f"{what}: {item!r} is not an address or network") from None
    return out


class BanFile:
    """``pjsip_bans.conf`` in Asterisk's configuration folder."""

    def __init__(self, etc_dir: str | Path):
        self.path = Path(etc_dir) / BANS_FILE

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        with open(self.path.with_suffix(".lock"), "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def read(self) -> dict[str, Ban]:
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            return {}
        return {m["addr"]: Ban(int(m["until"]), m["addr"]) for m in _LINE.finditer(text)}

    def write(self, bans: dict[str, Ban]) -> None:
        lines = [
            "; Banned SIP addresses: written by `ivr sip guard` and `ivr sip unban`; do not edit.",
            "; pjsip.conf includes this file; res_pjsip_acl answers these addresses 403.",
        ]
        if bans:
            lines += [f"[{SECTION}]", "type = acl"]
            lines += [f"deny = {b.address} ; until={b.until}" for b in sorted(bans.values())]
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        tmp.write_text("\n".join(lines) + "\n")
        os.chmod(tmp, 0o644)
        tmp.replace(self.path)

    def remove_expired(self, now: float) -> list[Ban]:
        """Drop bans past their time; the ones dropped (the file is rewritten if any)."""
        with self.locked():
            bans = self.read()
            gone = [b for b in bans.values() if b.until <= now]
            if gone:
                self.write({a: b for a, b in bans.items() if b.until > now})
            return gone

    def add(self, address: str, until: int) -> None:
        with self.locked():
            bans = self.read()
            bans[address] = Ban(until, address)
            self.write(bans)

    def remove(self, address: str) -> bool:
        """Lift the ban on ``address``; whether there was one."""
        address = str(ipaddress.ip_address(address))
        with self.locked():
            bans = self.read()
            if address not in bans:
                return False
            del bans[address]
            self.write(bans)
            return True


class FailureCounter:
    """Failures per address in a sliding window (pure: the caller gives the time)."""

    def __init__(self, limit: int, window_s: float):
        if limit < 1 or window_s <= 0:
            raise ValueError("NU_SIP_BAN_FAILURES and NU_SIP_BAN_WINDOW_S must be positive")
        self.limit, self.window_s = limit, window_s
        self._seen: dict[str, deque[float]] = defaultdict(deque)

    def failed(self, address: str, now: float) -> bool:
        """Count one failure; True when ``address`` reached the limit (its count restarts)."""
        seen = self._seen[address]
        seen.append(now)
        while seen and seen[0] <= now - self.window_s:
            seen.popleft()
        if len(seen) >= self.limit:
            del self._seen[address]
            return True
        return False

    def forget(self, now: float) -> None:
        """Drop addresses with no failure inside the window (memory stays bounded)."""
        for address in [a for a, s in self._seen.items() if not s or s[-1] <= now - self.window_s]:
            del self._seen[address]
