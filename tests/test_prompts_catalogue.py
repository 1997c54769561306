"""The prompt catalogue: hand-written texts per language and generated opening-hours sentences."""

from __future__ import annotations

from datetime import time
from pathlib import Path

import pytest

from ivr.flow.loader import load_dialplan, parse_dialplan
from ivr.flow.model import TimeRange as R
from ivr.flow.model import WeeklyHours
from ivr.prompts.catalogue import full_catalogue, generated_texts, load_texts
from ivr.prompts.hours_text import describe_hours

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "dialplans" / "example-city.yaml"
PROMPTS = ROOT / "prompts"


def hours(**days: list[tuple[str, str]]) -> WeeklyHours:
    names = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    week = [
        tuple(R(time.fromisoformat(a), time.fromisoformat(b)) for a, b in days.get(d, []))
        for d in names
    ]
    return WeeklyHours(days=tuple(week))


MORNING = [("08:30", "12:30")]
SPLIT = [("08:30", "12:30"), ("14:00", "16:00")]


# -- hours_text ------------------------------------------------------------------------------


def test_weekdays_with_same_hours_are_grouped_italian():
    week = hours(mon=SPLIT, tue=SPLIT, wed=SPLIT, thu=SPLIT, fri=SPLIT, sat=[("08:30", "12:00")])
    assert describe_hours("Anagrafe", week, "it") == (
        "Anagrafe: aperto dal lunedì al venerdì dalle 8 e 30 alle 12 e 30 e dalle 14 alle 16; "
        "il sabato dalle 8 e 30 alle 12."
    )


def test_weekdays_with_same_hours_are_grouped_english():
    week = hours(mon=SPLIT, tue=SPLIT, wed=SPLIT, thu=SPLIT, fri=SPLIT, sat=[("08:30", "12:00")])
    assert describe_hours("Registry office", week, "en") == (
        "Registry office: open from Monday to Friday from 8:30 a.m. to 12:30 p.m. and "
        "from 2 p.m. to 4 p.m.; on Saturday from 8:30 a.m. to noon."
    )


def test_days_are_grouped_by_time_range():
    week = hours(mon=MORNING, tue=MORNING, wed=SPLIT, thu=MORNING, sat=MORNING)
    text = describe_hours("Tributi", week, "it")
    assert text == (
        "Tributi: aperto dal lunedì al giovedì e il sabato dalle 8 e 30 alle 12 e 30; "
        "il mercoledì dalle 14 alle 16."
    )
    tributi = hours(
        mon=[("09:00", "13:00")],
        tue=[("09:00", "13:00"), ("14:30", "16:30")],
        wed=[("09:00", "13:00")],
        thu=[("09:00", "13:00"), ("14:30", "16:30")],
        fri=[("09:00", "13:00")],
    )
    assert describe_hours("Local taxes", tributi, "en") == (
        "Local taxes: open from Monday to Friday from 9 a.m. to 1 p.m.; "
        "on Tuesday and on Thursday from 2:30 p.m. to 4:30 p.m."
    )


def test_weekend_only_and_sunday():
    week = hours(sat=MORNING, sun=MORNING)
    assert describe_hours("Musei", week, "en") == (
        "Musei: open on Saturday and on Sunday from 8:30 a.m. to 12:30 p.m."
    )


def test_always_open_and_never_open():
    assert describe_hours("Polizia locale", WeeklyHours(always=True), "it") == (
        "Polizia locale: attivo ventiquattro ore su ventiquattro, tutti i giorni."
    )
    assert describe_hours("Local police", WeeklyHours(always=True), "en") == (
        "Local police: available twenty-four hours a day, every day."
    )
    assert describe_hours("Archivio", WeeklyHours(), "it") == (
        "Archivio: nessun orario di apertura al pubblico."
    )
    assert describe_hours("Archive", WeeklyHours(), "en") == "Archive: no public opening hours."


def test_unknown_language_gives_none():
    assert describe_hours("Mairie", hours(mon=MORNING), "fr") is None
    assert describe_hours("Mairie", WeeklyHours(always=True), "xx") is None


