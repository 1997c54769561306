"""Admin without a browser: publishing and rollback (with a scripted AMI), calls in progress,
the draft editor, the simulator, the audit log, accounts from the command line, migrations."""

from __future__ import annotations

import threading
import time
from datetime import datetime

import pytest
from sqlalchemy import inspect, select

from ivr.admin import editing
from ivr.admin.db import open_database
from ivr.admin.i18n import TEXTS
from ivr.admin.models import (
    ROLES,
    AuditEntry,
    DialplanVersion,
    ImmutableVersionError,
    Publication,
)
from ivr.admin.publish import AsteriskTarget, Publisher, check_text
from ivr.admin.simulate import simulate
from ivr.agi.peer import AsteriskPeer, ScriptedCaller
from ivr.flow.loader import load_dialplan
from ivr.service import build_server
from tests.admin_support import PASSWORD, city_settings, login, make_app, post, publish
from tests.prompts_support import small_city

# The example city's languages (name and prompt forms have one field per language).
LANGUAGES = ("it", "en", "fr", "es", "de", "zh", "ar")

MONDAY_10 = datetime(2026, 11, 23, 10, 0)


class FakeAMI:
    """Answers publishing's AMI actions like Asterisk 22 does (the real exchange is replayed in
    tests/test_ami_replay.py): a reload makes it run what is in ``etc``, unless told to
    ``refuse`` a module's reload or to ``drop_queue`` (its extension and its queue)."""

    def __init__(self, dialplan_text: str, etc, *, refuse: str = "", drop_queue: str = ""):
        self.actions: list[tuple[str, dict]] = []
        self.refuse = refuse
        self.drop_queue = drop_queue
        self.etc = etc
        self.dialplan = check_text(dialplan_text, None or _settings_stub())[0]

    def action(self, name: str, headers=None, *, timeout=None, check=True, **kw):
        from ivr.admin.publish import _Rendered
        from ivr.asterisk.ami import Message, Response

        self.actions.append((name, kw))
        if name == "Reload":
            if kw.get("Module") == self.refuse:
                return Response([("Response", "Error"), ("Message", "No such module")])
            return Response([("Response", "Success"), ("Message", "Module Reloaded")])
        running = _Rendered.parse((self.etc / "extensions_nu.conf").read_text())
        ok = Response([("Response", "Success")])
        if name == "ShowDialPlan":
            context = kw["Context"]
            for exten, priorities in running.contexts.get(context, {}).items():
                if context == "nu-queue" and exten == self.drop_queue:
                    continue
                for priority, (app, data) in priorities.items():
                    ok.events.append(
                        Message(
                            [
                                ("Event", "ListDialplan"),
                                ("Context", context),
                                ("Extension", exten),
                                ("Priority", str(priority)),
                                ("Application", app),
                                ("AppData", data),
                                ("Registrar", "pbx_config"),
                            ]
                        )
                    )
        elif name == "Getvar":
            return Response([("Response", "Success"), ("Value", running.globals[kw["Variable"]])])
        elif name == "QueueSummary":
            from ivr.asterisk.render import all_queues

            for queue in all_queues(self.dialplan):
                if queue != self.drop_queue:
                    ok.events.append(Message([("Event", "QueueSummary"), ("Queue", queue)]))
        return ok

    def close(self) -> None:
        pass


def _settings_stub():
    from ivr import config

    return config.load()


@pytest.fixture
def city(tmp_path):
    settings = city_settings(tmp_path)
    return settings, open_database(settings.database_url)


def moved_police(text: str) -> str:
    new = editing.update_node(
        text,
        "principale",
        {
            "prompt": "main_menu",
            "opt_1": "anagrafe",
            "opt_2": "tributi_orari",
            "opt_3": "sociali_orari",
            "opt_4": "mobilita_orari",
            "opt_5": "rifiuti",
            "opt_7": "polizia",
            "opt_8": "parla",
            "opt_9": "operatore",
            "opt_*": "centralino",
            "repeat": "0",
        },
    )
    assert '"7": polizia' in new
    return new


