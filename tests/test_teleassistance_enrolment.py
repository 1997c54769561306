"""Teleassistance enrolment: the rules (every bad field named), the CSV import (a broken row
imports nobody and every problem names row and field), the store's round trip, export then
erasure leaving nothing, on SQLite and PostgreSQL (``booking_url``), and the CLI showing
numbers masked and logging nothing personal."""

from __future__ import annotations

import json
import logging
import sqlite3
import stat
from dataclasses import replace
from datetime import date, datetime, time
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ivr.db import ready, release_all
from ivr.teleassistance import rules
from ivr.teleassistance.csvio import CsvError
from ivr.teleassistance.models import Citizen, CitizenNumber, EmergencyContact
from ivr.teleassistance.rules import CitizenData, CitizenError, ContactData, Context
from ivr.teleassistance.store import TeleassistanceStore

NOW = datetime(2026, 11, 25, 10, 0)
HOURS = (time(9), time(20))
DAUGHTER = ContactData("Anna Bianchi", "333 111 2222", "daughter", "sms")


def maria(**changes) -> CitizenData:
    base = CitizenData(
        name="Maria  Rossi",
        numbers=("06 1234 5678", "+39 333 123 4567"),
        language="it",
        weekdays=("thu", "mon"),
        call_kind="operator",
        contacts=(DAUGHTER,),
        consent_on="2026-11-20",
        consent_by="op.verdi",
        window="10:00-12:00",
        area="Borgo  San Paolo",
    )
    return replace(base, **changes)


def context(**changes) -> Context:
    return replace(Context(hours=HOURS, today=NOW.date()), **changes)


def fields(data: CitizenData, ctx: Context | None = None) -> list[str]:
    return [p.field for p in rules.check(data, ctx or context())]


@pytest.fixture
def store(booking_url) -> TeleassistanceStore:
    return TeleassistanceStore(ready(booking_url), "09:00-20:00", clock=lambda: NOW)


def rows_about(store: TeleassistanceStore) -> dict[str, int]:
    with Session(store.engine) as db:
        return {
            model.__tablename__: db.scalar(select(func.count()).select_from(model))
            for model in (Citizen, CitizenNumber, EmergencyContact)
        }


# -- rules (pure) ------------------------------------------------------------------------------


def test_a_good_enrolment_has_no_problems_and_is_stored_canonical():
    assert rules.check(maria(), context()) == []
    stored = rules.normal(maria(window=""), HOURS)
    assert stored.name == "Maria Rossi" and stored.area == "Borgo San Paolo"
    assert stored.numbers == ("0612345678", "3331234567")  # +39 dropped: one phone, one form
    assert stored.weekdays == ("mon", "thu")
    assert stored.window == "09:00-20:00"  # no window: the whole calling hours
    assert stored.contacts[0].number == "3331112222"


