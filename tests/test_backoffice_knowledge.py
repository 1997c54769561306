"""The back office's knowledge and report: FAQ texts (no phone number or e-mail address, every
problem named), FAQ entries from solved requests only (SQLite and PostgreSQL), and the report's
figures on a hand-made set of requests (open and overdue by team and severity, medians)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from ivr.backoffice import faq_rules, report
from ivr.backoffice.faq import FaqStore
from ivr.backoffice.faq_rules import FaqText
from ivr.backoffice.report import RequestRow
from ivr.backoffice.rules import Category, NewRequest, RequestError
from ivr.backoffice.store import BackofficeStore
from ivr.db import make_engine

NOW = datetime(2026, 11, 30, 9, 0)
ROADS = Category("buche", "mobilita", "Buche stradali", sla={"urgent": 2, "normal": 48})
WASTE = Category("ingombranti", "rifiuti", "Ritiro ingombranti")


def fields(question: str = "Quando passa il ritiro?", answer: str = "Il martedì.", lang="it"):
    return [p.field for p in faq_rules.check(FaqText(question, answer, lang))]


# -- FAQ texts -----------------------------------------------------------------------------------


def test_an_faq_text_names_every_bad_field():
    assert fields() == []
    assert fields(question="  ") == ["question"]
    assert fields(answer="") == ["answer"]
    assert fields(answer="x" * (faq_rules.ANSWER_MAX + 1)) == ["answer"]
    assert fields(question="x" * (faq_rules.QUESTION_MAX + 1)) == ["question"]
    assert fields(lang="xx") == ["language"]


@pytest.mark.parametrize(
    "text",
    [
        "Chiami il 333 123 4567",
        "chiamare +39 333.123.4567 dopo le 9",
        "il numero 02-12345678",
        "lo 0432 12345",
        "il numero unico 020202",
        "WhatsApp 3331234567",
        "o lo 02.12.34.56.78",
        "o lo 02 12.34.56.78",
        "scriva a mario.rossi@example.it",
        "Write to help@comune.esempio.it please",
    ],
)
def test_phone_numbers_and_email_addresses_are_refused(text):
    assert fields(answer=text) == ["answer"]
    assert fields(question=text) == ["question"]
    problem = faq_rules.check(FaqText("Domanda?", text))[0]
    assert text not in str(problem)  # the refused text is never repeated


@pytest.mark.parametrize(
    "text",
    [
        "Il ritiro è il 2026-12-24 dalle 08:30 alle 12:30.",
        "Dal 24/12/2026 al 6.1.2027 gli uffici sono chiusi.",
        "Il bollo costa 16 euro, la carta d'identità 22,21 euro.",
        "Serve il modulo 45 e una foto; DPR 445/2000.",
        "Prema 9 per un operatore.",
        "Aperto dalle 08.30-12.30 e dalle 14:00-16:00.",
        "Il contributo arriva a 350.000 euro in tutto.",
    ],
)
def test_dates_times_and_amounts_are_not_phone_numbers(text):
    assert fields(answer=text) == []


def test_the_spoken_text_is_the_question_then_the_answer():
    assert faq_rules.spoken("Quando passa il ritiro", " Il  martedì. ") == (
        "Quando passa il ritiro. Il martedì."
    )
    assert faq_rules.spoken("Quando?", "Martedì.") == "Quando? Martedì."
    assert faq_rules.prompt_key(12) == "faq_12"


# -- the report, pure ----------------------------------------------------------------------------


def row(team, severity, status, created_h, due_h, contact_h=None, solved_h=None, dept="mobilita"):
    """A request created ``created_h`` hours before NOW, due, contacted and solved so many hours
    after its creation."""
    created = NOW - timedelta(hours=created_h)
    return RequestRow(
        dept,
        team,
        severity,
        status,
        created,
        created + timedelta(hours=due_h),
        None if contact_h is None else created + timedelta(hours=contact_h),
        None if solved_h is None else created + timedelta(hours=solved_h),
    )


HAND_MADE = [
    row("strade", "urgent", "new", 10, 2),  # open, overdue
    row("strade", "urgent", "in_progress", 1, 2, contact_h=0.5),  # open, not yet due
    row("strade", "normal", "solved", 50, 48, contact_h=2, solved_h=30),
    row("verde", "normal", "waiting_citizen", 100, 48, contact_h=4),  # open, overdue
    row("verde", "low", "closed", 200, 168, contact_h=6, solved_h=90, dept="rifiuti"),
    row("", "high", "closed", 30, 24),  # closed without a solution: not solved
    row("", "high", "new", 5, 24, dept="rifiuti"),
    row("strade", "urgent", "new", 24 * 40, 2),  # created before the range: left out
]


def test_report_figures_on_a_hand_made_set():
    found = report.build(HAND_MADE, date(2026, 11, 1), date(2026, 11, 30), NOW)
    total = found.total
    assert (total.created, total.open, total.overdue, total.solved) == (7, 4, 2, 2)
    assert total.contact_median_h == 3  # 0.5, 2, 4, 6
    assert total.solve_median_h == 60  # 30, 90
    teams = {k: (f.created, f.open, f.overdue) for k, f in found.by["team"].items()}
    assert teams == {"": (2, 1, 0), "strade": (3, 2, 1), "verde": (2, 1, 1)}
    severity = {k: (f.open, f.overdue) for k, f in found.by["severity"].items()}
    assert severity == {"urgent": (2, 1), "high": (1, 0), "normal": (1, 1), "low": (0, 0)}
    assert list(severity) == ["urgent", "high", "normal", "low"]  # every one, in order
    mobilita, rifiuti = found.by["department"]["mobilita"], found.by["department"]["rifiuti"]
    assert (mobilita.contact_median_h, mobilita.solve_median_h) == (2, 30)  # 0.5, 2, 4
    assert (rifiuti.contact_median_h, rifiuti.solve_median_h) == (6, 90)


def test_report_csv_has_the_total_then_each_dimension():
    found = report.build(HAND_MADE, date(2026, 11, 1), date(2026, 11, 30), NOW)
    lines = report.to_csv(found).splitlines()
    assert lines[0] == (
        "dimension,key,created,open,overdue,solved,first_contact_median_h,solve_median_h"
    )
    assert lines[1] == "total,*,7,4,2,2,3,60"
    assert "team,,2,1,0,0,," in lines  # unassigned
    assert "severity,low,1,0,0,1,6,90" in lines
    assert "department,rifiuti,2,1,0,1,6,90" in lines
    evil = report.build(
        [row("=cmd", "low", "new", 1, 1)], date(2026, 11, 30), date(2026, 11, 30), NOW
    )
    assert "team,'=cmd,1,1,0,0,," in report.to_csv(evil)


def test_a_day_range_names_the_field_to_fix():
    assert report.day_range("2026-11-01", "2026-11-30") == (date(2026, 11, 1), date(2026, 11, 30))
    for first, last, field in (
        ("yesterday", "2026-11-30", "from"),
        ("2026-11-01", "2026-13-01", "to"),
        ("2026-11-30", "2026-11-01", "to"),
        ("2024-01-01", "2026-11-30", "to"),
    ):
        with pytest.raises(report.RangeError) as err:
            report.day_range(first, last)
        assert err.value.field == field


# -- the stores ----------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


def new_request(**changes) -> NewRequest:
    base = dict(
        category="buche",
        description="Buca in via Roma 12, mi chiami al 333 123 4567",
        severity="normal",
        number="+39 333 123 4567",
        channel="phone",
        language="it",
        source="desk",
    )
    return NewRequest(**{**base, **changes})


@pytest.fixture
def stores(booking_url):
    engine = make_engine(booking_url)
    clock = Clock()
    requests = BackofficeStore(engine, clock=clock)
    requests.save_category(ROADS)
    requests.save_category(WASTE)
    yield requests, FaqStore(engine, clock=clock), clock
    engine.dispose()


ANSWER = FaqText(
    "Come segnalo una buca?",
    "Chiami il numero unico e prema 4: la squadra strade interviene entro due giorni.",
)


def test_an_faq_entry_comes_only_from_a_solved_request(stores):
    requests, faq, clock = stores
    made = requests.create(new_request(), "op.rossi")
    with pytest.raises(RequestError) as err:
        faq.from_request(made.id, ANSWER, "bo.bianchi")
    assert [p.field for p in err.value.problems] == ["request"]
    assert "new, not solved" in str(err.value)
    with pytest.raises(RequestError) as err:
        faq.from_request(999, ANSWER, "bo.bianchi")
    assert [p.field for p in err.value.problems] == ["request"]

    requests.move(made.id, "solved", "bo.bianchi")
    clock.now += timedelta(hours=1)
    entry = faq.from_request(made.id, ANSWER, "bo.bianchi")
    assert (entry.department, entry.from_request, entry.language) == ("mobilita", made.id, "it")
    assert (entry.created_by, entry.created_at, entry.prompt_key) == ("bo.bianchi", clock.now, "")
    kinds = [(e.kind, e.detail) for e in requests.history(made.id)]
    assert kinds[-1] == ("faq", {"faq": entry.id})  # the request's history says so

    # closed after being solved is still solved; closed without a solution is not
    requests.move(made.id, "closed", "bo.bianchi")
    assert faq.from_request(made.id, ANSWER, "bo.bianchi").id > entry.id
    other = requests.create(new_request(description="Altro"), "op.rossi")
    requests.move(other.id, "closed", "bo.bianchi")
    with pytest.raises(RequestError):
        faq.from_request(other.id, ANSWER, "bo.bianchi")


def test_personal_data_refuses_the_entry_whole(stores):
    requests, faq, _ = stores
    made = requests.create(new_request(), "op.rossi")
    requests.move(made.id, "solved", "bo.bianchi")
    bad = FaqText("Chi è mario.rossi@example.it?", "Richiami il 333 1234567", "it")
    with pytest.raises(RequestError) as err:
        faq.from_request(made.id, bad, "bo.bianchi")
    assert [p.field for p in err.value.problems] == ["question", "answer"]
    assert faq.entries() == []
    assert [e.kind for e in requests.history(made.id)] == ["created", "status"]


def test_entries_are_listed_per_department_edited_and_deleted(stores):
    requests, faq, _ = stores
    ids = []
    for category in ("buche", "ingombranti", "buche"):
        made = requests.create(
            new_request(category=category, description=category + str(len(ids))), "x"
        )
        requests.move(made.id, "solved", "x")
        ids.append(faq.from_request(made.id, ANSWER, "bo").id)
    assert [e.id for e in faq.entries("mobilita")] == [ids[2], ids[0]]  # newest first
    assert [e.department for e in faq.entries()] == ["mobilita", "mobilita", "rifiuti"]
    assert faq.departments() == ["mobilita", "rifiuti"]

    edited = faq.update(ids[0], FaqText("Buche?", "Prema 4.", "en"))
    assert (edited.question, edited.answer, edited.language) == ("Buche?", "Prema 4.", "en")
    with pytest.raises(RequestError) as err:
        faq.update(ids[0], FaqText("Buche?", "scriva a a@b.it", "en"))
    assert [p.field for p in err.value.problems] == ["answer"]
    assert faq.get(ids[0]).answer == "Prema 4."

    faq.set_prompt_key(ids[0], "faq_1")
    assert faq.get(ids[0]).prompt_key == "faq_1"
    assert faq.delete(ids[0]).prompt_key == "faq_1"
    assert faq.get(ids[0]) is None
    with pytest.raises(RequestError):
        faq.delete(ids[0])


def test_the_report_query_reads_the_requests_of_the_range(stores):
    requests, _, clock = stores
    early = requests.create(new_request(severity="urgent", description="a"), "x")
    clock.now += timedelta(hours=1)
    requests.contact_attempt(early.id, "phone", "answered", "x")
    requests.assign([early.id], "strade", "", "x")
    clock.now += timedelta(hours=2)
    requests.move(early.id, "solved", "x")
    late = requests.create(new_request(category="ingombranti", description="b"), "x")
    clock.now = NOW + timedelta(days=4)  # the urgent one was solved; the normal one is late
    found = report.report(requests.engine, date(2026, 11, 30), date(2026, 11, 30), clock.now)
    assert (found.total.created, found.total.open, found.total.overdue) == (2, 1, 1)
    assert found.total.contact_median_h == 1 and found.total.solve_median_h == 3
    assert found.by["team"]["strade"].solved == 1 and found.by["team"][""].overdue == 1
    assert found.by["department"]["rifiuti"].open == 1
    assert late.id != early.id
    outside = report.report(requests.engine, date(2026, 12, 1), date(2026, 12, 2), clock.now)
    assert outside.total.created == 0