def test_publish_renders_reloads_confirms_then_writes_the_live_yaml(city, tmp_path):
    settings, sessions = city
    etc = tmp_path / "etc"
    fake = {}

    def connect():
        fake["ami"] = FakeAMI(new, etc)
        return fake["ami"]

    publisher = Publisher(settings, sessions, AsteriskTarget(etc, {}, connect))
    publisher.ensure_imported()
    old = settings.dialplan_path.read_text()
    new = moved_police(old)
    result = publisher.publish(new, "ed", "police on 7")
    assert result.ok, result.message
    assert settings.dialplan_path.read_text() == new
    assert (etc / "extensions_nu.conf").is_file() and (etc / "queues.conf").is_file()
    assert fake["ami"].actions[:2] == [
        ("Reload", {"Module": "pbx_config"}),
        ("Reload", {"Module": "app_queue"}),
    ]
    assert "confirmed" in result.reload_output
    with sessions() as db:
        live = publisher.live_version(db)
        assert live.id == result.version_id and live.yaml_text == new and live.note == "police on 7"
        audit = db.scalars(select(AuditEntry).where(AuditEntry.action == "publish")).one()
        assert audit.before == old and audit.after == new and audit.username == "ed"
    # Publishing the same text again reuses the immutable version.
    again = publisher.publish(new, "ed")
    assert again.ok and again.version_id == result.version_id


@pytest.mark.parametrize(
    ("kind", "why"),
    [
        ("unreachable", "Asterisk cannot be reached"),
        ("refuse", "refused the dialplan reload"),
        ("drop_queue", "does not run: extension polizia"),
    ],
)
def test_a_failed_reload_keeps_the_last_good_version_live_and_says_why(city, tmp_path, kind, why):
    settings, sessions = city
    etc = tmp_path / "etc"
    old = settings.dialplan_path.read_text()
    good = Publisher(settings, sessions, AsteriskTarget(etc, {}, lambda: FakeAMI(old, etc)))
    good.ensure_imported()
    assert good.publish(old, "ed").ok
    before_files = {p.name: p.read_bytes() for p in etc.glob("*.conf")}
    # The new version adds a department: its queue must appear in Asterisk.
    new = moved_police(old).replace(
        "  operatore:\n    names: {it: Operatore",
        "  ztl:\n    names: {it: ZTL, en: Limited traffic zone}\n    hours: always\n"
        "  operatore:\n    names: {it: Operatore",
    )

    def connect():
        if kind == "unreachable":
            raise ConnectionRefusedError(111, "Connection refused")
        if kind == "refuse":
            return FakeAMI(new, etc, refuse="pbx_config")
        return FakeAMI(new, etc, drop_queue="polizia")

    target = AsteriskTarget(etc, {}, connect, reload_timeout=0.3)
    result = Publisher(settings, sessions, target).publish(new, "ed")
    assert not result.ok and result.stage == "reload"
    assert why in result.message and "previous version stays live" in result.message
    assert settings.dialplan_path.read_text() == old
    assert {p.name: p.read_bytes() for p in etc.glob("*.conf")} == before_files
    with sessions() as db:
        assert good.live_version(db).yaml_text == old
        failed = db.scalars(select(Publication).order_by(Publication.id.desc())).first()
        assert not failed.ok and why in failed.message
        assert db.scalars(select(AuditEntry).where(AuditEntry.action == "publish_failed")).one()


def test_an_invalid_draft_is_never_published(city):
    settings, sessions = city
    publisher = Publisher(settings, sessions, None)
    publisher.ensure_imported()
    old = settings.dialplan_path.read_text()
    broken = old.replace('"6": polizia', '"6": nowhere')
    # the speech node 'parla' routes to polizia too: without those phrases it is unreachable
    broken = "".join(
        line for line in broken.splitlines(True) if not line.startswith("        polizia: [")
    )
    result = publisher.publish(broken, "ed")
    assert not result.ok and result.stage == "invalid"
    lines = broken.splitlines()
    principale = lines.index("  principale:") + 1
    polizia = max(i for i, line in enumerate(lines) if line.startswith("  polizia:")) + 1
    assert [str(i) for i in result.issues] == [
        f"example-city.yaml:{principale}: node 'principale': goes to unknown node 'nowhere'",
        f"example-city.yaml:{polizia}: node 'polizia': unreachable: no path leads here from "
        "start node 'lingua'",
    ]
    assert settings.dialplan_path.read_text() == old


