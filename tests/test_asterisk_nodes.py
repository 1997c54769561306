"""Every node identical (issue 15), through two real Asterisk 22 nodes, each with its own
configuration folder and AMI login: publishing from the admin renders, reloads and confirms
both and says so per node (a call on node B then reaches the department just published); with
one node stopped the version still goes live on the other and the stopped one is listed as
behind; ``Publisher.sync`` (``ivr asterisk sync``) brings it to the live version, before it
starts (files only) or once it runs (reload and confirm)."""

from __future__ import annotations

import os
import re

import pytest

from ivr.admin.cli import node_folders
from ivr.admin.db import open_database
from ivr.admin.models import Draft
from ivr.admin.publish import MARKER, AsteriskTarget, Publisher, sha256
from ivr.cli import main
from tests.admin_support import city_settings, login, make_app, publish
from tests.asterisk_harness import prepare_instance, retire_instance

pytestmark = pytest.mark.asterisk


@pytest.fixture(scope="module")
def nodes(tmp_path_factory, asterisk_dialplan):
    """Two started test Asterisk nodes, ``a`` and ``b`` (their own ports and AMI secrets)."""
    made = []
    try:
        for name in ("a", "b"):
            instance = prepare_instance(
                f"node-{os.getpid()}-{name}",
                asterisk_dialplan,
                tmp_path_factory.mktemp(f"node-{name}"),
                queue_timeout=60,
                general_timeout=60,
                test_log=False,
            )
            made.append(instance)
            instance.start()
        yield made
    finally:
        for instance in made:
            retire_instance(instance, tmp_path_factory.mktemp("node-log"))


@pytest.fixture
def city(tmp_path, nodes):
    """A city copy whose publisher targets both nodes; both start on the example city."""
    settings = city_settings(tmp_path)
    for instance in nodes:
        instance.start()  # a test may have left one stopped
    targets = [
        AsteriskTarget.from_etc(instance.etc_dir, name=name)
        for name, instance in zip("ab", nodes, strict=True)
    ]
    publisher = Publisher(settings, open_database(settings.database_url), targets)
    publisher.ensure_imported()
    base = settings.dialplan_path.read_text()
    assert publisher.publish(base, "test").ok
    return settings, publisher, targets, base


def with_department(text: str, dept: str) -> str:
    """The example city with one more department, ``dept``, on key 7 of the main menu."""
    new = (
        text.replace(
            "  operatore:\n    names:\n      it: Operatore",
            f"  {dept}:\n    names: {{it: Zona a traffico limitato, en: Limited traffic zone,"
            " fr: Zone à trafic limité, es: Zona de tráfico limitado,"
            " de: Verkehrsberuhigte Zone, zh: 限行区, ar: منطقة المرور المحدود}\n"
            "    hours: always\n  operatore:\n    names:\n      it: Operatore",
        )
        .replace('"6": polizia', f'"6": polizia\n      "7": {dept}_operatori')
        .replace(
            "  operatore: {type: transfer, department: operatore}",
            "  operatore: {type: transfer, department: operatore}\n"
            f"  {dept}_operatori: {{type: transfer, department: {dept}}}",
        )
    )
    assert new.count(dept) == 4
    return new


@pytest.fixture
def call_on():
    """``call_on(node, settings, keys)``: a call to the city number on ``node``, answered by a
    FastAGI service on the city's live dialplan (``settings``); hung up after the test."""
    import dataclasses

    from ivr.flow.loader import load_dialplan
    from ivr.service import build_server
    from tests.asterisk_harness import AsteriskHarness

    opened = []

    def call(instance, settings, keys):
        node = instance.settings
        server = build_server(
            dataclasses.replace(
                settings,
                agi_port=node.agi_port,
                sounds_dir=node.sounds_dir,
                asterisk_sounds_dir=node.asterisk_sounds_dir,
            )
        ).start()
        harness = AsteriskHarness(
            instance, load_dialplan(settings.dialplan_path), agi_port=node.agi_port
        )
        opened.append((server, harness))
        return harness.place_call(keys)

    yield call
    for server, harness in opened:
        harness.reset()
        harness.close()
        server.shutdown()


def runs_queue(instance, queue: str) -> bool:
    return f"{queue} has 0 calls" in instance.cli(f"queue show {queue}")


def marker(instance) -> str:
    return (instance.etc_dir / MARKER).read_text()


