"""The Open311 GeoReport v2 API on the admin's web server, on SQLite and PostgreSQL: services and
their definitions, posting a request into the back office's one queue (a duplicate merged), every
refusal in the spec's error format with nothing stored, statuses read back by id and by filters
without a phone or an e-mail, JSON and XML saying the same."""

from __future__ import annotations

from datetime import datetime, timedelta
from xml.etree import ElementTree as ET
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ivr.backoffice.api_keys import ApiKeys, digest
from ivr.backoffice.models import BackofficeApiKey, BackofficeEvent, BackofficeRequest
from ivr.backoffice.rules import Category, NewRequest
from ivr.backoffice.store import BackofficeStore
from ivr.db import make_engine
from tests.admin_support import city_settings, login, make_app

ROME = ZoneInfo("Europe/Rome")
NOW = datetime(2026, 11, 30, 9, 0)
V2 = "/open311/v2"
ROADS = Category("buche", "mobilita", "Buche stradali", "Buche e avvallamenti", {"urgent": 2})
WASTE = Category("ingombranti", "rifiuti", "Ritiro ingombranti")
PHONE, EMAIL = "+39 333 123 4567", "anna.verdi@example.org"


class Clock:
    """The admin's clock (a zone in, an aware time out), moved by the tests."""

    def __init__(self) -> None:
        self.now = NOW

    def __call__(self, zone: ZoneInfo) -> datetime:
        return self.now.replace(tzinfo=zone)


@pytest.fixture
def city(booking_url, tmp_path):
    engine = make_engine(booking_url)
    clock = Clock()
    store = BackofficeStore(engine, clock=lambda: clock.now)  # the desk's, on the same clock
    store.save_category(ROADS)
    store.save_category(WASTE)
    key = ApiKeys(engine, clock=lambda: NOW).add("sito del comune")
    app = make_app(city_settings(tmp_path, database_url=booking_url), clock=clock)

    class City:
        pass

    c = City()
    c.app, c.client, c.store, c.engine, c.key, c.clock = (
        app,
        login(app, None),
        store,
        engine,
        key,
        clock,
    )
    return c


def form(city, **changes) -> dict[str, str]:
    base = {
        "api_key": city.key,
        "service_code": "buche",
        "description": "Una buca profonda davanti al civico 12",
        "lat": "41.9028",
        "long": "12.4964",
        "address_string": "Via Roma 12",
        "phone": PHONE,
        "first_name": "Anna",
        "last_name": "Verdi",
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def counts(city) -> tuple[int, int]:
    with Session(city.engine) as db:
        return (
            db.scalar(select(func.count()).select_from(BackofficeRequest)),
            db.scalar(select(func.count()).select_from(BackofficeEvent)),
        )


def xml_records(body: bytes) -> tuple[str, list[dict[str, str]]]:
    root = ET.fromstring(body)
    return root.tag, [{child.tag: child.text or "" for child in item} for item in root]


def as_text(records: list[dict]) -> list[dict[str, str]]:
    """JSON records as XML says them: every value a string, null and false spelled out."""

    def text(value) -> str:
        if value is None:
            return ""
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)

    return [{k: text(v) for k, v in r.items()} for r in records]


def errors(response) -> list[dict]:
    return response.get_json()


# -- services ------------------------------------------------------------------------------------


def test_the_service_list_and_definitions_in_json_and_xml(city):
    response = city.client.get(f"{V2}/services.json")
    assert response.status_code == 200
    assert response.content_type == "application/json"
    services = response.get_json()
    assert [s["service_code"] for s in services] == ["buche", "ingombranti"]
    assert services[0] == {
        "service_code": "buche",
        "service_name": "Buche stradali",
        "description": "Buche e avvallamenti",
        "metadata": False,
        "type": "realtime",
        "keywords": "",
        "group": "mobilita",
    }
    response = city.client.get(f"{V2}/services.xml")
    assert response.status_code == 200 and response.content_type.startswith("text/xml")
    root, items = xml_records(response.data)
    assert root == "services"
    assert items == as_text(services)

    response = city.client.get(f"{V2}/services/buche.json")
    assert response.get_json() == {"service_code": "buche", "attributes": []}
    root = ET.fromstring(city.client.get(f"{V2}/services/buche.xml").data)
    assert root.tag == "service_definition"
    assert root.findtext("service_code") == "buche"
    assert root.find("attributes") is not None and len(root.find("attributes")) == 0

    for fmt in ("json", "xml"):
        response = city.client.get(f"{V2}/services/nope.{fmt}")
        assert response.status_code == 404
    assert errors(city.client.get(f"{V2}/services/nope.json")) == [
        {"code": 404, "description": "service_code: no such service: 'nope'"}
    ]
    root = ET.fromstring(city.client.get(f"{V2}/services/nope.xml").data)
    assert root.tag == "errors"
    assert root.findtext("error/code") == "404"
    assert root.findtext("error/description").startswith("service_code:")
    # an unknown format or path: the spec's error too
    response = city.client.get(f"{V2}/services.csv")
    assert response.status_code == 404 and errors(response)[0]["code"] == 404