def test_rollback_restores_any_earlier_version_and_versions_are_immutable(city):
    settings, sessions = city
    publisher = Publisher(settings, sessions, None)
    publisher.ensure_imported()
    old = settings.dialplan_path.read_text()
    new = moved_police(old)
    first = publisher.publish(new, "ed")
    with sessions() as db:
        imported = db.scalars(select(DialplanVersion).order_by(DialplanVersion.id)).first()
    back = publisher.restore(imported.id, "ed")
    assert back.ok and back.version_id == imported.id
    assert settings.dialplan_path.read_text() == old
    forward = publisher.restore(first.version_id, "ed")
    assert forward.ok and settings.dialplan_path.read_text() == new
    with sessions() as db:
        actions = [p.action for p in db.scalars(select(Publication).order_by(Publication.id))]
        assert actions == ["import", "publish", "rollback", "rollback"]
        version = db.get(DialplanVersion, imported.id)
        version.yaml_text = "tampered"
        with pytest.raises(ImmutableVersionError):
            db.commit()
        db.rollback()
        db.delete(db.get(DialplanVersion, imported.id))
        with pytest.raises(ImmutableVersionError):
            db.commit()


def test_quick_successive_publications_are_all_seen_by_the_service(city):
    """Two writes within the filesystem's timestamp granularity still change the mtime."""
    settings, sessions = city
    from ivr.flow.source import DialplanSource

    source = DialplanSource(settings.dialplan_path, settings.prompts_dir)
    publisher = Publisher(settings, sessions, None)
    publisher.ensure_imported()
    old = settings.dialplan_path.read_text()
    new = moved_police(old)
    for text, key in ((new, "7"), (old, "6"), (new, "7"), (old, "6")):
        assert publisher.publish(text, "ed").ok
        assert source.current().nodes["principale"].options.get(key) == "polizia"


def test_calls_in_progress_finish_on_the_version_they_started_with(city):
    """A real FastAGI server: a call that started before the publication still reaches the
    police with key 6; a call that starts after it follows the new menu (key 6 is invalid)."""
    settings, sessions = city
    server = build_server(
        settings, port=0, clock=lambda zone: MONDAY_10.replace(tzinfo=zone)
    ).start()
    host, port = server.address
    publisher = Publisher(settings, sessions, None)
    publisher.ensure_imported()
    records = {}

    def slow_call():
        peer = AsteriskPeer(ScriptedCaller(["1", "6"], when_done=""), media_seconds=0.15)
        records["old"] = peer.connect(host, port, read_timeout=10)

    try:
        caller = threading.Thread(target=slow_call)
        caller.start()
        deadline = time.monotonic() + 5
        while not server.active_calls and time.monotonic() < deadline:
            time.sleep(0.01)
        assert server.active_calls == 1
        assert publisher.publish(moved_police(settings.dialplan_path.read_text()), "ed").ok
        caller.join(10)
        assert records["old"].variables["NU_QUEUE"] == "polizia"
        new = AsteriskPeer(ScriptedCaller(["1", "6", "7"], when_done="")).connect(host, port)
        assert new.variables["NU_QUEUE"] == "polizia"
        assert "invalid_choice" in " ".join(new.played)
        assert new.variables["NU_PATH"] == "lingua>benvenuto>principale>polizia"
    finally:
        server.shutdown()


# ---------------------------------------------------------------------------------------------


def test_node_forms_keep_comments_and_the_other_nodes(tmp_path):
    text = (tmp_path / "x.yaml").write_text("") or city_settings(tmp_path).dialplan_path.read_text()
    new = moved_police(text)
    assert new.startswith("# Example municipality")
    assert "  tributi_orari: {type: hours, department: tributi" in new
    assert "\n\n  anagrafe:\n" in new  # the blank line between nodes survived
    changed = [line for line in new.splitlines() if line not in text.splitlines()]
    assert changed == ['      "7": polizia']


def test_department_form_round_trips(city):
    settings, _ = city
    text = settings.dialplan_path.read_text()
    form = {
        **{f"name_{lang}": f"Tributi ({lang})" for lang in LANGUAGES},
        "name_it": "Tributi",
        "name_en": "Local taxes",
        "hours": "mon-fri: 09:00-13:00\ntue,thu: 14:30-16:30",
        "holidays": "closed",
        "closures": "2026-08-14 ponte\n2026-12-24 13:00- Vigilia",
    }
    new = editing.update_department(text, "tributi", form, list(LANGUAGES))
    dialplan, issues = check_text(new, settings)
    assert not issues
    dept = dialplan.departments["tributi"]
    assert [c.reason for c in dept.closures] == ["ponte", "Vigilia"]
    assert dept.closures[1].start.hour == 13
    with pytest.raises(editing.EditError, match="closure"):
        editing.update_department(text, "tributi", {**form, "closures": "tomorrow"}, ["it"])


