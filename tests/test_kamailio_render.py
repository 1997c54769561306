"""Kamailio's configuration for a production host (``ivr kamailio render``) and a node behind
it (``ivr asterisk render`` with ``NU_KAMAILIO_LISTEN``); the real kamailio checks the file.

The accounts reaching a running Kamailio: tests/test_cluster_accounts.py."""

from __future__ import annotations

import os
import re
import subprocess

import pytest

from ivr import config
from ivr.admin.publish import current_render_options
from ivr.cli import main
from ivr.devenv.cluster import kamailio_binary
from ivr.flow.loader import load_dialplan
from ivr.kamailio.render import (
    ACCOUNTS_TABLE,
    KamailioConfigError,
    accounts_table,
    parse_listen,
    parse_nodes,
    write_accounts,
)
from ivr.operators.rules import AccountSpec, digest

EXAMPLE = config.ROOT / "dialplans" / "example-city.yaml"


@pytest.fixture
def city(tmp_path, monkeypatch):
    """Production-like settings in the environment, a city database with one operator."""
    from ivr.db import ready
    from ivr.operators.store import OperatorStore

    var = tmp_path / "var"
    var.mkdir()
    env = {
        "NU_VAR_DIR": str(var),
        "NU_DIALPLAN": str(EXAMPLE),
        "NU_DATABASE_URL": f"sqlite:///{var / 'city.db'}",
        "NU_KAMAILIO_LISTEN": "192.0.2.10:5060",
        "NU_KAMAILIO_NODES": "10.0.0.11:5060, asterisk-b.comune.example.it:5080",
        "NU_KAMAILIO_ACCOUNTS": str(tmp_path / "accounts"),
        "NU_KAMAILIO_CTL": "",
        "NU_SIP_TLS_CERT": "",
        "NU_SIP_TLS_KEY": "",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    dialplan = load_dialplan(EXAMPLE)
    store = OperatorStore(ready(env["NU_DATABASE_URL"]), lambda: dialplan)
    spec = AccountSpec("201", "Anna", ("it",), ((dialplan.general_operator, 1),))
    return tmp_path, store.add(spec)


def test_ivr_kamailio_render_writes_what_debian_kamailio_accepts(city, capsys):
    tmp_path, secret = city
    out = tmp_path / "etc-kamailio"
    assert main(["kamailio", "render", "--out", str(out)]) == 0
    cfg = (out / "kamailio.cfg").read_text()
    assert not re.search(r"@[A-Z][A-Z0-9_]*@", cfg)
    assert "listen=udp:192.0.2.10:5060" in cfg
    assert "log_stderror=no" in cfg and "debug=-1" in cfg  # errors only, to the journal
    assert 'modparam("ctl", "binrpc", "unix:/run/kamailio/kamailio_ctl")' in cfg
    assert f'"text://{tmp_path / "accounts"}"' in cfg
    nodes = (out / "dispatcher.list").read_text()
    assert "1 sip:10.0.0.11:5060 0 0" in nodes
    assert "1 sip:asterisk-b.comune.example.it:5080 0 0" in nodes
    table = tmp_path / "accounts" / ACCOUNTS_TABLE
    assert table.read_text().splitlines()[1] == f"201:0:0:{digest('201', secret)}:0"
    assert secret not in table.read_text()
    assert table.stat().st_mode & 0o777 == 0o640  # Kamailio's group reads it, nobody else
    assert "1 operator accounts" in capsys.readouterr().out
    # Debian's kamailio checks its own configuration (missing: an error, never a skip)
    check = subprocess.run([kamailio_binary(), "-c", "-f", str(out / "kamailio.cfg")])
    assert check.returncode == 0


@pytest.mark.parametrize(
    ("name", "value", "said"),
    [
        ("NU_KAMAILIO_LISTEN", "", "NU_KAMAILIO_LISTEN is empty"),
        ("NU_KAMAILIO_LISTEN", "0.0.0.0:5060", "'0.0.0.0' is not one address"),
        ("NU_KAMAILIO_LISTEN", "proxy.example.it:5060", "'proxy.example.it' is not an IPv4"),
        ("NU_KAMAILIO_LISTEN", "192.0.2.10", "'192.0.2.10' is not address:port"),
        ("NU_KAMAILIO_LISTEN", "192.0.2.10:70000", "'70000' is not a port"),
        ("NU_KAMAILIO_NODES", "", "NU_KAMAILIO_NODES is empty"),
        ("NU_KAMAILIO_NODES", "10.0.0.11", "'10.0.0.11' is not host:port"),
        ("NU_KAMAILIO_NODES", "10.0.0.11:5060,10.0.0.11:5060", "'10.0.0.11:5060' is named twice"),
        ("NU_KAMAILIO_NODES", 'a";exit;#:5060', "neither an IPv4 address nor a host name"),
        ("NU_KAMAILIO_NODES", "10.0.0.300:5060", "'10.0.0.300' is neither"),
        ("NU_KAMAILIO_ACCOUNTS", "", "NU_KAMAILIO_ACCOUNTS is empty"),
        ("NU_KAMAILIO_ACCOUNTS", "var/accounts", "'var/accounts' is not absolute"),
        ("NU_SIP_TLS_CERT", "/etc/kamailio/cert.pem", "go together"),
    ],
)
def test_a_bad_setting_is_named_and_nothing_written(city, capsys, monkeypatch, name, value, said):
    tmp_path, _ = city
    monkeypatch.setenv(name, value)
    out = tmp_path / "etc-kamailio"
    assert main(["kamailio", "render", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert name in err and said in err, err
    assert not out.exists()


def test_a_node_behind_the_citys_kamailio_knows_its_address(city, capsys):
    tmp_path, _ = city
    etc = tmp_path / "etc-asterisk"
    assert main(["asterisk", "render", "--out", str(etc)]) == 0
    assert "behind Kamailio at 192.0.2.10:5060" in capsys.readouterr().out
    cluster = (etc / "pjsip_cluster.conf").read_text()
    assert "match = 192.0.2.10:5060" in cluster  # its calls land in from-pstn
    operators = (etc / "pjsip_operators.conf").read_text()
    assert "[201](operator-aor)\ncontact = sip:201@192.0.2.10:5060\n" in operators
    # a publication renders the node as it was: behind the same Kamailio
    options = current_render_options(etc)
    assert (options["proxy_host"], options["proxy_port"]) == ("192.0.2.10", 5060)


def test_parsers_name_what_they_refuse():
    assert parse_listen("192.0.2.10:5060") == ("192.0.2.10", 5060)
    assert parse_nodes("a.example:5060 10.0.0.2:5061") == [("a.example", 5060), ("10.0.0.2", 5061)]
    with pytest.raises(KamailioConfigError, match="NU_KAMAILIO_NODES"):
        parse_nodes("10.0.0.2:0")


def test_kamailio_gets_digests_never_anything_else(tmp_path):
    table = accounts_table({"201": "a" * 32})
    assert table.splitlines()[1:] == ["201:0:0:" + "a" * 32 + ":0"]
    assert accounts_table({}).count("\n") == 1  # the header: no account registers
    for bad in ({"201": "secret"}, {"201:0:0:" + "b" * 32: "a" * 32}, {"2x1": "a" * 32}):
        with pytest.raises(KamailioConfigError):
            accounts_table(bad)


def test_every_change_of_the_table_is_seen_even_within_a_second(tmp_path):
    """db_text notices a changed table by its modification time in whole seconds."""
    assert write_accounts(tmp_path, {"201": "a" * 32})
    first = os.stat(tmp_path / ACCOUNTS_TABLE).st_mtime
    assert write_accounts(tmp_path, {"202": "b" * 32})
    second = os.stat(tmp_path / ACCOUNTS_TABLE).st_mtime
    assert int(second) > int(first)
    assert not write_accounts(tmp_path, {"202": "b" * 32})  # the same: not written again
    assert os.stat(tmp_path / ACCOUNTS_TABLE).st_mtime == second


def test_tls_for_operators_on_the_sip_port_plus_one(city, monkeypatch, capsys):
    tmp_path, _ = city
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"]
        + ["-subj", "/CN=192.0.2.10", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    monkeypatch.setenv("NU_SIP_TLS_CERT", str(cert))
    monkeypatch.setenv("NU_SIP_TLS_KEY", str(key))
    out = tmp_path / "etc-kamailio"
    assert main(["kamailio", "render", "--out", str(out)]) == 0
    assert "TLS on port 5061" in capsys.readouterr().out
    cfg = (out / "kamailio.cfg").read_text()
    assert "#!define WITH_TLS" in cfg and "listen=tls:192.0.2.10:5061" in cfg
    tls = (out / "tls.cfg").read_text()
    assert f"certificate = {cert}" in tls and f"private_key = {key}" in tls
    assert "method = TLSv1.2+" in tls
    check = subprocess.run([kamailio_binary(), "-c", "-f", str(out / "kamailio.cfg")])
    assert check.returncode == 0
    # without a certificate: no TLS listener, no tls module to load
    monkeypatch.setenv("NU_SIP_TLS_CERT", "")
    monkeypatch.setenv("NU_SIP_TLS_KEY", "")
    assert main(["kamailio", "render", "--out", str(out)]) == 0
    cfg = (out / "kamailio.cfg").read_text()
    assert "#!define WITH_TLS" not in cfg
