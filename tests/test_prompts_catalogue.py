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
    assert describe_hours("Мэрия", hours(mon=MORNING), "ru") is None
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
    assert set(generated) == {"it", "en", "fr", "es", "de", "zh", "ar"}
    for lang in generated:
        assert set(generated[lang]) == {f"hours_{d}" for d in dialplan.departments}
        for dept in dialplan.departments.values():
            text = generated[lang][f"hours_{dept.id}"]
            assert text == describe_hours(dept.names[lang], dept.hours, lang)
            assert text.startswith(dept.names[lang])
    assert generated["it"]["hours_tributi"].count("dalle 14 e 30 alle 16 e 30") == 1
    assert "from Monday to Saturday from 7:30 a.m. to 7:30 p.m." in generated["en"]["hours_rifiuti"]


SMALL_CITY = """
city: Ville
number: "0101"
languages: [it, ru]
general_operator: op
departments:
  op:
    names: {it: Operatore, ru: Оператор}
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
        "ru": {},
    }


def test_full_catalogue_overlays_generated_hours_on_hand_written_texts(tmp_path):
    dialplan, _ = parse_dialplan(SMALL_CITY, "small.yaml")
    write(tmp_path, "it.yaml", 'goodbye: "Arrivederci."\nhours_op: "Orario scritto a mano."\n')
    write(tmp_path, "ru.yaml", 'goodbye: "До свидания."\nhours_op: "Открыто всегда."\n')
    catalogue = full_catalogue(dialplan, tmp_path)
    # Generated wins where there is wording (hours can never drift from the dialplan) ...
    assert catalogue["it"] == {
        "goodbye": "Arrivederci.",
        "hours_op": "Operatore: attivo ventiquattro ore su ventiquattro, tutti i giorni.",
    }
    # ... and a hand-written text fills in for a language that has no wording yet.
    assert catalogue["ru"] == {"goodbye": "До свидания.", "hours_op": "Открыто всегда."}


# -- the five other languages of the example city -------------------------------------------

ANAGRAFE = hours(mon=SPLIT, tue=SPLIT, wed=SPLIT, thu=SPLIT, fri=SPLIT, sat=[("08:30", "12:00")])
TRIBUTI = hours(
    mon=[("09:00", "13:00")],
    tue=[("09:00", "13:00"), ("14:30", "16:30")],
    wed=[("09:00", "13:00")],
    thu=[("09:00", "13:00"), ("14:30", "16:30")],
    fri=[("09:00", "13:00")],
)


@pytest.mark.parametrize(
    "lang, name, expected",
    [
        (
            "fr",
            "État civil",
            "État civil : ouvert du lundi au vendredi de 8 heures 30 à 12 heures 30 et de "
            "14 heures à 16 heures ; le samedi de 8 heures 30 à 12 heures.",
        ),
        (
            "es",
            "Registro civil",
            "Registro civil: abierto de lunes a viernes de las 8 y 30 a las 12 y 30 y de las 14 "
            "a las 16; el sábado de las 8 y 30 a las 12.",
        ),
        (
            "de",
            "Einwohnermeldeamt",
            "Einwohnermeldeamt: geöffnet von Montag bis Freitag von 8 Uhr 30 bis 12 Uhr 30 und "
            "von 14 Uhr bis 16 Uhr; am Samstag von 8 Uhr 30 bis 12 Uhr.",
        ),
        (
            "zh",
            "户籍登记处",
            "户籍登记处开放时间：星期一至星期五，8点30分至12点30分和14点至16点；"
            "星期六，8点30分至12点。",
        ),
        (
            "ar",
            "مكتب السجل المدني",
            "مكتب السجل المدني: مفتوح من يوم الاثنين إلى يوم الجمعة من الساعة 8:30 إلى الساعة "
            "12:30 و من الساعة 14 إلى الساعة 16؛ يوم السبت من الساعة 8:30 إلى الساعة 12.",
        ),
    ],
)
def test_hours_in_the_new_languages(lang, name, expected):
    assert describe_hours(name, ANAGRAFE, lang) == expected


def test_days_named_one_by_one_in_the_new_languages():
    assert describe_hours("Impôts locaux", TRIBUTI, "fr").endswith(
        "; le mardi et le jeudi de 14 heures 30 à 16 heures 30."
    )
    assert describe_hours("地方税务", TRIBUTI, "zh").endswith(
        "；星期二和星期四，14点30分至16点30分。"
    )
    week = hours(mon=MORNING, wed=MORNING, fri=MORNING)
    assert describe_hours("Musée", week, "fr") == (
        "Musée : ouvert le lundi, le mercredi et le vendredi de 8 heures 30 à 12 heures 30."
    )
    assert describe_hours("博物馆", week, "zh") == (
        "博物馆开放时间：星期一、星期三和星期五，8点30分至12点30分。"
    )
    assert "يوم الاثنين، يوم الأربعاء و يوم الجمعة" in describe_hours("متحف", week, "ar")
    assert describe_hours("Museo", hours(mon=[("13:00", "14:15")]), "es") == (
        "Museo: abierto el lunes de las 13 a las 14 y 15."
    )
    assert describe_hours("Museo", hours(mon=[("01:00", "02:00")]), "es").endswith(
        "de la 1 a las 2."
    )


def test_always_and_never_in_the_new_languages():
    for lang in ("fr", "es", "de", "zh", "ar"):
        always = describe_hours("X", WeeklyHours(always=True), lang)
        never = describe_hours("X", WeeklyHours(), lang)
        assert always and never and always != never and always.startswith("X")
    assert describe_hours("Polizei", WeeklyHours(always=True), "de") == (
        "Polizei: rund um die Uhr erreichbar, jeden Tag."
    )


def test_every_language_file_has_every_key_of_the_italian_one():
    texts = load_texts(PROMPTS)
    assert set(texts) >= {"it", "en", "fr", "es", "de", "zh", "ar"}
    for lang, entries in texts.items():
        assert set(entries) == set(texts["it"]), lang
        assert all(text.strip() for text in entries.values()), lang


@pytest.mark.parametrize(
    "lang, digit, words",
    [
        ("it", "1", "italiano"),
        ("en", "2", "English"),
        ("fr", "3", "français"),
        ("es", "4", "español"),
        ("de", "5", "Deutsch"),
        ("zh", "6", "中文"),
        ("ar", "7", "عربية"),  # "للعربية": "for Arabic"
    ],
)
def test_each_language_is_offered_in_its_own_words_with_its_digit(lang, digit, words):
    dialplan = load_dialplan(EXAMPLE, PROMPTS)
    menu = dialplan.nodes[dialplan.start]
    assert menu.options[digit] == lang
    text = load_texts(PROMPTS)[lang]["choose_language"]
    assert words in text and digit in text
    assert all(str(other) not in text for other in range(1, 10) if str(other) != digit)


def test_ssml_is_optional_and_checked(tmp_path):
    from ivr.prompts.catalogue import load_ssml

    write(
        tmp_path,
        "en.yaml",
        "plain: Good morning.\n"
        "code:\n  text: Your code has 8 digits.\n"
        "  ssml: '<speak>Your code has <break time=\"200ms\"/>8 digits.</speak>'\n",
    )
    assert load_texts(tmp_path) == {
        "en": {"plain": "Good morning.", "code": "Your code has 8 digits."}
    }
    assert load_ssml(tmp_path) == {
        "en": {"code": '<speak>Your code has <break time="200ms"/>8 digits.</speak>'}
    }
    write(tmp_path, "en.yaml", "code:\n  text: Hi.\n  ssml: '<speak>Hi.'\n")
    with pytest.raises(ValueError, match="'code': SSML is not well-formed"):
        load_texts(tmp_path)
    write(tmp_path, "en.yaml", "code:\n  text: Hi.\n  ssml: '<p>Hi.</p>'\n")
    with pytest.raises(ValueError, match="one <speak> element"):
        load_ssml(tmp_path)
    write(tmp_path, "en.yaml", "code:\n  ssml: '<speak>Hi.</speak>'\n")
    with pytest.raises(ValueError, match="en.yaml"):
        load_texts(tmp_path)
