"""The desk's pages without Asterisk: who has a desk, what a wrap-up writes (call_records,
operator_events, the audit log, never the number), what is refused."""

from __future__ import annotations

from unittest import mock

from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr import config
from ivr.admin.models import AuditEntry
from ivr.admin.services import AdminServices
from ivr.admin.views import desk as desk_view
from ivr.db import ready
from ivr.desk.events import Current
from ivr.directory.rules import EntryData
from ivr.directory.store import DirectoryStore
from ivr.flow.loader import load_dialplan
from ivr.kpi.models import CallRecord, OperatorEvent
from ivr.operators.rules import AccountSpec
from ivr.operators.store import OperatorStore
from tests.admin_support import city_settings, login, make_app, post


def _app(tmp_path):
    settings = city_settings(tmp_path)
    app = make_app(settings)
    city = load_dialplan(config.ROOT / "dialplans" / "example-city.yaml")
    store = OperatorStore(ready(settings.database_url), lambda: city)
    store.add(AccountSpec("231", "Anna", ("it",), (("tributi", 1),), username="operator"))
    return app, settings


def test_only_a_user_an_operator_account_names_has_a_desk(tmp_path):
    app, _ = _app(tmp_path)
    page = login(app, "viewer").get("/desk").get_data(as_text=True)
    assert 'id="no-desk"' in page
    assert login(app, "viewer").get("/desk/events").status_code == 404


def test_a_wrap_up_feeds_the_kpis_and_the_audit_never_the_number(tmp_path):
    app, settings = _app(tmp_path)
    client = login(app, "operator")
    assert post(client, "/desk/wrapup", {"outcome": "nonsense", "call_id": "c1"}).status_code == 400
    assert post(client, "/desk/pause", {"reason": "lunch with friends"}).status_code == 400
    response = post(client, "/desk/wrapup", {"outcome": "information", "call_id": "c1"})
    assert response.status_code == 302
    with Session(ready(settings.database_url)) as db:
        record = db.scalars(select(CallRecord).where(CallRecord.call_id == "c1")).one()
        event = db.scalars(select(OperatorEvent)).one()
    assert (record.wrapup_outcome, record.operator) == ("information", "231")
    assert (event.extension, event.kind, event.reason, event.call_id) == (
        "231",
        "wrapup",
        "information",
        "c1",
    )
    with app.config["SESSIONS"]() as db:
        audit = db.scalars(select(AuditEntry).where(AuditEntry.action == "desk_wrapup")).one()
    assert "231 c1" in audit.target


class FakeAMI:
    """Records the actions it receives; every one succeeds."""

    def __init__(self) -> None:
        self.actions: list[tuple[str, dict]] = []

    def action(self, name: str, **fields):
        self.actions.append((name, fields))
        return mock.Mock(ok=True, message="", events=[])


class FakeHub:
    def __init__(self, current: Current | None) -> None:
        self.now = current

    def current(self, extension: str) -> Current | None:
        return self.now if extension == "231" else None

    def card(self, extension: str) -> None:
        return None


def _directory_desk(tmp_path, monkeypatch):
    app, settings = _app(tmp_path)
    city = load_dialplan(config.ROOT / "dialplans" / "example-city.yaml")
    store = DirectoryStore(ready(settings.database_url))
    entry = EntryData("Ufficio Tributi Rossi", "tributi", "person", ("rossi",), "201", "", "", True)
    off = EntryData("Ufficio Chiuso", "tributi", "office", (), "202", "", "", False)
    rossi, _ = store.save(entry, city)
    closed, _ = store.save(off, city)
    ami = FakeAMI()
    call = Current("c1", "tributi", channel="PJSIP/trunk-00000001", connected_at=1.0)
    monkeypatch.setattr(desk_view, "_ami", lambda: ami)
    monkeypatch.setattr(AdminServices, "desk_hub", lambda self: FakeHub(call))
    return app, settings, ami, rossi.id, closed.id