def test_publishing_from_the_admin_reaches_both_nodes_and_says_so_per_node(city, nodes, call_on):
    settings, publisher, targets, base = city
    new = with_department(base, "ztla")
    app = make_app(settings, target=targets)
    with app.config["SESSIONS"].begin() as db:
        db.get(Draft, 1).yaml_text = new
    client = login(app, "admin")
    assert publish(client, "two nodes").status_code == 302
    page = client.get("/publish").get_data(as_text=True)
    assert re.search(r"<strong>a</strong>: confirmed", page), page
    assert re.search(r"<strong>b</strong>: confirmed", page)
    assert settings.dialplan_path.read_text() == new
    for instance in nodes:
        assert runs_queue(instance, "ztla")
        assert f"sha256={sha256(new)}" in marker(instance) and "confirmed=yes" in marker(instance)
    assert [n.message for n in publisher.sync()] == ["up to date", "up to date"]

    # a real call on node B follows the published change: key 7, new in this version, takes the
    # caller to the new department's queue, which only B's reloaded configuration runs
    call = call_on(nodes[1], settings, [("choose_language", "1"), ("main_menu", "7")])
    assert call.wait_queue_join(timeout=30) == "ztla"


def test_a_stopped_node_is_listed_behind_and_sync_catches_it_up_once_it_runs(city, nodes):
    settings, publisher, _targets, base = city
    node_a, node_b = nodes
    node_b.stop()
    new = with_department(base, "ztlb")
    result = publisher.publish(new, "ed")
    assert result.ok and result.stage == "live"
    assert [(n.name, n.ok) for n in result.nodes] == [("a", True), ("b", False)]
    assert "Asterisk cannot be reached" in result.nodes[1].message
    assert result.message.startswith("live on a; behind: b (Asterisk cannot be reached")
    assert settings.dialplan_path.read_text() == new  # the city keeps answering: A runs it
    assert runs_queue(node_a, "ztlb")
    assert f"sha256={sha256(base)}" in marker(node_b)  # B kept what it last confirmed
    files = {p.name: p.read_bytes() for p in node_b.etc_dir.iterdir()}
    while_down = publisher.sync()
    assert [(n.name, n.ok) for n in while_down] == [("a", True), ("b", False)]
    assert "Asterisk cannot be reached" in while_down[1].message
    assert {p.name: p.read_bytes() for p in node_b.etc_dir.iterdir()} == files  # untouched

    node_b.start()  # on its old files: behind
    assert not runs_queue(node_b, "ztlb")
    synced = publisher.sync()
    assert [(n.name, n.ok, n.stage) for n in synced] == [
        ("a", True, "current"),
        ("b", True, "caught up"),
    ]
    assert runs_queue(node_b, "ztlb")
    assert f"sha256={sha256(new)}" in marker(node_b) and "confirmed=yes" in marker(node_b)
    assert [n.stage for n in publisher.sync()] == ["current", "current"]


def test_a_node_rendered_before_it_starts_never_runs_the_old_version(
    city, nodes, monkeypatch, capsys
):
    settings, publisher, _targets, base = city
    node_a, node_b = nodes
    node_b.stop()
    new = with_department(base, "ztlc")
    assert [n.ok for n in publisher.publish(new, "ed").nodes] == [True, False]

    # What the node's start runs first (ExecStartPre): files only, Asterisk is not up yet.
    for name, value in {
        "NU_DIALPLAN": settings.dialplan_path,
        "NU_PROMPTS_DIR": settings.prompts_dir,
        "NU_VAR_DIR": settings.var_dir,
        "NU_DATABASE_URL": settings.database_url,
        "NU_ASTERISK_NODES": "",
    }.items():
        monkeypatch.setenv(name, str(value))
    argv = ["asterisk", "sync", "--files-only", "--etc", str(node_b.etc_dir)]
    assert main(argv) == 0
    assert (
        capsys.readouterr().out
        == f"{node_b.etc_dir}: ok: files caught up: rendered (not reloaded)\n"
    )
    assert "confirmed=no" in marker(node_b)
    assert main(argv) == 0 and "up to date" in capsys.readouterr().out
    node_b.start()
    assert runs_queue(node_b, "ztlc")  # from its first moment
    # The periodic sync then confirms it over AMI.
    after = publisher.sync()
    assert [(n.name, n.stage) for n in after] == [("a", "current"), ("b", "caught up")]
    assert "confirmed=yes" in marker(node_b)


