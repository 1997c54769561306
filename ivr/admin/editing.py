"""Structured edits of the draft YAML: one node or one department at a time, comments kept.

Office staff edit through forms; power users edit the raw YAML. Both end up as the same YAML
text, so there is one draft and one validator. Edits go through ruamel.yaml's round-trip mode so
the comments, the order and the flow style (``{type: transfer, department: x}``) of everything
not edited stay as the city wrote them; PyYAML would drop every comment on the first save.

Nothing here decides what is valid: values are written as typed (YAML quoting makes any text a
plain string), then the loader and the validator judge the result with their usual messages.
Only what would make the YAML itself unusable (an empty id, a non-number in a number field) is
refused here, with an :class:`EditError`.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from datetime import date
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError
from ruamel.yaml.scalarstring import DoubleQuotedScalarString

from ivr.flow.actions import DTMF_KEYS

CORE_KINDS = ("menu", "language", "play", "hours", "transfer", "goto", "hangup")
MAX_FIELD = 2000  # characters in one form field: enough for any name, bounded for any input


class EditError(ValueError):
    """The edit cannot be applied; the message says why, for the person who typed it."""


def _yaml() -> YAML:
    y = YAML(typ="rt")
    y.preserve_quotes = True
    y.width = 100
    y.indent(mapping=2, sequence=4, offset=2)
    return y


def load(text: str) -> CommentedMap:
    try:
        doc = _yaml().load(text)
    except YAMLError as exc:
        raise EditError(f"the draft is not valid YAML ({exc}): fix it in the YAML editor") from exc
    if not isinstance(doc, CommentedMap):
        raise EditError("the draft is not a YAML map: fix it in the YAML editor")
    return doc


def dump(doc: Any) -> str:
    out = io.StringIO()
    _yaml().dump(doc, out)
    return out.getvalue()


def _field(form: Mapping[str, str], name: str) -> str:
    value = str(form.get(name, "") or "")
    if len(value) > MAX_FIELD:
        raise EditError(f"'{name}' is longer than {MAX_FIELD} characters")
    return value.strip()


def _int(form: Mapping[str, str], name: str, default: int) -> int | None:
    value = _field(form, name)
    if not value:
        return None
    if not value.isdigit() or not 0 < int(value) < 10**6:
        raise EditError(f"'{name}' must be a whole number")
    return None if int(value) == default else int(value)


def _key(digit: str) -> DoubleQuotedScalarString:
    return DoubleQuotedScalarString(digit)


_PLAIN = re.compile(r"[^\W\d][\w .'-]*")
_YAML_WORDS = {"y", "n", "yes", "no", "true", "false", "on", "off", "null", "none", "~"}


def _s(value: str) -> Any:
    """Written plain when YAML reads it back as the same text, double-quoted otherwise (times
    like 13:00 would be read as numbers, ``yes`` as a boolean, a newline would break the line)."""
    if _PLAIN.fullmatch(value) and value.lower() not in _YAML_WORDS and value == value.strip():
        return value
    return DoubleQuotedScalarString(value)


def _carry_trailing(old: Any, new: Any) -> None:
    """Move the comment/blank lines that follow the old value's last line to the new value's."""
    while isinstance(old, CommentedMap) and old:
        last = list(old.keys())[-1]
        token = old.ca.items.get(last)
        if token is not None and not isinstance(old[last], CommentedMap):
            while isinstance(new, CommentedMap) and new:
                new_last = list(new.keys())[-1]
                if isinstance(new[new_last], CommentedMap) and new[new_last]:
                    new = new[new_last]
                    continue
                new.ca.items[new_last] = token
                return
            return
        old = old[last]


def _words(value: str) -> list[str]:
    return [w for w in re.split(r"[\s,]+", value) if w]


def _section(doc: CommentedMap, name: str) -> CommentedMap:
    section = doc.get(name)
    if not isinstance(section, CommentedMap):
        raise EditError(f"the draft has no '{name}' map: fix it in the YAML editor")
    return section


def node_kind(text: str, node_id: str) -> tuple[str, Any]:
    """(type, body) of a node in the draft."""
    nodes = _section(load(text), "nodes")
    if node_id not in nodes:
        raise EditError(f"no node '{node_id}' in the draft")
    body = nodes[node_id]
    kind = body.get("type") if isinstance(body, Mapping) else None
    return str(kind or ""), body


def node_yaml(text: str, node_id: str) -> str:
    """The node's body as YAML text (for kinds without a form)."""
    _, body = node_kind(text, node_id)
    return dump(body)