@pytest.mark.parametrize(
    ("bad", "field", "words"),
    [
        (maria(numbers=("06-CALL-ME",)), "numbers", "number 1 is not a phone number"),
        (maria(numbers=("0612345678", "12")), "numbers", "number 2 is not a phone number"),
        (maria(numbers=()), "numbers", "at least one"),
        (maria(numbers=("0612345678", "+39 06 1234 5678")), "numbers", "given twice"),
        (maria(window="07:30-10:00"), "window", "outside the calling hours 09:00-20:00"),
        (maria(window="18:00-21:00"), "window", "outside the calling hours"),
        (maria(window="12:00-10:00"), "window", "not a start-end time"),
        (maria(window="noon"), "window", "not a start-end time"),
        (maria(language="xx"), "language", "not one of the city's languages"),
        (maria(language=""), "language", "not one of the city's languages"),
        (maria(weekdays=()), "weekdays", "at least one day"),
        (maria(weekdays=("mon", "lun")), "weekdays", "'lun'"),
        (maria(call_kind="robot"), "call_kind", "operator, automatic"),
        (maria(name=" "), "name", "a name is needed"),
        (maria(name="Maria <Rossi>"), "name", "only letters"),
        (maria(contacts=()), "contacts", "at least one emergency contact"),
        (
            maria(contacts=(replace(DAUGHTER, channel="email"),)),
            "contacts",
            "contact 1, email: an e-mail address is needed",
        ),
        (
            maria(contacts=(replace(DAUGHTER, email="not-an-address"),)),
            "contacts",
            "contact 1, email: not an e-mail address",
        ),
        (
            maria(contacts=(DAUGHTER, replace(DAUGHTER, number="0611112222"))),
            "contacts",
            "contact 2, number: an SMS needs a mobile number",
        ),
        (
            maria(contacts=(replace(DAUGHTER, number="3331234567"),)),
            "contacts",
            "contact 1, number: is the citizen's own number",
        ),
        (maria(contacts=(replace(DAUGHTER, channel="pigeon"),)), "contacts", "channel"),
        (maria(contacts=(replace(DAUGHTER, relation=""),)), "contacts", "relation"),
        (maria(consent_on="20/11/2026"), "consent_on", "YYYY-MM-DD"),
        (maria(consent_on="2026-12-01"), "consent_on", "in the future"),
        (maria(consent_by=""), "consent_by", "is needed"),
        (maria(area="x" * 61), "area", "at most 60"),
        (maria(notes="x" * 2001), "notes", "at most 2000"),
    ],
)
def test_a_bad_field_is_named(bad, field, words):
    problems = rules.check(bad, context())
    assert [p.field for p in problems] == [field], problems
    assert words in problems[0].message


def test_every_problem_is_given_at_once_and_none_repeats_a_number():
    bad = maria(
        numbers=("abc", "3331234567"),
        window="06:00-08:00",
        language="klingon",
        weekdays=(),
        call_kind="",
        contacts=(ContactData("Anna", "3331234567", "daughter", "email"),),
    )
    problems = rules.check(bad, context())
    assert [p.field for p in problems] == [
        "numbers",
        "language",
        "weekdays",
        "window",
        "call_kind",
        "contacts",
        "contacts",
    ]
    assert not any("3331234567" in str(p) or "abc" in str(p) for p in problems)


def test_duplicates_are_refused_naming_the_field():
    taken = context(
        taken_numbers={"0612345678": 7, "3339998888": 8},
        taken_names={("maria rossi", "0612345678"): 7},
    )
    # same name (any spacing, case, accents) and same first number: the name is named
    twin = maria(name="MARIA   ROSSÍ", numbers=("+39 06 1234 5678",))
    assert [str(p) for p in rules.check(twin, taken)] == [
        "name: already enrolled as citizen 7 (same name and first number)"
    ]
    # someone else on a number already enrolled: the number is named
    other = maria(name="Giulia Neri", numbers=("0699999999", "3339998888"))
    assert [str(p) for p in rules.check(other, taken)] == [
        "numbers: number 2 is already enrolled (citizen 8)"
    ]
    # editing citizen 7 is not a duplicate of citizen 7
    assert rules.check(twin, taken, citizen_id=7) == []


def test_suspensions_cover_their_days():
    assert rules.check_suspension("holiday", date(2026, 8, 1), date(2026, 8, 15)) == []
    assert [p.field for p in rules.check_suspension("bored", None, None)] == ["reason"]
    assert [p.field for p in rules.check_suspension("hospital", NOW.date(), date(2026, 1, 1))] == [
        "to"
    ]
    start, end = date(2026, 8, 1), date(2026, 8, 15)
    assert rules.suspended_on("suspended", start, end, date(2026, 8, 15))
    assert not rules.suspended_on("suspended", start, end, date(2026, 8, 16))
    assert rules.suspended_on("suspended", start, None, date(2027, 1, 1))  # until resumed
    assert not rules.suspended_on("active", None, None, date(2026, 8, 2))


