"""The switchboard directory from the desk: whether an entry is open now (the ``directory``
node's own rule: the entry's hours, else its department's, with the city's holidays, closures
and switches) and the channel variables that send the caller to ``[nu-directory]`` (ring the
entry's ``NU_DIAL``, its department's queue ``NU_QUEUE`` if nobody answers)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ivr.asterisk import variables as V
from ivr.directory.models import DirectoryEntry
from ivr.directory.rules import open_at, parse_hours

CONTEXT, EXTEN = "nu-directory", "s"


def open_now(row: DirectoryEntry, dialplan: Any, now: datetime, switches: Any) -> bool | None:
    """Open at ``now`` (city time, naive) as the IVR judges it; None: its department is gone."""
    dept = dialplan.departments.get(row.department)
    if dept is None:
        return None
    return open_at(dept, parse_hours(row.hours)[0], dialplan.calendar, now, switches)


def transfer_variables(dial: str, queue: str, department: str) -> dict[str, str]:
    """What the IVR sets for a directory transfer (``ivr.agi.runner.transfer_variables``), with
    the desk's reason: the caller's language and path stay as the channel has them."""
    return {V.DIAL: dial, V.QUEUE: queue, V.DEPARTMENT: department, V.REASON: "transfer"}
