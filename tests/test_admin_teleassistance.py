"""The admin's Teleassistance pages: the teleassistance staff enrol, edit, suspend and resume
citizens, import a CSV (all or nothing, every row and field named), export one citizen and erase
them; a bad field is shown beside it; numbers are masked in the list; editors, viewers and
operators are refused; the audit log and the logs hold ids, never names or numbers."""

from __future__ import annotations

import io
import json
import logging
import re

import pytest
from sqlalchemy import select

from ivr.admin.models import AuditEntry
from tests.admin_support import city_settings, login, make_app, post

NAME, NUMBER, MOBILE = "Maria Rossi", "06 1234 5678", "333 123 4567"
DAUGHTER = "Anna Bianchi/333 111 2222/daughter/sms"
PERSONAL = ("Maria", "Rossi", "Anna", "Bianchi", "12345678", "1234567", "1112222", "hospital")

MARIA = {
    "name": NAME,
    "numbers": f"{NUMBER}\n+39 {MOBILE}",
    "language": "it",
    "area": "Borgo San Paolo",
    "weekdays": ["mon", "thu"],
    "window": "10:00-12:00",
    "call_kind": "operator",
    "contacts": DAUGHTER,
    "consent_on": "2026-11-20",
    "consent_by": "teleassistance",
    "notes": "Sente poco: parlare piano",
}

HEADER = "name,numbers,language,weekdays,call_kind,contacts,consent_on,consent_by,window,area\n"
GOOD_ROW = "Gino Verdi,06 1234 0001,it,mon,automatic,Ada Verdi/3331110001/son/call,2026-11-01,op,,"
BAD_ROW = "Lia Neri,06 1234 0002,xx,funday,robot,Ada Verdi/3331110002/son/call,2026-11-01,op,,"


@pytest.fixture
def app(tmp_path):
    return make_app(city_settings(tmp_path))


def audit_rows(app) -> list[AuditEntry]:
    with app.config["SESSIONS"]() as db:
        return list(db.scalars(select(AuditEntry).where(AuditEntry.action.like("teleass%"))))


def no_personal_data(text: str) -> None:
    for piece in PERSONAL:
        assert piece not in text, piece


def add(client, **changes):
    return post(client, "/teleassistance/new", {**MARIA, **changes})


def citizen_id(response) -> int:
    return int(re.search(r"/teleassistance/(\d+)$", response.headers["Location"]).group(1))


def test_a_teleassistance_user_lands_on_the_page_and_sees_the_link(app):
    client = login(app, "teleassistance")
    page = client.get("/teleassistance").get_data(as_text=True)
    assert 'href="/teleassistance"' in page and "Teleassistance" in page
    assert 'href="/flow"' not in page and 'href="/live"' not in page  # nothing else to open
    assert client.get("/").status_code == 403
    fresh = app.test_client()
    from tests.admin_support import PASSWORD, token

    landed = fresh.post(
        "/login",
        data={"username": "teleassistance", "password": PASSWORD, "csrf_token": token(fresh)},
    )
    assert landed.headers["Location"].endswith("/teleassistance")
    assert 'href="/teleassistance"' in login(app, "admin").get("/").get_data(as_text=True)
    assert 'href="/teleassistance"' not in login(app, "editor").get("/").get_data(as_text=True)


def test_add_edit_list_masked_suspend_resume_and_audit_without_personal_data(app, caplog):
    caplog.set_level(logging.DEBUG)
    client = login(app, "teleassistance")
    added = add(client)
    assert added.status_code == 302, added.get_data(as_text=True)
    cid = citizen_id(added)

    listed = client.get("/teleassistance").get_data(as_text=True)
    assert NAME in listed and "Borgo San Paolo" in listed
    assert "********78" in listed and "********67" in listed  # masked, both numbers
    assert "12345678" not in listed and "1234567" not in listed
    assert client.get("/teleassistance").headers["Cache-Control"] == "no-store"

    form = client.get(f"/teleassistance/{cid}")
    assert form.headers["Cache-Control"] == "no-store"
    assert "0612345678" in form.get_data(as_text=True)  # whole on the edit page only

    edited = post(client, f"/teleassistance/{cid}", {**MARIA, "area": "Centro"})
    assert edited.status_code == 302
    assert NAME in client.get("/teleassistance?area=centro").get_data(as_text=True)
    assert NAME not in client.get("/teleassistance?area=Borgo").get_data(as_text=True)

    bad = post(client, f"/teleassistance/{cid}/suspend", {"reason": "hospital", "from": "x"})
    assert bad.status_code == 422 and 'id="err-from"' in bad.get_data(as_text=True)
    today = post(client, f"/teleassistance/{cid}/suspend", {"reason": "hospital"})
    assert today.status_code == 302
    assert NAME in client.get("/teleassistance?state=suspended").get_data(as_text=True)
    assert NAME not in client.get("/teleassistance?state=active").get_data(as_text=True)
    assert post(client, f"/teleassistance/{cid}/resume").status_code == 302
    assert NAME in client.get("/teleassistance?state=active").get_data(as_text=True)

    rows = audit_rows(app)
    assert [r.action for r in rows] == [
        "teleassistance_add",
        "teleassistance_edit",
        "teleassistance_suspend",
        "teleassistance_resume",
    ]
    assert {r.target for r in rows} == {f"citizen {cid}"}
    no_personal_data(" ".join(f"{r.target} {r.before} {r.after}" for r in rows))
    no_personal_data(caplog.text)


