"""The switchboard directory without a phone: what an entry may hold, the CSV import (all or
nothing, every bad row named), and which entries a caller's keys or words mean."""

from __future__ import annotations

import pytest

from ivr.config import ROOT
from ivr.db import make_engine, migrate
from ivr.directory.audio import directory_texts
from ivr.directory.csvio import CsvError
from ivr.directory.matching import Named, grammar, match_keys, match_said, to_keys
from ivr.directory.rules import Context, EntryData, check_entry, parse_hours
from ivr.directory.store import DirectoryStore, EntryError
from ivr.flow.loader import load_dialplan

DIALPLAN = load_dialplan(ROOT / "dialplans" / "example-city.yaml")
CONTEXT = Context(frozenset(DIALPLAN.departments), DIALPLAN.number)

GOOD = """name,kind,aliases,extension,external,department,hours,enabled
Ufficio Matrimoni,office,matrimoni|nozze,201,,anagrafe,"mon-fri: [""09:00-12:00""]",yes
Mario Rossi,person,,,0516001234,tributi,,yes
Servizi Demografici,office,anagrafe|demografici,202,,anagrafe,,
"""


@pytest.fixture
def store(tmp_path) -> DirectoryStore:
    engine = make_engine(f"sqlite:///{tmp_path / 'city.db'}")
    migrate(engine)
    return DirectoryStore(engine, "PJSIP/{number}@city-pbx")


def fields(data: EntryData) -> list[str]:
    return [str(p) for p in check_entry(data, CONTEXT)]


# -- rules -----------------------------------------------------------------------------------


def test_a_good_entry_has_no_problems():
    assert fields(EntryData("Ufficio Matrimoni", "anagrafe", extension="201")) == []
    assert fields(EntryData("Dott.ssa Maria D'Amico", "tributi", external="+390516001234")) == []


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (EntryData('Anagrafe "<sip:x>"', "anagrafe", extension="201"), "name:"),
        (EntryData("Anagrafe;x=1", "anagrafe", extension="201"), "name:"),
        (EntryData("Ok", "anagrafe", aliases=("a,b",), extension="201"), "aliases:"),
        (EntryData("Ok", "anagrafe", extension="020202"), "extension: '020202' is the city"),
        (EntryData("Ok", "anagrafe", extension="101"), "extension: '101' clashes with the oper"),
        (EntryData("Ok", "anagrafe", extension="805"), "extension: '805' clashes with the depa"),
        (EntryData("Ok", "anagrafe", extension="*11"), "extension: '*11' is not 2 to 6 digits"),
        (EntryData("Ok", "anagrafe"), "extension: give either"),
        (EntryData("Ok", "anagrafe", extension="201", external="0511"), "extension: give either"),
        (EntryData("Ok", "nowhere", extension="201"), "department: 'nowhere' is not"),
        (EntryData("Ok", "anagrafe", extension="201", hours="mon-fri: [9-12]"), "hours:"),
        (EntryData("Ok", "anagrafe", extension="201", kind="robot"), "kind:"),
    ],
)
def test_each_problem_names_its_field(data, expected):
    assert any(p.startswith(expected) for p in fields(data)), fields(data)


def test_hours_are_the_dialplans_own_syntax():
    hours, error = parse_hours('mon-fri: ["08:30-12:30"], sat: ["09:00-12:00"]')
    assert error == "" and len(hours.days[0]) == 1 and hours.days[6] == ()
    assert parse_hours("always")[0].always
    assert parse_hours("") == (None, "")


# -- store and CSV -----------------------------------------------------------------------------


def test_duplicates_are_refused_whatever_the_spelling(store):
    store.save(EntryData("Ufficio Matrimoni", "anagrafe", extension="201"), DIALPLAN)
    with pytest.raises(EntryError) as err:
        store.save(EntryData("ufficio  MATRIMONI", "anagrafe", extension="201"), DIALPLAN)
    assert {p.field for p in err.value.problems} == {"name", "extension"}
    row = store.entries()[0]
    saved, before = store.save(
        EntryData("Ufficio Matrimoni", "sociali", extension="201"), DIALPLAN, row.id
    )
    assert saved.department == "sociali" and "department=anagrafe" in before