class Mystery:
    """An action kind the admin has never heard of."""

    def __init__(self):
        self.payload = "x"


def test_simulator_runs_the_engine_and_shows_unknown_actions_by_their_fields(city):
    settings, _ = city
    dialplan = load_dialplan(settings.dialplan_path, settings.prompts_dir)
    sim = simulate(
        dialplan,
        [{"t": "digits", "v": "1"}, {"t": "played"}, {"t": "digits", "v": "6"}, {"t": "played"}],
        now=MONDAY_10,
    )
    assert sim.finished and sim.steps[-1].action_type == "Transfer"
    assert ("queue", "polizia") in sim.steps[-1].fields
    assert sim.path[-1] == "polizia"
    sunday = simulate(
        dialplan,
        [{"t": "digits", "v": "1"}, {"t": "played"}, {"t": "digits", "v": "2"}],
        now=datetime(2026, 11, 22, 10, 0),
    )
    assert [p.key for p in sunday.steps[-1].pieces] == ["closed_now", "hours_tributi"]
    hours_key = next(k for k, t in dialplan.nodes["anagrafe"].options.items() if "orari" in t)
    switched = simulate(
        dialplan,
        [
            {"t": "digits", "v": "1"},
            {"t": "played"},
            {"t": "digits", "v": "1"},
            {"t": "digits", "v": hours_key},
        ],
        now=MONDAY_10,
        switches=frozenset({"anagrafe"}),
    )
    assert [p.key for p in switched.steps[-1].pieces] == ["closed_now", "hours_anagrafe"]
    # A move that does not answer the current action stops the replay with a reason.
    wrong = simulate(dialplan, [{"t": "played"}], now=MONDAY_10)
    assert wrong.error == "'played' does not answer a Ask"
    # Unknown actions: described by their fields, the only move is the operator fallback.
    from ivr.admin.simulate import accepts, describe

    step = describe(Mystery(), {}, "n")
    assert step.action_type == "Mystery" and accepts(Mystery()) == ("fallback",)


def test_simulator_accepts_typed_speech_when_the_engine_listens():
    from ivr.admin.simulate import accepts, to_event
    from ivr.flow.actions import Heard, Listen

    assert "heard" in accepts(Listen((), "it", ("anagrafe",)))
    assert to_event({"t": "heard", "v": "carta d'identità"}) == Heard("carta d'identità")


def test_pages_edit_and_audit(tmp_path):
    settings = city_settings(tmp_path)
    app = make_app(settings)
    editor = login(app, "editor")
    response = post(editor, "/flow/node/principale", {"prompt": "main_menu", "opt_6": "nowhere"})
    assert response.status_code == 302
    page = editor.get("/flow/node/principale").get_data(as_text=True)
    assert "goes to unknown node &#39;nowhere&#39;" in page
    issues = editor.post("/api/validate", json={}, headers={"X-CSRF-Token": editor.csrf}).get_json()
    assert not issues["ok"]
    assert issues["issues"][0]["text"].startswith("example-city.yaml:")
    assert editor.get("/flow/diff").status_code == 200
    post(editor, "/switches", {"target": "tributi", "state": "on"})
    assert app.config["LIVE_STATE"].switches() == frozenset({"tributi"})
    post(editor, "/prompts/closed_now", {"text_it": "Ufficio chiuso.", "text_en": "Closed."})
    admin = login(app, "admin")
    audit = admin.get("/audit").get_data(as_text=True)
    for action in ("node_edit", "switch", "prompt_edit", "login"):
        assert action in audit
    with app.config["SESSIONS"]() as db:
        edit = db.scalars(select(AuditEntry).where(AuditEntry.action == "node_edit")).one()
        assert edit.username == "editor" and '"6": polizia' in edit.before
        assert '"6": nowhere' in edit.after
        switch = db.scalars(select(AuditEntry).where(AuditEntry.action == "switch")).one()
        assert (switch.target, switch.before, switch.after) == ("tributi", "off", "on")


