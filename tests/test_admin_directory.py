"""The admin's directory page: operators search, admins change and import (audited, all or
nothing), and every refusal names the field or the row."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import select

from ivr.admin.models import AuditEntry
from tests.admin_support import city_settings, login, make_app, post


class Voiceless:
    """No speech at all: the names' audio build reports failures instead of spending seconds."""

    def voice(self, lang: str) -> str:
        from ivr.prompts.build import SynthesisError

        raise SynthesisError("no voice in this test")

    def synthesize(self, text: str, lang: str) -> bytes:
        raise AssertionError("unreachable")


@pytest.fixture
def app(tmp_path):
    return make_app(city_settings(tmp_path), synthesizer=Voiceless())


ENTRY = {
    "name": "Ufficio Matrimoni",
    "kind": "office",
    "aliases": "matrimoni|nozze",
    "extension": "251",
    "department": "anagrafe",
    "hours": 'mon-fri: ["09:00-12:00"]',
    "enabled": "on",
}


def test_operators_search_but_only_admins_change(app):
    admin = login(app, "admin")
    assert post(admin, "/directory", ENTRY).status_code == 302
    operator = login(app, "operator")
    page = operator.get("/directory?q=nozze").get_data(as_text=True)
    assert "Ufficio Matrimoni" in page and "Import CSV" not in page
    assert post(operator, "/directory", {**ENTRY, "name": "Altro"}).status_code == 403
    assert "Ufficio Matrimoni" not in operator.get("/directory?q=tributi").get_data(as_text=True)


def test_a_bad_entry_is_refused_field_by_field_and_a_good_one_audited(app):
    admin = login(app, "admin")
    bad = {**ENTRY, "name": 'Matrimoni "<sip:x>"', "extension": "101"}
    page = post(admin, "/directory", bad, follow_redirects=True).get_data(as_text=True)
    assert "name: may hold only letters" in page
    assert "extension: &#39;101&#39; clashes with the operators" in page
    post(admin, "/directory", ENTRY)
    with app.config["SESSIONS"]() as db:
        entries = db.scalars(select(AuditEntry).where(AuditEntry.action == "directory_save"))
        [entry] = list(entries)
    assert entry.target == "Ufficio Matrimoni" and "ext 251" in entry.after


def test_a_csv_with_broken_rows_changes_nothing(app):
    admin = login(app, "admin")
    post(admin, "/directory", ENTRY)
    csv = "name,extension,department\nNuovo Ufficio,252,anagrafe\nMario Rossi,805,nowhere\n"
    page = post(
        admin,
        "/directory/import",
        {"file": (io.BytesIO(csv.encode()), "rubrica.csv")},
        content_type="multipart/form-data",
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "row 3, extension: &#39;805&#39; clashes with the department" in page
    assert "row 3, department: &#39;nowhere&#39; is not a department" in page
    assert "Nuovo Ufficio" not in admin.get("/directory").get_data(as_text=True)
    good = csv.replace("Mario Rossi,805,nowhere", "Mario Rossi,253,tributi")
    post(
        admin,
        "/directory/import",
        {"file": (io.BytesIO(good.encode()), "rubrica.csv")},
        content_type="multipart/form-data",
    )
    listed = admin.get("/directory").get_data(as_text=True)
    assert "Nuovo Ufficio" in listed and "Mario Rossi" in listed
