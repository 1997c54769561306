"""An FAQ entry reaches the next caller through the real Asterisk: the back office writes it
from a solved request, an editor puts it into the draft from its admin page, translates it,
and publishes the draft the usual way (validate, version, render, reload of the test Asterisk
confirmed over AMI, live YAML); the running FastAGI service takes the new version at the next
call, and a caller pressing the registry menu's new key hears the FAQ's message played, then
the menu again."""

from __future__ import annotations

import dataclasses
import shutil
import time
from datetime import datetime

import pytest
import yaml

from ivr import config
from ivr.admin import auth
from ivr.admin.publish import AsteriskTarget, write_atomic
from ivr.backoffice.faq import FaqStore
from ivr.backoffice.faq_rules import FaqText, spoken
from ivr.backoffice.rules import Category, NewRequest
from ivr.backoffice.store import BackofficeStore
from ivr.db import ready
from ivr.flow.loader import load_dialplan
from ivr.prompts.build import build_prompts
from ivr.service import build_server
from tests.admin_support import PASSWORD, login, make_app, post, publish

pytestmark = pytest.mark.asterisk

MONDAY_10 = datetime(2026, 11, 23, 10, 0)
QUESTION = "Che documenti servono per la carta d'identità?"
ANSWER = "Una fototessera e la vecchia carta; prenoti premendo 2 nel menu dell'anagrafe."


@pytest.fixture
def city(tmp_path, asterisk):
    """The test Asterisk's city, with its own live dialplan, prompt texts and database."""
    (tmp_path / "city").mkdir()
    live = tmp_path / "city" / "example-city.yaml"  # the name the rendered files mention
    shutil.copy(config.ROOT / "dialplans" / "example-city.yaml", live)
    prompts = tmp_path / "prompts"
    shutil.copytree(config.ROOT / "prompts", prompts)
    return dataclasses.replace(
        asterisk.settings,
        redis_url="",
        database_url=f"sqlite:///{tmp_path / 'city.db'}",
        dialplan_path=live,
        prompts_dir=prompts,
        var_dir=tmp_path / "var",
    )


def test_a_published_faq_entry_is_played_to_the_next_caller(city, asterisk, tmp_path):
    requests = BackofficeStore(ready(city.database_url))
    requests.save_category(Category("anagrafe_info", "anagrafe", "Informazioni anagrafe"))
    asked = requests.create(
        NewRequest("anagrafe_info", "Cosa porto per la carta?", number="3331234567"), "bo"
    )
    requests.move(asked.id, "solved", "bo")
    entry = FaqStore(requests.engine).from_request(asked.id, FaqText(QUESTION, ANSWER), "bo")
    key = f"faq_{entry.id}"

    server = build_server(city, clock=lambda zone: MONDAY_10.replace(tzinfo=zone)).start()
    target = AsteriskTarget.from_etc(asterisk.instance.etc_dir)
    app = make_app(city, target=target)
    with app.config["SESSIONS"].begin() as db:
        auth.create_user(db, "back_office", PASSWORD, "back_office", "en")
    sounds = asterisk.instance.sounds_dir / "it"
    etc = asterisk.instance.etc_dir
    # the shared test Asterisk's files as they were: the publication renders modules.conf as
    # shipped (timerfd timing), not as the test instance paces audio; put back afterwards
    before = {p.name: p.read_bytes() for p in etc.glob("*.conf")}
    try:
        editor = login(app, "editor")
        done = post(editor, f"/backoffice/faq/{entry.id}/draft", {"menu": "anagrafe", "digit": "5"})
        assert done.status_code == 302
        texts = {lang: f"{QUESTION} ({lang})" for lang in ("en", "fr", "es", "de", "zh", "ar")}
        post(
            editor,
            f"/prompts/{key}",
            {"text_it": spoken(QUESTION, ANSWER), **{f"text_{k}": v for k, v in texts.items()}},
        )
        publish(editor, "FAQ carta d'identità")
        page = editor.get("/publish").get_data(as_text=True)
        result = page[page.find('id="result"') :][:800]
        assert "is live" in result, result
        assert "no Asterisk to reload" not in result  # reloaded and confirmed over AMI

        # the audio the editor builds ("build audio"), for this one prompt, where Asterisk reads
        said = yaml.safe_load((city.prompts_dir / "it.yaml").read_text())[key]
        assert said == spoken(QUESTION, ANSWER)
        report = build_prompts(
            load_dialplan(city.dialplan_path),
            city.prompts_dir,
            tmp_path / "built",
            languages=["it"],
            catalogue={"it": {key: said}},
            manifest_name="faq-manifest.json",
        )
        assert report.failed == {}
        for ext in ("wav", "wav16"):
            shutil.copy(tmp_path / "built" / "it" / f"{key}.{ext}", sounds / f"{key}.{ext}")

        call = asterisk.place_call(
            [("choose_language", "1"), ("main_menu", "1"), ("registry_booking_menu", "5")]
        )
        heard = call.wait_played(f"it/{key}", timeout=40)
        assert heard.prompt == f"it/{key}"
        deadline = time.monotonic() + 30
        names = [p.name for p in call.played()]
        while names.count("registry_booking_menu") < 2 and time.monotonic() < deadline:
            time.sleep(0.1)  # then the menu again
            names = [p.name for p in call.played()]
        first = names.index("registry_booking_menu")
        assert names.index(key) > first
        assert "registry_booking_menu" in names[names.index(key) + 1 :], names
        assert call.script_error is None
        call.hangup()
        assert server.stats["calls"] >= 1
    finally:
        server.shutdown()
        for name, old in before.items():
            if (etc / name).read_bytes() != old:
                write_atomic(etc / name, old)
        for ext in ("wav", "wav16"):
            (sounds / f"{key}.{ext}").unlink(missing_ok=True)