def test_prompts_page_highlights_missing_languages_and_blocks_publishing(tmp_path):
    settings = city_settings(tmp_path)
    app = make_app(settings)
    editor = login(app, "editor")
    post(editor, "/flow/node/benvenuto", {"prompts": "welcome city_news", "next": "principale"})
    page = editor.get("/prompts").get_data(as_text=True)
    assert f"{len(LANGUAGES)} missing prompt(s)" in page  # city_news, in every language
    page = editor.get("/publish").get_data(as_text=True)
    assert "prompt &#39;city_news&#39; missing in language &#39;en&#39;" in page
    assert 'id="publish" disabled' in page
    post(editor, "/prompts/city_news", {"text_it": "Novità.", "text_en": "News."})
    assert "5 missing prompt(s)" in editor.get("/prompts").get_data(as_text=True)
    post(editor, "/prompts/city_news", {f"text_{lang}": f"News ({lang})." for lang in LANGUAGES})
    assert "Every prompt in use exists" in editor.get("/prompts").get_data(as_text=True)
    publish(editor, "news")
    assert "is live" in editor.get("/publish").get_data(as_text=True)
    # A publish form shown before someone else changed the draft is refused.
    post(editor, "/flow/node/benvenuto", {"prompts": "welcome", "next": "principale"})
    stale = post(editor, "/publish", {"base": "0" * 64}, follow_redirects=True)
    assert "changed the draft meanwhile" in stale.get_data(as_text=True)
    assert "city_news" in settings.dialplan_path.read_text()


def test_prompt_audio_is_generated_and_served(tmp_path):
    import io
    import math
    import wave

    # A beep that swells and fades like a syllable: the build refuses a flat square wave as
    # too loud to be speech.
    frames = b"".join(
        int(
            3000 * math.sin(i * math.pi / 20) * (0.55 + 0.45 * math.sin(i * math.pi / 2667))
        ).to_bytes(2, "little", signed=True)
        for i in range(16000)
    )

    class Beep:
        def voice(self, lang):
            return f"beep {lang}"

        def synthesize(self, text, lang):
            out = io.BytesIO()
            with wave.open(out, "wb") as w:
                w.setnchannels(1)
                w.setsampwidth(2)
                w.setframerate(16000)
                w.writeframes(frames)
            return out.getvalue()

    # A small city (its prompts only, ten per language) rather than the example's 1,210 prompts:
    # the button builds the draft's whole catalogue, and each prompt costs two sox runs.
    city = small_city(tmp_path / "small", ("it", "en"))
    synced = []
    settings = city_settings(tmp_path, dialplan_path=city.path, prompts_dir=city.prompts)
    app = make_app(settings, synthesizer=Beep(), sync_sounds=lambda: synced.append(1))
    editor = login(app, "editor")
    assert post(editor, "/prompts/build").status_code == 302
    page = editor.get("/prompts").get_data(as_text=True)
    built = sum(len(city.texts(lang)) for lang in ("it", "en"))
    assert f"{built} built" in page and "0 failed, 0 missing" in page
    assert "/prompts/audio/it/welcome.wav" in page and "/prompts/audio/en/goodbye.wav" in page
    audio = editor.get("/prompts/audio/it/welcome.wav")
    assert audio.status_code == 200 and audio.data[:4] == b"RIFF"
    assert editor.get("/prompts/audio/it/..%2f..%2fx.wav").status_code == 404
    assert synced == [1]


def test_live_view_says_when_asterisk_cannot_be_reached(tmp_path):
    def down():
        raise ConnectionRefusedError(111, "Connection refused")

    app = make_app(city_settings(tmp_path), target=AsteriskTarget(tmp_path / "etc", {}, down))
    operator = login(app, "operator")
    data = operator.get("/api/live").get_json()
    assert data["ok"] is False and "cannot be reached" in data["error"]
    assert operator.get("/").headers["Location"].endswith("/live")


def test_saturation_states():
    from ivr.admin.live_view import QueueState, saturation

    assert saturation(QueueState("q")) == "ok"
    assert saturation(QueueState("q", waiting=2, members=0)) == "unstaffed"
    assert saturation(QueueState("q", waiting=3, members=2, available=1)) == "busy"
    assert saturation(QueueState("q", waiting=3, members=2, available=1, longest_wait=90)) == (
        "saturated"
    )
    assert saturation(QueueState("q", waiting=1, members=2, available=2)) == "ok"


