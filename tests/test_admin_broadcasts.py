"""The admin's Broadcasts pages: the teleassistance staff create a broadcast (every bad field
shown beside it, nothing written), its audio is built in each language by the prompts' pipeline
and only then may it be dialled; the list counts deliveries per state, a broadcast's page shows
its recipients by id and masked number, and it can be cancelled; editors, viewers and operators
are refused; the audit log holds the broadcast's id only."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from ivr.admin.models import AuditEntry
from ivr.db import ready
from ivr.prompts.build import SynthesisError
from ivr.teleassistance.broadcasts import BroadcastStore
from ivr.teleassistance.rules import CitizenData, ContactData
from ivr.teleassistance.store import TeleassistanceStore
from tests.admin_support import city_settings, login, make_app, post

TOMORROW = (date.today() + timedelta(days=1)).isoformat()
GOOD = {
    "kind": "heat_wave",
    "title": "Ondata di calore",
    "areas": ["San Salvario"],
    "day": TOMORROW,
    "window": "10:00-12:00",
    "text_it": "Fa molto caldo: bevete acqua.",
    "text_en": "It is very hot: drink water.",
}


def enrol(settings) -> None:
    store = TeleassistanceStore(ready(settings.database_url))
    people = [
        ("Maria Rossi", "06 1234 5678", "it", "San Salvario"),
        ("John Smith", "06 1234 5679", "en", "San Salvario"),
        ("Gino Verdi", "06 1234 5670", "it", "Lingotto"),
    ]
    for name, number, language, area in people:
        store.add(
            CitizenData(
                name=name,
                numbers=(number,),
                language=language,
                weekdays=("mon",),
                call_kind="automatic",
                contacts=(ContactData("Anna Bianchi", "3331112222", "daughter", "call"),),
                consent_on="2026-11-01",
                consent_by="test",
                area=area,
            )
        )


@pytest.fixture
def settings(tmp_path):
    settings = city_settings(tmp_path)
    enrol(settings)
    return settings


@pytest.fixture
def app(settings):
    return make_app(settings)


def broadcasts(settings) -> BroadcastStore:
    return BroadcastStore(ready(settings.database_url))


def audit_rows(app) -> list[AuditEntry]:
    with app.config["SESSIONS"]() as db:
        return list(db.scalars(select(AuditEntry).where(AuditEntry.action.like("broadcast%"))))


@pytest.mark.parametrize("role", ["editor", "viewer", "operator"])
def test_only_the_teleassistance_staff_and_admins(app, role):
    assert login(app, role).get("/broadcasts").status_code == 403
    assert login(app, "admin").get("/broadcasts").status_code == 200
    page = login(app, "teleassistance").get("/broadcasts/new").get_data(as_text=True)
    assert "San Salvario (2 citizens)" in page and "Lingotto (1 citizens)" in page


def test_a_bad_form_shows_each_problem_beside_its_field(app, settings):
    client = login(app, "teleassistance")
    bad = {**GOOD, "areas": [], "window": "06:00-08:00", "text_en": "", "title": ""}
    response = post(client, "/broadcasts/new", bad)
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    for field in ("title", "areas", "window"):
        assert f'id="err-{field}"' in page, field
    assert "outside the calling hours 09:00-20:00" in page
    assert "Fa molto caldo" in page  # what was typed stays
    response = post(client, "/broadcasts/new", {**GOOD, "text_en": ""})
    assert response.status_code == 422
    assert 'id="err-text_en"' in response.get_data(as_text=True)
    assert broadcasts(settings).broadcasts() == []


def test_a_broadcast_is_created_spoken_listed_and_cancelled(app, settings):
    client = login(app, "teleassistance")
    response = post(client, "/broadcasts/new", GOOD)
    assert response.status_code == 302, response.get_data(as_text=True)
    (view,) = broadcasts(settings).broadcasts()
    assert view.audio_ready and view.state == "scheduled" and view.counts == {"pending": 2}
    for lang in ("it", "en"):
        assert (settings.sounds_dir / lang / f"broadcast_{view.id}.wav").is_file()
    assert not (settings.sounds_dir / "fr" / f"broadcast_{view.id}.wav").exists()

    listing = client.get("/broadcasts").get_data(as_text=True)
    assert "Ondata di calore" in listing and '<td data-state="pending">2</td>' in listing
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "12345678" not in page and "Maria" not in page and "John" not in page
    assert page.count("*") >= 2  # the numbers, masked

    assert post(client, f"/broadcasts/{view.id}/cancel").status_code == 302
    assert broadcasts(settings).get(view.id).state == "cancelled"
    rows = audit_rows(app)
    assert [(r.action, r.target) for r in rows] == [
        ("broadcast_create", f"broadcast {view.id}"),
        ("broadcast_cancel", f"broadcast {view.id}"),
    ]
    for row in rows:
        text = f"{row.before} {row.after}"
        assert "caldo" not in text and "Salvario" not in text and "1234" not in text


class Mute:
    """A voice that cannot speak (a cloud quota, a missing voice)."""

    def voice(self, lang: str) -> str:
        return "mute"

    def synthesize(self, text: str, lang: str) -> bytes:
        raise SynthesisError("no voice today")


def test_audio_that_cannot_be_built_cancels_the_broadcast(settings):
    app = make_app(settings, synthesizer=Mute())
    client = login(app, "teleassistance")
    response = post(client, "/broadcasts/new", GOOD)
    assert response.status_code == 302
    (view,) = broadcasts(settings).broadcasts()
    assert view.state == "cancelled" and not view.audio_ready
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "could not be built" in page and "no voice today" in page


def wav(seconds: float, level: int = 6000) -> bytes:
    """A tone (or silence, level 0) as a 16-bit mono WAV at 8 kHz."""
    import io
    import math
    import struct
    import wave

    rate = 8000
    frames = b"".join(
        struct.pack("<h", int(level * math.sin(2 * math.pi * 440 * i / rate)))
        for i in range(int(rate * seconds))
    )
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(frames)
    return out.getvalue()


def test_a_language_may_be_a_recording_instead_of_a_text(app, settings):
    import io

    client = login(app, "teleassistance")
    form = {**GOOD, "text_en": "", "audio_en": (io.BytesIO(wav(1.5)), "message.wav")}
    response = post(client, "/broadcasts/new", form, content_type="multipart/form-data")
    assert response.status_code == 302, response.get_data(as_text=True)
    (view,) = broadcasts(settings).broadcasts()
    assert view.audio_ready and view.texts == {"it": GOOD["text_it"], "en": ""}
    assert (settings.sounds_dir / "en" / f"broadcast_{view.id}.wav").is_file()
    assert (settings.sounds_dir / "en" / f"broadcast_{view.id}.wav16").is_file()
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "en: (recording)" in page


@pytest.mark.parametrize(
    ("upload", "words"), [(b"not audio at all", "not a PCM WAV"), (None, "silent")]
)
def test_a_bad_recording_is_named_beside_its_field(app, settings, upload, words):
    import io

    client = login(app, "teleassistance")
    data = upload if upload is not None else wav(1.0, level=0)
    form = {**GOOD, "text_en": "", "audio_en": (io.BytesIO(data), "message.wav")}
    response = post(client, "/broadcasts/new", form, content_type="multipart/form-data")
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'id="err-audio_en"' in page and words in page
    assert broadcasts(settings).broadcasts() == []
