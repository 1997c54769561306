"""The Open311 GeoReport v2 API under ``/open311/v2/``: a city's web form or app feeds the back
office's one queue (:class:`~ivr.backoffice.store.BackofficeStore`) and reads statuses back.

It is not a browser form: no login and no CSRF token (the admin exempts this blueprint, and only
it, from its CSRF check); posting needs an API key (:mod:`ivr.backoffice.api_keys`). Bodies are
limited to :data:`MAX_BODY` bytes and every client address to a number of posts and reads a
minute (``OPEN311_POSTS_PER_MINUTE``, ``OPEN311_READS_PER_MINUTE`` in the app's config), in
memory: the admin runs as one process. Every answer, refusals included, is in the spec's format
(:mod:`ivr.backoffice.georeport`); a refused post stores nothing. Log lines carry request ids,
service codes, client names and field names, never what the citizen wrote or their contact.

The blueprint does not know the admin: :func:`blueprint` takes a function giving it the store,
the keys and the city's timezone for the current request (``ivr/admin/views/open311.py``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, current_app, request
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.exceptions import HTTPException

from ivr.backoffice import georeport
from ivr.backoffice.api_keys import ApiKeys
from ivr.backoffice.georeport import Error, Query, Row
from ivr.backoffice.models import BackofficeRequest
from ivr.backoffice.rules import RequestError
from ivr.backoffice.store import BackofficeStore

log = logging.getLogger("ivr.backoffice.open311")

NAME = "open311"
PREFIX = "/open311/v2"
MAX_BODY = 64 * 1024  # a 4,000-character description, percent-encoded, fits several times
POSTS_PER_MINUTE = 30
READS_PER_MINUTE = 300
FORMAT = "<any(json,xml):fmt>"


@dataclass(frozen=True)
class Context:
    store: BackofficeStore
    keys: ApiKeys
    zone: ZoneInfo  # the city's: stored times are its naive local times


class RateLimit:
    """At most ``per_minute`` hits per key in any 60 seconds."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def allow(self, key: str) -> bool:
        now = time.monotonic()
        with self._lock:
            if len(self._hits) > 10_000:  # forget addresses quiet for a minute
                self._hits = {k: q for k, q in self._hits.items() if q and q[-1] > now - 60}
            hits = self._hits.setdefault(key, deque())
            while hits and hits[0] <= now - 60:
                hits.popleft()
            if len(hits) >= self.per_minute:
                return False
            hits.append(now)
            return True


def _limits() -> dict[str, RateLimit]:
    found = current_app.extensions.get("open311_limits")
    if found is None:
        found = current_app.extensions["open311_limits"] = {
            "POST": RateLimit(current_app.config.get("OPEN311_POSTS_PER_MINUTE", POSTS_PER_MINUTE)),
            "GET": RateLimit(current_app.config.get("OPEN311_READS_PER_MINUTE", READS_PER_MINUTE)),
        }
    return found


def answer(kind: str, records: list[dict[str, Any]], fmt: str, status: int = 200) -> Response:
    body, content_type = georeport.render(kind, records, fmt)
    response = Response(body, status=status, content_type=content_type)
    response.headers["Cache-Control"] = "no-store"
    return response


def refuse(errors: list[Error], fmt: str) -> Response:
    return answer("errors", georeport.error_records(errors), fmt, georeport.http_status(errors))


def _fmt() -> str:
    """The format asked for, also when the URL did not match a route (json by default)."""
    fmt = (request.view_args or {}).get("fmt")
    if fmt is None:
        fmt = request.path.rpartition(".")[2]
    return georeport.fmt_of(fmt)


def _rows(ctx: Context, query: Query) -> list[Row]:
    stmt = select(BackofficeRequest)
    if query.codes:
        stmt = stmt.where(BackofficeRequest.code.in_(query.codes))
    else:
        if query.categories:
            stmt = stmt.where(BackofficeRequest.category.in_(query.categories))
        if query.statuses:
            stmt = stmt.where(BackofficeRequest.status.in_(query.statuses))
        if query.start is not None:
            stmt = stmt.where(BackofficeRequest.created_at >= query.start)
        if query.end is not None:
            stmt = stmt.where(BackofficeRequest.created_at <= query.end)
    stmt = stmt.order_by(BackofficeRequest.created_at.desc(), BackofficeRequest.id.desc())
    with Session(ctx.store.engine) as db:
        return [
            Row(
                r.code,
                r.category,
                r.department,
                r.status,
                r.source,
                r.description,
                r.address,
                r.lat,
                r.long,
                r.created_at,
                r.updated_at,
                r.due_at,
            )
            for r in db.scalars(stmt.limit(georeport.MAX_RESULTS))
        ]