def test_the_desk_searches_the_directory_enabled_entries_only(tmp_path, monkeypatch):
    app, _, _, rossi, closed = _directory_desk(tmp_path, monkeypatch)
    client = login(app, "operator")
    page = client.get("/desk/directory?q=rossi").get_data(as_text=True)
    assert f'data-entry="{rossi}"' in page and "Ufficio Tributi Rossi" in page
    assert f'id="put-through-{rossi}"' in page
    assert ("open" in page) or ("closed" in page)
    page = client.get("/desk/directory?q=chiuso").get_data(as_text=True)
    assert f'data-entry="{closed}"' not in page and 'id="no-entries"' in page
    assert login(app, "viewer").get("/desk/directory?q=rossi").status_code == 404


def test_putting_the_caller_through_to_an_entry_sets_the_variables_then_redirects(
    tmp_path, monkeypatch
):
    app, settings, ami, rossi, _ = _directory_desk(tmp_path, monkeypatch)
    client = login(app, "operator")
    response = post(client, "/desk/directory/transfer", {"entry": str(rossi), "note": "IMU"})
    assert response.status_code == 302
    channel = "PJSIP/trunk-00000001"
    assert ami.actions == [
        ("Setvar", {"Channel": channel, "Variable": "NU_DIAL", "Value": "PJSIP/201"}),
        ("Setvar", {"Channel": channel, "Variable": "NU_QUEUE", "Value": "tributi"}),
        ("Setvar", {"Channel": channel, "Variable": "NU_DEPARTMENT", "Value": "tributi"}),
        ("Setvar", {"Channel": channel, "Variable": "NU_REASON", "Value": "transfer"}),
        (
            "Redirect",
            {"Channel": channel, "Context": "nu-directory", "Exten": "s", "Priority": "1"},
        ),
    ]
    with app.config["SESSIONS"]() as db:
        audit = db.scalars(select(AuditEntry).where(AuditEntry.action == "desk_transfer")).one()
    assert "231 c1" in audit.target and f"dir:{rossi}" in str(audit.after)
    with Session(ready(settings.database_url)) as db:
        event = db.scalars(select(OperatorEvent)).one()
    assert (event.kind, event.reason, event.call_id) == ("transfer", f"dir:{rossi}", "c1")


def test_an_unknown_or_disabled_entry_is_refused_with_a_message(tmp_path, monkeypatch):
    app, _, ami, _, closed = _directory_desk(tmp_path, monkeypatch)
    client = login(app, "operator")
    page = post(client, "/desk/directory/transfer", {"entry": "9999"}, follow_redirects=True)
    assert "No such directory entry" in page.get_data(as_text=True)
    page = post(client, "/desk/directory/transfer", {"entry": str(closed)}, follow_redirects=True)
    assert "The directory entry &#39;Ufficio Chiuso&#39; is disabled" in page.get_data(as_text=True)
    assert not [a for a in ami.actions if a[0] in ("Setvar", "Redirect")]


def test_the_navigation_leads_to_the_desk_in_both_languages(tmp_path):
    app, _ = _app(tmp_path)
    client = login(app, "operator")
    page = client.get("/desk/directory").get_data(as_text=True)
    assert 'href="/desk">Desk</a>' in page
    post(client, "/lang", {"lang": "it", "back": "/desk/directory"})
    assert 'href="/desk">Postazione</a>' in client.get("/desk/directory").get_data(as_text=True)


def test_the_desk_speaks_italian_too(tmp_path, monkeypatch):
    app, *_ = _directory_desk(tmp_path, monkeypatch)
    client = login(app, "operator")
    assert "Desk: Anna (231)" in client.get("/desk").get_data(as_text=True)
    post(client, "/lang", {"lang": "it", "back": "/desk"})
    page = client.get("/desk").get_data(as_text=True)
    assert "Postazione: Anna (231)" in page and "Cerca in rubrica" in page
    assert 'data-t-paused="In pausa ({reason})."' in page