def test_no_node_confirming_keeps_the_previous_version_live(city, nodes):
    settings, publisher, _targets, base = city
    for instance in nodes:
        instance.stop()
    result = publisher.publish(with_department(base, "ztld"), "ed")
    assert not result.ok and result.stage == "reload"
    assert result.message.startswith("no node confirmed: a: Asterisk cannot be reached")
    assert result.message.endswith("the previous version stays live")
    assert settings.dialplan_path.read_text() == base


def test_the_nodes_setting_names_each_folder():
    assert node_folders("a=/etc/asterisk-a, b=/etc/asterisk-b") == [
        ("a", "/etc/asterisk-a"),
        ("b", "/etc/asterisk-b"),
    ]
    assert node_folders("/srv/n1 /srv/n2") == [("/srv/n1", "/srv/n1"), ("/srv/n2", "/srv/n2")]
    assert node_folders("") == []


def has_endpoint(instance, extension: str) -> bool:
    with instance.ami() as client:
        return client.action("PJSIPShowEndpoint", Endpoint=extension, check=False).ok


def test_operator_accounts_reach_every_node_and_a_late_node_catches_up(city, nodes):
    from ivr.db import ready
    from ivr.flow.loader import load_dialplan
    from ivr.operators.rules import AccountSpec
    from ivr.operators.store import OperatorStore

    settings, publisher, _targets, _base = city
    node_a, node_b = nodes
    store = OperatorStore(
        ready(settings.database_url), lambda: load_dialplan(settings.dialplan_path)
    )
    general = load_dialplan(settings.dialplan_path).general_operator
    store.add(AccountSpec("201", "Anna Rossi", ("it",), ((general, 1),)))
    result = publisher.apply_operators("ed", "add operator 201")
    assert result.ok and [n.ok for n in result.nodes] == [True, True], result.message
    assert has_endpoint(node_a, "201") and has_endpoint(node_b, "201")

    node_b.stop()
    store.add(AccountSpec("202", "Luca Bianchi", ("it",), ((general, 1),)))
    result = publisher.apply_operators("ed", "add operator 202")
    assert result.ok and [n.ok for n in result.nodes] == [True, False]
    assert result.message.startswith("live on a; behind: b")
    node_b.start()
    assert has_endpoint(node_a, "202") and not has_endpoint(node_b, "202")
    assert [n.stage for n in publisher.sync()] == ["current", "caught up"]
    assert has_endpoint(node_b, "202")


def test_the_nodesync_process_catches_a_restarted_node_up(city, nodes, tmp_path):
    """The declared process line itself (``ivr/processes.py``), as ``ivr up`` and systemd run
    it: its first round, at its start, brings the node that missed a publication up to date."""
    import subprocess
    import sys
    import time

    from ivr import config
    from ivr.processes import by_name

    settings, publisher, _targets, base = city
    node_a, node_b = nodes
    node_b.stop()
    new = with_department(base, "ztle")
    assert [n.ok for n in publisher.publish(new, "ed").nodes] == [True, False]
    node_b.start()
    assert not runs_queue(node_b, "ztle")
    env = {
        **os.environ,
        "PYTHONPATH": str(config.ROOT),
        "NU_DIALPLAN": str(settings.dialplan_path),
        "NU_PROMPTS_DIR": str(settings.prompts_dir),
        "NU_VAR_DIR": str(settings.var_dir),
        "NU_DATABASE_URL": settings.database_url,
        "NU_ASTERISK_NODES": f"a={node_a.etc_dir},b={node_b.etc_dir}",
        "NU_LOG_FILE": "",
    }
    command = by_name("nodesync").command(sys.executable)
    log = (tmp_path / "nodesync.log").open("w")
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while "confirmed=yes" not in marker(node_b) or f"sha256={sha256(new)}" not in marker(
            node_b
        ):
            assert process.poll() is None, (tmp_path / "nodesync.log").read_text()
            assert time.monotonic() < deadline, (tmp_path / "nodesync.log").read_text()
            time.sleep(0.2)
    finally:
        process.terminate()
        assert process.wait(15) == 0
        log.close()
    assert runs_queue(node_b, "ztle")
    assert "node b caught up with the live version" in (tmp_path / "nodesync.log").read_text()
