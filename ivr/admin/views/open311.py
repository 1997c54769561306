"""The Open311 GeoReport v2 API (:mod:`ivr.backoffice.open311`) on the admin's web server: the
back office's store, API keys and the city's timezone from the admin's services. Public by
design (no login; posting needs an API key) and exempt from the admin's CSRF check."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from flask import current_app

from ivr.admin.services import services
from ivr.backoffice.api_keys import ApiKeys
from ivr.backoffice.open311 import Context, blueprint
from ivr.backoffice.store import BackofficeStore


def _context() -> Context:
    admin = services()
    zone = current_app.extensions.get("open311_zone")
    if zone is None:  # the dialplan's timezone, read once per app
        from ivr.retention import city_timezone

        zone = current_app.extensions["open311_zone"] = ZoneInfo(city_timezone(admin.settings))
    from ivr.db import ready

    engine = ready(admin.settings.database_url)

    def clock():
        return admin.clock(zone).replace(tzinfo=None)

    return Context(BackofficeStore(engine, clock=clock), ApiKeys(engine, clock=clock), zone)


bp = blueprint(_context)
