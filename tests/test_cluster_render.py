"""A cluster node's and Kamailio's configuration (no Asterisk; the real kamailio checks its own).

The calls themselves go through tests/test_cluster_failover.py."""

from __future__ import annotations

import dataclasses
import re
import subprocess

import pytest

from ivr import config
from ivr.admin.publish import current_render_options
from ivr.asterisk.render import RenderError, render
from ivr.devenv.cluster import kamailio_binary, render_kamailio
from ivr.flow.loader import load_dialplan


@pytest.fixture(scope="module")
def dialplan():
    return load_dialplan(config.ROOT / "dialplans" / "example-city.yaml")


def _settings(**kw):
    return dataclasses.replace(config.load(), **kw)


def test_a_single_node_has_no_proxy_and_no_fallback(dialplan, tmp_path):
    render(dialplan, _settings(agi_fallbacks=""), tmp_path, agi_port=4999)
    cluster = (tmp_path / "pjsip_cluster.conf").read_text()
    assert not re.search(r"^\[", cluster, re.M)  # only comments
    assert "#tryinclude pjsip_cluster.conf" in (tmp_path / "pjsip.conf").read_text()
    assert re.search(r"^NU_AGI_FALLBACKS=$", (tmp_path / "extensions_nu.conf").read_text(), re.M)
    assert "proxy_port" not in current_render_options(tmp_path)


def test_a_cluster_node_knows_kamailio_and_the_other_fastagi_services(dialplan, tmp_path):
    settings = _settings(agi_fallbacks="127.0.0.1:4600, agi2.example.org:4573")
    render(dialplan, settings, tmp_path, agi_port=4999, proxy_port=5070)
    cluster = (tmp_path / "pjsip_cluster.conf").read_text()
    assert "[cluster-proxy](trunk-endpoint)" in cluster  # calls land in from-pstn
    assert "match = 127.0.0.1:5070" in cluster  # Kamailio's address *and* port
    ext = (tmp_path / "extensions_nu.conf").read_text()
    assert "NU_AGI_URL=agi://127.0.0.1:4999" in ext
    assert "NU_AGI_FALLBACKS=agi://127.0.0.1:4600|agi://agi2.example.org:4573" in ext
    # a publication from the admin renders the node as it was: still behind Kamailio
    options = current_render_options(tmp_path)
    assert options["proxy_port"] == 5070
    assert options["agi_fallbacks"] == "127.0.0.1:4600,agi2.example.org:4573"


@pytest.mark.parametrize("bad", ["127.0.0.1", "host:port", "a;b:4573", "127.0.0.1:70000"])
def test_a_bad_fastagi_fallback_is_refused(dialplan, tmp_path, bad):
    with pytest.raises(RenderError):
        render(dialplan, _settings(agi_fallbacks=bad), tmp_path)


def test_kamailio_accepts_its_rendered_configuration(tmp_path):
    cfg = render_kamailio(tmp_path, 5070, [5080, 5090])
    text = cfg.read_text()
    assert not re.search(r"@[A-Z][A-Z0-9_]*@", text)
    assert "listen=udp:127.0.0.1:5070" in text and "debug=-1" in text
    assert not re.search(r"^[^#]*xlog", text, re.M)  # nothing of a request is ever logged
    nodes = (tmp_path / "dispatcher.list").read_text()
    assert "1 sip:127.0.0.1:5080 0 0" in nodes and "1 sip:127.0.0.1:5090 0 0" in nodes
    # the real kamailio (bootstrap installs it: missing is an error, never a skip)
    check = subprocess.run([kamailio_binary(), "-c", "-f", str(cfg)], capture_output=True)
    assert check.returncode == 0, check.stderr.decode()[-2000:]
