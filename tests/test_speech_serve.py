"""Start-up checks of the speech service: model paths, vocabulary of every grammar word."""

from pathlib import Path

import pytest

from ivr.flow.loader import parse_dialplan
from ivr.speech.serve import check, load_all, parse_models
from tests.test_speech_node import TEXT
from tests.test_speech_recognizer import KO_MODEL


def test_parse_models():
    assert parse_models("it=/a, en=/b") == {"it": Path("/a"), "en": Path("/b")}
    assert parse_models("") == {}
    with pytest.raises(ValueError):
        parse_models("it")


def test_start_up_reports_missing_models_and_words(tmp_path):
    models, problems = load_all({"ko": KO_MODEL, "it": tmp_path / "nope"})
    assert list(models) == ["ko"]
    assert problems == [f"model 'it': {tmp_path}/nope: no such directory"]
    ko = TEXT.replace("languages: [it]", "languages: [it, ko]").replace(
        "        op: [operatore]\n",
        "        op: [operatore]\n      ko:\n        anagrafe: [주민센터, 민원]\n"
        "        op: [상담원, anagrafe]\n",
    )
    plan, _ = parse_dialplan(ko, "ko.yaml")  # (department names lack ko: not this test's point)
    assert check(models, plan) == [
        "speech node 'speak': no model configured for 'it'",
        "speech node 'speak' (ko): not in the model's vocabulary: anagrafe",
    ]
