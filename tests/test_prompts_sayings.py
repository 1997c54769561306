"""Dynamic parts (codes, numbers, dates, times) in every language: Asterisk's sayings where it has
the sounds (it, en, fr, es), our own vocabulary prompts elsewhere (de, zh, ar)."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from ivr.agi.peer import ScriptedCaller, drive
from ivr.agi.runner import run_call
from ivr.flow.actions import Play, Prompt, Saying, Transfer
from ivr.prompts.sayings import (
    ASTERISK_SAYS,
    needs_vocabulary,
    said_by_asterisk,
    saying_prompts,
    vocabulary,
)
from tests.agi_support import FakeSession

ROME = ZoneInfo("Europe/Rome")
# Monday 23 November 2026, 10:05 in Rome.
MONDAY = int(datetime(2026, 11, 23, 10, 5, tzinfo=ROME).timestamp())


def keys(saying: Saying) -> list[str]:
    prompts = saying_prompts(saying, ROME)
    assert all(p.language == saying.language for p in prompts)
    return [p.key for p in prompts]


def test_who_says_what():
    assert set(ASTERISK_SAYS) == {"it", "en", "fr", "es"}
    for lang in ("it", "en", "fr", "es"):
        assert said_by_asterisk(lang) and not needs_vocabulary(lang) and vocabulary(lang) == {}
    for lang in ("de", "zh", "ar"):
        assert needs_vocabulary(lang)
    assert not needs_vocabulary("ru")  # neither: Asterisk tries, with whatever sounds it has


@pytest.mark.parametrize("lang", ["de", "zh", "ar"])
def test_vocabulary_is_complete_and_every_saying_uses_only_it(lang):
    words = vocabulary(lang)
    assert len(words) == 100 + 24 + 59 + 7 + 31 + 12
    assert all(k.startswith("say_") and text.strip() for k, text in words.items())
    # Every minute of a day and every day of a (leap) year can be said from it.
    start = datetime(2028, 1, 1, tzinfo=ROME)
    needed: set[str] = set()
    for day in range(366):
        needed.update(
            keys(Saying("date", str(int((start + timedelta(days=day)).timestamp())), lang))
        )
    for minute in range(24 * 60):
        moment = start + timedelta(minutes=minute)
        needed.update(keys(Saying("time", str(int(moment.timestamp())), lang)))
    for n in (*range(100), 100, 12345):
        needed.update(keys(Saying("number", str(n), lang)))
    needed.update(keys(Saying("digits", "0123456789", lang)))
    assert needed <= set(words)
    assert len(needed) == len(words)  # and nothing in it is never used


def test_german_dates_and_times():
    assert keys(Saying("date", str(MONDAY), "de")) == ["say_wday_0", "say_mday_23", "say_month_11"]
    assert keys(Saying("time", str(MONDAY), "de")) == ["say_hour_10", "say_min_5"]
    words = vocabulary("de")
    spoken = " ".join(words[k] for k in keys(Saying("datetime", str(MONDAY), "de")))
    assert spoken == "Montag den dreiundzwanzigsten November 10 Uhr 5"
    ordinals = {d: words[f"say_mday_{d}"] for d in (1, 3, 7, 8, 11, 16, 17, 20, 21, 30, 31)}
    assert ordinals == {
        1: "den ersten",
        3: "den dritten",
        7: "den siebten",
        8: "den achten",
        11: "den elften",
        16: "den sechzehnten",
        17: "den siebzehnten",
        20: "den zwanzigsten",
        21: "den einundzwanzigsten",
        30: "den dreißigsten",
        31: "den einunddreißigsten",
    }


def test_chinese_and_arabic_word_order():
    zh, ar = vocabulary("zh"), vocabulary("ar")
    said = [zh[k] for k in keys(Saying("datetime", str(MONDAY), "zh"))]
    assert said == ["11月", "23号", "星期一", "10点", "零5分"]
    assert zh["say_min_30"] == "30分"
    said = [ar[k] for k in keys(Saying("datetime", str(MONDAY), "ar"))]
    assert said == ["يوم الاثنين", "23", "نوفمبر", "الساعة 10", "و 5 دقيقة"]


def test_full_hours_say_no_minutes_and_the_city_time_zone_is_used():
    noon_utc = int(datetime(2026, 7, 1, 10, 0, tzinfo=ZoneInfo("UTC")).timestamp())
    assert keys(Saying("time", str(noon_utc), "de")) == ["say_hour_12"]  # 12:00 in Rome (CEST)


def test_codes_and_numbers():
    assert keys(Saying("digits", "4071", "zh")) == [
        "say_num_4",
        "say_num_0",
        "say_num_7",
        "say_num_1",
    ]
    assert keys(Saying("number", "42", "ar")) == ["say_num_42"]
    assert keys(Saying("number", "305", "de")) == ["say_num_3", "say_num_0", "say_num_5"]


def test_unknown_language_or_kind_is_a_value_error():
    with pytest.raises(ValueError, match="no wording"):
        saying_prompts(Saying("digits", "1", "ru"))
    with pytest.raises(ValueError, match="unknown saying"):
        saying_prompts(Saying("ordinal", "1", "de"))


# -- the runner plays them -------------------------------------------------------------------

SND = "/snd"
OPERATOR = Transfer("operatore", "operatore", "de", "menu", {"lang": "de"})


class CityTime:
    """What the runner reads from a real session: the dialplan's time zone."""

    timezone = "Europe/Rome"


def run(session, caller=None):
    return drive(lambda agi: run_call(agi, session, SND), caller or ScriptedCaller())


def media(record) -> list[str]:
    return [c for c in record.commands if c.split()[0] in ("STREAM", "SAY")]


def test_runner_plays_our_vocabulary_where_asterisk_has_no_sounds():
    session = FakeSession(
        Play(
            (
                Prompt("booking_found", "de"),
                Saying("datetime", str(MONDAY), "de"),
                Saying("digits", "07", "de"),
            )
        ),
        OPERATOR,
    )
    session.language = "de"
    session.dialplan = CityTime()
    record, outcome = run(session)
    assert media(record) == [
        f'STREAM FILE "/snd/de/{key}" "0123456789*#"'
        for key in (
            "booking_found",
            "say_wday_0",
            "say_mday_23",
            "say_month_11",
            "say_hour_10",
            "say_min_5",
            "say_num_0",
            "say_num_7",
        )
    ]
    assert outcome.final == OPERATOR


def test_runner_lets_asterisk_say_it_in_italian_and_french():
    session = FakeSession(
        Play((Saying("date", str(MONDAY), "it"), Saying("digits", "07", "fr"))), OPERATOR
    )
    session.language = "it"
    record, _ = run(session)
    said = media(record)
    assert said[0] == f'SAY DATE "{MONDAY}" "0123456789*#"'
    assert said[1] == 'SAY DIGITS "07" "0123456789*#"'
    assert 'SET VARIABLE "CHANNEL(language)" "fr"' in record.commands


def test_a_key_during_our_saying_stops_it():
    session = FakeSession(Play((Saying("digits", "123456", "zh"),)), OPERATOR)
    session.language = "zh"
    record, _ = run(session, ScriptedCaller(["^5"]))
    assert media(record) == ['STREAM FILE "/snd/zh/say_num_1" "0123456789*#"']
