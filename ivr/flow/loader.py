"""Read a dialplan YAML file into :class:`~ivr.flow.model.Dialplan`, keeping line numbers.

This module is the schema: it checks shapes and types while building the model and reports
every problem with its line. Graph-level checks (reachability, loops, prompts) are in
:mod:`ivr.flow.validate`, which :func:`load_dialplan` runs too.
"""

from __future__ import annotations

import importlib
import re
from datetime import date, time
from pathlib import Path
from typing import Any

import yaml

from ivr.flow.actions import DTMF_KEYS
from ivr.flow.issues import DialplanError, Issue
from ivr.flow.model import (
    NODE_TYPES,
    WEEKDAYS,
    CityCalendar,
    Closure,
    Department,
    Dialplan,
    GotoNode,
    HangupNode,
    HoursNode,
    LanguageNode,
    MenuNode,
    Node,
    PlayNode,
    TimeRange,
    TransferNode,
    WeeklyHours,
)
from ivr.queues.estimate import SaturationPolicy

IDENT = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
LANG = re.compile(r"^[a-z]{2}$")
NUMBER = re.compile(r"^[0-9*#+]{2,20}$")
RANGE = re.compile(r"^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$")
CLOCK = re.compile(r"^(\d{1,2}):(\d{2})$")


class _Map(dict):
    """A YAML mapping that remembers where it and each of its keys stand."""

    line: int = 0
    key_lines: dict[Any, int]


# libyaml's parser (bundled in PyYAML's wheels) reads a city's files about ten times faster than
# the pure-Python one: the admin parses the dialplan and the prompt texts on most requests.
FAST_SAFE_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _LineLoader(FAST_SAFE_LOADER):  # type: ignore[misc,valid-type]
    """Safe loader keeping line numbers and reporting keys written twice (PyYAML keeps the last)."""

    def __init__(self, stream: str):
        super().__init__(stream)
        self.duplicates: list[tuple[int, str, int]] = []  # (line, key, mapping line)

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> _Map:
        result = _Map()
        result.line = node.start_mark.line + 1
        result.key_lines = {}
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=True)
            key = str(key) if isinstance(key, int) else key
            line = key_node.start_mark.line + 1
            if key in result.key_lines:
                self.duplicates.append((line, str(key), result.line))
            result.key_lines[key] = line
            result[key] = self.construct_object(value_node, deep=deep)
        return result


_LineLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _LineLoader.construct_mapping
)


