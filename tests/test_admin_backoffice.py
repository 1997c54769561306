"""The back office's pages without Asterisk: who may open them, the work queue's order as shown
(deadline, then severity, never arrival), its filters, bulk assignment all-or-nothing, status
changes along the rules, answers by SMS/e-mail through the outbox, the voice message, export and
erasure, the call-back button's refusals, the desk's pre-filled new request, and an audit log
that names requests by id only."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from booking.models import Outbox
from ivr import config
from ivr.admin import auth
from ivr.admin.models import AuditEntry
from ivr.admin.views import desk as desk_view
from ivr.backoffice.rules import Category, NewRequest
from ivr.backoffice.store import BackofficeStore
from ivr.db import ready
from ivr.flow.loader import load_dialplan
from ivr.operators.rules import AccountSpec
from ivr.operators.store import OperatorStore
from tests.admin_support import PASSWORD, city_settings, login, make_app, post

NUMBER = "3471234567"
EMAIL = "maria.rossi@example.org"
SECRET_TEXT = "Buca profonda in via Roma 12"


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _app(tmp_path, **overrides):
    settings = city_settings(tmp_path, **overrides)
    app = make_app(settings)
    with app.config["SESSIONS"].begin() as db:
        auth.create_user(db, "back_office", PASSWORD, "back_office", "en")
    return app, settings


def _seed(settings) -> dict[str, int]:
    """Requests whose arrival order is not the queue's order:

    ``late``    arrived first of all, normal: its deadline passed 28 h ago (overdue);
    ``low``     arrived before the others below, low: 168 h;
    ``high``    then high (same 24 h category hours as ``urgent``: same deadline);
    ``urgent``  then urgent, same deadline as ``high``: more severe, so first;
    ``water``   a normal request of another category (72 h);
    ``closed``  solved and closed (not in the open queue)."""
    now = datetime.now().replace(microsecond=0)
    clock = Clock(now - timedelta(hours=100))
    store = BackofficeStore(ready(settings.database_url), clock=clock)
    store.save_category(Category("strade", "tributi", "Strade", sla={"urgent": 24, "high": 24}))
    store.save_category(Category("acqua", "rifiuti", "Acqua"))
    ids = {}

    def new(name: str, category: str, severity: str, **kw) -> None:
        data = NewRequest(
            category=category,
            description=f"{SECRET_TEXT} ({name})",
            severity=severity,
            number=kw.pop("number", NUMBER),
            **kw,
        )
        ids[name] = store.create(data, "seed").id

    new("late", "strade", "normal")
    clock.now = now - timedelta(hours=1)
    new("low", "strade", "low")
    clock.now = now
    new("high", "strade", "high", email=EMAIL)
    new("urgent", "strade", "urgent")
    new("water", "acqua", "normal", number="", email=EMAIL, channel="email")
    new("closed", "acqua", "low")
    store.move(ids["closed"], "closed", "seed")
    return ids


def _order(page: str) -> list[int]:
    return [int(i) for i in re.findall(r'<tr data-id="(\d+)"', page)]


@pytest.fixture
def city(tmp_path):
    app, settings = _app(tmp_path)
    return app, settings, _seed(settings)


@pytest.mark.parametrize(
    "role,allowed",
    [
        ("back_office", True),
        ("admin", True),
        ("viewer", False),
        ("editor", False),
        ("operator", False),
        ("teleassistance", False),
    ],
)
def test_only_back_office_staff_and_admins_open_the_pages(city, role, allowed):
    app, _, ids = city
    client = login(app, role)
    for path in ("/backoffice", f"/backoffice/{ids['urgent']}"):
        assert client.get(path).status_code == (200 if allowed else 403), path
    response = post(client, f"/backoffice/{ids['urgent']}/status", {"status": "in_progress"})
    assert response.status_code == (302 if allowed else 403)
    nav = client.get("/desk" if not allowed else "/backoffice").get_data(as_text=True)
    assert ('href="/backoffice"' in nav) == allowed


def test_a_back_office_user_lands_on_the_queue(tmp_path):
    app, _ = _app(tmp_path)
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    response = client.post(
        "/login", data={"username": "back_office", "password": PASSWORD, "csrf_token": csrf}
    )
    assert response.headers["Location"].endswith("/backoffice")


def test_the_queue_shows_deadline_then_severity_not_arrival_overdue_highlighted(city):
    app, _, ids = city
    page = login(app, "back_office").get("/backoffice").get_data(as_text=True)
    assert _order(page) == [ids["late"], ids["urgent"], ids["high"], ids["water"], ids["low"]]
    overdue = re.findall(r'<tr data-id="(\d+)" class="bad overdue"', page)
    assert overdue == [str(ids["late"])]
    assert NUMBER not in page and EMAIL not in page and SECRET_TEXT not in page
    assert "********67" in page and "…@example.org" in page  # masked
    # One click calls back a citizen with a number; Enter in the assign fields never does
    # (the form's first submit button is "assign").
    calls = re.findall(r'formaction="/backoffice/(\d+)/call"', page)
    callable_ = ("late", "urgent", "high", "low")  # "water" has an e-mail only
    assert sorted(int(i) for i in calls) == sorted(ids[n] for n in callable_)
    assert page.index('id="assign"') < page.index("formaction=")


def test_the_queue_filters_by_team_category_and_status(city):
    app, settings, ids = city
    client = login(app, "back_office")
    assert _order(client.get("/backoffice?category=acqua").get_data(as_text=True)) == [ids["water"]]
    assert _order(client.get("/backoffice?status=closed").get_data(as_text=True)) == [ids["closed"]]
    BackofficeStore(ready(settings.database_url)).assign([ids["low"]], "strade-nord", "", "x")
    assert _order(client.get("/backoffice?team=strade-nord").get_data(as_text=True)) == [ids["low"]]


def test_bulk_assignment_is_all_or_nothing_and_says_why(city):
    app, settings, ids = city
    client = login(app, "back_office")
    store = BackofficeStore(ready(settings.database_url))
    data = {"ids": [str(ids["urgent"]), str(ids["closed"])], "team": "strade-nord"}
    page = post(client, "/backoffice/assign", data, follow_redirects=True).get_data(as_text=True)
    assert "No request assigned" in page and str(ids["closed"]) in page
    assert store.get(ids["urgent"]).team == ""
    data = {"ids": [str(ids["urgent"]), str(ids["high"])], "team": "strade-nord", "assignee": "bo"}
    page = post(client, "/backoffice/assign", data, follow_redirects=True).get_data(as_text=True)
    assert "2 requests assigned" in page
    assert {store.get(ids[n]).team for n in ("urgent", "high")} == {"strade-nord"}
    assert store.get(ids["urgent"]).assignee == "bo"
    page = post(client, "/backoffice/assign", {"team": "x"}, follow_redirects=True)
    assert "choose at least one request" in page.get_data(as_text=True)


def test_status_changes_follow_the_rules(city):
    app, settings, ids = city
    client = login(app, "back_office")
    store = BackofficeStore(ready(settings.database_url))
    path = f"/backoffice/{ids['closed']}/status"
    page = post(client, path, {"status": "in_progress"}, follow_redirects=True)
    assert "a closed request cannot become" in page.get_data(as_text=True)
    assert store.get(ids["closed"]).status == "closed"
    path = f"/backoffice/{ids['urgent']}/status"
    page = post(client, path, {"status": "in_progress", "note": "on it"}, follow_redirects=True)
    assert "Now: in progress" in page.get_data(as_text=True)
    assert store.get(ids["urgent"]).status == "in_progress"
    page = client.get(f"/backoffice/{ids['urgent']}").get_data(as_text=True)
    assert 'value="new"' not in page  # only the statuses it may move to are offered


def test_answers_by_sms_and_email_go_through_the_outbox(city):
    app, settings, ids = city
    client = login(app, "back_office")
    page = post(
        client,
        f"/backoffice/{ids['high']}/message",
        {"channel": "sms", "text": "Riparata domani"},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "queued" in page
    post(client, f"/backoffice/{ids['high']}/message", {"channel": "email", "text": "Fatto"})
    page = post(
        client,
        f"/backoffice/{ids['urgent']}/message",
        {"channel": "email", "text": "x"},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "no email to write to" in page  # refused, naming the field
    with Session(ready(settings.database_url)) as db:
        sent = db.scalars(select(Outbox).where(Outbox.ref == f"backoffice:{ids['high']}")).all()
        assert {(m.kind, m.recipient) for m in sent} == {("sms", NUMBER), ("email", EMAIL)}
        others = db.scalars(select(Outbox).where(Outbox.ref == f"backoffice:{ids['urgent']}"))
        assert others.all() == []
    history = BackofficeStore(ready(settings.database_url)).history(ids["high"])
    assert [(e.kind, e.detail["channel"]) for e in history if e.kind == "contact"] == [
        ("contact", "sms"),
        ("contact", "email"),
    ]


def test_the_request_page_plays_its_own_voice_message_only(city):
    app, settings, _ = city
    store = BackofficeStore(ready(settings.database_url))
    folder = settings.var_dir / "backoffice"  # the IVR's recordings spool
    folder.mkdir(parents=True)
    (folder / "msg-1.wav").write_bytes(b"RIFF....WAVE")
    (folder / "other.wav").write_bytes(b"RIFF....WAVE")
    (folder / "request-12345678.json").write_text('{"number": "3470000000"}')
    data = NewRequest(category="acqua", recording="msg-1.wav", number=NUMBER, source="phone")
    rid = store.create(data, "ivr").id
    client = login(app, "back_office")
    page = client.get(f"/backoffice/{rid}").get_data(as_text=True)
    assert f'id="recording" src="/backoffice/{rid}/recording/msg-1.wav"' in page
    response = client.get(f"/backoffice/{rid}/recording/msg-1.wav")
    assert response.status_code == 200 and response.mimetype == "audio/wav"
    assert client.get(f"/backoffice/{rid}/recording/other.wav").status_code == 404
    assert client.get(f"/backoffice/{rid}/recording/..%2Fother.wav").status_code == 404
    assert client.get(f"/backoffice/{rid}/recording/request-12345678.json").status_code == 404
    assert login(app, "viewer").get(f"/backoffice/{rid}/recording/msg-1.wav").status_code == 403
    spoken = Path(settings.sounds_dir) / "it" / f"bo_answer_{rid}.wav"  # the answer, spoken
    spoken.parent.mkdir(parents=True, exist_ok=True)
    spoken.write_bytes(b"RIFF....WAVE")
    kept = spoken.with_name(f"bo_answer_{rid + 1}.wav")  # another request's
    kept.write_bytes(b"RIFF....WAVE")
    post(client, f"/backoffice/{rid}/erase", {"confirm": "on"})  # its files go too
    assert not (folder / "msg-1.wav").exists() and (folder / "other.wav").exists()
    assert not spoken.exists() and kept.exists()


def test_export_is_a_no_store_download_and_erasure_needs_the_confirmation(city):
    app, settings, ids = city
    client = login(app, "back_office")
    response = client.get(f"/backoffice/{ids['high']}/export")
    assert response.headers["Cache-Control"] == "no-store"
    assert "attachment" in response.headers["Content-Disposition"]
    found = json.loads(response.get_data(as_text=True))
    assert found["number"] == NUMBER and found["history"][0]["kind"] == "created"
    page = post(client, f"/backoffice/{ids['high']}/erase", follow_redirects=True)
    assert "Tick the confirmation" in page.get_data(as_text=True)
    store = BackofficeStore(ready(settings.database_url))
    assert store.get(ids["high"]) is not None
    post(client, f"/backoffice/{ids['high']}/erase", {"confirm": "on"})
    assert store.get(ids["high"]) is None
    assert "erased" in client.get("/backoffice").get_data(as_text=True)


def test_call_back_without_a_line_or_a_phone_dials_nothing_and_says_why(tmp_path):
    app, settings = _app(tmp_path, callback_dial="", teleassistance_dial="")
    ids = _seed(settings)
    client = login(app, "back_office")
    page = post(client, f"/backoffice/{ids['urgent']}/call", follow_redirects=True)
    assert "No outbound line is configured" in page.get_data(as_text=True)

    (tmp_path / "b").mkdir()
    app, settings = _app(tmp_path / "b", callback_dial="PJSIP/{number}@trunk")
    ids = _seed(settings)
    client = login(app, "back_office")
    page = post(client, f"/backoffice/{ids['urgent']}/call", follow_redirects=True)
    assert "has no operator account" in page.get_data(as_text=True)
    page = post(client, f"/backoffice/{ids['water']}/call", follow_redirects=True)
    assert "no number to call" in page.get_data(as_text=True)
    history = BackofficeStore(ready(settings.database_url)).history(ids["urgent"])
    assert [e.kind for e in history] == ["created"]


def test_the_audit_names_requests_by_id_only(city):
    app, settings, ids = city
    client = login(app, "back_office")
    rid = ids["high"]
    post(client, "/backoffice/assign", {"ids": [str(rid)], "team": "t"})
    post(client, f"/backoffice/{rid}/status", {"status": "in_progress", "note": SECRET_TEXT})
    post(client, f"/backoffice/{rid}/answer", {"answer": SECRET_TEXT})
    post(client, f"/backoffice/{rid}/message", {"channel": "sms", "text": SECRET_TEXT})
    client.get(f"/backoffice/{rid}/export")
    post(client, f"/backoffice/{rid}/erase", {"confirm": "on"})
    with app.config["SESSIONS"]() as db:
        entries = db.scalars(select(AuditEntry).where(AuditEntry.action.like("backoffice_%"))).all()
    actions = [e.action for e in entries]
    assert actions == [
        "backoffice_assign",
        "backoffice_status",
        "backoffice_answer",
        "backoffice_message",
        "backoffice_export",
        "backoffice_erase",
    ]
    for entry in entries:
        text = f"{entry.target} {entry.before} {entry.after}"
        assert str(rid) in entry.target
        for secret in (NUMBER, EMAIL, SECRET_TEXT, "Buca"):
            assert secret not in text


def test_the_desk_files_a_request_pre_filled_from_the_call(tmp_path, monkeypatch):
    app, settings = _app(tmp_path)
    _seed(settings)
    city = load_dialplan(config.ROOT / "dialplans" / "example-city.yaml")
    accounts = OperatorStore(ready(settings.database_url), lambda: city)
    accounts.add(AccountSpec("231", "Anna", ("it",), (("rifiuti", 1),), username="operator"))
    context = {
        "call_id": "1700000000.42",
        "language": "en",
        "department": "rifiuti",
        "number": NUMBER,
        "said": "the water is brown",
    }
    monkeypatch.setattr(desk_view, "_call_context", lambda account: context)
    client = login(app, "operator")
    assert 'id="new-request"' in client.get("/desk").get_data(as_text=True)
    page = client.get("/desk/request").get_data(as_text=True)
    assert '<option value="acqua" selected>' in page  # the department's category
    assert '<option value="en" selected>' in page
    assert f'value="{NUMBER}"' in page and "the water is brown</textarea>" in page
    page = post(
        client,
        "/desk/request",
        {"category": "acqua", "description": "", "channel": "sms", "number": "x1"},
    ).get_data(as_text=True)
    assert "not a phone number" in page  # refused, beside its field
    form = {
        "category": "acqua",
        "severity": "high",
        "description": "the water is brown",
        "number": NUMBER,
        "channel": "phone",
        "language": "en",
        "transcript": "the water is brown",
        "call_id": "someone-elses-call",
    }
    page = post(client, "/desk/request", form, follow_redirects=True).get_data(as_text=True)
    code = re.search(r"Request (\d+) recorded", page).group(1)
    made = BackofficeStore(ready(settings.database_url)).by_code(code)
    assert (made.source, made.call_id, made.language, made.number) == (
        "desk",
        "1700000000.42",
        "en",
        NUMBER,
    )
    with app.config["SESSIONS"]() as db:
        entry = db.scalars(
            select(AuditEntry).where(AuditEntry.action == "desk_backoffice_request")
        ).one()
    assert NUMBER not in f"{entry.target} {entry.after}"
    assert login(app, "back_office").get("/desk/request").status_code == 403

    # After the wrap-up the desk has no call: the form keeps the call it was filled in from.
    monkeypatch.setattr(desk_view, "_call_context", lambda account: None)
    store = BackofficeStore(ready(settings.database_url))
    for call_id, kept in (("1700000000.43", "1700000000.43"), ("x;Set(A=1)", "")):
        form.update(call_id=call_id, description=f"after the call {call_id}")
        page = post(client, "/desk/request", form, follow_redirects=True).get_data(as_text=True)
        code = re.search(r"Request (\d+) recorded", page).group(1)
        assert store.by_code(code).call_id == kept


def test_a_back_office_user_gets_exactly_its_permissions_everywhere(tmp_path):
    from ivr.admin.auth import CAN
    from tests.test_admin_security import NoVoice, request, routes

    settings = city_settings(tmp_path)
    app = make_app(settings, synthesizer=NoVoice())
    with app.config["SESSIONS"].begin() as db:
        auth.create_user(db, "back_office", PASSWORD, "back_office", "en")
    client = login(app, "back_office")
    for endpoint, method, path, permission in routes(app):
        response = request(client, method, path)
        if "back_office" in CAN[permission]:
            assert response.status_code != 403, (endpoint, method, path)
        else:
            assert response.status_code == 403, (endpoint, method, path)


def test_every_computed_text_of_the_pages_exists_in_both_languages():
    from ivr.admin.i18n import TEXTS
    from ivr.backoffice.rules import SEVERITIES, SOURCES, STATUSES

    kinds = ("created", "merged", "assigned", "status", "answer", "contact")
    keys = [f"bo_status_{s}" for s in STATUSES] + [f"bo_severity_{s}" for s in SEVERITIES]
    keys += [f"bo_source_{s}" for s in SOURCES] + [f"bo_event_{k}" for k in kinds]
    assert [k for k in keys if set(TEXTS.get(k, {})) != {"it", "en"}] == []