def test_the_calling_hours_are_a_setting(tmp_path, monkeypatch):
    from ivr import config

    assert config.load().teleassistance_hours == "09:00-20:00"
    monkeypatch.setenv("NU_TELEASSISTANCE_HOURS", "08:00-12:00")
    narrow = TeleassistanceStore(
        ready(f"sqlite:///{tmp_path / 'c.db'}"), config.load().teleassistance_hours
    )
    with pytest.raises(CitizenError) as refused:
        narrow.add(maria(window="13:00-14:00"))
    assert [str(p) for p in refused.value.problems] == [
        "window: 13:00-14:00 is outside the calling hours 08:00-12:00"
    ]
    with pytest.raises(ValueError, match="NU_TELEASSISTANCE_HOURS"):
        TeleassistanceStore(narrow.engine, "all day")


# -- the store, on SQLite and PostgreSQL ---------------------------------------------------------


def test_store_round_trip(store):
    first = store.add(maria())
    got = store.get(first)
    assert got is not None and got.status == "active"
    assert got.data == rules.normal(maria(), HOURS)
    second = store.add(
        maria(
            name="Giulia Neri",
            numbers=("0698765432",),
            area="Centro",
            call_kind="automatic",
            contacts=(ContactData("Servizi Sociali", "0611223344", "social services", "call"),),
        )
    )
    # edit: the numbers swap places (each keeps being unique) and a second contact is added
    store.edit(
        first,
        maria(
            numbers=("3331234567", "0612345678"),
            contacts=(
                DAUGHTER,
                ContactData("Paolo", "0612000000", "neighbour", "email", "paolo@example.it"),
            ),
        ),
    )
    edited = store.get(first)
    assert edited is not None and edited.data.numbers == ("3331234567", "0612345678")
    assert [c.channel for c in edited.data.contacts] == ["sms", "email"]
    with pytest.raises(CitizenError) as taken:  # someone else's number
        store.edit(second, replace(store.get(second).data, numbers=("+39 333 1234567",)))
    assert [p.field for p in taken.value.problems] == ["numbers"]
    with pytest.raises(CitizenError) as twice:  # the same citizen again
        store.add(maria(name="maria rossi", numbers=("3331234567",)))
    assert [p.field for p in twice.value.problems] == ["name"]

    store.suspend(first, "holiday", date(2026, 11, 20), date(2026, 11, 30))
    store.suspend(second, "hospital", date(2026, 12, 1))  # from next week
    assert [c.id for c in store.citizens(active=False)] == [first]
    assert [c.id for c in store.citizens(active=True)] == [second]
    assert [c.id for c in store.citizens(area="borgo san paolo")] == [first]
    assert store.get(second).suspended_on(date(2026, 12, 24))
    with pytest.raises(CitizenError) as wrong:
        store.suspend(first, "boredom")
    assert [p.field for p in wrong.value.problems] == ["reason"]
    store.resume(first)
    resumed = store.get(first)
    assert resumed.status == "active" and resumed.suspended_from is None
    assert [c.id for c in store.citizens(active=True)] == [second, first]  # by name

    store.remove(second)
    assert store.get(second) is None
    assert rows_about(store) == {
        "teleassistance_citizens": 1,
        "teleassistance_numbers": 2,
        "teleassistance_contacts": 2,
    }
    with pytest.raises(CitizenError):
        store.resume(second)


