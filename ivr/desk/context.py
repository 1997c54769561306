"""What the operator needs to know about a caller, built from the call's way through the IVR.

Pure: the dialplan model, the path of node ids and the session's data in, a plain dict out (the
FastAGI process stores it in Redis, :mod:`ivr.desk.store`). The path is said in words (the
department's name, "main menu", "spoken request"), never as node ids: an operator does not know
the dialplan's internals.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ivr.flow.model import Dialplan, HoursNode, LanguageNode, MenuNode, Node, TransferNode

# Words for steps that are not a department, per admin language (others: English).
WORDS: dict[str, dict[str, str]] = {
    "it": {
        "main_menu": "Menu principale",
        "menu": "Menu",
        "speech": "Richiesta a voce",
        "directory": "Centralino",
        "book_appointment": "Prenotazione",
        "booking_lookup": "Prenotazioni",
        "certificate_request": "Certificati",
        "callback": "Richiamata",
    },
    "en": {
        "main_menu": "Main menu",
        "menu": "Menu",
        "speech": "Spoken request",
        "directory": "Switchboard",
        "book_appointment": "Booking",
        "booking_lookup": "Bookings",
        "certificate_request": "Certificates",
        "callback": "Callback",
    },
}
SKIPPED = ("language", "play", "goto", "hangup")  # say nothing the operator needs

# Why the caller is with an operator, in the desk's words.
WHY = ("menu", "saturation", "overflow", "callback", "transfer", "directory", "fallback")
_DIRECT = {"overflow": "overflow", "transfer": "transfer", "callback": "callback"}


def why(reason: str, saturation: str | None = None) -> str:
    """The desk's category for a transfer reason (the engine's, or the dialplan's later one:
    ``overflow`` from nu-overflow, ``transfer`` from an 8NN, ``callback`` from a placeholder)."""
    if reason in _DIRECT:
        return _DIRECT[reason]
    if reason.startswith("callback"):
        return "callback"
    if saturation:
        return "saturation"
    if reason == "menu":
        return "menu"
    if reason.startswith("directory"):
        return "directory"
    return "fallback"  # retries, error, a prompt that failed, speech or booking unavailable


def department_name(dialplan: Dialplan, department: str, lang: str) -> str:
    dept = dialplan.departments.get(department)
    if dept is None:
        return department
    return dept.names.get(lang) or dept.names.get(dialplan.default_language) or dept.id


def main_menu(dialplan: Dialplan) -> str | None:
    """The first menu a caller meets from the start (through language and play nodes)."""
    seen: set[str] = set()
    node = dialplan.nodes.get(dialplan.start)
    while node is not None and node.id not in seen:
        if isinstance(node, MenuNode):
            return node.id
        seen.add(node.id)
        targets = node.targets()
        node = dialplan.nodes.get(targets[0]) if len(targets) == 1 else None
    return None


def _department_of(dialplan: Dialplan, node: Node) -> str | None:
    if isinstance(node, HoursNode | TransferNode):
        return node.department
    if node.id in dialplan.departments:
        return node.id
    prefixed = [d for d in dialplan.departments if node.id.startswith(d + "_")]
    return max(prefixed, key=len) if prefixed else None


def step_words(dialplan: Dialplan, node: Node, lang: str, main: str | None) -> str | None:
    """One step in words (None: nothing worth saying)."""
    words = WORDS.get(lang, WORDS["en"])
    if node.kind in SKIPPED or isinstance(node, LanguageNode):
        return None
    if node.id == main:
        return words["main_menu"]
    department = _department_of(dialplan, node)
    if department is not None:
        return department_name(dialplan, department, lang)
    return words.get(node.kind) or words["menu"]


def path_in_words(dialplan: Dialplan, path: Sequence[str], lang: str) -> list[str]:
    """The caller's way, one entry per place, repeats folded: ["Main menu", "Local taxes"]."""
    main = main_menu(dialplan)
    out: list[str] = []
    for node_id in path:
        node = dialplan.nodes.get(node_id)
        word = step_words(dialplan, node, lang, main) if node is not None else None
        if word and (not out or out[-1] != word):
            out.append(word)
    return out


def _number(value: Any) -> float | None:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    return float(value) if ok else None


def build_context(
    dialplan: Dialplan,
    *,
    call_id: str,
    department: str,
    queue: str,
    language: str,
    reason: str,
    path: Sequence[str],
    data: Mapping[str, Any],
    at: float,
    caller_hash: str | None,
    number: str,
    lang: str | None = None,
) -> dict[str, Any]:
    """The call's context as the desk shows it (``lang``: the words' language, by default the
    city's). Holds the caller's number and what they said: personal data, for Redis only."""
    lang = lang or dialplan.default_language
    said = data.get("said")
    saturation = data.get("saturation")
    return {
        "call_id": call_id,
        "language": language,
        "department": department,
        "department_name": department_name(dialplan, department, lang),
        "queue": queue,
        "path": path_in_words(dialplan, path, lang),
        "said": said if isinstance(said, str) and said else None,
        "confidence": _number(data.get("said_confidence")) if said else None,
        "reason": reason,
        "why": why(reason, str(saturation) if saturation else None),
        "queued_at": at,
        "caller_hash": caller_hash,
        "number": number,
    }
