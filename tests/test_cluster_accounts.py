"""Operator accounts reach a running Kamailio without a restart (issue 15, "Two nodes").

A real Kamailio in front of a real Asterisk node, started with no operator account. The
publish path (``Publisher.apply_operators``, what the admin's Operators page and ``ivr
operators`` run) rewrites Kamailio's accounts table and reloads it over the control socket:
an operator added then registers a real baresip with Kamailio and the node's call reaches it;
a secret reset drops the old registration and refuses the old secret; a removed account loses
its registration and cannot register again. A Kamailio that could not be reached is caught up
by ``Publisher.sync`` (the ``nodesync`` process). Kamailio is the same process throughout.

An operator off the city's network registers over TLS on Kamailio's SIP port + 1 and talks to
the node with SRTP (SDES), in both directions.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import subprocess

import pytest

from ivr import config
from ivr.asterisk.render import department_codes
from ivr.kamailio.accounts import KamailioControlError, rpc
from ivr.operators.rules import AccountSpec, digest
from tests.softphone import Softphone
from tests.test_cluster_operators import queue_members

pytestmark = pytest.mark.asterisk

TIMEOUT = 30.0  # a ceiling for a loaded CI machine, never a measurement


@pytest.fixture
def cluster(tmp_path, asterisk_dialplan):
    """One node behind Kamailio, no operator account anywhere yet."""
    from ivr.devenv.cluster import Cluster
    from tests.asterisk_harness import prepare_instance, retire_instance

    cluster = Cluster(tmp_path / "cluster")
    node = prepare_instance(
        f"acc-{os.getpid()}",
        asterisk_dialplan,
        tmp_path / "a",
        queue_timeout=120,
        general_timeout=120,
        proxy_port=cluster.sip_port,
    )
    try:
        cluster.start([node], operators={})
        yield cluster
    finally:
        cluster.stop()
        retire_instance(node, tmp_path / "log-a")


@pytest.fixture
def accounts(cluster, asterisk_dialplan, tmp_path):
    """``(store, publisher_for)``: the city's operator accounts and a Publisher for the node
    that knows Kamailio (``publisher_for(ctl)``: another control socket, e.g. a wrong one)."""
    from ivr.admin.db import open_database
    from ivr.admin.publish import AsteriskTarget, Publisher
    from ivr.db import ready
    from ivr.operators.store import OperatorStore

    node = cluster.nodes[0]
    kamailio = cluster.kamailio
    settings = dataclasses.replace(
        node.settings,
        dialplan_path=config.ROOT / "dialplans" / "example-city.yaml",
        var_dir=tmp_path / "var",
        kamailio_accounts=str(kamailio.accounts_dir),
        kamailio_ctl=kamailio.ctl,
    )
    store = OperatorStore(ready(settings.database_url), lambda: asterisk_dialplan)

    def publisher_for(ctl: str | None = None) -> Publisher:
        return Publisher(
            dataclasses.replace(settings, kamailio_ctl=ctl or kamailio.ctl),
            open_database(settings.database_url),
            AsteriskTarget.from_etc(node.etc_dir),
        )

    return store, publisher_for


def _registered(ctl: str, ext: str) -> bool:
    """Whether Kamailio's usrloc has a phone for ``ext``."""
    try:
        rpc(ctl, "ul.lookup", "location", f"s:{ext}")
    except KamailioControlError:
        return False
    return True


def _ring(node, ext: str) -> None:
    """The node calls operator ``ext`` (its aor's contact: Kamailio)."""
    with node.ami() as ami:
        ami.action("Originate", Channel=f"PJSIP/{ext}", Application="Wait", Data="2", Async="true")


