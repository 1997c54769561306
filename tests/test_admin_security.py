"""Admin security: who may see and do what, CSRF, login rate limiting, and hostile input.

Every route is checked for anonymous users and for each role, from the app's own URL map, so a
new page cannot be added without a permission. Hostile strings typed in the editor are either
refused with a clear message or neutralised in every generated Asterisk file.
"""

from __future__ import annotations

import re

import pytest

from ivr.admin.auth import CAN
from ivr.admin.publish import AsteriskTarget, Publisher
from ivr.asterisk.render import GENERATED
from ivr.prompts.build import SynthesisError
from tests.admin_support import PASSWORD, city_settings, login, make_app, post, publish, token

PUBLIC = {"static", "account.login", "account.logout", "account.set_language"}
# The Open311 GeoReport API: public by design (no session; posting needs an API key), its
# refusals in the spec's own format: tests/test_backoffice_open311.py.
PUBLIC_BLUEPRINTS = ("open311.",)
# Views declared "read" whose POST changes the draft or the prompts: editors only.
POST_NEEDS_EDIT = {"flow.node", "flow.yaml_editor", "departments.department", "prompts.prompt"}
ARGS = {
    "node_id": "principale",
    "dept_id": "tributi",
    "key": "main_menu",
    "version_id": 1,
    "user_id": 1,
    "lang": "it",
    "extension": "150",  # the Operators page's account (none: 404 for admins, 403 for others)
    "citizen_id": 1,  # a teleassistance citizen (none: 404 for those allowed, 403 for others)
    "broadcast_id": 1,  # a broadcast (none: 404 for those allowed, 403 for others)
    "request_id": 1,  # a back-office request (none: 404 for those allowed, 403 for others)
    "name": "message.wav",  # its voice message
    "alarm_id": 1,  # a teleassistance alarm (none: refused on the desk, 403 for others)
    "call_id": 1,  # a teleassistance week call (none: 404 for those allowed, 403 for others)
    "code": "buche",  # a back-office category (none: 404 for those allowed, 403 for others)
    "entry_id": 1,  # a back-office FAQ entry (none: 404 for those allowed, 403 for others)
}


@pytest.fixture
def app(tmp_path):
    return make_app(city_settings(tmp_path))


