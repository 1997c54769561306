"""Helpers for the admin tests: a city copy, an app on it, logged-in test clients."""

from __future__ import annotations

import dataclasses
import re
import shutil
from pathlib import Path

from ivr import config
from ivr.admin import auth
from ivr.admin.app import create_app
from ivr.live import MemoryState

PASSWORD = "a long enough password"


def city_settings(tmp_path: Path, **overrides) -> config.Settings:
    """Settings on copies of the example city and its prompt texts (tests may write both)."""
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
        "database_url": f"sqlite:///{tmp_path / 'admin.db'}",
    }
    values.update(overrides)
    return dataclasses.replace(config.load(), **values)


def make_app(settings: config.Settings, **kw):
    kw.setdefault("secret_key", "k" * 40)
    kw.setdefault("live_state", MemoryState())
    app = create_app(settings, **kw)
    app.config["TESTING"] = True
    with app.config["SESSIONS"].begin() as db:
        for role in ("admin", "editor", "viewer", "operator"):
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