def test_export_then_erase_leaves_nothing(store, booking_url):
    kept = store.add(maria(name="Giulia Neri", numbers=("0698765432",), area="Centro"))
    gone = store.add(maria())
    store.suspend(gone, "hospital", date(2026, 11, 24))
    exported = store.export(gone)
    assert json.loads(json.dumps(exported)) == exported  # JSON as it is
    assert exported["name"] == "Maria Rossi"
    assert exported["numbers"] == ["0612345678", "3331234567"]
    assert exported["contacts"][0] == {
        "name": "Anna Bianchi",
        "number": "3331112222",
        "relation": "daughter",
        "channel": "sms",
        "email": None,
    }
    assert exported["consent"] == {"on": "2026-11-20", "recorded_by": "op.verdi"}
    assert exported["suspension"] == {"from": "2026-11-24", "to": None, "reason": "hospital"}

    assert store.erase(gone) == {
        "teleassistance_contacts": 1,
        "teleassistance_numbers": 2,
        "teleassistance_attempts": 0,  # the weekly calls' tables are reached too
        "teleassistance_calls": 0,
        "teleassistance_alarms": 0,
        "teleassistance_broadcast_deliveries": 0,  # and the broadcasts'
        "teleassistance_citizens": 1,
    }
    assert store.get(gone) is None
    with pytest.raises(CitizenError):
        store.export(gone)
    assert rows_about(store) == {
        "teleassistance_citizens": 1,
        "teleassistance_numbers": 1,
        "teleassistance_contacts": 1,
    }
    assert store.get(kept) is not None
    again = store.add(maria())  # the numbers are free again: the citizen may enrol anew
    if booking_url.startswith("sqlite"):  # and the file itself no longer holds the erased
        store.erase(again)
        release_all()  # the last connection closed: the WAL is checkpointed into the file
        path = booking_url.removeprefix("sqlite:///")
        with sqlite3.connect(path) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        raw = Path(path).read_bytes()
        assert b"Maria Rossi" not in raw and b"3331234567" not in raw
        assert b"Giulia Neri" in raw  # who was kept is still there


# -- CSV import ------------------------------------------------------------------------------------

HEADER = "name,numbers,language,weekdays,call_kind,contacts,consent_on,consent_by,window,area\n"
GOOD = (
    "Maria Rossi,0612345678|+39 333 123 4567,it,mon|thu,operator,"
    "Anna Bianchi/3331112222/daughter/sms,2026-11-20,op.verdi,10:00-12:00,Borgo San Paolo\n"
    "Giulia Neri,0698765432,en,tue,automatic,"
    "Paolo/0612000000/neighbour/email/paolo@example.it|Servizi/0611223344/social services,"
    "2026-11-20,op.verdi,,Centro\n"
)


def test_csv_import_enrols_every_row(store):
    assert store.import_csv(HEADER + GOOD) == 2
    listed = store.citizens()
    assert [c.data.name for c in listed] == ["Giulia Neri", "Maria Rossi"]
    giulia = listed[0].data
    assert [c.channel for c in giulia.contacts] == ["email", "call"]  # channel left out: call
    assert giulia.window == "09:00-20:00"
    semicolons = HEADER.replace(",", ";") + (
        "Luigi Verdi;3409998877;fr;sat;automatic;Carla/0611220000/wife;2026-11-01;ufficio;;\n"
    )
    assert store.import_csv(semicolons) == 1


def test_csv_with_broken_rows_imports_nothing_and_names_row_and_field(store):
    store.add(maria(name="Enrolled Before", numbers=("0655555555",)))
    broken = (
        HEADER
        + GOOD
        + (
            "Mario Bianchi,not-a-number,xx,mon,operator,X/0611111111/son,2026-11-20,op,"
            "07:00-09:30,\n"
            "Maria Rossi,3331234567,it,mon,operator,A/0611111112/son,2026-11-20,op,,\n"
            "Enrolled Twice,+39 06 5555 5555,it,mon,operator,B/0611111113/son,2026-11-20,op,,\n"
            "Nobody,0611111114,it,mon,operator,,,op,,\n"
        )
    )
    with pytest.raises(CsvError) as refused:
        store.import_csv(broken)
    assert refused.value.messages == [
        "row 4, numbers: number 1 is not a phone number (6 to 15 digits, + first)",
        "row 4, language: 'xx' is not one of the city's languages (it, en, fr, es, de, zh, ar)",
        "row 4, window: 07:00-09:30 is outside the calling hours 09:00-20:00",
        "row 5, numbers: number 1 is also in row 2",
        "row 6, numbers: number 1 is already enrolled (citizen 1)",
        "row 7, contacts: at least one emergency contact (a relative, a neighbour, social "
        "services)",
        "row 7, consent_on: the date of the consent, YYYY-MM-DD",
    ]
    assert [c.data.name for c in store.citizens()] == ["Enrolled Before"]  # nobody imported
    with pytest.raises(CsvError) as header:
        store.import_csv("name,phone,language\nMaria,0612345678,it\n")
    assert header.value.messages[0].startswith("row 1: unknown column 'phone'")
    assert "row 1: column 'numbers' is missing" in header.value.messages