# -- catalogue -------------------------------------------------------------------------------


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_load_texts_one_file_per_language_with_whitespace_folded(tmp_path):
    write(tmp_path, "it.yaml", 'ciao: "Buongiorno."\nlungo: >-\n  Prima riga,\n    seconda.\n')
    write(tmp_path, "en.yaml", "# comment only\nhello: Good morning.\n")
    write(tmp_path, "de.yaml", "")  # an empty language file is an empty language
    write(tmp_path, "notes.txt", "not: a language")
    assert load_texts(tmp_path) == {
        "it": {"ciao": "Buongiorno.", "lungo": "Prima riga, seconda."},
        "en": {"hello": "Good morning."},
        "de": {},
    }


def test_real_prompt_files_cover_the_engine_prompts():
    texts = load_texts(PROMPTS)
    assert set(texts) >= {"it", "en"}
    assert texts["it"]["goodbye"] == "Grazie per aver chiamato. Arrivederci."
    assert texts["en"]["main_menu"].startswith("For the registry office, certificates")
    assert "\n" not in texts["en"]["main_menu"]


@pytest.mark.parametrize(
    "content",
    [
        'welcome: "unterminated\nbye: [\n',  # not YAML at all
        "- just\n- a list\n",  # YAML, but not key: text
        "welcome: 12\n",  # a number is not a text
        "welcome:\n  nested: text\n",
    ],
)
def test_malformed_file_is_a_value_error_naming_it(tmp_path, content):
    write(tmp_path, "en.yaml", "ok: fine\n")
    bad = write(tmp_path, "it.yaml", content)
    with pytest.raises(ValueError) as err:
        load_texts(tmp_path)
    assert str(bad) in str(err.value)


def test_hours_are_generated_for_every_department_and_language():
    dialplan = load_dialplan(EXAMPLE, PROMPTS)
    generated = generated_texts(dialplan)
    assert set(generated) == {"it", "en"}
    for lang in ("it", "en"):
        assert set(generated[lang]) == {f"hours_{d}" for d in dialplan.departments}
        for dept in dialplan.departments.values():
            text = generated[lang][f"hours_{dept.id}"]
            assert text == describe_hours(dept.names[lang], dept.hours, lang)
            assert text.startswith(dept.names[lang] + ":")
    assert generated["it"]["hours_tributi"].count("dalle 14 e 30 alle 16 e 30") == 1
    assert "from Monday to Saturday from 7:30 a.m. to 7:30 p.m." in generated["en"]["hours_rifiuti"]


SMALL_CITY = """
city: Ville
number: "0101"
languages: [it, fr]
general_operator: op
departments:
  op:
    names: {it: Operatore, fr: Opérateur}
    hours: always
start: orari
nodes:
  orari: {type: hours, department: op, open: passa, closed: passa}
  passa: {type: transfer, department: op}
"""


def test_language_without_hours_wording_gets_no_generated_text():
    dialplan, issues = parse_dialplan(SMALL_CITY, "small.yaml")
    assert issues == [] and dialplan is not None
    generated = generated_texts(dialplan)
    assert generated == {
        "it": {"hours_op": "Operatore: attivo ventiquattro ore su ventiquattro, tutti i giorni."},
        "fr": {},
    }


def test_full_catalogue_overlays_generated_hours_on_hand_written_texts(tmp_path):
    dialplan, _ = parse_dialplan(SMALL_CITY, "small.yaml")
    write(tmp_path, "it.yaml", 'goodbye: "Arrivederci."\nhours_op: "Orario scritto a mano."\n')
    write(tmp_path, "fr.yaml", 'goodbye: "Au revoir."\nhours_op: "Ouvert tout le temps."\n')
    catalogue = full_catalogue(dialplan, tmp_path)
    # Generated wins where there is wording (hours can never drift from the dialplan) ...
    assert catalogue["it"] == {
        "goodbye": "Arrivederci.",
        "hours_op": "Operatore: attivo ventiquattro ore su ventiquattro, tutti i giorni.",
    }
    # ... and a hand-written text fills in for a language that has no wording yet.
    assert catalogue["fr"] == {"goodbye": "Au revoir.", "hours_op": "Ouvert tout le temps."}
