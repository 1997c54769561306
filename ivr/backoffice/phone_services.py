"""The ``backoffice.*`` services the phone nodes invoke (:mod:`ivr.backoffice.node`).

- ``backoffice.leave`` (category, recording, number, language, call_id) -> ``{"code"}``: the
  code is drawn first and the request spooled beside its recording (:mod:`ivr.backoffice.spool`)
  before the database is asked; the database down, the caller still gets the code and the
  request waits for ``ivr backoffice ingest``. A request the store refuses (an unknown category)
  answers ``refused``: the caller is put through to a person.
- ``backoffice.status`` (code, language) -> ``{"status", "department", "answer"}``: ``answer`` is
  the prompt key of staff's answer synthesised in the caller's language (built on first
  request, then kept while the text stays the same), "" when there is none or it cannot be
  spoken; an unknown code answers ``not_found``.

Numbers, codes and recordings never reach a log line: ids, categories and error classes only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from booking.codes import new_code
from ivr.backoffice import spool
from ivr.backoffice.node import answer_prompt
from ivr.backoffice.rules import NewRequest, RequestError
from ivr.backoffice.store import CODE_FIRST, BackofficeStore
from ivr.flow.services import UNAVAILABLE, Service, ServiceError

log = logging.getLogger("ivr.backoffice")


def speak_answer(
    sounds_dir: Path, request_id: int, text: str, language: str, synthesizer: Any = None
) -> str:
    """The answer as ``<sounds>/<language>/bo_answer_<id>`` by the prompts' pipeline (same
    voices and formats as every prompt), under a manifest of its own per request so builds
    never remove each other's files; unchanged text is not built again. "" when it failed."""
    from ivr.prompts.build import build_prompts

    key = answer_prompt(request_id)
    report = build_prompts(
        None,  # type: ignore[arg-type]  # only read when no languages and no catalogue are given
        "",
        sounds_dir,
        languages=[language],
        catalogue={language: {key: text}},
        manifest_name=f"{key}.json",
        synthesizer=synthesizer,
    )
    if report.failed:
        log.warning("answer of request %d not spoken in %s", request_id, language)
        return ""
    return key


def backoffice_services(
    store: Callable[[], BackofficeStore],
    spool_dir: Path,
    sounds_dir: Path,
    *,
    synthesizer: Any = None,
    after_speaking: Callable[[], object] | None = None,
) -> dict[str, Service]:
    """The registry entries. ``store()`` gives the store (it may raise: database down);
    ``sounds_dir``: Asterisk's sounds folder as this process writes it; ``after_speaking``
    (copy the new audio where Asterisk reads it) runs after an answer was built."""

    def leave(args: dict[str, Any]) -> dict[str, Any]:
        request = NewRequest(
            category=str(args.get("category") or ""),
            number=str(args.get("number") or ""),
            channel="phone",
            language=str(args.get("language") or "it"),
            source="phone",
            recording=str(args.get("recording") or ""),
            call_id=str(args.get("call_id") or ""),
        )
        code = new_code(CODE_FIRST)
        try:
            path = spool.write(spool_dir, code, request)
        except OSError as err:  # no spool: straight to the database, or a person
            log.error("back office spool unusable: %s", type(err).__name__)
            return {"code": store().create(request, spool.ACTOR, code=code).code}
        try:
            created = spool.store(store(), path)
        except RequestError:
            raise ServiceError("refused") from None
        except Exception as err:  # the database is away: the request waits in the spool
            log.warning("back office request spooled: database down (%s)", type(err).__name__)
            return {"code": code, "spooled": True}
        return {"code": created.code}

    def status(args: dict[str, Any]) -> dict[str, Any]:
        found = store().by_code(str(args.get("code") or ""))
        if found is None:
            raise ServiceError("not_found")
        answer = ""
        if found.answer:
            language = str(args.get("language") or found.language)
            try:
                answer = speak_answer(sounds_dir, found.id, found.answer, language, synthesizer)
            except Exception as err:  # the status is still said
                log.warning("answer of request %d not spoken: %s", found.id, type(err).__name__)
            if answer and after_speaking is not None:
                after_speaking()
        return {"status": found.status, "department": found.department, "answer": answer}

    def guarded(name: str, work: Service) -> Service:
        def service(args: dict[str, Any]) -> Any:
            try:
                return work(args)
            except ServiceError:
                raise
            except Exception as err:  # answer "unavailable", keep the call
                log.warning("%s: unavailable (%s)", name, type(err).__name__)
                raise ServiceError(UNAVAILABLE) from None

        return service

    return {
        "backoffice.leave": guarded("backoffice.leave", leave),
        "backoffice.status": guarded("backoffice.status", status),
    }


def database_services(
    url: str,
    spool_dir: Path,
    sounds_dir: Path,
    after_speaking: Callable[[], object] | None = None,
) -> dict[str, Service]:
    """The services on the city database at ``url``, migrated on first use (:func:`ivr.db.ready`):
    a database down at start only spools the messages until it is back."""
    from ivr.db import ready

    return backoffice_services(
        lambda: BackofficeStore(ready(url)), spool_dir, sounds_dir, after_speaking=after_speaking
    )