def routes(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint in PUBLIC or rule.endpoint.startswith(PUBLIC_BLUEPRINTS):
            continue
        path = rule.rule
        for name in rule.arguments:
            path = path.replace(f"<int:{name}>", str(ARGS[name])).replace(
                f"<{name}>", str(ARGS[name])
            )
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            view = app.view_functions[rule.endpoint]
            permission = getattr(view, "permission", None)
            if method == "POST" and rule.endpoint in POST_NEEDS_EDIT:
                permission = "edit"
            yield rule.endpoint, method, path, permission


def test_every_route_declares_a_permission(app):
    missing = [(e, m) for e, m, _, p in routes(app) if p is None]
    assert not missing, f"routes without auth.require: {missing}"


def request(client, method, path):
    if method == "GET":
        return client.get(path)
    data = {"yaml": "x: 1", "text_it": "x", "target": "city", "state": "off", "t": "played"}
    return post(client, path, data)


def test_anonymous_users_are_refused_everywhere(app):
    client = login(app, None)
    for endpoint, method, path, _ in routes(app):
        response = request(client, method, path)
        if method == "GET" and not path.startswith("/api/"):
            assert response.status_code == 302, (endpoint, path)
            assert "/login" in response.headers["Location"]
        else:
            assert response.status_code == 401, (endpoint, method, path)


class NoVoice:
    """A synthesiser with no voice at all: the permission sweep posts "build audio" too, which
    then ends at once with every language reported voiceless instead of synthesising the
    whole catalogue (two minutes; the build itself is tested in tests/test_admin.py)."""

    def voice(self, lang: str) -> str:
        raise SynthesisError(f"no voice for {lang} in the permission sweep")

    def synthesize(self, text: str, lang: str) -> bytes:
        raise SynthesisError("no voice in the permission sweep")


@pytest.mark.parametrize("role", ["viewer", "operator", "editor", "admin", "teleassistance"])
def test_each_role_gets_exactly_its_permissions(tmp_path, role):
    app = make_app(city_settings(tmp_path), synthesizer=NoVoice())
    client = login(app, role)
    for endpoint, method, path, permission in routes(app):
        response = request(client, method, path)
        if role in CAN[permission]:
            assert response.status_code != 403, (role, endpoint, method, path)
        else:
            assert response.status_code == 403, (role, endpoint, method, path)


def test_a_viewer_cannot_change_anything(app, tmp_path):
    viewer = login(app, "viewer")
    before = (tmp_path / "city" / "example-city.yaml").read_text()
    assert post(viewer, "/flow/node/principale", {"opt_6": ""}).status_code == 403
    assert post(viewer, "/flow/yaml", {"yaml": "broken"}).status_code == 403
    assert post(viewer, "/publish").status_code == 403
    assert post(viewer, "/versions/1/restore").status_code == 403
    assert post(viewer, "/switches", {"target": "city", "state": "on"}).status_code == 403
    assert post(viewer, "/users", {"username": "x", "password": PASSWORD}).status_code == 403
    assert (tmp_path / "city" / "example-city.yaml").read_text() == before
    assert app.config["LIVE_STATE"].switches() == frozenset()
    # ...but may run a test call, which changes nothing.
    assert post(viewer, "/simulate/start").status_code == 302


def test_forms_without_a_valid_csrf_token_are_refused(app):
    editor = login(app, "editor")
    for data in ({}, {"csrf_token": "forged"}, {"csrf_token": ""}):
        response = editor.post("/flow/yaml", data={"yaml": "city: x", **data})
        assert response.status_code == 400
        assert "security token" in response.get_data(as_text=True)
    assert editor.post("/switches", data={"target": "city", "state": "on"}).status_code == 400
    assert app.config["LIVE_STATE"].switches() == frozenset()
    # The JSON API wants the token in a header.
    api = editor.post("/api/validate", json={"yaml": "city: x"})
    assert api.status_code == 400 and api.get_json()["error"] == 400
    ok = editor.post(
        "/api/validate", json={"yaml": "city: x"}, headers={"X-CSRF-Token": editor.csrf}
    )
    assert ok.status_code == 200
    # A token from another session is worthless.
    other = login(app, "editor")
    stolen = editor.post("/flow/yaml", data={"yaml": "x", "csrf_token": other.csrf})
    assert stolen.status_code == 400
    # Logging in needs the token too (no login CSRF).
    fresh = app.test_client()
    assert (
        fresh.post("/login", data={"username": "editor", "password": PASSWORD}).status_code == 400
    )


def test_login_attempts_are_rate_limited_per_address_and_user(app):
    client = app.test_client()
    csrf = token(client)
    for _ in range(5):
        response = client.post(
            "/login", data={"username": "editor", "password": "wrong", "csrf_token": csrf}
        )
        assert response.status_code == 401
    # Locked: even the right password is not checked now.
    locked = client.post(
        "/login", data={"username": "editor", "password": PASSWORD, "csrf_token": csrf}
    )
    assert locked.status_code == 429
    assert "Troppi tentativi falliti" in locked.get_data(as_text=True)  # Italian by default
    # Another user from the same address is not locked by these five failures.
    ok = client.post(
        "/login", data={"username": "viewer", "password": PASSWORD, "csrf_token": csrf}
    )
    assert ok.status_code == 302


def test_passwords_are_hashed_and_sessions_end_when_the_account_is_disabled(app):
    from sqlalchemy import select

    from ivr.admin.models import User

    with app.config["SESSIONS"]() as db:
        for user in db.scalars(select(User)):
            assert PASSWORD not in user.password_hash
            assert user.password_hash.startswith("scrypt:")
    viewer = login(app, "viewer")
    assert viewer.get("/flow").status_code == 200
    admin = login(app, "admin")
    with app.config["SESSIONS"]() as db:
        viewer_id = db.scalars(select(User.id).where(User.username == "viewer")).one()
    assert post(admin, f"/users/{viewer_id}", {"role": "viewer", "active": ""}).status_code == 302
    assert viewer.get("/flow").status_code == 302  # logged out at once


def test_security_headers(app):
    response = login(app, "viewer").get("/flow")
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"
    cookie = response.request.environ  # the session cookie is HttpOnly and SameSite
    assert cookie is not None
    login_page = app.test_client().get("/login")
    assert "https://" not in login_page.get_data(as_text=True)  # nothing from a CDN


# ---------------------------------------------------------------------------------------------
# Hostile input typed in the editor

HOSTILE = [
    "Anagrafe\n[evil]\nexten => _X.,1,System(rm -rf /)",
    "Tributi; System(touch /tmp/pwned)",
    "${SHELL(id)}${EVIL}",
    "x)\n same => n,System(id",
    "Ufficio \r\n#include /etc/passwd",
    "Анаграфе 登记处 مكتب السجل",
    "A" * 1500,
]
DANGEROUS = ("System(", "${SHELL", "${EVIL", "[evil]", "#include /etc", "\r", "_X.,1")


@pytest.fixture
def publishing(tmp_path):
    """An app whose publisher renders into a scratch Asterisk etc (no AMI: files only)."""
    settings = city_settings(tmp_path)
    etc = tmp_path / "etc"
    target = AsteriskTarget(etc, {"ami_port": 5038, "sip_port": 5060})
    app = make_app(settings, target=target)
    # The baseline configuration, as a clean publication renders it.
    baseline = Publisher(settings, app.config["SESSIONS"], target).publish(
        settings.dialplan_path.read_text(), "test"
    )
    assert baseline.ok
    shape = {name: _shape((etc / name).read_text()) for name in GENERATED}
    return app, settings, etc, shape


def _shape(text: str) -> tuple:
    """What must not change whatever the names: contexts and extension lines' structure."""
    contexts = re.findall(r"^\[[^\]]+\]", text, re.M)
    extens = len(re.findall(r"^exten =>", text, re.M))
    sames = len(re.findall(r"^ same =>", text, re.M))
    return contexts, extens, sames, len(text.splitlines())


def _assert_neutral(etc, shape):
    for name in GENERATED:
        text = (etc / name).read_text()
        for bad in DANGEROUS:
            assert bad not in text, f"{bad!r} reached {name}"
        assert _shape(text) == shape[name], name


@pytest.mark.parametrize("hostile", HOSTILE, ids=lambda s: repr(s[:20]))
def test_hostile_department_names_are_neutralised_or_refused(publishing, hostile):
    app, settings, etc, shape = publishing
    editor = login(app, "editor")
    form = {
        **{f"name_{lang}": hostile for lang in ("it", "en", "fr", "es", "de", "zh", "ar")},
        "hours": "mon-fri: 09:00-13:00\ntue,thu: 14:30-16:30",
    }
    response = post(editor, "/departments/tributi", form)
    assert response.status_code in (200, 302)
    result = publish(editor, hostile)
    assert result.status_code == 302
    page = editor.get("/publish").get_data(as_text=True)
    assert "is live" in page  # any text is a valid name: it goes live, neutralised
    _assert_neutral(etc, shape)
    assert "Tributi" not in (etc / "queues.conf").read_text() or hostile.startswith("Tributi")
    # The live YAML is still a valid dialplan whatever happened.
    from ivr.flow.loader import load_dialplan

    load_dialplan(settings.dialplan_path, settings.prompts_dir)


@pytest.mark.parametrize("hostile", HOSTILE, ids=lambda s: repr(s[:20]))
def test_hostile_ids_and_queues_are_refused_with_a_clear_message(publishing, hostile):
    app, settings, etc, shape = publishing
    editor = login(app, "editor")
    before = settings.dialplan_path.read_text()
    # As a queue name, a menu target, a transfer department and a new node id.
    post(
        editor,
        "/departments/tributi",
        {"name_it": "T", "name_en": "T", "queue": hostile, "hours": "always"},
    )
    post(editor, "/flow/node/principale", {"prompt": "main_menu", "opt_1": hostile})
    post(editor, "/flow/node/polizia", {"department": hostile})
    post(editor, "/flow/nodes", {"node_id": hostile, "kind": "goto"})
    issues = editor.post(
        "/api/validate", json={}, headers={"X-CSRF-Token": editor.csrf}
    ).get_json()["issues"]
    messages = " | ".join(i["message"] for i in issues)
    assert "must be lowercase letters" in messages or "unknown" in messages, messages
    publish(editor)
    page = editor.get("/publish").get_data(as_text=True)
    assert "nothing was published" in page
    assert settings.dialplan_path.read_text() == before
    _assert_neutral(etc, shape)


def test_hostile_prompt_texts_and_keys(publishing):
    app, settings, _etc, _shape_ = publishing
    editor = login(app, "editor")
    hostile_key = post(editor, "/prompts/../../etc", {"text_it": "x"})
    assert hostile_key.status_code in (404, 400)
    for key in ("EVIL", "a b", "x;y", "${X}"):
        response = post(editor, f"/prompts/{key}", {"text_it": "x", "text_en": "y"})
        assert response.status_code == 404
    generated = post(editor, "/prompts/hours_tributi", {"text_it": "x", "text_en": "y"})
    assert "generated from the department" in generated.get_data(as_text=True)
    text = "Benvenuto\n${EVIL}\x00\x1b[31m" + "й" * 10
    post(editor, "/prompts/welcome", {"text_it": text, "text_en": "Welcome"})
    from ivr.prompts.catalogue import load_texts

    texts = load_texts(settings.prompts_dir)
    assert texts["it"]["welcome"] == "Benvenuto ${EVIL} [31m" + "й" * 10
    assert "\x00" not in (settings.prompts_dir / "it.yaml").read_text()
    too_long = post(editor, "/prompts/welcome", {"text_it": "x" * 5000, "text_en": "y"})
    assert "longer than" in too_long.get_data(as_text=True)


def test_very_long_input_is_refused_not_stored(publishing):
    app, settings, _etc, _shape_ = publishing
    editor = login(app, "editor")
    response = post(editor, "/flow/node/principale", {"prompt": "x" * 100_000})
    assert "longer than" in response.get_data(as_text=True)
    too_big = post(editor, "/flow/yaml", {"yaml": "x" * 2_000_000})
    assert too_big.status_code == 413


@pytest.mark.parametrize("hostile", HOSTILE[:5], ids=lambda s: repr(s[:20]))
def test_hostile_city_name_in_the_raw_yaml_is_neutralised(publishing, hostile):
    import json

    app, settings, etc, shape = publishing
    editor = login(app, "editor")
    page = editor.get("/flow/yaml").get_data(as_text=True)
    base = re.search(r'name="base" value="([^"]*)"', page).group(1)
    text = settings.dialplan_path.read_text().replace(
        "city: Comune di Esempio", f"city: {json.dumps(hostile)}"
    )
    assert post(editor, "/flow/yaml", {"yaml": text, "base": base}).status_code == 302
    publish(editor)
    assert "is live" in editor.get("/publish").get_data(as_text=True)
    _assert_neutral(etc, shape)


@pytest.mark.parametrize("hops", [0, 1])
def test_behind_a_proxy_the_client_address_is_the_forwarded_one(tmp_path, hops):
    """With NU_ADMIN_PROXY_HOPS the login limiter (and the audit log) see the address nginx
    forwards, and the session cookie is HTTPS-only; without it the header is ignored (anybody
    could send it), so forging addresses cannot escape the limiter."""
    import dataclasses

    app = make_app(dataclasses.replace(city_settings(tmp_path), admin_proxy_hops=hops))
    client = app.test_client()
    csrf = token(client)

    def attempt(address: str, password: str):
        return client.post(
            "/login",
            data={"username": "editor", "password": password, "csrf_token": csrf},
            headers={"X-Forwarded-For": address, "X-Forwarded-Proto": "https"},
        )

    for _ in range(5):
        assert attempt("203.0.113.7", "wrong").status_code == 401
    assert attempt("203.0.113.7", PASSWORD).status_code == 429
    other = attempt("203.0.113.8", PASSWORD)
    if hops:
        assert other.status_code == 302  # another citizen office, another address
        assert "Secure" in other.headers["Set-Cookie"]
    else:
        assert other.status_code == 429  # the forged header changed nothing