def blueprint(context: Callable[[], Context]) -> Blueprint:
    """The API's routes; ``context()`` gives what the current request works with."""
    bp = Blueprint(NAME, __name__, url_prefix=PREFIX)

    @bp.before_request
    def _guard() -> Response | None:
        request.max_content_length = MAX_BODY  # also bodies sent without a length
        if (request.content_length or 0) > MAX_BODY:
            return refuse([Error(413, "request", f"at most {MAX_BODY} bytes")], _fmt())
        if not _limits()["POST" if request.method == "POST" else "GET"].allow(
            request.remote_addr or "-"
        ):
            return refuse([Error(429, "request", "too many requests: wait a minute")], _fmt())
        return None

    @bp.errorhandler(HTTPException)
    def _http_error(err: HTTPException) -> Response:
        code = err.code or 500
        what = {
            404: "no such resource",
            405: "method not allowed",
            413: f"at most {MAX_BODY} bytes",
        }
        return refuse([Error(code, "request", what.get(code, err.name.lower()))], _fmt())

    def names(ctx: Context) -> dict[str, str]:
        return {c.code: c.name for c in ctx.store.categories(active_only=False).values()}

    @bp.get(f"/services.{FORMAT}")
    def services(fmt: str) -> Response:
        found = context().store.categories()
        return answer("services", [georeport.service(c) for c in found.values()], fmt)

    @bp.get(f"/services/<code>.{FORMAT}")
    def service_definition(code: str, fmt: str) -> Response:
        found = context().store.categories().get(code)
        if found is None:
            return refuse([Error(404, "service_code", f"no such service: {code[:40]!r}")], fmt)
        body, content_type = georeport.render_definition(georeport.definition(found), fmt)
        return Response(body, content_type=content_type, headers={"Cache-Control": "no-store"})

    @bp.post(f"/requests.{FORMAT}")
    def post_request(fmt: str) -> Response:
        form = {k: v for k, v in request.form.items()}
        ctx = context()
        key = form.get("api_key", "").strip()
        client = ctx.keys.client(key) if key else None
        if client is None:
            log.info("open311: post refused, %s api_key", "wrong" if key else "no")
            return refuse([Error(403, "api_key", "wrong or revoked" if key else "missing")], fmt)
        if request.files:
            return refuse([Error(400, georeport.MEDIA, "no files: describe it in words")], fmt)
        data, errors = georeport.new_request(form, ctx.store.categories())
        if data is not None:
            try:
                created = ctx.store.create(data, f"open311:{client}")
            except RequestError as err:  # a category retired meanwhile, say
                errors = [georeport.Error(400, p.field, p.message) for p in err.problems]
        if errors:
            log.info(
                "open311: post from %s refused (%s)", client, ", ".join(e.field for e in errors)
            )
            return refuse(errors, fmt)
        log.info("open311: request %d from %s (%s)", created.id, client, data.category)
        notice = georeport.notice(created.merged, form.get("media_url", ""))
        record = {"service_request_id": created.code, "service_notice": notice, "account_id": None}
        return answer("requests", [record], fmt)

    @bp.get(f"/requests.{FORMAT}")
    def requests(fmt: str) -> Response:
        ctx = context()
        now = ctx.store.clock()
        query, errors = georeport.query(request.args, ctx.zone, now)
        if errors:
            return refuse(errors, fmt)
        known = names(ctx)
        locale = request.args.get("locale", "")
        found = [georeport.service_request(r, known, ctx.zone, locale) for r in _rows(ctx, query)]
        return answer("requests", found, fmt)

    @bp.get(f"/requests/<code>.{FORMAT}")
    def one_request(code: str, fmt: str) -> Response:
        ctx = context()
        view = ctx.store.by_code(code)
        rows = _rows(ctx, Query(codes=(view.code,))) if view is not None else []
        if not rows:
            return refuse([Error(404, "service_request_id", "no such request")], fmt)
        locale = request.args.get("locale", "")
        return answer(
            "requests", [georeport.service_request(rows[0], names(ctx), ctx.zone, locale)], fmt
        )

    @bp.route("/<path:rest>", methods=["GET", "POST"])
    def unknown(rest: str) -> Response:
        return refuse([Error(404, "request", "no such resource")], _fmt())

    return bp
