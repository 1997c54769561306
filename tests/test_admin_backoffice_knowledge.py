"""The admin's back-office knowledge pages: categories (back office reads, admins change, every
bad field named beside it), FAQ entries (written by the back office from solved requests only,
no phone number or e-mail address; read by editors), the FAQ put into the draft and published
the usual way (the validator holds it back until every language has its text), and the report
(plots, table, CSV, a bad day named). Roles are checked on every page."""

from __future__ import annotations

import logging
import re

import pytest
from sqlalchemy import select

from ivr.admin import auth
from ivr.admin.models import AuditEntry
from ivr.admin.publish import check_text
from ivr.backoffice.faq import FaqStore
from ivr.backoffice.faq_rules import FaqText, spoken
from ivr.backoffice.rules import Category, NewRequest
from ivr.backoffice.store import BackofficeStore
from ivr.db import ready
from ivr.flow.loader import parse_dialplan
from ivr.flow.model import MenuNode, PlayNode
from tests.admin_support import PASSWORD, city_settings, login, make_app, post, publish

LANGUAGES = ("it", "en", "fr", "es", "de", "zh", "ar")
NUMBER = "333 123 4567"
QUESTION = "Quando passa il ritiro degli ingombranti?"
ANSWER = "Il ritiro è gratuito: si prenota premendo 1, passa il martedì dalle 7 alle 12."


@pytest.fixture
def city(tmp_path):
    settings = city_settings(tmp_path)
    app = make_app(settings)
    with app.config["SESSIONS"].begin() as db:
        auth.create_user(db, "back_office", PASSWORD, "back_office", "en")
    requests = BackofficeStore(ready(settings.database_url))
    requests.save_category(Category("ingombranti", "rifiuti", "Ritiro ingombranti"))
    requests.save_category(Category("anagrafe_info", "anagrafe", "Informazioni anagrafe"))
    solved = requests.create(
        NewRequest("anagrafe_info", "Che documenti servono? Sono Rossi", number=NUMBER), "bo"
    )
    requests.move(solved.id, "solved", "bo")
    waiting = requests.create(NewRequest("ingombranti", "Un divano", number=NUMBER), "bo")
    return settings, app, requests, solved, waiting


def audit(app, prefix: str) -> list[AuditEntry]:
    with app.config["SESSIONS"]() as db:
        return list(db.scalars(select(AuditEntry).where(AuditEntry.action.like(prefix + "%"))))


def field_errors(page: str, name: str) -> list[str]:
    found = re.search(rf'<ul class="field-error" id="err-{name}">(.*?)</ul>', page, re.S)
    return re.findall(r"<li>(.*?)</li>", found.group(1)) if found else []


# -- categories ---------------------------------------------------------------------------------


def test_the_back_office_reads_categories_and_only_admins_change_them(city):
    _, app, requests, _, _ = city
    clerk = login(app, "back_office")
    page = clerk.get("/backoffice/categories").get_data(as_text=True)
    assert 'data-code="ingombranti"' in page and "add-category" not in page
    assert 'id="read-only"' in clerk.get("/backoffice/categories/ingombranti").get_data(
        as_text=True
    )
    assert post(clerk, "/backoffice/categories/ingombranti", {"name": "x"}).status_code == 403
    assert post(clerk, "/backoffice/categories/new", {"code": "x"}).status_code == 403
    for role in ("editor", "viewer", "operator", "teleassistance"):
        assert login(app, role).get("/backoffice/categories").status_code == 403

    admin = login(app, "admin")
    bad = post(
        admin,
        "/backoffice/categories/new",
        {"code": "Buche!", "name": "", "department": "nowhere", "sla_urgent": "two"},
    )
    assert bad.status_code == 400
    page = bad.get_data(as_text=True)
    assert field_errors(page, "sla_urgent") and field_errors(page, "department")
    bad = post(admin, "/backoffice/categories/new", {"code": "Buche!", "department": "mobilita"})
    page = bad.get_data(as_text=True)
    assert field_errors(page, "code") and field_errors(page, "name")
    assert "buche" not in requests.categories(active_only=False)

    good = {"code": "buche", "name": "Buche", "department": "mobilita", "sla_urgent": "2"}
    response = post(admin, "/backoffice/categories/new", {**good, "active": "1"})
    assert response.status_code == 302
    assert requests.categories()["buche"].sla == {"urgent": 2}
    taken = post(admin, "/backoffice/categories/new", {**good, "active": "1"})
    assert field_errors(taken.get_data(as_text=True), "code") == ["this code exists already"]
    post(admin, "/backoffice/categories/buche", {**good, "sla_low": "200", "active": ""})
    changed = requests.categories(active_only=False)["buche"]
    assert changed.sla == {"urgent": 2, "low": 200} and not changed.active
    assert [(a.action, a.target) for a in audit(app, "bok_category")] == [
        ("bok_category_add", "buche"),
        ("bok_category_save", "buche"),
    ]


