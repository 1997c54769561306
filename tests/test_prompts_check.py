"""`ivr prompts check`: prompts a call can reach that lack a text or audio, with where they are
used; and `ivr dialplan check` failing on a missing translation."""

from __future__ import annotations

import json
import shutil
import struct
import wave
from pathlib import Path

import pytest
import yaml

from ivr.cli import main
from ivr.flow.loader import load_dialplan, parse_dialplan
from ivr.prompts.build import MANIFEST
from ivr.prompts.catalogue import audio_catalogue
from ivr.prompts.check import ENGINE, SAYINGS, check_prompts, where_used

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_FILE = ROOT / "dialplans" / "example-city.yaml"
EXAMPLE = load_dialplan(EXAMPLE_FILE)
PROMPTS = ROOT / "prompts"


def line_of(node_id: str) -> int:
    return EXAMPLE.nodes[node_id].line


def fake_build(dialplan, prompts: Path, sounds: Path) -> None:
    """What a finished build leaves: a short WAV per prompt and format, and the manifest of
    the texts they were made from (the check reads files and texts, not audio content)."""
    formats: dict[str, dict] = {"wav": {}, "wav16": {}}
    for lang, texts in audio_catalogue(dialplan, prompts).items():
        if lang not in dialplan.languages:
            continue
        (sounds / lang).mkdir(parents=True, exist_ok=True)
        for key, text in texts.items():
            for ext, rate in (("wav", 8000), ("wav16", 16000)):
                with wave.open(str(sounds / lang / f"{key}.{ext}"), "wb") as out:
                    out.setnchannels(1)
                    out.setsampwidth(2)
                    out.setframerate(rate)
                    out.writeframes(struct.pack("<4h", 900, -900, 900, -900))
                formats[ext][f"{lang}/{key}"] = {"hash": "x", "text": text, "voice": "test"}
    manifest = {"version": 2, "formats": formats}
    (sounds / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")


@pytest.fixture
def city(tmp_path, monkeypatch):
    """A copy of the prompts, a complete (fake) build, and the CLI pointed at them."""
    prompts, sounds = tmp_path / "prompts", tmp_path / "sounds"
    shutil.copytree(PROMPTS, prompts)
    fake_build(EXAMPLE, prompts, sounds)
    monkeypatch.setenv("NU_PROMPTS_DIR", str(prompts))
    monkeypatch.setenv("NU_SOUNDS_DIR", str(sounds))
    monkeypatch.setenv("NU_DIALPLAN", str(EXAMPLE_FILE))
    return prompts, sounds


def drop(prompts: Path, lang: str, key: str) -> None:
    path = prompts / f"{lang}.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    del data[key]
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")


def test_a_complete_city_passes(city, capsys):
    prompts, sounds = city
    result = check_prompts(EXAMPLE, prompts, sounds)
    assert result.ok and result.gaps == [] and result.warnings == []
    assert result.checked > 7 * 35
    assert main(["prompts", "check"]) == 0
    assert capsys.readouterr().out.strip() == result.summary()


def test_a_missing_translation_names_key_language_and_where_it_is_used(city, capsys):
    prompts, sounds = city
    total = check_prompts(EXAMPLE, prompts, sounds).checked
    drop(prompts, "fr", "main_menu")
    assert main(["prompts", "check"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"fr/main_menu: no text; used by principale (line {line_of('principale')})"
    assert (
        out[-1]
        == f"1 of {total} prompts in use are incomplete: 1 without text, 0 without current audio"
    )
    # `ivr dialplan check` fails on it too, naming the node, the key and the language.
    assert main(["dialplan", "check", str(EXAMPLE_FILE), "--prompts", str(prompts)]) == 1
    printed = capsys.readouterr().out
    assert (
        f"example-city.yaml:{line_of('principale')}: node 'principale': "
        "prompt 'main_menu' missing in language 'fr'"
    ) in printed


def test_an_engine_prompt_missing_is_used_by_the_engine(city):
    prompts, sounds = city
    drop(prompts, "ar", "no_input")
    gaps = check_prompts(EXAMPLE, prompts, sounds).gaps
    assert [str(g) for g in gaps] == [f"ar/no_input: no text; used by {ENGINE}"]


def test_a_prompt_used_by_several_nodes_lists_them_all(city):
    prompts, sounds = city
    drop(prompts, "de", "transferring")
    (gap,) = check_prompts(EXAMPLE, prompts, sounds).gaps
    transfers = sorted(n for n, node in EXAMPLE.nodes.items() if node.kind == "transfer")
    assert gap.name == "de/transferring" and gap.problem == "no text"
    assert gap.used_by[0] == ENGINE
    assert [u.split()[0] for u in gap.used_by[1:]] == transfers


def test_missing_or_stale_audio(city, capsys):
    prompts, sounds = city
    (sounds / "zh" / "welcome.wav16").unlink()
    (sounds / "es" / "goodbye.wav").unlink()
    (sounds / "es" / "goodbye.wav16").unlink()
    (sounds / "de" / "say_num_7.wav").unlink()
    text = (prompts / "it.yaml").read_text(encoding="utf-8")
    (prompts / "it.yaml").write_text(text.replace("Arrivederci.", "A presto."), encoding="utf-8")
    assert main(["prompts", "check"]) == 1
    out = capsys.readouterr().out.splitlines()
    benvenuto = f"benvenuto (line {line_of('benvenuto')})"
    assert out[:4] == [
        f"de/say_num_7: no audio (wav); used by {SAYINGS}",
        f"es/goodbye: no audio (wav, wav16); used by {ENGINE}, fine (line {line_of('fine')})",
        f"it/goodbye: audio out of date (run ivr prompts build); used by {ENGINE}, "
        f"fine (line {line_of('fine')})",
        f"zh/welcome: no audio (wav16); used by {benvenuto}",
    ]
    assert out[4].startswith("4 of ") and out[4].endswith("0 without text, 4 without current audio")


def test_the_language_menu_prompt_is_needed_only_in_the_offered_languages(tmp_path):
    text = EXAMPLE_FILE.read_text(encoding="utf-8").replace('      "7": ar\n', "")
    dialplan, issues = parse_dialplan(text, "no-arabic-menu.yaml")
    assert dialplan is not None
    used = where_used(dialplan)
    assert "choose_language" in used["zh"] and "choose_language" not in used["ar"]
    assert "main_menu" in used["ar"]  # still a language of the city (the default may be it)


def test_unused_prompts_are_not_required(city):
    prompts, sounds = city
    with open(prompts / "en.yaml", "a", encoding="utf-8") as f:
        f.write('old_notice: "Offices are closed for the holidays."\n')
    assert check_prompts(EXAMPLE, prompts, sounds).ok  # no one plays it in other languages


def test_a_language_nobody_can_say_numbers_in_is_a_warning(tmp_path):
    dialplan, issues = parse_dialplan(
        """
number: "0101"
languages: [ru]
general_operator: op
departments:
  op: {names: {ru: Оператор}, hours: always}
nodes:
  start: {type: transfer, department: op}
""",
        "ru.yaml",
    )
    assert dialplan is not None
    result = check_prompts(dialplan, PROMPTS, tmp_path)
    assert {g.key for g in result.gaps} >= {"goodbye", "transferring"}
    assert result.warnings == [
        "ru: Asterisk cannot say numbers, dates and times in this language and "
        "ivr/prompts/sayings.py has no wording for it"
    ]


def test_check_after_a_real_build_of_one_small_city(tmp_path):
    """A real build (espeak-ng and sox) of a city in two languages with only the prompts it
    plays (tests/prompts_support.py: the example city's texts, ten per language): before it,
    every prompt in use lacks audio; after it, none."""
    from ivr.prompts.build import build_prompts
    from tests.prompts_support import small_city

    city = small_city(tmp_path / "city", ("it", "en"))
    sounds = tmp_path / "sounds"
    before = check_prompts(city.dialplan, city.prompts, sounds)
    assert not before.ok and {g.problem for g in before.gaps} == {"no audio (wav, wav16)"}
    assert before.checked > 0 and len(before.gaps) == before.checked  # every prompt in use
    report = build_prompts(city.dialplan, city.prompts, sounds)
    assert report.ok
    assert check_prompts(city.dialplan, city.prompts, sounds).ok
