"""An FAQ entry into the IVR's draft: the smallest honest path from a back-office answer to the
next caller. No Flask, no files: YAML text in, YAML text out (:mod:`ivr.admin.editing`'s round
trip, comments kept).

The entry becomes

* a prompt ``faq_<id>`` (its text written by the view in ``prompts/<lang>.yaml`` for the
  language the entry is written in, through :func:`ivr.admin.prompt_store.set_texts`, like any
  prompt edit), and
* in the **draft**, a ``play`` node ``faq_<id>`` saying it and going back to the menu, reached by
  a free key of a menu the editor chooses (by default the department's own menu).

Nothing goes live here: the editor sees the change in the draft (graph, diff, the validator's
issues: the prompt missing in the other languages of the city until someone translates it,
and the menu's own prompt, which does not announce the new key until someone rewrites it) and
publishes it as usual (validate -> version -> render -> reload).
"""

from __future__ import annotations

from collections.abc import Mapping

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from ivr.admin.editing import EditError, _key, _section, dump, load
from ivr.flow.actions import DTMF_KEYS


def menus(text: str) -> dict[str, list[str]]:
    """The draft's menu nodes and the keys each leaves free (its repeat key is not free)."""
    found: dict[str, list[str]] = {}
    for node_id, body in _section(load(text), "nodes").items():
        if not isinstance(body, Mapping) or body.get("type") != "menu":
            continue
        options = body.get("options") if isinstance(body.get("options"), Mapping) else {}
        taken = {str(k) for k in options} | {str(body.get("repeat", ""))}
        found[str(node_id)] = [d for d in DTMF_KEYS if d not in taken]
    return found


def default_menu(text: str, department: str) -> str:
    """The menu an entry of ``department`` goes into by default: the menu named after the
    department, else the first menu with an option into the department's nodes, else the
    first menu. "" when the draft has no menu."""
    nodes = _section(load(text), "nodes")
    found = menus(text)
    if department in found:
        return department
    for menu in found:
        options = nodes[menu].get("options") or {}
        for target in options.values():
            body = nodes.get(str(target))
            if isinstance(body, Mapping) and body.get("department") == department:
                return menu
    return next(iter(found), "")


def add_entry(text: str, key: str, menu: str, digit: str, note: str = "") -> str:
    """The draft with a ``play`` node ``key`` saying prompt ``key`` then going back to
    ``menu``, reached by ``digit`` in ``menu``. Again for an entry already there: its node is
    rewritten and the key it has stays (``digit`` is then ignored)."""
    doc = load(text)
    nodes = _section(doc, "nodes")
    body = nodes.get(menu)
    if not isinstance(body, CommentedMap) or body.get("type") != "menu":
        raise EditError(f"menu: no menu '{menu}' in the draft")
    options = body.get("options")
    if not isinstance(options, CommentedMap):
        options = body["options"] = CommentedMap()
    already = [str(d) for d, target in options.items() if str(target) == key]
    if key in nodes and not isinstance(nodes[key], Mapping):
        raise EditError(f"there is already a node '{key}'")
    if key in nodes and nodes[key].get("type") != "play":
        raise EditError(f"there is already a node '{key}' of another type")
    if not already:
        if digit not in DTMF_KEYS:
            raise EditError(f"digit: one of {' '.join(DTMF_KEYS)}")
        if digit in {str(k) for k in options} or digit == str(body.get("repeat", "")):
            raise EditError(f"digit: {digit} is taken in '{menu}': choose a free one")
        options[_key(digit)] = key
    play = CommentedMap()
    play["type"] = "play"
    prompts = CommentedSeq([key])
    prompts.fa.set_flow_style()
    play["prompts"] = prompts
    play["next"] = menu
    play.fa.set_flow_style()
    nodes[key] = play
    if note:
        nodes.yaml_add_eol_comment(note, key)
    return dump(doc)