# -- FAQ entries --------------------------------------------------------------------------------


def test_an_faq_entry_is_written_from_a_solved_request_without_personal_data(city, caplog):
    caplog.set_level(logging.DEBUG)
    _, app, requests, solved, waiting = city
    clerk = login(app, "back_office")
    not_yet = clerk.get(f"/backoffice/faq/new?request={waiting.id}")
    assert not_yet.status_code == 400
    assert "not solved" in " ".join(field_errors(not_yet.get_data(as_text=True), "request"))
    unknown = clerk.get("/backoffice/faq/new?request=99999")
    assert field_errors(unknown.get_data(as_text=True), "request")
    shown = clerk.get(f"/backoffice/faq/new?request={solved.code}").get_data(as_text=True)
    assert "Che documenti servono?" in shown  # the request, for reference

    leaky = {"request": str(solved.id), "question": QUESTION, "language": "it"}
    response = post(clerk, "/backoffice/faq/new", {**leaky, "answer": f"Chiami il {NUMBER}"})
    assert response.status_code == 400
    assert "no phone numbers" in field_errors(response.get_data(as_text=True), "answer")[0]
    response = post(clerk, "/backoffice/faq/new", {**leaky, "answer": "Scriva a m.rossi@ex.it"})
    assert "no e-mail addresses" in field_errors(response.get_data(as_text=True), "answer")[0]
    response = post(
        clerk, "/backoffice/faq/new", {**leaky, "request": str(waiting.id), "answer": ANSWER}
    )
    assert "not solved" in field_errors(response.get_data(as_text=True), "request")[0]

    response = post(clerk, "/backoffice/faq/new", {**leaky, "answer": ANSWER})
    assert response.status_code == 302
    (entry,) = FaqStore(requests.engine).entries()
    assert entry.department == "anagrafe" and entry.created_by == "back_office"
    assert response.headers["Location"].endswith(f"/backoffice/faq/{entry.id}")

    edited = post(clerk, f"/backoffice/faq/{entry.id}", {"question": "", "answer": ANSWER})
    assert field_errors(edited.get_data(as_text=True), "question")
    post(
        clerk,
        f"/backoffice/faq/{entry.id}",
        {"question": "Ritiro?", "answer": ANSWER, "language": "it"},
    )
    assert FaqStore(requests.engine).get(entry.id).question == "Ritiro?"

    # editors read (no personal data) but do not write; others see nothing
    editor = login(app, "editor")
    assert QUESTION not in editor.get("/backoffice/faq").get_data(as_text=True)
    assert "Ritiro?" in editor.get("/backoffice/faq?department=anagrafe").get_data(as_text=True)
    assert editor.get(f"/backoffice/faq/{entry.id}").status_code == 200
    assert post(editor, f"/backoffice/faq/{entry.id}", {"question": "x"}).status_code == 403
    assert post(editor, f"/backoffice/faq/{entry.id}/delete").status_code == 403
    assert editor.get("/backoffice/faq/new").status_code == 403
    for role in ("viewer", "operator", "teleassistance"):
        assert login(app, role).get("/backoffice/faq").status_code == 403
    # back office staff do not change the draft
    assert post(clerk, f"/backoffice/faq/{entry.id}/draft", {"menu": "anagrafe"}).status_code == 403

    assert [a.target for a in audit(app, "bok_faq")] == [
        f"faq {entry.id} from request {solved.id}",
        f"faq {entry.id}",
    ]
    post(clerk, f"/backoffice/faq/{entry.id}/delete")
    assert FaqStore(requests.engine).entries() == []
    logged = caplog.text + " ".join(f"{a.target}{a.before}{a.after}" for a in audit(app, "bok"))
    assert "4567" not in logged and "Rossi" not in logged