def test_a_bad_field_is_named_beside_it_and_nothing_is_written(app):
    client = login(app, "teleassistance")
    refused = add(client, numbers="12", weekdays=["funday"], window="21:00-22:00")
    page = refused.get_data(as_text=True)
    assert refused.status_code == 422
    for field in ("numbers", "weekdays", "window"):
        assert f'id="err-{field}"' in page, field
    assert 'aria-describedby="err-numbers"' in page
    assert 'value="Maria Rossi"' in page  # what was typed is kept
    assert "No citizens." in client.get("/teleassistance").get_data(as_text=True)
    assert audit_rows(app) == []


def test_a_csv_with_a_broken_row_imports_nobody_and_names_every_problem(app, caplog):
    caplog.set_level(logging.DEBUG)
    client = login(app, "teleassistance")

    def upload(text: str):
        data = {"file": (io.BytesIO(text.encode()), "citizens.csv")}
        return post(client, "/teleassistance/import", data, content_type="multipart/form-data")

    refused = upload(HEADER + GOOD_ROW + "\n" + BAD_ROW + "\n")
    page = refused.get_data(as_text=True)
    assert refused.status_code == 422
    for problem in ("row 3, language:", "row 3, weekdays:", "row 3, call_kind:"):
        assert problem in page, problem
    assert "row 2" not in page
    assert "No citizens." in client.get("/teleassistance").get_data(as_text=True)
    assert audit_rows(app) == []
    assert upload("").status_code == 422

    imported = upload(HEADER + GOOD_ROW + "\n")
    assert imported.status_code == 302
    assert "Gino Verdi" in client.get("/teleassistance").get_data(as_text=True)
    [row] = audit_rows(app)
    assert (row.action, row.after) == ("teleassistance_import", "enrolled=1")
    assert "Gino" not in caplog.text and "1234" not in caplog.text


def test_export_then_erase_with_confirmation(app, caplog):
    caplog.set_level(logging.DEBUG)
    client = login(app, "teleassistance")
    cid = citizen_id(add(client))

    exported = client.get(f"/teleassistance/{cid}/export")
    assert exported.status_code == 200
    assert exported.headers["Cache-Control"] == "no-store"
    assert "attachment" in exported.headers["Content-Disposition"]
    assert exported.mimetype == "application/json"
    found = json.loads(exported.get_data(as_text=True))
    assert found["id"] == cid and found["name"] == NAME
    assert found["numbers"] == ["0612345678", "3331234567"]
    assert found["contacts"][0]["relation"] == "daughter"

    unconfirmed = post(client, f"/teleassistance/{cid}/erase")
    assert unconfirmed.status_code == 302
    assert client.get(f"/teleassistance/{cid}").status_code == 200  # still there
    erased = post(client, f"/teleassistance/{cid}/erase", {"confirm": "on"})
    assert erased.status_code == 302
    assert client.get(f"/teleassistance/{cid}").status_code == 404
    assert client.get(f"/teleassistance/{cid}/export").status_code == 404
    assert "No citizens." in client.get("/teleassistance").get_data(as_text=True)

    rows = audit_rows(app)
    assert [r.action for r in rows] == [
        "teleassistance_add",
        "teleassistance_export",
        "teleassistance_erase",
    ]
    assert "teleassistance_citizens=1" in rows[-1].after
    no_personal_data(" ".join(f"{r.target} {r.before} {r.after}" for r in rows))
    no_personal_data(caplog.text)


def test_admins_may_open_it_too(app):
    client = login(app, "admin")
    assert add(client).status_code == 302
    assert NAME in client.get("/teleassistance").get_data(as_text=True)


@pytest.mark.parametrize("role", ["editor", "viewer", "operator"])
def test_other_roles_are_refused(app, role):
    cid = citizen_id(add(login(app, "teleassistance")))
    client = login(app, role)
    for path in (
        "/teleassistance",
        "/teleassistance/new",
        f"/teleassistance/{cid}",
        f"/teleassistance/{cid}/export",
        "/teleassistance/import",
    ):
        response = client.get(path)
        assert response.status_code == 403, path
        assert NAME not in response.get_data(as_text=True)
    for path in (
        "/teleassistance/new",
        f"/teleassistance/{cid}",
        f"/teleassistance/{cid}/suspend",
        f"/teleassistance/{cid}/resume",
        f"/teleassistance/{cid}/erase",
        "/teleassistance/import",
    ):
        assert post(client, path, {**MARIA, "confirm": "on"}).status_code == 403, path
    assert client.get(f"/teleassistance/{cid}").status_code == 403
    assert login(app, "teleassistance").get(f"/teleassistance/{cid}").status_code == 200


def test_every_teleassistance_text_is_in_italian_and_english(app):
    from ivr.admin.i18n import TEXTS
    from ivr.teleassistance import rules
    from ivr.teleassistance.models import KINDS

    computed = [f"ta_day_{d}" for d in rules.WEEKDAYS] + [f"ta_kind_{k}" for k in KINDS]
    computed += [f"ta_reason_{r}" for r in rules.SUSPENSION_REASONS]
    keys = [k for k in TEXTS if k.startswith("ta_")] + ["nav_teleassistance", "role_teleassistance"]
    assert all(set(TEXTS[k]) == {"it", "en"} for k in [*keys, *computed])
    client = login(app, "teleassistance")
    post(client, "/lang", {"lang": "it", "back": "/teleassistance"})
    page = client.get("/teleassistance/new").get_data(as_text=True)
    assert "Nuovo iscritto" in page and "giovedì" in page and "(teleassistenza)" in page
