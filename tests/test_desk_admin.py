"""The desk's pages without Asterisk: who has a desk, what a wrap-up writes (call_records,
operator_events, the audit log, never the number), what is refused."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr import config
from ivr.admin.models import AuditEntry
from ivr.db import ready
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
