"""Operator accounts without Asterisk: the rules (every problem named by field), the store
(all-or-nothing, secrets shown once and kept only as digests) and what is rendered for them."""

from __future__ import annotations

import hashlib

import pytest

from ivr import config
from ivr.asterisk.render import OperatorLine, RenderError, render
from ivr.db import ready
from ivr.flow.loader import load_dialplan
from ivr.operators import rules
from ivr.operators.rules import AccountError, AccountSpec
from ivr.operators.store import OperatorStore, rights


@pytest.fixture(scope="module")
def dialplan():
    return load_dialplan(config.ROOT / "dialplans" / "example-city.yaml")


@pytest.fixture
def store(tmp_path, dialplan):
    return OperatorStore(ready(f"sqlite:///{tmp_path / 'city.db'}"), lambda: dialplan)


def spec(ext="201", name="Anna Rossi", langs=("it",), skills=(("operatore", 1),)):
    return AccountSpec(ext, name, tuple(langs), tuple(skills))


def fields(err: AccountError) -> list[str]:
    return [p.field for p in err.problems]


@pytest.mark.parametrize(
    ("bad", "field", "words"),
    [
        (spec(ext="20"), "extension", "3 to 6 digits"),
        (spec(ext="801"), "extension", "department codes"),
        (spec(ext="*11"), "extension", "3 to 6 digits"),
        (spec(ext="020202"), "extension", "3 to 6 digits"),
        (spec(name='Anna "<sip:x>"'), "name", "'\"'"),
        (spec(name="Anna;\nRossi"), "name", "';'"),
        (spec(name="   "), "name", "a name is needed"),
        (spec(langs=()), "languages", "at least one"),
        (spec(langs=("it", "xx")), "languages", "'xx'"),
        (spec(skills=(("nowhere", 1),)), "skills", "'nowhere' is not a department"),
        (spec(skills=(("operatore", 0),)), "skills", "1 to 9"),
    ],
)
def test_a_bad_account_is_refused_naming_the_field(store, bad, field, words):
    with pytest.raises(AccountError) as err:
        store.add(bad)
    assert field in fields(err.value)
    assert words in str(err.value)
    assert store.accounts() == []  # nothing half-applied


def test_the_city_number_and_a_taken_extension_are_refused(tmp_path, dialplan):
    store = OperatorStore(
        ready(f"sqlite:///{tmp_path / 'city.db'}"), lambda: dialplan, taken=lambda: {"555"}
    )
    number_like = rules.check(
        spec(ext="2020"),
        departments=set(dialplan.departments),
        languages=set(dialplan.languages),
        city_numbers={"2020"},
    )
    assert [str(p) for p in number_like] == ["extension: 2020 is the city's number"]
    store.add(spec())
    for ext in ("201", "555"):
        with pytest.raises(AccountError, match="already in use"):
            store.add(spec(ext=ext, name="Someone Else"))
    assert [a.extension for a in store.accounts()] == ["201"]


def test_the_secret_is_shown_once_and_only_its_digest_is_stored(store, tmp_path):
    secret = store.add(spec())
    assert len(secret) >= 24
    digest = hashlib.md5(f"201:{rules.REALM}:{secret}".encode()).hexdigest()
    (line,) = store.lines()
    assert line.digest == digest
    raw = b"".join(f.read_bytes() for f in tmp_path.glob("city.db*"))  # the WAL too
    assert secret.encode() not in raw and digest.encode() in raw
    rotated = store.rotate("201")
    assert rotated != secret and store.lines()[0].digest != digest


def test_language_first_penalties_and_disabled_accounts(store, dialplan):
    store.add(spec("201", "Anna Rossi", ("it", "en"), (("operatore", 1), ("tributi", 2))))
    store.add(spec("202", "John Smith", ("en",), (("operatore", 1),)))
    store.add(spec("203", "Off Duty", ("it",), (("operatore", 1),)))
    store.set_enabled("203", False)
    lines = {line.extension: line for line in store.lines()}
    assert set(lines) == {"201", "202"}
    queue = dialplan.departments["operatore"].queue
    assert dict(lines["201"].rights)[queue] == 0
    assert dict(lines["201"].rights)[dialplan.departments["tributi"].queue] == 1
    assert dict(lines["202"].rights)[queue] == rules.NOT_SPEAKING  # not the city's language
    assert dict(lines["202"].rights)[f"{queue}_en"] == 0  # first for English callers
    assert dict(lines["201"].rights)[f"{queue}_en"] == 0


def test_update_keeps_the_extension_and_checks_everything(store):
    store.add(spec())
    store.update("201", spec(name="Anna Maria Rossi", langs=("it", "fr")))
    (account,) = store.accounts()
    assert account.name == "Anna Maria Rossi" and account.languages == ("it", "fr")
    with pytest.raises(AccountError) as err:
        store.update("201", spec(name="x<y", langs=("zz",)))
    assert fields(err.value) == ["name", "languages"]
    assert store.accounts()[0].name == "Anna Maria Rossi"
    with pytest.raises(AccountError, match="cannot be changed"):
        store.update("201", spec(ext="202"))


def test_skills_and_languages_from_text():
    assert rules.parse_skills("tributi:1, anagrafe:2,waste") == (
        ("tributi", 1),
        ("anagrafe", 2),
        ("waste", 1),
    )
    with pytest.raises(AccountError, match="'tributi:x'"):
        rules.parse_skills("tributi:x")
    assert rules.parse_languages(" IT, en ,") == ("it", "en")


