"""What the admin's blueprints share: the interface text, the draft, the live dialplan, diffs.

Everything here reads the app's :class:`~ivr.admin.services.AdminServices` through
:func:`~ivr.admin.services.services`; nothing holds state of its own.
"""

from __future__ import annotations

import difflib
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from flask import g

from ivr.admin import auth, prompt_store
from ivr.admin.i18n import translate
from ivr.admin.models import Draft, utcnow
from ivr.admin.publish import PublishResult, check_text
from ivr.admin.services import services
from ivr.flow.issues import Issue
from ivr.flow.model import Dialplan


def t(key: str, /, **kw: Any) -> str:
    """The interface text ``key`` in the user's language."""
    return translate(g.get("lang", "it"), key, **kw)


def draft_text() -> str:
    with services().sessions() as db:
        draft = db.get(Draft, 1)
        return draft.yaml_text if draft else ""


def save_draft(new_text: str, action: str, target: str = "") -> None:
    """Replace the shared draft and audit the change (nothing happens if it is the same)."""
    with services().sessions.begin() as db:
        draft = db.get(Draft, 1)
        if draft is None:
            draft = Draft(id=1, yaml_text="")
            db.add(draft)
        before = draft.yaml_text
        if before == new_text:
            return
        draft.yaml_text = new_text
        draft.updated_by = auth.current_user().username
        draft.updated_at = utcnow()
        auth.audit(db, action, target, before, new_text)


def draft_state() -> tuple[str, Dialplan | None, list[Issue]]:
    """The draft's text, its model (None when it does not parse) and its issues."""
    text = draft_text()
    dialplan, issues = check_text(text, services().settings)
    return text, dialplan, issues


def live_dialplan() -> Dialplan | None:
    admin = services()
    try:
        text = admin.publisher.live_text()
    except OSError:
        return None
    dialplan, _ = check_text(text, admin.settings, prompts=False)
    return dialplan


def city_now(dialplan: Dialplan | None) -> datetime:
    zone = ZoneInfo(dialplan.timezone if dialplan else "Europe/Rome")
    return services().clock(zone)


def languages(dialplan: Dialplan | None) -> list[str]:
    return list(dialplan.languages) if dialplan else ["it", "en"]


def diff_lines(old: str, new: str, old_name: str, new_name: str) -> list[tuple[str, str]]:
    out = []
    for line in difflib.unified_diff(
        old.splitlines(), new.splitlines(), old_name, new_name, lineterm="", n=3
    ):
        kind = (
            "meta"
            if line.startswith(("---", "+++", "@@"))
            else "add"
            if line.startswith("+")
            else "del"
            if line.startswith("-")
            else "ctx"
        )
        out.append((kind, line))
    return out


def audio_path(lang: str, key: str) -> Path | None:
    """A built prompt's file, or None for a language or key that is not a plain name."""
    if not prompt_store.LANG.match(lang) or not prompt_store.KEY.match(key):
        return None
    return Path(services().settings.sounds_dir) / lang / f"{key}.wav"


def audio_exists(lang: str, key: str) -> bool:
    path = audio_path(lang, key)
    return path is not None and path.is_file()


def result_dict(result: PublishResult) -> dict[str, Any]:
    """A publication's outcome as the session keeps it for the next page."""
    return {
        "ok": result.ok,
        "message": result.message,
        "stage": result.stage,
        "version_id": result.version_id,
        "seconds": round(result.seconds, 3),
        "issues": [str(i) for i in result.issues[:100]],
        "changed": result.changed_files,
        "nodes": [
            {"name": node.name, "ok": node.ok, "message": node.message} for node in result.nodes
        ]
        if len(result.nodes) > 1
        else [],
    }