# -- the command line ------------------------------------------------------------------------------


def test_cli_masks_numbers_and_logs_nothing_personal(tmp_path, monkeypatch, capsys, caplog):
    from ivr.cli import main

    monkeypatch.setenv("NU_DATABASE_URL", f"sqlite:///{tmp_path / 'city.db'}")
    monkeypatch.setenv("NU_VAR_DIR", str(tmp_path / "var"))
    caplog.set_level(logging.DEBUG)
    errors: list[str] = []  # standard error: the log lines and the import's problems

    def ivr(*args: str) -> tuple[int, str]:
        code = main(["teleassistance", *args])
        out = capsys.readouterr()
        errors.append(out.err)
        return code, out.out + out.err

    code, out = ivr(
        "add",
        "--name",
        "Maria Rossi",
        "--numbers",
        "0612345678|3331234567",
        "--language",
        "it",
        "--weekdays",
        "mon,thu",
        "--kind",
        "operator",
        "--contact",
        "Anna Bianchi/3331112222/daughter/sms",
        "--consent-on",
        "2026-01-10",
        "--consent-by",
        "op.verdi",
        "--window",
        "10:00-12:00",
        "--area",
        "Centro",
    )
    assert code == 0 and "citizen 1: enrolled" in out
    code, out = ivr("list")
    assert code == 0 and "Maria Rossi" in out
    assert "********78 +1" in out and "0612345678" not in out and "3331234567" not in out
    code, out = ivr(
        "add",
        "--name",
        "X",
        "--numbers",
        "3331234567",
        "--language",
        "xx",
        "--weekdays",
        "mon",
        "--kind",
        "operator",
        "--consent-on",
        "2026-01-10",
        "--consent-by",
        "op",
        "--contact",
        "Y/0611111111/son",
    )
    assert code == 1 and "3331234567" not in out
    assert "citizen: numbers: number 1 is already enrolled (citizen 1)" in out
    assert "citizen: language:" in out and "nothing was changed" in out
    csv_file = tmp_path / "broken.csv"
    csv_file.write_text(HEADER + "Bad,12,it,mon,operator,A/0611111112/son,2026-01-10,op,,\n")
    code, out = ivr("import", str(csv_file))
    assert code == 1 and "row 2, numbers: number 1 is not a phone number" in out
    assert (ivr("suspend", "1", "--reason", "hospital", "--to", "2099-01-01")[0]) == 0
    assert "suspended" in ivr("list", "--suspended")[1]

    export = tmp_path / "maria.json"
    code, out = ivr("export", "1", "--out", str(export))
    assert code == 0 and "3331234567" not in out
    assert stat.S_IMODE(export.stat().st_mode) == 0o600
    assert json.loads(export.read_text())["numbers"] == ["0612345678", "3331234567"]
    assert ivr("erase", "1")[0] == 1  # not without --yes
    code, out = ivr("erase", "1", "--yes")
    assert code == 0 and "teleassistance_citizens: 1" in out
    assert "no citizens enrolled" in ivr("list")[1]

    logged = "\n".join([*errors, *(r.getMessage() for r in caplog.records)])
    for personal in ("Maria", "Rossi", "Bianchi", "0612345678", "3331234567", "3331112222"):
        assert personal not in logged
