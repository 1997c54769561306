"""Back-office requests: the rules (every bad field named, deadlines per category and severity,
the queue ordered by deadline then severity, never by arrival) and the store on SQLite and
PostgreSQL (duplicates merged, bulk assignment all-or-nothing, statuses along their path, SMS
and e-mail answers through the outbox, the history, export and erasure)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from booking.models import Outbox
from ivr.backoffice import rules
from ivr.backoffice.rules import Category, NewRequest, RequestError
from ivr.backoffice.store import BackofficeStore
from ivr.db import make_engine

NOW = datetime(2026, 11, 30, 9, 0)
ROADS = Category("buche", "mobilita", "Buche stradali", sla={"urgent": 2, "normal": 48})
WASTE = Category("rifiuti_ingombranti", "rifiuti", "Ritiro ingombranti")


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


def request(**changes) -> NewRequest:
    base = dict(
        category="buche",
        description="Una buca profonda in via Roma 12",
        severity="normal",
        number="+39 333 123 4567",
        channel="phone",
        language="it",
        source="desk",
    )
    return NewRequest(**{**base, **changes})


def fields(data: NewRequest) -> list[str]:
    return [p.field for p in rules.check(data, {"buche": ROADS})]


# -- rules ---------------------------------------------------------------------------------------


def test_every_bad_field_is_named():
    assert fields(request()) == []
    assert fields(request(category="nope")) == ["category"]
    assert fields(request(severity="panic")) == ["severity"]
    assert fields(request(description="", transcript="", recording="")) == ["description"]
    assert fields(request(description="x" * 4001)) == ["description"]
    assert fields(request(number="not a phone")) == ["number", "number"]
    assert fields(request(channel="email")) == ["email"]
    assert fields(request(email="nobody", channel="email")) == ["email"]
    assert fields(request(language="xx", source="fax")) == ["language", "source"]
    assert fields(request(lat=91.0, long=-181.0)) == ["lat", "long"]
    # a voice message is a description enough
    assert fields(request(description="", recording="r1.wav")) == []


def test_deadlines_come_from_the_category_then_the_defaults():
    assert rules.deadline(NOW, "urgent", ROADS) == NOW + timedelta(hours=2)
    assert rules.deadline(NOW, "high", ROADS) == NOW + timedelta(hours=24)  # default
    assert rules.deadline(NOW, "low", None) == NOW + timedelta(hours=168)


def test_the_queue_is_ordered_by_deadline_then_severity_never_by_arrival():
    early, late = NOW, NOW + timedelta(hours=5)
    items = [
        ("old-low", NOW + timedelta(hours=100), "low", early, 1),
        ("new-urgent", NOW + timedelta(hours=9), "urgent", late, 2),
        ("tie-normal", NOW + timedelta(hours=9), "normal", early, 3),
    ]
    ordered = sorted(items, key=lambda i: rules.queue_order(*i[1:]))
    assert [i[0] for i in ordered] == ["new-urgent", "tie-normal", "old-low"]


def test_duplicates_are_the_same_citizen_category_and_text():
    a = rules.duplicate_key("3331234567", "", "buche", "Una buca, in via Roma!")
    assert a == rules.duplicate_key("3331234567", "", "buche", "una BUCA in via   Roma")
    assert a != rules.duplicate_key("3331234568", "", "buche", "Una buca, in via Roma!")
    assert a != rules.duplicate_key("3331234567", "", "rifiuti", "Una buca, in via Roma!")


# -- store ---------------------------------------------------------------------------------------


@pytest.fixture
def store(booking_url):
    engine = make_engine(booking_url)
    store = BackofficeStore(engine, clock=Clock())
    store.save_category(ROADS)
    store.save_category(WASTE)
    yield store
    engine.dispose()


def test_a_request_is_stored_with_its_deadline_and_history(store):
    created = store.create(request(severity="urgent"), "op.rossi")
    assert not created.merged and len(created.code) == 8
    view = store.by_code(created.code)
    assert (view.status, view.department, view.number) == ("new", "mobilita", "3331234567")
    assert view.due_at == NOW + timedelta(hours=2)
    (event,) = store.history(view.id)
    assert (event.kind, event.actor, event.detail) == (
        "created",
        "op.rossi",
        {"source": "desk", "severity": "urgent"},
    )
    assert store.by_code("12345678") is None and store.by_code("abc") is None


def test_a_bad_request_is_refused_whole(store):
    with pytest.raises(RequestError) as refused:
        store.create(request(category="nope", severity="panic"), "web")
    assert [p.field for p in refused.value.problems] == ["category", "severity"]
    assert store.queue() == []


def test_a_resubmission_within_minutes_is_merged_not_doubled(store):
    first = store.create(request(), "web")
    store.clock.now += timedelta(minutes=3)
    again = store.create(request(description="una buca profonda in via Roma 12!"), "web")
    assert again.merged and again.code == first.code
    assert len(store.queue()) == 1
    assert [e.kind for e in store.history(first.id)] == ["created", "merged"]
    store.clock.now += timedelta(minutes=rules.DUPLICATE_MINUTES + 1)
    assert not store.create(request(), "web").merged  # later: a new report


def test_the_queue_puts_the_nearest_deadline_first(store):
    low = store.create(request(severity="low", description="lampione"), "web")
    store.clock.now += timedelta(hours=1)
    urgent = store.create(request(severity="urgent", description="voragine"), "web")
    normal = store.create(request(category="rifiuti_ingombranti", description="divano"), "web")
    assert [r.id for r in store.queue()] == [urgent.id, normal.id, low.id]
    assert [r.id for r in store.queue(department="rifiuti")] == [normal.id]
    store.clock.now += timedelta(hours=3)
    (first, *_) = store.queue()
    assert first.id == urgent.id and first.overdue(store.clock.now)


def test_bulk_assignment_is_all_or_nothing(store):
    a = store.create(request(description="uno"), "web")
    b = store.create(request(description="due"), "web")
    with pytest.raises(RequestError):
        store.assign([a.id, 999], "strade", "", "capo")
    assert {r.team for r in store.queue()} == {""}
    assert store.assign([a.id, b.id], "strade", "m.bianchi", "capo") == 2
    assert {(r.team, r.assignee) for r in store.queue(team="strade")} == {("strade", "m.bianchi")}


def test_statuses_follow_their_path(store):
    created = store.create(request(), "web")
    store.move(created.id, "in_progress", "m.bianchi")
    store.move(created.id, "solved", "m.bianchi", "riparata")
    assert store.get(created.id).solved_at == NOW
    with pytest.raises(RequestError) as refused:
        store.move(created.id, "new", "m.bianchi")
    assert refused.value.problems[0].field == "status"
    store.move(created.id, "closed", "m.bianchi")
    with pytest.raises(RequestError):
        store.move(created.id, "in_progress", "m.bianchi")
    assert store.queue() == []


def test_answers_by_sms_and_email_go_through_the_outbox(store):
    created = store.create(request(email="mario@example.org"), "web")
    store.send_message(created.id, "sms", "La buca sarà riparata domani.", "m.bianchi")
    store.send_message(created.id, "email", "La buca sarà riparata domani.", "m.bianchi")
    with Session(store.engine) as db:
        sent = sorted((m.kind, m.recipient, m.ref) for m in db.scalars(select(Outbox)))
    ref = f"backoffice:{created.id}"
    assert sent == [("email", "mario@example.org", ref), ("sms", "3331234567", ref)]
    view = store.get(created.id)
    assert view.first_contact_at == NOW
    kinds = [(e.kind, e.detail.get("channel")) for e in store.history(created.id)]
    assert kinds[1:] == [("contact", "sms"), ("contact", "email")]
    # the history never holds the number or the address
    assert "3331234567" not in repr(store.history(created.id))
    no_mail = store.create(request(description="altro"), "web")
    with pytest.raises(RequestError) as refused:
        store.send_message(no_mail.id, "email", "ciao", "m.bianchi")
    assert refused.value.problems[0].field == "email"


def test_export_then_erase(store):
    created = store.create(request(), "web")
    store.contact_attempt(created.id, "phone", "no_answer", "m.bianchi")
    exported = store.export(created.id)
    assert exported["number"] == "3331234567" and len(exported["history"]) == 2
    assert store.erase(created.id) == 1
    assert store.get(created.id) is None and store.history(created.id) == []