class FieldReader:
    """Turns parsed YAML into the model, collecting issues instead of stopping at the first.

    Feature node kinds get one in their ``parse`` classmethod and use its typed readers
    (``text``, ``ident``, ``options``, ``prompts``, ``fail``...), so every message has a line.
    """

    def __init__(self, source: str):
        self.source = source
        self.issues: list[Issue] = []

    def fail(self, line: int, node: str, message: str) -> None:
        self.issues.append(Issue(self.source, line, node, message))

    # -- small typed readers -------------------------------------------------------------

    def line_of(self, mapping: Any, key: str) -> int:
        if isinstance(mapping, _Map):
            return mapping.key_lines.get(key, mapping.line)
        return 0

    def text(self, mapping: _Map, key: str, node: str = "", default: str | None = None) -> str:
        value = mapping.get(key, default)
        if value is None:
            self.fail(mapping.line, node, f"'{key}' is required")
            return ""
        if not isinstance(value, str | int) or isinstance(value, bool):
            self.fail(self.line_of(mapping, key), node, f"'{key}' must be text")
            return ""
        return str(value)

    def ident(self, mapping: _Map, key: str, node: str = "", what: str = "name") -> str:
        value = self.text(mapping, key, node)
        if value and not IDENT.match(value):
            self.fail(
                self.line_of(mapping, key),
                node,
                f"{what} '{value}' must be lowercase letters, digits or '_' (max 40), "
                "starting with a letter",
            )
        return value

    def clock(self, value: Any, line: int, node: str) -> time | None:
        if isinstance(value, int):  # YAML 1.1 reads an unquoted 13:00 as 780
            self.fail(line, node, 'write times in quotes, e.g. "13:00"')
            return None
        m = CLOCK.match(str(value))
        if not m or int(m[1]) > 23 or int(m[2]) > 59:
            self.fail(line, node, f"'{value}' is not a time like \"08:30\"")
            return None
        return time(int(m[1]), int(m[2]))

    # -- sections ------------------------------------------------------------------------

    def hours(self, mapping: _Map, dept: str) -> WeeklyHours:
        raw = mapping.get("hours")
        line = self.line_of(mapping, "hours")
        if raw == "always":
            return WeeklyHours(always=True)
        if not isinstance(raw, _Map):
            self.fail(
                line, dept, "'hours' must be 'always' or a map like mon-fri: [\"08:30-12:30\"]"
            )
            return WeeklyHours()
        days: list[list[TimeRange]] = [[] for _ in WEEKDAYS]
        for spec, ranges in raw.items():
            spec_line = raw.key_lines.get(spec, raw.line)
            weekdays = self.weekdays(str(spec), spec_line, dept)
            if not isinstance(ranges, list) or not ranges:
                self.fail(spec_line, dept, f"hours for '{spec}' must be a list of \"HH:MM-HH:MM\"")
                continue
            for item in ranges:
                m = RANGE.match(str(item))
                if not m:
                    self.fail(spec_line, dept, f"'{item}' is not a range like \"08:30-12:30\"")
                    continue
                start = self.clock(f"{m[1]}:{m[2]}", spec_line, dept)
                end = self.clock(f"{m[3]}:{m[4]}", spec_line, dept)
                if start is None or end is None:
                    continue
                if end <= start:
                    self.fail(spec_line, dept, f"'{item}' ends before it starts")
                    continue
                for wd in weekdays:
                    days[wd].append(TimeRange(start, end))
        return WeeklyHours(days=tuple(tuple(sorted(d, key=lambda r: r.start)) for d in days))

    def weekdays(self, spec: str, line: int, dept: str) -> list[int]:
        result: list[int] = []
        for part in spec.replace(" ", "").split(","):
            first, _, last = part.partition("-")
            if first not in WEEKDAYS or (last and last not in WEEKDAYS):
                self.fail(line, dept, f"'{part}' is not a day or range like mon-fri")
                continue
            a = WEEKDAYS.index(first)
            b = WEEKDAYS.index(last) if last else a
            if b < a:
                self.fail(line, dept, f"'{part}' runs backwards")
                continue
            result.extend(range(a, b + 1))
        return result

    def closures(self, raw: Any, line: int, node: str) -> tuple[Closure, ...]:
        if raw is None:
            return ()
        if not isinstance(raw, list):
            self.fail(line, node, "'closures' must be a list")
            return ()
        result = []
        for item in raw:
            if not isinstance(item, _Map) or not isinstance(item.get("date"), date):
                self.fail(line, node, "each closure needs a date like 2026-12-24")
                continue
            start = self.clock(item["from"], item.line, node) if "from" in item else None
            end = self.clock(item["to"], item.line, node) if "to" in item else None
            result.append(Closure(item["date"], start, end, str(item.get("reason", ""))))
        return tuple(result)

    def calendar(self, raw: Any) -> CityCalendar:
        if raw is None:
            return CityCalendar()
        if not isinstance(raw, _Map):
            self.fail(0, "", "'calendar' must be a map")
            return CityCalendar()
        saint = raw.get("patron_saint")
        patron: tuple[int, int] | None = None
        name = ""
        if saint is not None:
            try:
                patron = (int(saint["month"]), int(saint["day"]))
                date(2024, *patron)  # a leap year accepts every real day
                name = str(saint.get("name", ""))
            except (KeyError, TypeError, ValueError):
                self.fail(self.line_of(raw, "patron_saint"), "", "patron_saint needs month and day")
                patron = None
        closures = self.closures(raw.get("closures"), self.line_of(raw, "closures"), "")
        return CityCalendar(patron, name, closures)

    def departments(self, raw: Any, languages: tuple[str, ...]) -> dict[str, Department]:
        if not isinstance(raw, _Map) or not raw:
            self.fail(0, "", "'departments' must list at least one department")
            return {}
        result = {}
        for dept_id, body in raw.items():
            line = raw.key_lines.get(dept_id, raw.line)
            if not IDENT.match(str(dept_id)):
                self.fail(line, str(dept_id), "department ids are lowercase letters, digits, '_'")
            if not isinstance(body, _Map):
                self.fail(line, str(dept_id), "a department must be a map")
                continue
            names = body.get("names")
            if not isinstance(names, _Map):
                self.fail(line, dept_id, "'names' must give the department's name per language")
                names = _Map()
            for lang in languages:
                if not names.get(lang):
                    self.fail(line, dept_id, f"name missing in language '{lang}'")
            queue = self.ident(body, "queue", dept_id, "queue") if "queue" in body else dept_id
            holidays = body.get("holidays", "closed")
            if holidays not in ("open", "closed"):
                self.fail(self.line_of(body, "holidays"), dept_id, "holidays: open or closed")
            result[dept_id] = Department(
                id=dept_id,
                queue=queue,
                names={str(k): str(v) for k, v in names.items()},
                hours=self.hours(body, dept_id),
                holidays_open=holidays == "open",
                closures=self.closures(
                    body.get("closures"), self.line_of(body, "closures"), dept_id
                ),
                saturation=self.saturation(body, dept_id),
            )
        return result

    def saturation(self, body: _Map, dept_id: str) -> SaturationPolicy | None:
        """``saturation: {no_operator, max_waiting, max_wait_s, offer}``; ``offer`` is required."""
        raw = body.get("saturation")
        if raw is None:
            return None
        line = self.line_of(body, "saturation")
        if not isinstance(raw, _Map):
            self.fail(line, dept_id, "'saturation' must be a map")
            return None
        unknown = set(raw) - {"no_operator", "max_waiting", "max_wait_s", "offer"}
        if unknown:
            self.fail(line, dept_id, f"saturation: unknown keys {sorted(unknown)}")
        offer = raw.get("offer")
        if not isinstance(offer, str) or not IDENT.match(offer):
            self.fail(line, dept_id, "saturation: 'offer' must name a node")
            return None
        no_operator = raw.get("no_operator", False)
        if not isinstance(no_operator, bool):
            self.fail(line, dept_id, "saturation: no_operator is true or false")
            no_operator = False
        limits: dict[str, Any] = {}
        for key in ("max_waiting", "max_wait_s"):
            value = raw.get(key)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 0
            ):
                self.fail(line, dept_id, f"saturation: {key} must be a whole number >= 0")
                value = None
            limits[key] = value
        if not no_operator and limits["max_waiting"] is None and limits["max_wait_s"] is None:
            self.fail(line, dept_id, "saturation: give no_operator, max_waiting or max_wait_s")
        return SaturationPolicy(offer=offer, no_operator=no_operator, **limits)

    def options(self, body: _Map, node_id: str, key: str = "options") -> dict[str, str]:
        """A map of single phone keys to names (nodes, languages, services...)."""
        raw = body.get(key)
        if not isinstance(raw, _Map) or not raw:
            self.fail(self.line_of(body, key) or body.line, node_id, f"'{key}' is required")
            return {}
        result = {}
        for key, target in raw.items():
            line = raw.key_lines.get(key, raw.line)
            if len(key) != 1 or key not in DTMF_KEYS:
                self.fail(line, node_id, f"option '{key}' is not a single phone key (0-9, *, #)")
                continue
            if not isinstance(target, str):
                self.fail(line, node_id, f"option '{key}' must name a node")
                continue
            result[key] = target
        return result

    def node(self, node_id: str, body: Any, line: int) -> Node | None:
        if not isinstance(body, _Map):
            self.fail(line, node_id, "a node must be a map with a 'type'")
            return None
        kind = body.get("type")
        if kind not in NODE_TYPES:
            known = ", ".join(NODE_TYPES)
            self.fail(
                self.line_of(body, "type"), node_id, f"unknown type '{kind}' (one of {known})"
            )
            return None
        cls = NODE_TYPES[kind]
        allowed = _FIELDS.get(kind) or {"type", *getattr(cls, "FIELDS", ())}
        for key in body:
            if key not in allowed:
                self.fail(body.key_lines[key], node_id, f"'{key}' is not a field of a {kind} node")
        if kind not in _FIELDS:  # a feature node kind parses itself
            return cls.parse(self, node_id, body, line)
        common = {"id": node_id, "line": line}
        retries = int(body.get("retries", 3))
        timeout = int(body.get("timeout_ms", 5000))
        if kind == "language":
            options = self.options(body, node_id)
            return LanguageNode(
                **common,
                prompt=self.text(body, "prompt", node_id),
                options=options,
                next=self.text(body, "next", node_id),
                retries=retries,
                timeout_ms=timeout,
            )
        if kind == "menu":
            repeat = body.get("repeat")
            repeat = None if repeat is None else str(repeat)
            options = self.options(body, node_id)
            if repeat is not None and repeat in options:
                self.fail(body.key_lines["repeat"], node_id, f"digit {repeat} used twice")
            return MenuNode(
                **common,
                prompt=self.text(body, "prompt", node_id),
                options=options,
                repeat=repeat,
                retries=retries,
                timeout_ms=timeout,
            )
        if kind == "play":
            return PlayNode(
                **common, prompts=self.prompts(body, node_id), next=self.text(body, "next", node_id)
            )
        if kind == "hours":
            return HoursNode(
                **common,
                department=self.text(body, "department", node_id),
                open=self.text(body, "open", node_id),
                closed=self.text(body, "closed", node_id),
            )
        if kind == "transfer":
            prompt = body.get("prompt", "transferring")
            return TransferNode(
                **common,
                department=self.text(body, "department", node_id),
                prompt=str(prompt) if prompt else None,
                hold=bool(body.get("hold", False)),
            )
        if kind == "goto":
            return GotoNode(**common, next=self.text(body, "next", node_id))
        prompts = self.prompts(body, node_id) if "prompts" in body else ("goodbye",)
        return HangupNode(**common, prompts=prompts)

    def prompts(self, body: _Map, node_id: str) -> tuple[str, ...]:
        raw = body.get("prompts")
        if isinstance(raw, str):
            raw = [raw]
        if not isinstance(raw, list) or not raw or not all(isinstance(p, str) for p in raw):
            self.fail(self.line_of(body, "prompts") or body.line, node_id, "'prompts' lists keys")
            return ()
        return tuple(raw)


