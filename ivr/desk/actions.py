"""What an operator does from the desk, as AMI actions on their own phone's queue membership
and on the call they have: log in/out of a department (its queue and the queue's language
twins, with the penalties their account gives them), pause with a reason and resume, move the
citizen elsewhere (blind: AMI ``Redirect`` of the citizen's channel to ``nu-transfer``'s 8NN,
or to another operator's extension)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ivr.asterisk.ami import AMIClient

PAUSE_REASONS = ("break", "backoffice", "training")


def interface(extension: str) -> str:
    return f"PJSIP/{extension}"


def department_queues(
    rights: Iterable[tuple[str, int]], queue: str, languages: Iterable[str]
) -> list[tuple[str, int]]:
    """The (queue, penalty) pairs of ``rights`` that stand for department queue ``queue``:
    itself and its language twins (``<queue>_<lang>``)."""
    langs = set(languages)
    return [
        (name, penalty)
        for name, penalty in rights
        if name == queue or (name.startswith(queue + "_") and name[len(queue) + 1 :] in langs)
    ]


def membership(ami: AMIClient, extension: str) -> dict[str, dict[str, Any]]:
    """The queues this phone is in now: ``{queue: {"paused": bool, "reason": str}}``."""
    status = ami.action("QueueStatus", timeout=5)
    out: dict[str, dict[str, Any]] = {}
    for event in status.events:
        if event.name != "QueueMember":
            continue
        if (event.get("Location") or event.get("StateInterface")) != interface(extension):
            continue
        out[event.get("Queue") or ""] = {
            "paused": event.get("Paused") == "1",
            "reason": event.get("PausedReason") or "",
        }
    return out


def login(ami: AMIClient, extension: str, queues: Iterable[tuple[str, int]]) -> list[str]:
    joined = []
    for queue, penalty in queues:
        response = ami.action(
            "QueueAdd",
            Queue=queue,
            Interface=interface(extension),
            Penalty=str(penalty),
            MemberName=extension,
            check=False,
        )
        if response.ok or "already" in response.message.lower():
            joined.append(queue)
    return joined


def logout(ami: AMIClient, extension: str, queues: Iterable[str]) -> None:
    for queue in queues:
        ami.action("QueueRemove", Queue=queue, Interface=interface(extension), check=False)


def pause(ami: AMIClient, extension: str, reason: str) -> None:
    """Paused in every queue the phone is in (one action: no queue named)."""
    if reason not in PAUSE_REASONS:
        raise ValueError(f"pause reason {reason!r}")
    ami.action("QueuePause", Interface=interface(extension), Paused="true", Reason=reason)


def unpause(ami: AMIClient, extension: str) -> None:
    ami.action("QueuePause", Interface=interface(extension), Paused="false")


def redirect(
    ami: AMIClient,
    channel: str,
    context: str,
    exten: str,
    variables: dict[str, str] | None = None,
) -> None:
    """Move the citizen's channel out of the operator's call: the operator's leg hangs up.
    ``variables`` are set on the channel first (AMI ``Setvar``), for the context to read."""
    for name, value in (variables or {}).items():
        ami.action("Setvar", Channel=channel, Variable=name, Value=value)
    ami.action("Redirect", Channel=channel, Context=context, Exten=exten, Priority="1")
