"""Dialplan checks: each broken file is named with its line and node."""

import textwrap
from pathlib import Path

import pytest

from ivr.flow.issues import DialplanError
from ivr.flow.loader import load_dialplan, parse_dialplan
from ivr.flow.validate import validate

ROOT = Path(__file__).resolve().parent.parent
PROMPTS = ROOT / "prompts"

HEAD = """\
number: "020202"
languages: [it, en]
general_operator: op
departments:
  op: {names: {it: Operatore, en: Operator}, hours: always}
  anagrafe: {names: {it: Anagrafe, en: Registry}, hours: {mon-fri: ["08:30-12:30"]}}
nodes:
"""


def check(nodes: str, prompts: Path | None = None) -> list[str]:
    text = HEAD + textwrap.indent(textwrap.dedent(nodes).lstrip("\n"), "  ")
    dialplan, issues = parse_dialplan(text, "city.yaml")
    if dialplan is not None:
        issues += validate(dialplan, prompts_dir=prompts)
    return [str(i) for i in sorted(issues)]


def test_example_city_is_valid():
    dialplan = load_dialplan(ROOT / "dialplans" / "example-city.yaml", PROMPTS)
    assert dialplan.number == "020202"
    assert set(dialplan.languages) == {"it", "en", "fr", "es", "de", "zh", "ar"}
    main = dialplan.nodes["principale"]
    assert set(main.options) == {"1", "2", "3", "4", "5", "6", "8", "9", "*"} and main.repeat == "0"


def test_unknown_node():
    out = check("""
    main: {type: menu, prompt: main_menu, options: {"1": nowhere}}
    """)
    assert out == ["city.yaml:8: node 'main': goes to unknown node 'nowhere'"]


def test_unknown_department():
    out = check("""
    main: {type: menu, prompt: main_menu, options: {"1": t}}
    t: {type: transfer, department: tributi}
    """)
    assert out == ["city.yaml:9: node 't': transfer to unknown department 'tributi'"]


def test_digit_used_twice():
    out = check("""
    main:
      type: menu
      prompt: main_menu
      options:
        "1": op
        "1": op
      repeat: "1"
    op: {type: transfer, department: op}
    """)
    assert "city.yaml:13: digit 1 used twice" in out
    assert "city.yaml:14: node 'main': digit 1 used twice" in out


def test_unreachable_node():
    out = check("""
    main: {type: menu, prompt: main_menu, options: {"9": op}}
    op: {type: transfer, department: op}
    lost: {type: transfer, department: anagrafe}
    """)
    assert out == [
        "city.yaml:10: node 'lost': unreachable: no path leads here from start node 'main'"
    ]


def test_loop_with_no_exit():
    out = check("""
    a: {type: play, prompts: [welcome], next: b}
    b: {type: goto, next: a}
    """)
    assert out == [
        "city.yaml:8: node 'a': loop with no exit: a -> b -> a never waits for the caller"
    ]


def test_loop_through_a_menu_is_fine():
    out = check("""
    main: {type: menu, prompt: main_menu, options: {"1": info, "9": op}}
    info: {type: play, prompts: [welcome], next: main}
    op: {type: transfer, department: op}
    """)
    assert out == []


def test_missing_prompt_in_a_language(tmp_path):
    (tmp_path / "it.yaml").write_text((PROMPTS / "it.yaml").read_text() + "extra: Solo italiano\n")
    (tmp_path / "en.yaml").write_text((PROMPTS / "en.yaml").read_text())
    out = check(
        """
    main: {type: menu, prompt: extra, options: {"9": op}}
    op: {type: transfer, department: op}
    """,
        prompts=tmp_path,
    )
    assert out == ["city.yaml:8: node 'main': prompt 'extra' missing in language 'en'"]


def test_shape_errors_are_all_reported_with_lines():
    out = check("""
    main: {type: menu, prompt: main_menu, options: {"12": op, "x": op}, colour: red}
    op: {type: transferr, department: op}
    """)
    assert "city.yaml:8: node 'main': option '12' is not a single phone key (0-9, *, #)" in out
    assert "city.yaml:8: node 'main': option 'x' is not a single phone key (0-9, *, #)" in out
    assert "city.yaml:8: node 'main': 'colour' is not a field of a menu node" in out
    assert any("node 'op': unknown type 'transferr'" in line for line in out)


def test_bad_hours_and_times():
    text = HEAD.replace('["08:30-12:30"]', '["12:30-08:30", "9-5"]') + (
        "  op_t: {type: transfer, department: op}\n"
    )
    _, issues = parse_dialplan(text, "city.yaml")
    messages = [str(i) for i in issues]
    assert "city.yaml:6: anagrafe: '12:30-08:30' ends before it starts" not in messages
    assert any("'12:30-08:30' ends before it starts" in m for m in messages)
    assert any("'9-5' is not a range" in m for m in messages)


def test_invalid_yaml_names_the_line():
    _, issues = parse_dialplan("nodes: [\n  a: b\n", "bad.yaml")
    assert len(issues) == 1 and str(issues[0]).startswith("bad.yaml:")
    assert "not valid YAML" in str(issues[0])


def test_load_dialplan_raises_with_every_issue(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text(HEAD + '  main: {type: menu, prompt: main_menu, options: {"1": x, "2": y}}\n')
    with pytest.raises(DialplanError) as err:
        load_dialplan(path)
    assert len(err.value.issues) == 2


def test_cli_check_exit_codes(tmp_path, monkeypatch, capsys):
    from ivr.cli import main

    monkeypatch.setenv("NU_VAR_DIR", str(tmp_path / "var"))
    assert main(["dialplan", "check", str(ROOT / "dialplans/example-city.yaml")]) == 0
    capsys.readouterr()
    broken = tmp_path / "broken.yaml"
    broken.write_text(HEAD + '  main: {type: menu, prompt: main_menu, options: {"1": x}}\n')
    assert main(["dialplan", "check", str(broken)]) == 1
    out, err = capsys.readouterr()
    assert f"{broken}:8: node 'main': goes to unknown node 'x'" in out + err
