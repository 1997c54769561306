"""Operators' queue membership and pause state kept outside the nodes (Redis ``nu:members``).

An operator logs in (``*11NN``, the desk) on whichever node their call or AMI action reached;
each node's queue watcher records what its node says (``QueueMemberAdded``/``Removed``/
``Pause`` of dynamic members) and, at every session start and tick, re-applies the recorded
state to its own node (``QueueAdd``, ``QueueRemove``, ``QueuePause``). So every node has the
same members, and a node that dies takes nothing with it: the survivor already rings the
operator, and a node that comes back (or a new one) gets them at its watcher's first session,
with no new login (ARCHITECTURE.md, "Two nodes").

Only what was recorded is applied: a member this roster never saw is left alone (an old
node's persistent members are not removed by an empty roster). :func:`plan` is pure.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

KEY = "nu:members"
Echo = tuple[str, str, bool, bool]  # queue, interface, logged in, paused
OUT = "out"


@dataclass(frozen=True)
class Member:
    """A dynamic member as recorded: logged in (with penalty, name, pause) or logged out."""

    queue: str
    interface: str
    logged_in: bool
    penalty: int = 0
    name: str = ""
    paused: bool = False
    reason: str = ""


def from_event(ev: Mapping[str, str]) -> Member | None:
    """The membership an AMI event states (``QueueMember`` listing entries too), or None."""
    kind = ev.get("Event", "")
    if kind not in ("QueueMemberAdded", "QueueMemberRemoved", "QueueMemberPause", "QueueMember"):
        return None
    if ev.get("Membership", "dynamic") != "dynamic":
        return None
    queue, interface = ev.get("Queue", ""), ev.get("Interface") or ev.get("Location", "")
    if not queue or not interface:
        return None
    if kind == "QueueMemberRemoved":
        return Member(queue, interface, False)
    try:
        penalty = int(ev.get("Penalty") or 0)
    except ValueError:
        penalty = 0
    return Member(
        queue,
        interface,
        True,
        penalty,
        ev.get("MemberName") or ev.get("Name") or "",
        ev.get("Paused") == "1",
        ev.get("PausedReason", ""),
    )


def plan(
    recorded: Iterable[Member], present: Mapping[tuple[str, str], bool]
) -> list[dict[str, str]]:
    """AMI actions making a node (``present``: (queue, interface) -> paused) match the roster."""
    actions: list[dict[str, str]] = []
    for m in recorded:
        key = (m.queue, m.interface)
        if not m.logged_in:
            if key in present:
                actions.append(
                    {"Action": "QueueRemove", "Queue": m.queue, "Interface": m.interface}
                )
            continue
        if key not in present:
            actions.append(
                {
                    "Action": "QueueAdd",
                    "Queue": m.queue,
                    "Interface": m.interface,
                    "Penalty": str(m.penalty),
                    "MemberName": m.name or m.interface,
                    "Paused": "true" if m.paused else "false",
                    **({"Reason": m.reason} if m.paused and m.reason else {}),
                }
            )
        elif present[key] != m.paused:
            actions.append(
                {
                    "Action": "QueuePause",
                    "Queue": m.queue,
                    "Interface": m.interface,
                    "Paused": "true" if m.paused else "false",
                    **({"Reason": m.reason} if m.paused and m.reason else {}),
                }
            )
    return actions


def present_members(listing: Iterable[Mapping[str, str]]) -> dict[tuple[str, str], bool]:
    """(queue, interface) -> paused of a node's dynamic members, from ``QueueStatus``."""
    found = {}
    for ev in listing:
        m = from_event(ev) if ev.get("Event") == "QueueMember" else None
        if m is not None:
            found[(m.queue, m.interface)] = m.paused
    return found


class MemberRoster:
    """The recorded membership in Redis: one hash field per (queue, interface)."""

    def __init__(self, url: str) -> None:
        import redis

        self._redis = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)

    def record(self, member: Member) -> None:
        field = f"{member.queue}\t{member.interface}"
        if not member.logged_in:
            self._redis.hset(KEY, field, OUT)
            return
        value = {"penalty": member.penalty, "name": member.name, "paused": member.paused}
        if member.reason:
            value["reason"] = member.reason
        self._redis.hset(KEY, field, json.dumps(value))

    def members(self) -> list[Member]:
        found = []
        for field, raw in self._redis.hgetall(KEY).items():
            queue, _, interface = field.decode().partition("\t")
            text = raw.decode()
            if text == OUT:
                found.append(Member(queue, interface, False))
                continue
            v: dict[str, Any] = json.loads(text)
            found.append(
                Member(
                    queue,
                    interface,
                    True,
                    int(v.get("penalty", 0)),
                    str(v.get("name", "")),
                    bool(v.get("paused")),
                    str(v.get("reason", "")),
                )
            )
        return found

    def apply(self, ami: Any, listing: Iterable[Mapping[str, str]]) -> set[Echo]:
        """Bring the node behind ``ami`` (its ``QueueStatus`` ``listing``) to the recorded
        state. Returns the echoes to expect: the node's events for these very changes, which
        must not be recorded again (a late echo would overwrite a newer change made on another
        node, e.g. a pause undone meanwhile)."""
        echoes: set[Echo] = set()
        for action in plan(self.members(), present_members(listing)):
            name = action.pop("Action")
            ami.action(name, action, check=False)
            echoes.add(
                (
                    action["Queue"],
                    action["Interface"],
                    name != "QueueRemove",
                    action.get("Paused") == "true",
                )
            )
        return echoes


def echo_of(member: Member) -> Echo:
    return (member.queue, member.interface, member.logged_in, member.paused)
