"""Which package may not import which: the layering ARCHITECTURE.md describes, checked.

Each rule names a package and an import prefix none of its modules may use. Every ``.py`` file
under the package is parsed with ``ast`` and every import is checked wherever it is written (top
level, inside a function, under ``if TYPE_CHECKING``), relative imports resolved to their full
name. Add a rule to ``RULES`` to forbid a new dependency.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Rule:
    package: str  # dotted name of a package in this repository: "ivr.admin"
    forbidden: str  # dotted prefix it must not import: "ivr.devenv" (and ivr.devenv.*)
    why: str

    def __str__(self) -> str:
        return f"{self.package} -> {self.forbidden}"


RULES: list[Rule] = [
    Rule(
        "ivr.admin",
        "ivr.devenv",
        "the admin runs in production too: where it publishes and copies prompts comes from "
        "settings (NU_ASTERISK_ETC, NU_ASTERISK_SOUNDS_SYNC_DIR), not from the development chroot",
    ),
    # The service contract (Invoke -> Result, ServiceError, Service) belongs to the call-flow
    # layer (ivr/flow/services.py): services answer through it without loading pyst2 or the runner.
    Rule(
        "booking",
        "ivr.agi",
        "the booking rules are a city service: ServiceError comes from ivr.flow.services",
    ),
    Rule(
        "ivr.queues",
        "ivr.agi",
        "queues.state is a service and the saturation policy an engine hook (ivr.flow)",
    ),
    Rule(
        "ivr.callbacks",
        "ivr.agi",
        "callbacks.request is a city service: ServiceError comes from ivr.flow.services",
    ),
    Rule(
        "ivr.directory",
        "ivr.agi",
        "directory.* are city services and the directory node is pure (ivr.flow)",
    ),
    Rule(
        "ivr.teleassistance",
        "ivr.agi",
        "enrolment and the weekly schedule are city rules and data: no call-flow runner",
    ),
    Rule(
        "ivr.teleassistance",
        "ivr.admin",
        "the admin page uses the teleassistance store, never the reverse",
    ),
    Rule(
        "ivr.outbound",
        "ivr.teleassistance",
        "the dialler places any source's calls: sources plug in (ivr/outbound_service.py), the "
        "dialler never knows them",
    ),
    Rule("ivr.outbound", "ivr.agi", "outbound calls are AMI's, not a call-flow runner's"),
    Rule(
        "ivr.backoffice",
        "ivr.admin",
        "the admin pages and the GeoReport API use the back-office store, never the reverse",
    ),
    Rule(
        "ivr.backoffice",
        "ivr.agi",
        "back-office services answer through ivr.flow.services, without the runner",
    ),
    Rule(
        "ivr.flow",
        "ivr.agi",
        "the engine is pure: the runner depends on the call-flow layer, never the reverse",
    ),
]


def modules(package: str, root: Path = ROOT) -> Iterator[tuple[str, Path]]:
    """(dotted module name, file) of every module under ``package``, subpackages included."""
    folder = root.joinpath(*package.split("."))
    assert (folder / "__init__.py").is_file(), f"{package} is not a package under {root}"
    for path in sorted(folder.rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        yield ".".join(parts), path


def imported_names(module: str, path: Path) -> Iterator[tuple[int, str]]:
    """(line, dotted name) of every import in the file: ``import a.b`` gives ``a.b``,
    ``from a import b`` gives ``a.b`` (b may be a module), relative imports made absolute."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")
                parent = parent[: len(parent) - (node.level - 1)]
                base = ".".join([*parent, base] if base else parent)
            for alias in node.names:
                yield node.lineno, f"{base}.{alias.name}" if alias.name != "*" else base


def matches(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def violations(rule: Rule, root: Path = ROOT) -> list[str]:
    found = []
    for module, path in modules(rule.package, root):
        for line, name in imported_names(module, path):
            if matches(name, rule.forbidden):
                found.append(f"{path.relative_to(root)}:{line}: imports {name}")
    return found


@pytest.mark.parametrize("rule", RULES, ids=str)
def test_layer_rule(rule: Rule) -> None:
    found = violations(rule)
    assert not found, f"{rule} is forbidden ({rule.why}):\n" + "\n".join(found)


def test_the_checker_sees_every_kind_of_import(tmp_path) -> None:
    """A forbidden import is found at top level, in a function, as ``from`` and relative."""
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("from .. import low\n")
    (package / "top.py").write_text("import os\nimport pkg.low.deep as d\n")
    (package / "inner.py").write_text("def f():\n    from pkg.low import thing\n    return thing\n")
    (package / "fine.py").write_text("from pkg import lower\nimport pkg.lowly\n")
    found = violations(Rule("pkg", "pkg.low", "test"), tmp_path)
    assert found == [
        "pkg/inner.py:2: imports pkg.low.thing",
        "pkg/sub/__init__.py:1: imports pkg.low",
        "pkg/top.py:2: imports pkg.low.deep",
    ]