def test_every_interface_text_exists_in_italian_and_english():
    import re
    from pathlib import Path

    import ivr.admin

    folder = Path(ivr.admin.__file__).parent
    sources = [p.read_text() for p in (folder / "templates").glob("*.html")]
    sources += [p.read_text() for p in folder.rglob("*.py")]  # app.py and the blueprints
    used = set()
    for text in sources:
        used.update(re.findall(r"\bt\(\s*\"([a-z0-9_]+)\"", text))
        used.update(re.findall(r"\bt\(\s*'([a-z0-9_]+)'", text))
    for prefix, values in {
        "role_": ROLES,
        "action_": ("publish", "rollback", "import"),
        "sat_": ("ok", "busy", "saturated", "unstaffed"),
        "reason_": ("hours", "outside_hours", "holiday", "closure", "switch"),
        "error_": ("400", "401", "403", "404", "413", "429"),
    }.items():
        used.update(prefix + v for v in values)
    used = {k for k in used if not k.endswith("_")}  # prefixes of computed keys (above)
    missing = sorted(k for k in used if k not in TEXTS or set(TEXTS[k]) != {"it", "en"})
    assert not missing


def test_create_user_from_the_command_line_in_the_city_database(tmp_path, monkeypatch, capsys):
    import io
    import sys

    from ivr.cli import main

    monkeypatch.setenv("NU_VAR_DIR", str(tmp_path))
    monkeypatch.setattr(sys, "stdin", io.StringIO(PASSWORD + "\n"))
    assert main(["admin", "create-user", "first", "--password-stdin"]) == 0
    monkeypatch.setattr(sys, "stdin", io.StringIO("short\n"))
    assert main(["admin", "create-user", "second", "--password-stdin"]) == 1
    assert "at least 10 characters" in capsys.readouterr().err
    sessions = open_database(f"sqlite:///{tmp_path / 'numero-unico.db'}")
    engine = sessions.kw["bind"]
    tables = set(inspect(engine).get_table_names())
    # one database, one history: the admin's tables beside every other feature's
    assert {"admin_users", "admin_audit", "bookings", "call_records", "alembic_version"} <= tables
    assert "alembic_version_admin" not in tables
    with sessions() as db:
        from ivr.admin.models import User

        user = db.scalars(select(User)).one()
        assert (user.username, user.role) == ("first", "admin")


def test_feature_nodes_are_edited_as_yaml_and_checked_like_the_others(tmp_path):
    """Node kinds the form does not know (booking, speech...) get a YAML box for that node."""
    import html
    import re

    settings = city_settings(tmp_path)
    app = make_app(settings)
    editor = login(app, "editor")
    dialplan = load_dialplan(settings.dialplan_path)
    feature = next(n for n in dialplan.nodes.values() if n.kind not in editing.CORE_KINDS)
    page = editor.get(f"/flow/node/{feature.id}").get_data(as_text=True)
    body = html.unescape(re.search(r'<textarea id="f-body"[^>]*>(.*?)</textarea>', page, re.S)[1])
    assert body.startswith(f"type: {feature.kind}")
    broken = body + "next_after_all: nowhere\n"
    post(editor, f"/flow/node/{feature.id}", {"body": broken})
    issues = editor.get(f"/flow/node/{feature.id}").get_data(as_text=True)
    assert "is not a field of a" in issues


def test_the_publish_page_says_which_node_confirmed_and_which_is_behind(tmp_path):
    """Two nodes (scripted AMI; tests/test_asterisk_nodes.py does it with two real Asterisk):
    one unreachable, the version goes live on the other and the page names both."""
    from ivr.admin.models import Draft

    settings = city_settings(tmp_path)
    new = moved_police(settings.dialplan_path.read_text())
    etc_a, etc_b = tmp_path / "a", tmp_path / "b"

    def down():
        raise ConnectionRefusedError(111, "Connection refused")

    targets = [
        AsteriskTarget(etc_a, {}, lambda: FakeAMI(new, etc_a), name="a"),
        AsteriskTarget(etc_b, {}, down, name="b"),
    ]
    app = make_app(settings, target=targets)
    with app.config["SESSIONS"].begin() as db:
        db.get(Draft, 1).yaml_text = new
    client = login(app, "admin")
    assert publish(client).status_code == 302
    page = client.get("/publish").get_data(as_text=True)
    assert "<strong>a</strong>: confirmed" in page
    assert "<strong>b</strong>: behind: still runs the previous version" in page
    assert "Asterisk cannot be reached" in page
    assert settings.dialplan_path.read_text() == new
    assert not (etc_b / "extensions_nu.conf").exists()  # b keeps what it had: nothing
