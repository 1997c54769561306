"""The ``NU_*`` channel-variable names live in one module (ivr/asterisk/variables.py).

The static Asterisk files keep their literal names; every name they (and the rendered files) use
is declared in the module, every declared name is used there, and the Python modules that set,
write or originate with them spell none of them out.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from ivr import config
from ivr.asterisk import variables as V
from ivr.asterisk.render import render
from ivr.flow.loader import load_dialplan

NAME = re.compile(r"(?<![A-Za-z0-9])NU_[A-Z0-9]+(?:_[A-Z0-9]+)*")
DECLARED = {v for k, v in vars(V).items() if k.isupper() and isinstance(v, str)}
PREFIXES = {name for name in DECLARED if name.endswith("_")}  # NU_CTX_<key>
USERS = (
    "ivr/agi/courtesy.py",
    "ivr/agi/runner.py",
    "ivr/agi/server.py",
    "ivr/asterisk/render.py",
    "ivr/callbacks/worker.py",
)


@pytest.fixture(scope="module")
def used(tmp_path_factory) -> dict[str, set[str]]:
    """NU_* names by file: the static files as installed, and the rendered ones."""
    dialplan = load_dialplan(config.ROOT / "dialplans" / "example-city.yaml")
    out = tmp_path_factory.mktemp("etc")
    written = render(dialplan, config.load(), out, ami_port=6038, sip_port=6060, agi_port=4999)
    found = {p.name: set(NAME.findall(p.read_text())) for p in written}
    return {name: names for name, names in found.items() if names}


def test_the_dialplan_files_use_the_names_we_expect(used):
    assert {"extensions.conf", "extensions_nu.conf", "manager.conf"} <= set(used)


def test_every_name_the_asterisk_files_use_is_declared(used):
    for name, names in used.items():
        assert names <= DECLARED, f"{name}: not in ivr/asterisk/variables.py: {names - DECLARED}"


def test_every_declared_name_is_used(used):
    everywhere = set().union(*used.values())
    for name in DECLARED - PREFIXES:
        assert name in everywhere, f"{name} is declared but no Asterisk file uses it"
    for prefix in PREFIXES:
        assert any(n.startswith(prefix) for n in everywhere), f"{prefix}* is never used"


def _docstrings(tree: ast.AST) -> set[int]:
    kinds = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
    return {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, kinds)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }


@pytest.mark.parametrize("path", USERS)
def test_the_python_side_spells_no_name_out(path):
    tree = ast.parse((config.ROOT / Path(path)).read_text(encoding="utf-8"))
    docs = _docstrings(tree)
    literals = [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docs
        and NAME.search(node.value)
    ]
    assert literals == [], f"{path}: use ivr.asterisk.variables instead of {literals}"