def update_node(text: str, node_id: str, form: Mapping[str, str]) -> str:
    """Apply a node form (fields of its kind; see templates/node.html) to the draft."""
    doc = load(text)
    nodes = _section(doc, "nodes")
    if node_id not in nodes:
        raise EditError(f"no node '{node_id}' in the draft")
    old = nodes[node_id]
    kind = str(old.get("type", "")) if isinstance(old, Mapping) else ""
    if kind not in CORE_KINDS:
        raw = str(form.get("body", ""))
        if len(raw) > 50 * MAX_FIELD:
            raise EditError("the node is too long")
        try:
            body = _yaml().load(raw)
        except YAMLError as exc:
            raise EditError(f"not valid YAML: {exc}") from exc
        if not isinstance(body, CommentedMap):
            raise EditError("a node is a map with a 'type'")
        nodes[node_id] = body
        return dump(doc)
    body = CommentedMap()
    body["type"] = kind
    if kind in ("menu", "language"):
        body["prompt"] = _s(_field(form, "prompt"))
        options = CommentedMap()
        for digit in DTMF_KEYS:
            target = _field(form, f"opt_{digit}")
            if target:
                options[_key(digit)] = _s(target)
        body["options"] = options
        if kind == "menu":
            repeat = _field(form, "repeat")
            if repeat:
                body["repeat"] = _key(repeat)
        else:
            body["next"] = _s(_field(form, "next"))
        for name, default in (("retries", 3), ("timeout_ms", 5000)):
            value = _int(form, name, default)
            if value is not None:
                body[name] = value
    elif kind == "play":
        body["prompts"] = _flow_seq(_words(_field(form, "prompts")))
        body["next"] = _s(_field(form, "next"))
    elif kind == "hours":
        for name in ("department", "open", "closed"):
            body[name] = _s(_field(form, name))
    elif kind == "transfer":
        body["department"] = _s(_field(form, "department"))
        prompt = _field(form, "prompt")
        if prompt != "transferring":
            body["prompt"] = _s(prompt) if prompt else None
    elif kind == "goto":
        body["next"] = _s(_field(form, "next"))
    elif kind == "hangup":
        prompts = _words(_field(form, "prompts"))
        if prompts and prompts != ["goodbye"]:
            body["prompts"] = _flow_seq(prompts)
    if isinstance(old, CommentedMap) and old.fa.flow_style() and kind not in ("menu", "language"):
        body.fa.set_flow_style()
    _carry_trailing(old, body)
    nodes[node_id] = body
    return dump(doc)


def _flow_seq(items: list[str]) -> CommentedSeq:
    seq = CommentedSeq(_s(i) for i in items)
    seq.fa.set_flow_style()
    return seq


def add_node(text: str, node_id: str, kind: str) -> str:
    doc = load(text)
    nodes = _section(doc, "nodes")
    node_id = node_id.strip()
    if not node_id:
        raise EditError("give the new node a name")
    if len(node_id) > 200:
        raise EditError("the name is too long")
    if node_id in nodes:
        raise EditError(f"there is already a node '{node_id}'")
    if kind not in CORE_KINDS:
        raise EditError(f"unknown node type '{kind}'")
    body = CommentedMap()
    body["type"] = kind
    nodes[node_id] = body
    return dump(doc)


def delete_node(text: str, node_id: str) -> str:
    doc = load(text)
    nodes = _section(doc, "nodes")
    if node_id not in nodes:
        raise EditError(f"no node '{node_id}' in the draft")
    del nodes[node_id]
    return dump(doc)


# ---------------------------------------------------------------------------------------------
# Departments

_CLOSURE = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2})(?:\s+(?P<from>\d{1,2}:\d{2})?-(?P<to>\d{1,2}:\d{2})?)?"
    r"(?:\s+(?P<reason>.*))?$"
)


