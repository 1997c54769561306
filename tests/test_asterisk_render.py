"""Rendering the Asterisk configuration: complete, stable, and injection-safe (no Asterisk)."""

from __future__ import annotations

import dataclasses
import re

import pytest

from ivr import config
from ivr.asterisk.render import (
    GENERATED,
    STATIC_DIR,
    RenderError,
    clean_text,
    department_codes,
    read_ami_credentials,
    render,
)
from ivr.flow.loader import load_dialplan

HOSTILE = [
    "Anagrafe\n[evil]\nexten => _X.,1,System(rm -rf /)",
    "Tributi; comment ${SHELL(id)} $[1+1]",
    "Uffici, (sportello) & \"cose\" = 'x' | y\r\nAction: Originate",
    "Ufficio\x00\x1b[31m\u2028Nuova riga\u0085fine",
]


@pytest.fixture(scope="module")
def dialplan():
    return load_dialplan(config.ROOT / "dialplans" / "example-city.yaml")


def _with_department(dialplan, dept_id, **changes):
    dept = dataclasses.replace(dialplan.departments[dept_id], **changes)
    return dataclasses.replace(dialplan, departments={**dialplan.departments, dept_id: dept})


def _settings(**kw):
    return dataclasses.replace(config.load(), **kw)


def test_renders_every_static_file_plus_the_generated_ones(dialplan, tmp_path):
    written = render(dialplan, _settings(), tmp_path, ami_port=6038, sip_port=6060, agi_port=4999)
    names = {p.name for p in written}
    static = {p.name for p in STATIC_DIR.glob("*.conf")}
    assert names == static | set(GENERATED)
    for path in written:
        assert not re.search(r"@[A-Z][A-Z0-9_]*@", path.read_text()), path.name

    ext = (tmp_path / "extensions_nu.conf").read_text()
    assert "exten => 020202,1,Goto(nu-ivr,s,1)" in ext
    assert "NU_AGI_URL=agi://127.0.0.1:4999" in ext
    assert "NU_LANGS=it|en" in ext and "NU_DEFAULT_LANG=it" in ext
    assert "NU_GENERAL_QUEUE=operatore" in ext
    queues = (tmp_path / "queues.conf").read_text()
    for dept in dialplan.departments.values():
        assert f"exten => {dept.queue},1," in ext
        assert re.search(rf"^\[{dept.queue}\]\(nu-(department|general)\)$", queues, re.M)
    assert "[operatore](nu-general)" in queues
    assert "port = 6038" in (tmp_path / "manager.conf").read_text()
    assert "bind = 127.0.0.1:6060" in (tmp_path / "pjsip.conf").read_text()
    creds = read_ami_credentials(tmp_path)
    assert (creds.port, creds.username) == (6038, "numero-unico")
    assert len(creds.secret) >= 16


def test_secrets_are_generated_once_and_kept_on_re_render(dialplan, tmp_path):
    render(dialplan, _settings(), tmp_path)
    first = read_ami_credentials(tmp_path).secret
    render(dialplan, _settings(), tmp_path)
    assert read_ami_credentials(tmp_path).secret == first
    assert "password" not in (tmp_path / "pjsip.conf").read_text()  # operators: their own
    render(dialplan, _settings(), tmp_path, ami_secret="explicit-secret-1")
    assert read_ami_credentials(tmp_path).secret == "explicit-secret-1"


def test_department_codes_follow_the_yaml_order(dialplan, tmp_path):
    codes = department_codes(dialplan)
    assert list(codes.items())[:2] == [("anagrafe", "01"), ("tributi", "02")]
    render(dialplan, _settings(), tmp_path)
    ext = (tmp_path / "extensions_nu.conf").read_text()
    assert "exten => *1102,1,NoOp(Log in to Tributi)" in ext
    assert " same => n,Gosub(nu-join,s,1(tributi_en))" in ext  # a language twin, silently
    assert " same => n,Gosub(nu-login,s,1(tributi))" in ext
    assert "exten => 802,1,Set(NU_REASON=transfer)" in ext