def test_rendered_accounts_carry_digests_rights_and_no_secret(dialplan, tmp_path):
    queue = dialplan.departments["operatore"].queue
    line = OperatorLine("201", "Anna Rossi", "0" * 32, ((queue, 0),))
    render(dialplan, config.load(), tmp_path, operators=[line])
    pjsip = (tmp_path / "pjsip_operators.conf").read_text()
    assert "[201](operator-endpoint)" in pjsip
    assert "password_digest = MD5:" + "0" * 32 in pjsip
    assert '"Anna Rossi" <201>' in pjsip
    assert "password =" not in (tmp_path / "pjsip.conf").read_text()
    extensions = (tmp_path / "extensions_nu.conf").read_text()
    assert f"exten => 201_{queue},1,Return(0)" in extensions
    assert "exten => 201,1,Dial(PJSIP/201,30)" in extensions
    render(dialplan, config.load(), tmp_path, operators=[])
    assert "[201]" not in (tmp_path / "pjsip_operators.conf").read_text()


@pytest.mark.parametrize(
    "line",
    [
        OperatorLine("20;1", "A", "0" * 32),
        OperatorLine("201", "A", "secret-in-clear"),
        OperatorLine("201", "A", "0" * 32, (("nowhere", 0),)),
        OperatorLine("201", "A", "0" * 32, (("operatore", -1),)),
    ],
)
def test_unsafe_operator_lines_are_not_rendered(dialplan, line, tmp_path):
    with pytest.raises(RenderError):
        render(dialplan, config.load(), tmp_path, operators=[line])
    assert not (tmp_path / "pjsip_operators.conf").exists()


def test_shared_queues_take_the_better_penalty(dialplan):
    from ivr.operators.store import Account

    account = Account("201", "A", ("it",), (("operatore", 3), ("operatore", 1)), True, None)
    queue = dialplan.departments["operatore"].queue
    given = dict(rights(dialplan, account))
    assert (given[queue], given[f"{queue}_en"]) == (0, rules.NOT_SPEAKING)


def test_a_desk_user_has_one_account_and_tls_accounts_render_on_the_tls_template(
    store, dialplan, tmp_path
):
    store.add(AccountSpec("201", "Anna Rossi", ("it",), (("operatore", 1),), username="anna"))
    with pytest.raises(AccountError, match="already has the desk of 201"):
        store.add(AccountSpec("202", "Bea Verdi", ("it",), (("operatore", 1),), username="anna"))
    assert store.for_user("anna").extension == "201"
    store.add(AccountSpec("203", "Remote Worker", ("it",), (("operatore", 1),), tls=True))
    render(dialplan, config.load(), tmp_path, operators=store.lines())
    pjsip = (tmp_path / "pjsip_operators.conf").read_text()
    assert "[203](operator-endpoint-tls)" in pjsip and "[201](operator-endpoint)" in pjsip


def test_the_command_line_adds_shows_the_secret_once_and_names_bad_fields(
    tmp_path, monkeypatch, capsys
):
    import subprocess

    from ivr.cli import main

    monkeypatch.setenv("NU_DATABASE_URL", f"sqlite:///{tmp_path / 'city.db'}")
    monkeypatch.setenv("NU_ASTERISK_ETC", str(tmp_path / "no-asterisk"))  # files only
    monkeypatch.setenv("NU_VAR_DIR", str(tmp_path / "var"))

    def ivr(*args: str) -> subprocess.CompletedProcess[str]:
        """``ivr operators ...`` as the console script runs it (its ``main``), in this process:
        a new interpreter per command cost seconds of imports each on a loaded machine."""
        code = main(["operators", *args])
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(["ivr", "operators", *args], code, out, err)

    added = ivr(
        "add",
        "201",
        "--name",
        "Anna Rossi",
        "--languages",
        "it,en",
        "--departments",
        "operatore:1,tributi:2",
    )
    assert added.returncode == 0, added.stderr
    secret = added.stdout.split("keep it): ")[1].split()[0]
    listed = ivr("list")
    assert "Anna Rossi" in listed.stdout and "operatore:1, tributi:2" in listed.stdout
    assert secret not in listed.stdout
    bad = ivr("add", "8", "--name", "Bad<Name>", "--languages", "xx", "--departments", "nowhere")
    assert bad.returncode == 1
    for field in ("extension:", "name:", "languages:", "skills:"):
        assert f"operator 8: {field}" in bad.stdout
    assert "nothing was changed" in bad.stdout
    assert ivr("disable", "201").returncode == 0
    assert "disabled" in ivr("list").stdout


def test_ivr_asterisk_render_renders_the_databases_accounts(tmp_path, dialplan):
    import os
    import subprocess
    import sys

    url = f"sqlite:///{tmp_path / 'city.db'}"
    OperatorStore(ready(url), lambda: dialplan).add(spec())
    out = tmp_path / "etc"
    done = subprocess.run(
        [sys.executable, "-m", "ivr", "asterisk", "render", "--out", str(out)],
        env={**os.environ, "NU_DATABASE_URL": url, "NU_VAR_DIR": str(tmp_path / "var")},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "(1 operator accounts)" in done.stdout
    assert "[201](operator-endpoint)" in (out / "pjsip_operators.conf").read_text()