# -- posting -------------------------------------------------------------------------------------


def test_a_post_feeds_the_queue_and_the_same_post_again_is_merged(city):
    response = city.client.post(f"{V2}/requests.json", data=form(city))  # no CSRF token, no login
    assert response.status_code == 200, response.data
    (posted,) = response.get_json()
    assert set(posted) == {"service_request_id", "service_notice", "account_id"}
    assert posted["account_id"] is None
    code = posted["service_request_id"]
    (queued,) = city.store.queue()
    assert queued.code == code
    assert (queued.category, queued.department, queued.source) == ("buche", "mobilita", "open311")
    assert queued.channel == "sms"  # a mobile, no e-mail
    assert queued.number == "3331234567" and queued.email == ""
    assert queued.due_at == NOW + timedelta(hours=72)
    with Session(city.engine) as db:
        row = db.scalar(select(BackofficeRequest))
        assert (row.address, row.lat, row.long) == ("Via Roma 12", 41.9028, 12.4964)
        stored = " ".join(str(v) for v in vars(row).values())
        assert "Anna" not in stored and "Verdi" not in stored  # names are not kept

    # minutes later, the same form again (a double click, a retry): the same request
    city.clock.now = NOW + timedelta(minutes=3)
    again = city.client.post(
        f"{V2}/requests.xml", data=form(city, description="una buca PROFONDA davanti al civico 12!")
    )
    assert again.status_code == 200
    root, items = xml_records(again.data)
    assert root == "service_requests"
    assert items[0]["service_request_id"] == code
    assert "minutes ago" in items[0]["service_notice"]
    assert len(city.store.queue()) == 1
    assert [e.kind for e in city.store.history(queued.id)] == ["created", "merged"]

    # by e-mail: answered by e-mail; a photo link is not kept, and the answer says so
    response = city.client.post(
        f"{V2}/requests.json",
        data=form(
            city,
            service_code="ingombranti",
            phone=None,
            email=EMAIL,
            lat=None,
            long=None,
            media_url="https://example.org/photo.jpg",
        ),
    )
    assert response.status_code == 200
    assert "photo" in response.get_json()[0]["service_notice"]
    second = city.store.by_code(response.get_json()[0]["service_request_id"])
    assert (second.channel, second.email, second.number) == ("email", EMAIL, "")
    assert len(city.store.queue()) == 2


@pytest.mark.parametrize(
    ("changes", "status", "expected"),
    [
        ({"service_code": None}, 400, ["service_code: missing"]),
        ({"service_code": "nope"}, 404, ["service_code: no such service: 'nope'"]),
        ({"description": "x" * 4001}, 413, ["description: at most 4000 characters"]),
        ({"api_key": "not-a-key"}, 403, ["api_key: wrong or revoked"]),
        ({"api_key": None}, 403, ["api_key: missing"]),
        (
            {"lat": None, "long": None, "address_string": None},
            400,
            ["address_string: a location: lat and long, or an address"],
        ),
        (
            {"lat": "north", "phone": None},
            400,
            [
                "lat: a number in decimal degrees",
                "email: an e-mail or a phone, for the city's answer",
            ],
        ),
        ({"email": "nobody"}, 400, ["email: not an e-mail address"]),
        ({"description": "   "}, 400, ["description: say what the problem is"]),
        # several problems: one error each, the answer's status the most telling one
        (
            {"service_code": "nope", "description": "y" * 5000, "phone": "12"},
            413,
            [
                "service_code: no such service: 'nope'",
                "phone: not a phone number",
                "description: at most 4000 characters",
            ],
        ),
    ],
)
def test_a_bad_post_is_refused_in_the_specs_format_and_stores_nothing(
    city, changes, status, expected
):
    for fmt in ("json", "xml"):
        response = city.client.post(f"{V2}/requests.{fmt}", data=form(city, **changes))
        assert response.status_code == status, response.data
        if fmt == "json":
            said = errors(response)
        else:
            root, said = xml_records(response.data)
            assert root == "errors"
            said = [{"code": int(e["code"]), "description": e["description"]} for e in said]
        assert sorted(e["description"] for e in said) == sorted(expected)
        for e in said:  # each error its own code
            field = e["description"].partition(":")[0]
            oversize = "at most" in e["description"]
            assert e["code"] == {
                "service_code": 404 if "nope" in e["description"] else 400,
                "api_key": 403,
            }.get(field, 413 if oversize else 400)
    assert counts(city) == (0, 0)


