"""The admin's Operators page: admins add, edit, disable, rotate and remove operator accounts;
every refusal is shown beside its field with nothing written; a SIP secret is shown once, in
the answer to the POST that made it, and never again; every change is audited and published."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from ivr.admin.models import AuditEntry
from ivr.operators.rules import digest
from tests.admin_support import city_settings, login, make_app, post


@pytest.fixture
def app(tmp_path):
    return make_app(city_settings(tmp_path))


MARIA = {
    "extension": "150",
    "name": "Maria Rossi",
    "languages": ["it", "en"],
    "skill_tributi": "1",
    "skill_anagrafe": "2",
    "username": "operator",
    "enabled": "on",
}


def secret_of(page: str) -> str:
    return re.search(r'<code id="secret-value">([^<]+)</code>', page).group(1)


def stored_digest(app, extension: str) -> str:
    from sqlalchemy.orm import Session

    from ivr.db import ready
    from ivr.operators.models import Operator

    services = app.extensions["numero_unico_admin"]
    with Session(ready(services.settings.database_url)) as db:
        return db.scalar(select(Operator.secret_digest).where(Operator.extension == extension))


def audit(app) -> list[tuple[str, str]]:
    with app.config["SESSIONS"]() as db:
        return [
            (e.action, e.target) for e in db.scalars(select(AuditEntry).order_by(AuditEntry.id))
        ]


def test_an_admin_adds_an_operator_and_sees_the_secret_once(app):
    admin = login(app, "admin")
    response = post(admin, "/operators", MARIA)
    assert response.status_code == 200  # the secret is this answer's body, not a redirect
    assert response.headers["Cache-Control"] == "no-store"
    page = response.get_data(as_text=True)
    secret = secret_of(page)
    assert digest("150", secret) == stored_digest(app, "150")
    assert "Asterisk confirmed: live" in page
    listing = admin.get("/operators").get_data(as_text=True)
    assert "Maria Rossi" in listing and "tributi (1), anagrafe (2)" in listing
    assert secret not in listing
    assert secret not in admin.get("/operators/150").get_data(as_text=True)
    assert all(secret not in f"{a} {t}" for a, t in audit(app))
    assert ("operator_add", "150") in audit(app) and ("operators", "add operator 150") in audit(app)


def test_every_problem_is_shown_beside_its_field_and_nothing_is_written(app):
    admin = login(app, "admin")
    bad = {**MARIA, "extension": "805", "name": 'Maria "<sip:x>"', "languages": []}
    response = post(admin, "/operators", bad)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    for field, words in (
        ("extension", "8NN are department codes"),
        ("name", "characters not allowed"),
        ("languages", "at least one language"),
    ):
        errors = re.search(rf'<ul class="field-error" id="err-{field}">(.*?)</ul>', page, re.S)
        assert errors and words in errors.group(1), field
    assert 'value="Maria &#34;&lt;sip:x&gt;&#34;"' in page  # what was typed stays, escaped
    assert "No operators." in page and "secret-value" not in page
    assert not any(action.startswith("operator") for action, _ in audit(app))


def test_a_taken_desk_or_extension_is_refused_on_its_field(app):
    admin = login(app, "admin")
    post(admin, "/operators", MARIA)
    again = post(admin, "/operators", {**MARIA, "name": "Altra"}).get_data(as_text=True)
    assert re.search(r'id="err-extension">.*already in use', again, re.S)
    desk = post(admin, "/operators", {**MARIA, "extension": "151"}).get_data(as_text=True)
    assert re.search(r'id="err-username">.*already has the desk of 150', desk, re.S)


def test_edit_disable_rotate_and_remove(app):
    admin = login(app, "admin")
    first = secret_of(post(admin, "/operators", MARIA).get_data(as_text=True))
    edited = {**MARIA, "name": "Maria Bianchi", "skill_anagrafe": "", "tls": "on"}
    assert post(admin, "/operators/150", edited).status_code == 302
    listing = admin.get("/operators").get_data(as_text=True)
    assert "Maria Bianchi" in listing and "anagrafe (2)" not in listing
    assert post(admin, "/operators/150", {**edited, "skill_tributi": "x"}).status_code == 422
    post(admin, "/operators/150/enabled", {})
    assert app.extensions["numero_unico_admin"].operators().get("150").enabled is False
    second = secret_of(post(admin, "/operators/150/rotate").get_data(as_text=True))
    assert second != first and digest("150", second) == stored_digest(app, "150")
    kept = post(admin, "/operators/150/remove", {}, follow_redirects=True)
    assert "Tick the confirmation" in kept.get_data(as_text=True)
    post(admin, "/operators/150/remove", {"confirm": "on"})
    assert app.extensions["numero_unico_admin"].operators().get("150") is None
    actions = [a for a, _ in audit(app) if a.startswith("operator")]
    assert actions == [
        "operator_add",
        "operators",
        "operator_edit",
        "operators",
        "operator_disable",
        "operators",
        "operator_rotate",
        "operators",
        "operator_remove",
        "operators",
    ]


@pytest.mark.parametrize("role", ["editor", "viewer", "operator"])
def test_only_admins_reach_the_page(app, role):
    client = login(app, role)
    assert client.get("/operators").status_code == 403
    assert post(client, "/operators", MARIA).status_code == 403
    assert app.extensions["numero_unico_admin"].operators().accounts() == []