def test_accounts_added_changed_removed_reach_running_kamailio(
    cluster, accounts, asterisk_dialplan
):
    store, publisher_for = accounts
    publisher = publisher_for()
    node, kamailio = cluster.nodes[0], cluster.kamailio
    pid = kamailio.process.pid
    port, ctl = cluster.sip_port, kamailio.ctl
    general = asterisk_dialplan.general_operator
    spec = AccountSpec("203", "Operatore Nuovo", ("it",), ((general, 1),))

    # nobody can register yet
    with Softphone("203", "not-an-account-yet", port) as early:
        assert early.registration_failed(TIMEOUT)

    # added while Kamailio runs: registers with Kamailio, and the node's call reaches it
    secret = store.add(spec)
    result = publisher.apply_operators("test", "add 203")
    assert result.ok and result.kamailio is not None and result.kamailio.ok, result.message
    with Softphone("203", secret, port) as phone:
        phone.wait_registered(TIMEOUT)
        mark = phone.mark()
        _ring(node, "203")
        phone.wait_answered_incoming(TIMEOUT, since=mark)
        phone.wait_event("CALL_CLOSED", TIMEOUT, since=mark)

        # a secret reset: the old registration is dropped and the old secret refused
        new_secret = store.rotate("203")
        result = publisher.apply_operators("test", "rotate 203")
        assert result.ok and result.kamailio.ok, result.message
        assert result.kamailio.message.endswith("registrations dropped: 203")
        assert not _registered(ctl, "203")
    with Softphone("203", secret, port, bind="127.0.0.2") as old:
        assert old.registration_failed(TIMEOUT)
    with Softphone("203", new_secret, port, bind="127.0.0.3") as phone:
        phone.wait_registered(TIMEOUT)
        assert _registered(ctl, "203")

        # removed: its registration goes at once, and it cannot register again
        store.remove("203")
        result = publisher.apply_operators("test", "remove 203")
        assert result.ok and result.kamailio.ok, result.message
        assert not _registered(ctl, "203")
    with Softphone("203", new_secret, port, bind="127.0.0.4") as gone:
        assert gone.registration_failed(TIMEOUT)

    # Kamailio out of reach at a change: the publication goes live, Kamailio is said behind,
    # and the next sync (nodesync) catches it up
    secret = store.add(dataclasses.replace(spec, extension="204"))
    result = publisher_for(f"{ctl}-missing").apply_operators("test", "add 204")
    assert result.ok and not result.kamailio.ok
    assert "Kamailio behind" in result.message
    with Softphone("204", secret, port) as waiting:
        assert waiting.registration_failed(TIMEOUT)
    synced = publisher.sync()
    assert synced[-1].name == "kamailio" and synced[-1].ok, synced[-1].message
    with Softphone("204", secret, port) as phone:
        phone.wait_registered(TIMEOUT)
        assert _registered(ctl, "204")

        # disabled (the admin's switch): unregistered at once, like a removed account
        store.set_enabled("204", False)
        result = publisher.apply_operators("test", "disable 204")
        assert result.ok and result.kamailio.ok, result.message
        assert not _registered(ctl, "204")

    # the same Kamailio all along: never restarted
    assert kamailio.process.pid == pid and kamailio.process.poll() is None
    logged = kamailio.log_file.read_text()
    assert secret not in logged and new_secret not in logged


@pytest.fixture
def tls_cluster(tmp_path, asterisk_dialplan):
    """One node behind a Kamailio with a TLS listener (port + 1), one TLS operator account."""
    from ivr.asterisk.render import OperatorLine
    from ivr.devenv.cluster import Cluster, operator_digests
    from tests.asterisk_harness import prepare_instance, retire_instance

    cert, key = tmp_path / "proxy-cert.pem", tmp_path / "proxy-key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"]
        + ["-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    secret = secrets.token_urlsafe(12)
    general = asterisk_dialplan.departments[asterisk_dialplan.general_operator].queue
    line = OperatorLine(
        "205", "Operatrice Remota", digest("205", secret), ((general, 0),), tls=True
    )
    cluster = Cluster(tmp_path / "cluster")
    node = prepare_instance(
        f"acctls-{os.getpid()}",
        asterisk_dialplan,
        tmp_path / "a",
        queue_timeout=120,
        general_timeout=120,
        proxy_port=cluster.sip_port,
        operators=[line],
    )
    try:
        cluster.start([node], operators=operator_digests([line]), tls=(str(cert), str(key)))
        cluster.secret, cluster.general = secret, general
        yield cluster
    finally:
        cluster.stop()
        retire_instance(node, tmp_path / "log-a")


def test_operator_over_tls_with_srtp_through_kamailio(tls_cluster, asterisk_dialplan):
    """TLS to Kamailio on its SIP port + 1, SRTP (SDES) media with the node both ways."""
    node = tls_cluster.nodes[0]
    queue = tls_cluster.general
    code = department_codes(asterisk_dialplan)[queue]
    with Softphone(
        "205",
        tls_cluster.secret,
        tls_cluster.sip_port,
        transport="tls",
        media_encryption="srtp",  # baresip refuses a call without SRTP
    ) as phone:
        phone.wait_registered(TIMEOUT)
        # the operator's own call: over TLS to Kamailio, on to the node, which logs them in
        mark = phone.mark()
        phone.dial(f"*11{code}")
        phone.wait_event("CALL_CLOSED", TIMEOUT, since=mark)
        assert queue_members(node, queue) == {"PJSIP/205"}
        # the node rings the operator through Kamailio, which reaches the phone over TLS
        mark = phone.mark()
        _ring(node, "205")
        phone.wait_answered_incoming(TIMEOUT, since=mark)