def test_a_revoked_key_posts_nothing_and_only_the_digest_is_kept(city):
    keys = ApiKeys(city.engine)
    with Session(city.engine) as db:
        (row,) = db.scalars(select(BackofficeApiKey))
        assert row.digest == digest(city.key) and city.key not in row.digest
    keys.revoke("sito del comune")
    response = city.client.post(f"{V2}/requests.json", data=form(city))
    assert response.status_code == 403
    assert counts(city) == (0, 0)


def test_bodies_and_posting_rates_are_limited(city):
    big = form(city, description="z" * 70_000)
    response = city.client.post(f"{V2}/requests.json", data=big)
    assert response.status_code == 413
    assert errors(response)[0]["code"] == 413
    assert counts(city) == (0, 0)
    # a file in the body: refused, not kept
    upload = {**form(city), "media": (__import__("io").BytesIO(b"jpeg"), "photo.jpg")}
    response = city.client.post(
        f"{V2}/requests.json", data=upload, content_type="multipart/form-data"
    )
    assert response.status_code == 400
    assert errors(response)[0]["description"].startswith("media:")

    city.app.config["OPEN311_POSTS_PER_MINUTE"] = 2
    city.app.extensions.pop("open311_limits", None)
    statuses = [
        city.client.post(
            f"{V2}/requests.json", data=form(city, description=f"buca {n}")
        ).status_code
        for n in range(3)
    ]
    assert statuses == [200, 200, 429]
    assert counts(city)[0] == 2
    assert city.client.get(f"{V2}/services.json").status_code == 200  # reads count apart


def test_the_admins_own_forms_still_need_their_csrf_token(city):
    admin = login(city.app, "admin")
    assert admin.post("/users", data={"username": "x"}).status_code == 400


# -- reading back --------------------------------------------------------------------------------


