"""Voice messages waiting for the database: the request as a JSON file beside its recording.

The IVR draws a request's code before it stores anything, writes the request here first, then
stores it; the JSON is removed once the database has it. When the database is down the caller
still hears their code, and :func:`ingest` (``ivr backoffice ingest``, the ``backoffice``
process) stores what waits, with the same code, once it is back. Storing twice stores once
(:meth:`BackofficeStore.create` with a ``code``), so a crash between the two steps is harmless.

The files hold personal data (the number, the voice): the folder is the city's, like the
database; nothing about them goes to a log line but the code's absence and counts.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ivr.backoffice.rules import NewRequest, RequestError
from ivr.backoffice.store import BackofficeStore, Created

log = logging.getLogger("ivr.backoffice")

ACTOR = "ivr"
REFUSED = ".refused"  # a spooled request the store refuses for good (a category removed)


def folder(settings: Any) -> Path:
    """The spool as our processes see it: ``NU_BACKOFFICE_SPOOL_DIR``, else ``<var>/backoffice``
    (the IVR records voice messages into it; the admin serves a request's own file from it)."""
    configured = getattr(settings, "backoffice_spool_dir", "")
    return Path(configured or Path(settings.var_dir) / "backoffice")


def erase_files(spool: Path, sounds_dir: Path, request_id: int, recording: str) -> int:
    """A request's files, for its erasure: the voice message in the spool and the answer
    spoken for the phone in every language (``<sounds>/<lang>/bo_answer_<id>.*`` and its
    manifest). Returns how many files went."""
    from ivr.backoffice.node import answer_prompt

    key = answer_prompt(request_id)
    found = list(sounds_dir.glob(f"*/{key}.*")) + list(sounds_dir.glob(f"{key}.json"))
    if recording and "/" not in recording and not recording.startswith("."):
        found.append(spool / recording)
    gone = 0
    for path in found:
        if path.is_file():
            path.unlink()
            gone += 1
    return gone


def spooled_path(spool: Path, code: str) -> Path:
    return spool / f"request-{code}.json"


def write(spool: Path, code: str, request: NewRequest) -> Path:
    """The request and its code on disk, atomically (a half-written file is never read)."""
    spool.mkdir(parents=True, exist_ok=True)
    path = spooled_path(spool, code)
    temp = path.with_suffix(".tmp")
    with temp.open("w", encoding="utf-8") as out:
        json.dump({"code": code, "request": dataclasses.asdict(request)}, out)
        out.flush()
        os.fsync(out.fileno())
    temp.replace(path)
    return path


def read(path: Path) -> tuple[str, NewRequest]:
    data = json.loads(path.read_text(encoding="utf-8"))
    return str(data["code"]), NewRequest(**data["request"])


def store(store: BackofficeStore, path: Path) -> Created:
    """Store one spooled request with its code, then forget the file. Raises what the store
    raises (the file stays for the next try); a refusal marks the file ``.refused``."""
    code, request = read(path)
    try:
        created = store.create(request, ACTOR, code=code)
    except RequestError as err:
        log.error("spooled request refused: %s", "; ".join(p.field for p in err.problems))
        path.rename(path.with_name(path.name + REFUSED))
        raise
    path.unlink(missing_ok=True)
    return created


@dataclass(frozen=True)
class Ingested:
    stored: int
    waiting: int
    refused: int


def ingest(backoffice: BackofficeStore, spool: Path) -> Ingested:
    """Store every request waiting in ``spool``; stops at the first database failure (it is
    still down: the rest waits for the next round)."""
    stored = refused = 0
    waiting = sorted(spool.glob("request-*.json")) if spool.is_dir() else []
    for i, path in enumerate(waiting):
        try:
            store(backoffice, path)
        except RequestError:
            refused += 1
            continue
        except Exception as err:  # the database is still away
            log.warning("back office spool: database unavailable (%s)", type(err).__name__)
            return Ingested(stored, len(waiting) - i - refused, refused)
        stored += 1
    if stored or refused:
        log.info("back office spool: %d stored, %d refused", stored, refused)
    return Ingested(stored, 0, refused)
