"""Helpers for the admin tests: a city copy, an app on it, logged-in test clients."""

from __future__ import annotations

import dataclasses
import functools
import re
import shutil
import tempfile
from pathlib import Path
from unittest import mock

from ivr import config
from ivr.admin import auth
from ivr.admin.app import create_app
from ivr.live import MemoryState

PASSWORD = "a long enough password"


@functools.cache
def _migrated_city_database() -> Path:
    """A city database migrated to the head revision, once per test session: each admin test
    starts from a copy (migrating takes about a second, and there are dozens of admin tests).
    Tests about migrating itself (tests/test_city_db.py) make their own databases."""
    from ivr.db import ready, release

    path = Path(tempfile.mkdtemp(prefix="nu-city-db-")) / "city.db"
    url = f"sqlite:///{path}"
    ready(url)
    release(url)  # the last connection closes: SQLite folds its WAL into the file
    return path


def city_settings(tmp_path: Path, **overrides) -> config.Settings:
    """Settings on copies of the example city, its prompt texts and a migrated city database
    (tests may write all three)."""
    database = tmp_path / "admin.db"
    if not database.exists():
        shutil.copy(_migrated_city_database(), database)
    city = tmp_path / "city"
    city.mkdir(exist_ok=True)
    shutil.copy(config.ROOT / "dialplans" / "example-city.yaml", city / "example-city.yaml")
    shutil.copytree(config.ROOT / "prompts", city / "prompts", dirs_exist_ok=True)
    values = {
        "dialplan_path": city / "example-city.yaml",
        "prompts_dir": city / "prompts",
        "var_dir": tmp_path / "var",
        "sounds_dir": tmp_path / "sounds",
        "redis_url": "",
        "database_url": f"sqlite:///{database}",
    }
    values.update(overrides)
    return dataclasses.replace(config.load(), **values)


_password_hash = functools.cache(auth.hash_password)  # the real scrypt, once per password


def make_app(settings: config.Settings, **kw):
    """The admin on ``settings``, with one user per role (named after it, password PASSWORD)."""
    kw.setdefault("secret_key", "k" * 40)
    kw.setdefault("live_state", MemoryState())
    app = create_app(settings, **kw)
    app.config["TESTING"] = True
    with (
        app.config["SESSIONS"].begin() as db,
        mock.patch.object(auth, "hash_password", _password_hash),
    ):
        for role in ("admin", "editor", "viewer", "operator", "teleassistance"):
            auth.create_user(db, role, PASSWORD, role, "en")
    return app


def token(client) -> str:
    page = client.get("/login").get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def login(app, role: str | None):
    """A test client logged in as the user named after ``role`` (None: anonymous)."""
    client = app.test_client()
    if role is not None:
        response = client.post(
            "/login", data={"username": role, "password": PASSWORD, "csrf_token": token(client)}
        )
        assert response.status_code == 302, response.get_data(as_text=True)
    client.csrf = token(client)
    return client


def post(client, path: str, data: dict | None = None, **kw):
    return client.post(path, data={"csrf_token": client.csrf, **(data or {})}, **kw)


def publish(client, note: str = ""):
    """Publish the draft the way the page does (with the draft's fingerprint it showed)."""
    page = client.get("/publish").get_data(as_text=True)
    base = re.search(r'name="base" value="([^"]*)"', page).group(1)
    return post(client, "/publish", {"note": note, "base": base})