def test_statuses_by_id_and_by_filters_without_contacts(city):
    posted = city.client.post(f"{V2}/requests.json", data=form(city)).get_json()
    code = posted[0]["service_request_id"]
    city.clock.now = NOW + timedelta(hours=1)
    by_mail = city.client.post(
        f"{V2}/requests.json",
        data=form(city, service_code="ingombranti", phone=None, email=EMAIL),
    ).get_json()[0]["service_request_id"]
    # a request told to an operator on the phone: in the list, without its words or place
    phoned = city.store.create(
        NewRequest(
            category="buche",
            description="Chiamata: la signora Bianchi segnala una buca sotto casa",
            number="+39 347 765 4321",
            source="phone",
            address="Via Bianchi 1",
        ),
        "desk",
    )
    city.store.move(phoned.id, "solved", "desk")

    response = city.client.get(f"{V2}/requests/{code}.json")
    assert response.status_code == 200
    (one,) = response.get_json()
    assert one["service_request_id"] == code
    assert one["status"] == "open" and one["status_notes"]
    assert one["service_code"] == "buche" and one["service_name"] == "Buche stradali"
    assert one["agency_responsible"] == "mobilita"
    assert one["description"] == "Una buca profonda davanti al civico 12"
    assert (one["lat"], one["long"], one["address"]) == (41.9028, 12.4964, "Via Roma 12")
    assert one["requested_datetime"] == "2026-11-30T09:00:00+01:00"
    assert one["expected_datetime"] == "2026-12-03T09:00:00+01:00"
    assert city.client.get(f"{V2}/requests/99999999.json").status_code == 404
    assert errors(city.client.get(f"{V2}/requests/99999999.json"))[0]["code"] == 404

    def codes(query: str) -> list[str]:
        response = city.client.get(f"{V2}/requests.json?{query}")
        assert response.status_code == 200, response.data
        return [r["service_request_id"] for r in response.get_json()]

    assert codes("") == [phoned.code, by_mail, code]  # newest first
    assert codes("status=closed") == [phoned.code]
    assert codes("status=open") == [by_mail, code]
    assert codes("service_code=ingombranti") == [by_mail]
    assert codes("service_code=buche&status=open,closed") == [phoned.code, code]
    assert codes(f"service_request_id={code},{by_mail}&status=closed") == [by_mail, code]
    assert codes("start_date=2026-11-30T09:30:00%2B01:00") == [phoned.code, by_mail]
    assert codes("end_date=2026-11-30T08:30:00Z") == [code]  # 09:30 in Rome
    assert codes("start_date=2026-12-01T00:00:00Z") == []
    for query, field in (("status=pending", "status"), ("start_date=yesterday", "start_date")):
        response = city.client.get(f"{V2}/requests.json?{query}")
        assert response.status_code == 400
        assert errors(response)[0]["description"].startswith(f"{field}:")

    closed = city.client.get(f"{V2}/requests/{phoned.code}.json").get_json()[0]
    assert closed["status"] == "closed"
    assert closed["description"] == "" and closed["address"] == ""
    assert closed["lat"] is None

    # no contact, no name in any answer, in either format
    for path in (
        "requests.json",
        "requests.xml",
        f"requests/{code}.xml",
        f"requests/{by_mail}.json",
    ):
        body = city.client.get(f"{V2}/{path}").get_data(as_text=True)
        for personal in ("3331234567", "3477654321", "+39", "anna.verdi", "example", "Verdi"):
            assert personal not in body, (path, personal)
        assert "Bianchi" not in body

    # XML says what JSON says
    as_json = city.client.get(f"{V2}/requests.json").get_json()
    root, as_xml = xml_records(city.client.get(f"{V2}/requests.xml").data)
    assert root == "service_requests"
    assert as_xml == as_text(as_json)
    english = city.client.get(f"{V2}/requests/{phoned.code}.json?locale=en_GB").get_json()[0]
    assert english["status_notes"] == "solved"


def test_answers_to_posts_never_echo_a_contact(city):
    response = city.client.post(f"{V2}/requests.xml", data=form(city))
    assert "3331234567" not in response.get_data(as_text=True)
    refused = city.client.post(f"{V2}/requests.json", data=form(city, email="bad@mail"))
    assert refused.status_code == 400
    assert b"bad@mail" not in refused.data  # refusals name the field, not what was typed


# -- ivr backoffice ... ----------------------------------------------------------------------------


def test_the_cli_makes_keys_and_categories(booking_url, capsys):
    from ivr.backoffice.cli import run
    from ivr.cli import build_parser

    engine = make_engine(booking_url)

    def ivr(*argv: str) -> tuple[int, str, str]:
        code = run(build_parser().parse_args(["backoffice", *argv]), engine)
        out, err = capsys.readouterr()
        return code, out, err

    code, out, _ = ivr("api-key", "add", "app segnalazioni")
    assert code == 0
    key = out.splitlines()[1]
    assert ApiKeys(engine).client(key) == "app segnalazioni"
    with Session(engine) as db:
        assert db.scalar(select(BackofficeApiKey.digest)) == digest(key)
    assert ivr("api-key", "add", "app segnalazioni")[0] == 1
    assert "active" in ivr("api-key", "list")[1]
    assert ivr("api-key", "revoke", "app segnalazioni")[0] == 0
    assert ApiKeys(engine).client(key) is None
    assert "revoked" in ivr("api-key", "list")[1]
    assert ivr("api-key", "revoke", "nobody")[2] == "name: no key named 'nobody'\n"

    code, out, _ = ivr(
        "category", "add", "buche", "--department", "mobilita", "--name", "Buche",
        "--sla", "urgent=2,high=12",
    )  # fmt: skip
    assert (code, out) == (0, "buche: added\n")
    assert BackofficeStore(engine).categories()["buche"].sla == {"urgent": 2, "high": 12}
    code, _, err = ivr(
        "category", "add", "Bad!", "--department", "", "--name", "x", "--sla", "panic=1"
    )
    assert code == 1
    assert [line.partition(":")[0] for line in err.splitlines()] == ["code", "department", "sla"]
    assert "Bad!" not in ivr("category", "list")[1]
    assert "buche" in ivr("category", "list")[1]
