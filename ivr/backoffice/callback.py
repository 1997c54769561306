"""Calling a citizen back from the work queue, in one click (click-to-call through Asterisk).

The staff member's own softphone rings first (AMI ``Originate`` of ``PJSIP/<their extension>``
into extensions.conf ``[nu-backoffice-call]``, the request id as the extension); when they
answer, that context dials the citizen through the city's outbound dial string, which travels
as a channel variable (``NU_BO_DIAL``) and never reaches a log line, and reports how it went:
``UserEvent(NuBackofficeCallResult, Key, Request, Status)``, ``Status`` a ``DIALSTATUS``
(``ANSWER`` as soon as the citizen picks up). A staff phone that does not answer ends in an
``OriginateResponse`` failure: nobody was dialled.

:func:`place` originates and hands a watcher thread its own AMI connection; the watcher calls
``record(outcome)`` once with :data:`ANSWERED`, :data:`NO_ANSWER`, :data:`BUSY`,
:data:`FAILED`, :data:`CANCELLED` (the staff hung up while it rang), or :data:`STAFF_NO_ANSWER`.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import threading
from collections.abc import Callable
from typing import Any

from ivr.asterisk import variables as V
from ivr.asterisk.variables import assign

log = logging.getLogger("ivr.backoffice")

CONTEXT = "nu-backoffice-call"
RESULT_EVENT = "NuBackofficeCallResult"

ANSWERED, NO_ANSWER, BUSY, FAILED = "answered", "no_answer", "busy", "failed"
CANCELLED = "cancelled"  # the staff member hung up while the citizen's phone rang
STAFF_NO_ANSWER = "staff_no_answer"
UNKNOWN = "unknown"  # no result within the watch's time (Asterisk restarted, AMI lost)

_STATUSES = {
    "ANSWER": ANSWERED,
    "NOANSWER": NO_ANSWER,
    "BUSY": BUSY,
    "CANCEL": CANCELLED,
    "CONGESTION": FAILED,
    "CHANUNAVAIL": FAILED,
    "NODIAL": FAILED,
}


def outcome(status: str | None) -> str:
    """The contact attempt's outcome for the context's ``DIALSTATUS``."""
    return _STATUSES.get((status or "").strip().upper(), FAILED)


def new_key(request_id: int) -> str:
    """The attempt's key, also the staff leg's channel id: ``bo-<request>-<random>``."""
    return f"bo-{request_id}-{secrets.token_hex(4)}"


def originate(
    ami: Any,
    *,
    key: str,
    request_id: int,
    code: str,
    extension: str,
    dial: str,
    ring_s: int,
) -> None:
    """Ring the staff member's phone; on answer ``[nu-backoffice-call]`` dials ``dial``."""
    ami.action(
        "Originate",
        {
            "Channel": f"PJSIP/{extension}",
            "Context": CONTEXT,
            "Exten": str(request_id),
            "Priority": "1",
            "Async": "true",
            "Timeout": str(ring_s * 1000),
            "ChannelId": key,
            "CallerID": f'"Richiesta {code}" <{code}>',
            "Variable": [
                assign(V.BO_KEY, key),
                assign(V.BO_DIAL, dial),
                assign(V.BO_RING, ring_s),
            ],
        },
    )


def watch(ami: Any, key: str, since: int, timeout_s: float) -> str:
    """The attempt's outcome from the AMI events after ``since`` (the first one is final)."""

    def ours(message: Any) -> bool:
        if message.name == "UserEvent":
            return message.get("UserEvent") == RESULT_EVENT and message.get("Key") == key
        return (
            message.name == "OriginateResponse"
            and message.get("Uniqueid") == key
            and (message.get("Response") or "").lower() != "success"
        )

    try:
        found = ami.wait_for(ours, timeout=timeout_s, since=since)
    except (TimeoutError, OSError):
        return UNKNOWN
    if found.name == "OriginateResponse":
        return STAFF_NO_ANSWER
    return outcome(found.get("Status"))


def place(
    connect: Callable[[], Any],
    *,
    request_id: int,
    code: str,
    extension: str,
    dial: str,
    ring_s: int,
    record: Callable[[str], None],
) -> str:
    """Originate the call back and watch it on a connection of its own (a thread); ``record``
    gets the outcome. Returns the attempt's key. OSError/AMIError: nothing was placed."""
    ami = connect()
    try:
        key = new_key(request_id)
        since = ami.event_mark()
        originate(
            ami,
            key=key,
            request_id=request_id,
            code=code,
            extension=extension,
            dial=dial,
            ring_s=ring_s,
        )
    except BaseException:
        with contextlib.suppress(Exception):
            ami.close()
        raise
    log.info("back office request %d: calling back from %s (%s)", request_id, extension, key)

    def run() -> None:
        try:
            result = watch(ami, key, since, timeout_s=2 * ring_s + 30)
        finally:
            with contextlib.suppress(Exception):
                ami.close()
        log.info("back office request %d: call back %s: %s", request_id, key, result)
        try:
            record(result)
        except Exception:
            log.exception("back office request %d: call back outcome not stored", request_id)

    threading.Thread(target=run, name=f"backoffice-call-{request_id}", daemon=True).start()
    return key