def test_departments_sharing_a_queue_get_one_queue(dialplan, tmp_path):
    shared = _with_department(dialplan, "sociali", queue="anagrafe")
    render(shared, _settings(), tmp_path)
    queues = (tmp_path / "queues.conf").read_text()
    assert queues.count("[anagrafe](") == 1
    assert "[sociali](" not in queues


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_department_names_cannot_inject(dialplan, tmp_path, name):
    hostile = _with_department(dialplan, "anagrafe", names={"it": name, "en": name})
    hostile = dataclasses.replace(hostile, city=name)
    written = render(hostile, _settings(), tmp_path)
    baseline = render(dialplan, _settings(), tmp_path / "base")
    for path, base in zip(written, baseline, strict=True):
        text = path.read_text()
        # Same number of lines as with honest names: nothing added a line or a section.
        assert len(text.splitlines()) == len(base.read_text().splitlines()), path.name
        for needle in ("${SHELL", "$[1+1]", "[evil]", "System(", "\r", "\x00", "\x1b", "\u2028"):
            assert needle not in text, (path.name, needle)
        assert not re.search(r"^Action:", text, re.M)
    ext = (tmp_path / "extensions_nu.conf").read_text()
    label = re.search(r"^exten => anagrafe,1,Set\(NU_QUEUE_LABEL=(.*)\)$", ext, re.M)
    assert label and re.fullmatch(r"[\w .'/-]+", label[1])


@pytest.mark.parametrize(
    "changes",
    [
        {"queue": "anagrafe;x"},
        {"queue": "Anagrafe"},
        {"queue": "a,b"},
        {"queue": "a\nexten"},
        {"queue": "${X}"},
        {"queue": ""},
        {"id": "bad id"},
    ],
)
def test_bad_identifiers_are_refused(dialplan, tmp_path, changes):
    with pytest.raises(RenderError):
        render(_with_department(dialplan, "anagrafe", **changes), _settings(), tmp_path)


@pytest.mark.parametrize(
    "top",
    [
        {"number": "020202\nexten => s,1,Hangup"},
        {"number": "_X."},
        {"number": "020202;x"},
        {"languages": ("it", "en|x")},
        {"default_language": "it)"},
        {"general_operator": "nessuno"},
    ],
)
def test_bad_dialplan_values_are_refused(dialplan, tmp_path, top):
    with pytest.raises(RenderError):
        render(dataclasses.replace(dialplan, **top), _settings(), tmp_path)


@pytest.mark.parametrize(
    "kw",
    [
        {"ami_port": 0},
        {"ami_port": "5038\nbindaddr=0.0.0.0"},
        {"sip_port": 70000},
        {"agi_host": "127.0.0.1/evil,x"},
        {"agi_host": "host\n"},
        {"ami_user": "admin]\n[x"},
        {"ami_secret": "short"},
        {"ami_secret": "long-enough-but;comment"},
        {"sounds_path": "/var/lib/nu sounds"},
        {"sounds_path": "relative/path"},
        {"sounds_path": "/x/${EVIL}"},
        {"queue_timeout": -1},
    ],
)
def test_bad_render_parameters_are_refused(dialplan, tmp_path, kw):
    with pytest.raises(RenderError):
        render(dialplan, _settings(), tmp_path, **kw)


def test_unknown_placeholder_in_a_static_file_is_an_error(dialplan, tmp_path):
    static = tmp_path / "static"
    static.mkdir()
    (static / "extensions.conf").write_text("[x]\nexten => s,1,NoOp(@NOT_A_TOKEN@)\n")
    with pytest.raises(RenderError, match="NOT_A_TOKEN"):
        render(dialplan, _settings(), tmp_path / "out", static_dir=static)


def test_clean_text_keeps_names_readable():
    assert clean_text("Mobilità e trasporti") == "Mobilità e trasporti"
    assert clean_text("Sant'Ambrogio / S. Ambrogio") == "Sant'Ambrogio / S. Ambrogio"
    assert clean_text("a;b\nc${d}") == "a b c d"
    assert clean_text("x" * 100, 10) == "x" * 10