def hours_lines(body: Mapping[str, Any]) -> str:
    """A department's hours as the form shows them: ``mon-fri: 08:30-12:30, 14:00-16:00``."""
    hours = body.get("hours")
    if hours == "always":
        return "always"
    if not isinstance(hours, Mapping):
        return ""
    return "\n".join(
        f"{spec}: {', '.join(str(r) for r in ranges) if isinstance(ranges, list) else ranges}"
        for spec, ranges in hours.items()
    )


def closure_lines(body: Mapping[str, Any]) -> str:
    closures = body.get("closures") if isinstance(body, Mapping) else None
    if not isinstance(closures, list):
        return ""
    lines = []
    for item in closures:
        if not isinstance(item, Mapping):
            continue
        line = str(item.get("date", ""))
        if "from" in item or "to" in item:
            line += f" {item.get('from', '')}-{item.get('to', '')}"
        if item.get("reason"):
            line += f" {item['reason']}"
        lines.append(line)
    return "\n".join(lines)


def _hours(value: str) -> Any:
    if value.strip().lower() == "always":
        return "always"
    hours = CommentedMap()
    for raw in value.splitlines():
        line = raw.strip()
        if not line:
            continue
        spec, sep, ranges = line.partition(":")
        if not sep or not ranges.strip():
            raise EditError(f"hours line '{line}': write days, a colon, then ranges")
        hours[_s(spec.strip().lower())] = _flow_seq(
            [r.strip() for r in ranges.split(",") if r.strip()]
        )
    return hours


def _closures(value: str) -> CommentedSeq | None:
    items = CommentedSeq()
    for raw in value.splitlines():
        line = raw.strip()
        if not line:
            continue
        m = _CLOSURE.match(line)
        if not m:
            raise EditError(
                f"closure '{line}': write a date like 2026-12-24, then an optional "
                "time range like 13:00- and a reason"
            )
        try:
            day = date.fromisoformat(m["date"])
        except ValueError as exc:
            raise EditError(f"closure '{line}': {exc}") from exc
        item = CommentedMap()
        item["date"] = day
        if m["from"]:
            item["from"] = _s(m["from"])
        if m["to"]:
            item["to"] = _s(m["to"])
        if m["reason"]:
            item["reason"] = _s(m["reason"].strip())
        item.fa.set_flow_style()
        items.append(item)
    return items or None


def update_department(
    text: str, dept_id: str, form: Mapping[str, str], languages: list[str]
) -> str:
    doc = load(text)
    departments = _section(doc, "departments")
    if dept_id not in departments:
        raise EditError(f"no department '{dept_id}' in the draft")
    old = departments[dept_id] if isinstance(departments[dept_id], Mapping) else {}
    body = CommentedMap()
    names = CommentedMap()
    for lang in languages:
        names[lang] = _s(_field(form, f"name_{lang}"))
    names.fa.set_flow_style()
    body["names"] = names
    queue = _field(form, "queue")
    if queue and queue != dept_id:
        body["queue"] = _s(queue)
    body["hours"] = _hours(_field(form, "hours"))
    if _field(form, "holidays") == "open":
        body["holidays"] = "open"
    closures = _closures(_field(form, "closures"))
    if closures:
        body["closures"] = closures
    for key, value in old.items():  # fields the form does not know (a later feature) stay
        if key not in ("names", "queue", "hours", "holidays", "closures"):
            body[key] = value
    _carry_trailing(old, body)
    departments[dept_id] = body
    return dump(doc)


def add_department(text: str, dept_id: str, languages: list[str]) -> str:
    doc = load(text)
    departments = _section(doc, "departments")
    dept_id = dept_id.strip()
    if not dept_id:
        raise EditError("give the new department an id")
    if len(dept_id) > 200:
        raise EditError("the id is too long")
    if dept_id in departments:
        raise EditError(f"there is already a department '{dept_id}'")
    body = CommentedMap()
    names = CommentedMap((lang, dept_id) for lang in languages)
    names.fa.set_flow_style()
    body["names"] = names
    mon_fri = CommentedMap()
    mon_fri["mon-fri"] = _flow_seq(["09:00-12:00"])
    body["hours"] = mon_fri
    departments[dept_id] = body
    return dump(doc)
