"""The live view: calls in the IVR, callers and operators per queue, and how saturated each is.

Read straight from Asterisk over AMI (``QueueStatus``, ``CoreShowChannels``) at each refresh: it
is the source of truth and costs two actions. When a Redis-fed queue state exists (the
saturation work), this is the one place to switch to it. If Asterisk cannot be reached the page
says so instead of showing zeros.

The AMI connection is long-lived (:class:`LiveLink`, one per Asterisk target, shared by every
refresh and browser) rather than a login per refresh, and runs the AMI client's heartbeat: an
Asterisk that is connected but wedged is noticed within the heartbeat's deadline even between
refreshes, a refresh meanwhile says "not answering" at once instead of hanging on a socket, and
the next refresh after the drop connects again. A failed connection is retried at most every
``retry_s``, so a page polled by several browsers does not queue up on a dead Asterisk. The
link turns event delivery off (``Events: off``): the view only reads action answers.

Saturation, per queue: ``ok`` (nobody waits, or enough free operators), ``busy`` (more callers
than free operators), ``saturated`` (busy and someone has waited over ``SATURATED_WAIT`` s),
``unstaffed`` (callers wait and nobody is logged in).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ivr.asterisk.ami import AMIClient, AMIConnectionError, AMIError

SATURATED_WAIT = 60
FREE = {"0", "1"}  # AST_DEVICE_UNKNOWN (Local/ members), AST_DEVICE_NOT_INUSE


@dataclass
class QueueState:
    name: str
    label: str = ""
    waiting: int = 0
    longest_wait: int = 0
    members: int = 0
    available: int = 0
    paused: int = 0
    state: str = "ok"


@dataclass
class LiveSnapshot:
    ok: bool
    error: str = ""
    in_ivr: int = 0
    channels: int = 0
    queues: list[QueueState] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "error": self.error,
            "in_ivr": self.in_ivr,
            "channels": self.channels,
            "queues": [q.__dict__ for q in self.queues],
        }


def saturation(q: QueueState) -> str:
    if q.waiting == 0:
        return "ok"
    if q.members == 0:
        return "unstaffed"
    if q.waiting > q.available:
        return "saturated" if q.longest_wait >= SATURATED_WAIT else "busy"
    return "ok"


class LiveLink:
    """The live view's AMI connection to one Asterisk, kept between refreshes (see above).

    ``connect`` returns a logged-in client (``AsteriskTarget.ami``); :meth:`client` gives the
    current one, connecting when there is none (at most every ``retry_s`` after a failure, and
    one thread at a time: the others hear why it is down at once).
    """

    def __init__(
        self,
        connect: Callable[[], AMIClient],
        *,
        heartbeat_s: float = 2.0,
        deadline_s: float = 5.0,
        retry_s: float = 2.0,
    ) -> None:
        self.connect = connect
        self.heartbeat_s, self.deadline_s, self.retry_s = heartbeat_s, deadline_s, retry_s
        self._lock = threading.Lock()
        self._client: AMIClient | None = None
        self._connecting = False
        self._retry_at = 0.0
        self._failure = ""

    def client(self) -> AMIClient:
        """A connected client; OSError/AMIError (with the reason) when there is none."""
        with self._lock:
            client = self._client
            if client is not None and client.connected:
                return client
            if client is not None:  # dropped (restart, heartbeat deadline): say why, reconnect
                self._failure = f"connection lost: {client.last_error or 'closed'}"
                self._client = None
                with contextlib.suppress(Exception):
                    client.close()
            if self._connecting or time.monotonic() < self._retry_at:
                raise AMIConnectionError(self._failure or "connecting to Asterisk")
            self._connecting = True
        try:
            client = self.connect()
            client.start_heartbeat(self.heartbeat_s, self.deadline_s)
            with contextlib.suppress(AMIError):
                client.action("Events", EventMask="off", timeout=self.deadline_s)
        except (OSError, AMIError) as err:
            with self._lock:
                self._connecting = False
                self._failure = str(err)
                self._retry_at = time.monotonic() + self.retry_s
            raise
        with self._lock:
            self._connecting = False
            self._client = client
        return client

    def drop(self) -> None:
        """Forget the connection (the next refresh connects again)."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                client.close()


_LINKS: dict[Any, LiveLink] = {}
_LINKS_LOCK = threading.Lock()


def link_for(connect: Callable[[], AMIClient]) -> LiveLink:
    """The shared link of this ``connect`` (the same target's callable: one link)."""
    with _LINKS_LOCK:
        link = _LINKS.get(connect)
        if link is None:
            link = _LINKS[connect] = LiveLink(connect)
        return link


def close_links() -> None:
    """Close every live view connection (tests, shutdown)."""
    with _LINKS_LOCK:
        links = list(_LINKS.values())
        _LINKS.clear()
    for link in links:
        link.drop()


def snapshot(
    connect: Callable[[], AMIClient] | None,
    labels: dict[str, str],
    *,
    link: LiveLink | None = None,
) -> LiveSnapshot:
    """Queues in ``labels`` order (queue name -> label), then any other queue Asterisk has.

    ``link``: the connection to use (default: the shared :func:`link_for` ``connect``)."""
    if link is None:
        if connect is None:
            return LiveSnapshot(False, "no Asterisk is configured for this admin")
        link = link_for(connect)
    try:
        client = link.client()
    except (OSError, AMIError) as err:
        return LiveSnapshot(False, f"Asterisk cannot be reached: {err}")
    if not client.answering:
        return LiveSnapshot(
            False, f"Asterisk is not answering (silent for {client.silent_for or 0:.0f} s)"
        )
    wait = link.deadline_s + 1.0  # a silent Asterisk: the heartbeat's verdict comes first
    try:
        status = client.action("QueueStatus", timeout=wait)
        channels = client.action("CoreShowChannels", timeout=wait)
    except (OSError, AMIError) as err:  # a dead connection is the heartbeat's to drop
        return LiveSnapshot(False, f"Asterisk did not answer: {err}")
    queues: dict[str, QueueState] = {
        name: QueueState(name, label) for name, label in labels.items()
    }
    seen: set[tuple[str, str]] = set()  # (queue, member): once however many language twins
    for event in status.events:
        name = event.get("Queue") or ""
        if not name or name.startswith("nu-"):  # templates, not queues
            continue
        base = name.rpartition("_")[0]
        name = base if base in labels else name  # a language twin: its department's queue
        q = queues.setdefault(name, QueueState(name, name))
        if event.name == "QueueMember":
            member = (name, event.get("StateInterface") or event.get("Location") or "")
            if member in seen:
                continue
            seen.add(member)
            q.members += 1
            paused = event.get("Paused") == "1"
            q.paused += paused
            if not paused and event.get("Status") in FREE and event.get("InCall", "0") == "0":
                q.available += 1
        elif event.name == "QueueEntry":
            q.waiting += 1
            q.longest_wait = max(q.longest_wait, int(event.get("Wait") or 0))
    snap = LiveSnapshot(True, queues=list(queues.values()))
    for q in snap.queues:
        q.state = saturation(q)
    for event in channels.events:
        if event.name != "CoreShowChannel":
            continue
        snap.channels += 1
        if (event.get("Application") or "").upper() == "AGI":
            snap.in_ivr += 1
    return snap