def test_a_published_faq_entry_is_part_of_the_live_dialplan(city):
    settings, app, requests, solved, _ = city
    entry = FaqStore(requests.engine).from_request(solved.id, FaqText(QUESTION, ANSWER), "bo")
    key = f"faq_{entry.id}"
    editor = login(app, "editor")
    page = editor.get(f"/backoffice/faq/{entry.id}").get_data(as_text=True)
    assert '<option value="anagrafe" selected>' in page  # the department's own menu

    taken = post(editor, f"/backoffice/faq/{entry.id}/draft", {"menu": "anagrafe", "digit": "1"})
    assert taken.status_code == 400
    assert "1 is taken" in field_errors(taken.get_data(as_text=True), "digit")[0]
    nowhere = post(editor, f"/backoffice/faq/{entry.id}/draft", {"menu": "nope", "digit": "5"})
    assert field_errors(nowhere.get_data(as_text=True), "menu")

    done = post(editor, f"/backoffice/faq/{entry.id}/draft", {"menu": "anagrafe", "digit": "5"})
    assert done.status_code == 302 and done.headers["Location"].endswith(f"/prompts/{key}")
    assert FaqStore(requests.engine).get(entry.id).prompt_key == key
    assert key not in settings.dialplan_path.read_text()  # nothing is live yet
    it_texts = (settings.prompts_dir / "it.yaml").read_text()
    assert "Quando passa il ritiro degli ingombranti? Il ritiro è gratuito" in it_texts

    # the editor sees it in the draft; the validator holds it back until every language speaks
    page = editor.get("/publish").get_data(as_text=True)
    assert f"+  {key}: {{type: play, prompts: [{key}], next: anagrafe}}" in page
    assert f"prompt &#39;{key}&#39; missing in language &#39;en&#39;" in page
    assert 'id="publish" disabled' in page
    translations = {f"text_{lang}": f"Bulky waste ({lang}): Tuesdays." for lang in LANGUAGES[1:]}
    # the prompt's page shows the Italian text in its field: it is sent back as it was
    post(editor, f"/prompts/{key}", {"text_it": spoken(QUESTION, ANSWER), **translations})
    assert "missing in language &#39;it&#39;" not in editor.get("/publish").get_data(as_text=True)
    publish(editor, "FAQ ingombranti")
    assert "is live" in editor.get("/publish").get_data(as_text=True)

    live = settings.dialplan_path.read_text()
    dialplan, issues = check_text(live, settings)
    assert issues == []
    assert dialplan.nodes["anagrafe"].options["5"] == key
    assert isinstance(dialplan.nodes["anagrafe"], MenuNode)
    play = dialplan.nodes[key]
    assert isinstance(play, PlayNode) and play.prompts == (key,) and play.next == "anagrafe"
    assert parse_dialplan(live, "live")[1] == []
    # again: the node is rewritten, the key it has stays
    again = post(editor, f"/backoffice/faq/{entry.id}/draft", {"menu": "anagrafe", "digit": "6"})
    assert again.status_code == 302
    assert '"6": faq' not in editor.get("/flow/yaml").get_data(as_text=True)


# -- report -------------------------------------------------------------------------------------


def test_the_report_page_plots_tables_and_downloads_the_figures(city):
    _, app, _, _, _ = city
    clerk = login(app, "back_office")
    response = clerk.get("/backoffice/report?from=2000-01-01&to=2000-12-31")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    for chart in ("chart-bo-teams", "chart-bo-severity", "chart-bo-times"):
        assert f'id="{chart}"' in page
    assert 'data-dimension="total"' in page
    bad = clerk.get("/backoffice/report?from=yesterday&to=2026-11-30")
    assert bad.status_code == 400 and "From: a day like 2026-11-30" in bad.get_data(as_text=True)
    late = clerk.get("/backoffice/report?from=2026-11-30&to=2026-11-01")
    assert "To (included)" in late.get_data(as_text=True)
    today = clerk.get("/backoffice/report").get_data(as_text=True)
    assert 'data-dimension="total" data-key="*"' in today
    csv = clerk.get("/backoffice/report.csv")
    assert csv.mimetype == "text/csv"
    lines = csv.get_data(as_text=True).splitlines()
    assert lines[0].startswith("dimension,key,created,open,overdue")
    assert lines[1].startswith("total,*,2,1,")  # both requests of today; one open
    assert NUMBER not in csv.get_data(as_text=True)
    for role in ("editor", "viewer", "operator", "teleassistance"):
        assert login(app, role).get("/backoffice/report").status_code == 403