_FIELDS = {
    "language": {"type", "prompt", "options", "next", "retries", "timeout_ms"},
    "menu": {"type", "prompt", "options", "repeat", "retries", "timeout_ms"},
    "play": {"type", "prompts", "next"},
    "hours": {"type", "department", "open", "closed"},
    "transfer": {"type", "department", "prompt", "hold"},
    "goto": {"type", "next"},
    "hangup": {"type", "prompts"},
}


# Modules that add feature node kinds and transfer hooks (each registers them when imported).
FEATURE_MODULES = (
    "booking.phone",
    "ivr.speech.node",
    "ivr.callbacks.node",
    "ivr.queues.policy",
    "ivr.directory.node",
    "ivr.backoffice.node",
)


def load_features() -> None:
    """Import the feature node kinds and hooks (the queues' saturation policy), so every
    dialplan may use them."""
    for name in FEATURE_MODULES:
        importlib.import_module(name)


def parse_dialplan(text: str, source: str = "<dialplan>") -> tuple[Dialplan | None, list[Issue]]:
    """Build the model from YAML text. Returns the model (None if unusable) and shape issues."""
    load_features()
    b = FieldReader(source)
    loader = _LineLoader(text)
    try:
        doc = loader.get_single_data()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 0
        return None, [Issue(source, line, "", f"not valid YAML: {getattr(exc, 'problem', exc)}")]
    finally:
        loader.dispose()
    for line, key, _parent in loader.duplicates:
        if key in DTMF_KEYS and len(key) == 1:
            b.fail(line, "", f"digit {key} used twice")
        else:
            b.fail(line, key if IDENT.match(key) else "", f"'{key}' is written twice")
    if not isinstance(doc, _Map):
        b.fail(1, "", "a dialplan is a YAML map with departments and nodes")
        return None, b.issues

    languages = tuple(str(x) for x in doc.get("languages") or ())
    if not languages or not all(LANG.match(x) for x in languages):
        b.fail(b.line_of(doc, "languages"), "", "'languages' lists two-letter codes, e.g. [it, en]")
    default_language = b.text(doc, "default_language", default=languages[0] if languages else "")
    if languages and default_language not in languages:
        b.fail(b.line_of(doc, "default_language"), "", "default_language must be in languages")
    number = b.text(doc, "number")
    if number and not NUMBER.match(number):
        b.fail(b.line_of(doc, "number"), "", f"number '{number}' must be digits (quote it)")
    departments = b.departments(doc.get("departments"), languages)
    raw_nodes = doc.get("nodes")
    nodes: dict[str, Node] = {}
    if not isinstance(raw_nodes, _Map) or not raw_nodes:
        b.fail(b.line_of(doc, "nodes"), "", "'nodes' must define the call flow")
    else:
        for node_id, body in raw_nodes.items():
            line = raw_nodes.key_lines.get(node_id, raw_nodes.line)
            if not IDENT.match(str(node_id)):
                b.fail(line, str(node_id), "node ids are lowercase letters, digits, '_'")
            built = b.node(str(node_id), body, line)
            if built is not None:
                nodes[built.id] = built
    start = b.text(doc, "start", default=next(iter(nodes), ""))
    dialplan = Dialplan(
        city=b.text(doc, "city", default=""),
        number=number,
        timezone=b.text(doc, "timezone", default="Europe/Rome"),
        languages=languages,
        default_language=default_language,
        general_operator=b.text(doc, "general_operator"),
        calendar=b.calendar(doc.get("calendar")),
        departments=departments,
        start=start,
        nodes=nodes,
        source=source,
    )
    return dialplan, b.issues


def load_dialplan(path: str | Path, prompts_dir: str | Path | None = None) -> Dialplan:
    """Load and fully validate a dialplan file; raise :class:`DialplanError` listing all issues.

    With ``prompts_dir`` the prompt catalogue is checked too (every reachable prompt in every
    language).
    """
    from ivr.flow.validate import validate  # validate imports the model, not the loader

    path = Path(path)
    dialplan, issues = parse_dialplan(path.read_text(encoding="utf-8"), str(path))
    if dialplan is not None:
        issues += validate(dialplan, prompts_dir=prompts_dir)
    if issues or dialplan is None:
        raise DialplanError(issues)
    return dialplan
