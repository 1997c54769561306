"""``sipguard``: ban an address after repeated failed SIP logins or calls, in Asterisk itself.

Asterisk reports every failed attempt as an AMI security event (``InvalidAccountID``,
``ChallengeResponseFailed``, ``InvalidPassword``, ``FailedACL``) with the sender's address.
The guard counts them per address in a sliding window (:class:`~ivr.sip.bans.FailureCounter`);
at the limit it writes the address into ``pjsip_bans.conf`` and reloads res_pjsip over AMI, so
Asterisk answers that address 403 before looking at accounts or passwords. Bans expire (checked
every tick) and can be lifted with ``ivr sip unban``. Why not fail2ban: it needs a firewall
engine (nftables/iptables) that a container or a test machine may not have, and it parses
log lines; the AMI events are structured and the ban works wherever Asterisk does.
"""

from __future__ import annotations

import ipaddress
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from ivr.asterisk.ami import AMIClient, keep_connected
from ivr.config import Settings
from ivr.sip.bans import FAILURE_EVENTS, BanFile, FailureCounter, event_address, networks

log = logging.getLogger(__name__)

RELOAD = "module reload res_pjsip.so"


class SipGuard:
    """Counts failures from AMI security events, bans and unbans through the ban file."""

    def __init__(
        self,
        connect: Callable[[], AMIClient],
        bans: BanFile,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.time,
        tick_s: float = 1.0,
    ):
        self.connect, self.bans, self.clock, self.tick_s = connect, bans, clock, tick_s
        self.counter = FailureCounter(settings.sip_ban_failures, settings.sip_ban_window_s)
        self.ban_s = settings.sip_ban_seconds
        self.ignore = networks(settings.sip_ban_ignore, "NU_SIP_BAN_IGNORE")
        self.events: queue.Queue[tuple[str, str]] = queue.Queue()
        self.stopped = False
        self.banned: set[str] = set(self.bans.read())

    def stop(self) -> None:
        self.stopped = True

    def _listen(self, message: Any) -> None:
        if message.name in FAILURE_EVENTS:
            address = event_address(message.get("RemoteAddress"))
            if address:
                self.events.put((message.name, address))

    def session(self, ami: AMIClient) -> None:
        """One AMI connection: apply the file (bans made while we were away), then count."""
        ami.add_listener(self._listen)
        self._expire(ami)
        ami.command(RELOAD)
        next_tick = time.monotonic() + self.tick_s
        while not self.stopped and ami.connected:
            try:
                kind, address = self.events.get(timeout=max(0.0, next_tick - time.monotonic()))
                self._failure(ami, kind, address)
            except queue.Empty:
                pass
            if time.monotonic() >= next_tick:
                next_tick = time.monotonic() + self.tick_s
                self._expire(ami)

    def _failure(self, ami: AMIClient, kind: str, address: str) -> None:
        if address in self.banned or self._ignored(address):
            return
        now = self.clock()
        if self.counter.failed(address, now):
            until = int(now + self.ban_s)
            self.bans.add(address, until)
            self.banned.add(address)
            ami.command(RELOAD)
            log.warning(
                "SIP: banned %s for %d s after %d failed attempts in %d s (last: %s)",
                address,
                self.ban_s,
                self.counter.limit,
                self.counter.window_s,
                kind,
            )

    def _expire(self, ami: AMIClient) -> None:
        now = self.clock()
        gone = self.bans.remove_expired(now)
        current = set(self.bans.read())
        lifted = self.banned - current  # expired here, or lifted with `ivr sip unban`
        self.banned = current
        self.counter.forget(now)
        if gone:
            ami.command(RELOAD)
        for address in sorted(lifted):
            log.info("SIP: ban on %s ended", address)

    def _ignored(self, address: str) -> bool:
        ip = ipaddress.ip_address(address)
        return any(ip in net for net in self.ignore)

    def run(self, retry_s: float = 1.0) -> None:
        keep_connected(self.connect, self.session, lambda: self.stopped, "sipguard", retry_s)

    def start(self) -> SipGuard:
        """Run in a daemon thread (tests); :meth:`stop` ends it within a tick."""
        threading.Thread(target=self.run, name="sipguard", daemon=True).start()
        return self