def test_import_with_broken_rows_changes_nothing_and_names_every_row(store):
    store.import_csv(GOOD, DIALPLAN)
    before = store.export_csv()
    broken = GOOD.replace("Mario Rossi,person,,,0516001234,tributi", "Mario Rossi,person,,101,,x")
    broken += "Nuovo Ufficio,office,,203,,anagrafe,,forse\nnuovo ufficio,office,,204,,anagrafe,,\n"
    with pytest.raises(CsvError) as err:
        store.import_csv(broken, DIALPLAN)
    messages = err.value.messages
    assert "row 3, extension: '101' clashes with the operators' extensions (1XX)" in messages
    assert "row 3, department: 'x' is not a department" in messages
    assert "row 5, enabled: 'forse' is not yes or no" in messages
    assert "row 6, name: 'nuovo ufficio' is also row 5" in messages
    assert not any(m.startswith(("row 2", "row 4")) for m in messages)
    assert store.export_csv() == before  # nothing half-applied


def test_import_updates_by_name_and_export_reads_back(store):
    assert store.import_csv(GOOD, DIALPLAN).added == 3
    text = store.export_csv()
    again = store.import_csv(text.replace("tributi", "sociali"), DIALPLAN)
    assert (again.added, again.updated) == (0, 3)
    assert {r.department for r in store.entries("rossi")} == {"sociali"}
    with pytest.raises(CsvError) as err:
        store.import_csv("nome,reparto\nx,y\n", DIALPLAN)
    assert err.value.messages[0].startswith("row 1: unknown column 'nome'")


def test_services_answer_matches_with_how_to_dial_them(store):
    store.import_csv(GOOD, DIALPLAN)
    services = store.services()
    [wedding] = services["directory.keys"]({"digits": "628"})  # M-A-T: Matrimoni
    assert (wedding.name, wedding.dial, wedding.department) == (
        "Ufficio Matrimoni",
        "PJSIP/201",
        "anagrafe",
    )
    assert wedding.hours is not None and wedding.hours_prompt == f"dir_{wedding.id}_hours"
    [rossi] = services["directory.said"]({"text": "vorrei mario rossi"})
    assert rossi.dial == "PJSIP/0516001234@city-pbx" and rossi.hours is None
    assert "nozze" in services["directory.grammar"]({})
    row = store.entries("demografici")[0]
    store.set_enabled(row.id, False)
    assert services["directory.said"]({"text": "demografici"}) == []
    assert [p.extension for p in store.staff_phones()] == ["201"]


def test_names_and_own_hours_become_prompt_texts(store):
    store.import_csv(GOOD, DIALPLAN)
    texts = directory_texts(store.entries(), ["it", "en"])
    wedding = store.entries("matrimoni")[0]
    assert texts["it"][f"dir_{wedding.id}"] == "Ufficio Matrimoni"
    assert "9" in texts["en"][f"dir_{wedding.id}_hours"]
    rossi = store.entries("rossi")[0]
    assert f"dir_{rossi.id}_hours" not in texts["it"]  # the department's hours are said instead


# -- matching --------------------------------------------------------------------------------

ENTRIES = [
    Named(1, "Ufficio Matrimoni", ("nozze",)),
    Named(2, "Servizi Demografici", ("anagrafe",)),
    Named(3, "Mario Rossi"),
    Named(4, "Marta Rossetti"),
    Named(5, "Università Popolare"),
]


def test_keys_spell_letters_accents_folded():
    assert to_keys("Università") == "8648377482"
    assert to_keys("D'Amico") == "326426"


def test_keys_match_the_start_of_any_word_of_a_name_or_alias():
    assert [e.id for e in match_keys("628", ENTRIES)] == [1]  # MATrimoni
    assert [e.id for e in match_keys("262", ENTRIES)] == [2]  # ANAgrafe (alias)
    assert [e.id for e in match_keys("864", ENTRIES)] == [5]  # UNIversità, accent folded
    assert match_keys("999", ENTRIES) == []
    assert match_keys("", ENTRIES) == []


def test_keys_that_fit_several_names_give_them_all_in_name_order():
    assert [e.name for e in match_keys("627", ENTRIES)] == ["Mario Rossi", "Marta Rossetti"]
    # R-O-S: both Rossi; P-O-P (the same keys) too: Università Popolare
    assert [e.id for e in match_keys("767", ENTRIES)] == [3, 4, 5]


def test_what_was_said_matches_names_and_aliases_longest_first():
    assert [e.id for e in match_said("le nozze per favore", ENTRIES)] == [1]
    assert [e.id for e in match_said("Università popolare", ENTRIES)] == [5]
    assert [e.id for e in match_said("mario rossi", ENTRIES)] == [3]
    assert match_said("tributi", ENTRIES) == []
    assert "servizi demografici" in grammar(ENTRIES) and "anagrafe" in grammar(ENTRIES)
