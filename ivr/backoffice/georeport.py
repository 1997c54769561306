"""Open311 GeoReport v2 in our terms: a POST's fields as a :class:`NewRequest`, our categories
and requests as the spec's services and service requests, both formats, the spec's errors. Pure.

What a request was posted with and what the API shows back, decided here once:

* **Names** (``first_name``, ``last_name``) are accepted and dropped: the back office answers
  through the phone or e-mail given and the request's code, so a name would be personal data kept
  for nothing. ``device_id`` and ``account_id`` likewise.
* **media_url** is accepted and not kept, and the answer's ``service_notice`` says so: fetching a
  client's URL from the city's server invites forgery of internal requests, and a photo (faces,
  plates) is personal data with no place or retention rule here. A file uploaded in the body is
  refused (:data:`MEDIA`).
* **Contact**: an e-mail or a phone is needed, because the back office answers the citizen
  (``email`` channel when an e-mail is given, else ``sms`` for an Italian mobile, else ``phone``).
* **Location**: ``lat`` and ``long``, or ``address_string``, as the spec requires.
* **Reading back** (GET) never shows a phone, an e-mail, a name, the staff's answer or a call's
  transcript. Description and location are shown only for requests that came through this API
  (the client posted them to a public service); what a citizen told an operator on the phone
  stays in the back office.

Errors name the field (one per field): 400 missing or invalid, 404 unknown service code, 413 a
description over :data:`rules.DESCRIPTION_MAX` characters or a body over the limit; the answer's
HTTP status is the first error's (:data:`PRIORITY`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from xml.etree import ElementTree as ET
from zoneinfo import ZoneInfo

from ivr.backoffice import rules
from ivr.backoffice.rules import Category, NewRequest, Problem

FORMATS = ("json", "xml")
MAX_RESULTS = 1000  # the spec's ceiling for one GET requests answer
DEFAULT_DAYS = 90  # the spec's default window when no date is given
MEDIA = "media"  # the multipart file field some clients send: refused
PRIORITY = (413, 404, 400)  # which error's code the HTTP answer carries
# Our statuses as the spec's open/closed, with the words of status_notes (it, en).
STATUS = {
    "new": ("open", "ricevuta, in attesa di lavorazione", "received, waiting to be worked"),
    "in_progress": ("open", "in lavorazione", "being worked on"),
    "waiting_citizen": (
        "open",
        "in attesa di una risposta del cittadino",
        "waiting for an answer from the citizen",
    ),
    "solved": ("closed", "risolta", "solved"),
    "closed": ("closed", "chiusa", "closed"),
}
_NAMES = {"category": "service_code", "number": "phone", "address": "address_string"}


@dataclass(frozen=True)
class Error:
    code: int
    field: str
    message: str

    @property
    def description(self) -> str:
        return f"{self.field}: {self.message}"


def http_status(errors: list[Error]) -> int:
    codes = {e.code for e in errors}
    return next((c for c in PRIORITY if c in codes), errors[0].code)


# -- posting ---------------------------------------------------------------------------------------


def _number(form: Mapping[str, str], name: str, errors: list[Error]) -> float | None:
    text = form.get(name, "").strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        errors.append(Error(400, name, "a number in decimal degrees"))
        return None
    if value != value or value in (float("inf"), float("-inf")):
        errors.append(Error(400, name, "a number in decimal degrees"))
        return None
    return value


def language(locale: str) -> str:
    """``it_IT``, ``en-GB``, ``fr``: our language code, Italian when we do not speak it."""
    code = locale.strip().lower()[:2]
    return code if code in rules.LANGUAGES else "it"


def channel(email: str, number: str) -> str:
    """How the back office answers: e-mail if given; SMS to an Italian mobile; else a call."""
    if email.strip():
        return "email"
    return "sms" if rules.canonical_number(number).startswith("3") else "phone"


def new_request(
    form: Mapping[str, str], categories: Mapping[str, Category]
) -> tuple[NewRequest | None, list[Error]]:
    """The posted form as a request, or every problem, each naming the spec's field."""
    errors: list[Error] = []
    code = form.get("service_code", "").strip()
    if not code:
        errors.append(Error(400, "service_code", "missing"))
    elif code not in categories or not categories[code].active:
        errors.append(Error(404, "service_code", f"no such service: {code[:40]!r}"))
    lat, long = _number(form, "lat", errors), _number(form, "long", errors)
    address = form.get("address_string", "").strip()
    if (lat is None) != (long is None) and not any(e.field in ("lat", "long") for e in errors):
        errors.append(Error(400, "long" if long is None else "lat", "give lat and long together"))
    if lat is None and long is None and not address and not errors_on(errors, "lat", "long"):
        errors.append(Error(400, "address_string", "a location: lat and long, or an address"))
    if len(address) > 200:
        errors.append(Error(400, "address_string", "at most 200 characters"))
    email, phone = form.get("email", "").strip(), form.get("phone", "").strip()
    if not email and not phone:
        errors.append(Error(400, "email", "an e-mail or a phone, for the city's answer"))
    data = NewRequest(
        category=code,
        description=form.get("description", ""),
        number=phone,
        email=email,
        channel=channel(email, phone),
        language=language(form.get("locale", "")),
        source="open311",
        address=address,
        lat=lat,
        long=long,
    )
    if code and not errors_on(errors, "service_code"):
        problems = rules.check(data, categories)
    else:  # the category's own problem is said already
        problems = [p for p in rules.check(data, categories) if p.field != "category"]
    seen = {e.field for e in errors}
    for problem in problems:
        error = _error(problem, data)
        if error.field not in seen:  # one error per field
            errors.append(error)
            seen.add(error.field)
    return (None, errors) if errors else (data, [])


def errors_on(errors: Iterable[Error], *fields: str) -> bool:
    return any(e.field in fields for e in errors)


def _error(problem: Problem, data: NewRequest) -> Error:
    field = _NAMES.get(problem.field, problem.field)
    if field == "description" and len(data.description) > rules.DESCRIPTION_MAX:
        return Error(413, field, f"at most {rules.DESCRIPTION_MAX} characters")
    if field == "phone" and not data.number.strip():
        return Error(400, "email", "an e-mail or a phone, for the city's answer")
    return Error(400, field, problem.message)


def notice(merged: bool, media_url: str) -> str:
    """What the citizen is told beside the request's code."""
    said = (
        "The same request was received minutes ago: this is that one."
        if merged
        else "Received: the city will answer through the contact you gave."
    )
    if media_url.strip():
        said += " The photo link was not kept: please describe the place in words."
    return said


# -- reading ---------------------------------------------------------------------------------------


def service(category: Category) -> dict[str, Any]:
    return {
        "service_code": category.code,
        "service_name": category.name,
        "description": category.description,
        "metadata": False,  # no attributes beyond the spec's own fields
        "type": "realtime",  # the request's id comes back in the POST's answer
        "keywords": "",
        "group": category.department,
    }


def definition(category: Category) -> dict[str, Any]:
    return {"service_code": category.code, "attributes": []}


@dataclass(frozen=True)
class Row:
    """What a GET answer may show of one request (no contact, no name, no answer)."""

    code: str
    category: str
    department: str
    status: str
    source: str
    description: str
    address: str
    lat: float | None
    long: float | None
    created_at: datetime
    updated_at: datetime
    due_at: datetime


def _w3c(at: datetime, zone: ZoneInfo) -> str:
    return at.replace(microsecond=0, tzinfo=zone).isoformat()


def service_request(
    row: Row, names: Mapping[str, str], zone: ZoneInfo, locale: str = ""
) -> dict[str, Any]:
    state, italian, english = STATUS[row.status]
    public = row.source == "open311"  # see the module: what was posted here, shown here
    return {
        "service_request_id": row.code,
        "status": state,
        "status_notes": english if language(locale) == "en" else italian,
        "service_name": names.get(row.category, row.category),
        "service_code": row.category,
        "description": row.description if public else "",
        "agency_responsible": row.department,
        "service_notice": "",
        "requested_datetime": _w3c(row.created_at, zone),
        "updated_datetime": _w3c(row.updated_at, zone),
        "expected_datetime": _w3c(row.due_at, zone),
        "address": row.address if public else "",
        "address_id": "",
        "zipcode": "",
        "lat": row.lat if public else None,
        "long": row.long if public else None,
        "media_url": "",
    }


@dataclass(frozen=True)
class Query:
    """A GET requests query: ids alone (the spec ignores the rest then), or the filters."""

    codes: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    start: datetime | None = None  # city local, naive
    end: datetime | None = None
    statuses: tuple[str, ...] = ()  # ours, from open/closed


def _list(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _when(text: str, zone: ZoneInfo) -> datetime:
    """A W3C date-time as the city's naive local time (no offset: already local)."""
    at = datetime.fromisoformat(text.strip().replace("z", "Z"))
    return at.astimezone(zone).replace(tzinfo=None) if at.tzinfo else at


def query(args: Mapping[str, str], zone: ZoneInfo, now: datetime) -> tuple[Query, list[Error]]:
    """The filters of ``GET requests``: bad ones named; no dates: the last :data:`DEFAULT_DAYS`."""
    errors: list[Error] = []
    codes = _list(args.get("service_request_id", ""))
    if codes:
        return Query(codes=codes[:MAX_RESULTS]), []
    dates: dict[str, datetime | None] = {}
    for name in ("start_date", "end_date"):
        text = args.get(name, "").strip()
        try:
            dates[name] = _when(text, zone) if text else None
        except ValueError:
            errors.append(Error(400, name, "a W3C date-time: 2026-11-30T09:00:00+01:00"))
    statuses: list[str] = []
    for state in _list(args.get("status", "")):
        if state not in ("open", "closed"):
            errors.append(Error(400, "status", "open, closed or both"))
            break
        statuses += [s for s, (mapped, *_) in STATUS.items() if mapped == state]
    start, end = dates.get("start_date"), dates.get("end_date")
    if start and end and start > end:
        errors.append(Error(400, "end_date", "after start_date"))
    if start is None and end is None:
        start = now - timedelta(days=DEFAULT_DAYS)
    return Query((), _list(args.get("service_code", "")), start, end, tuple(statuses)), errors


# -- formats ---------------------------------------------------------------------------------------


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _xml(root: str, item: str, records: Iterable[Mapping[str, Any]]) -> bytes:
    top = ET.Element(root)
    for record in records:
        node = ET.SubElement(top, item)
        for name, value in record.items():
            child = ET.SubElement(node, name)
            if isinstance(value, list):  # attributes: none of ours has any
                for entry in value:
                    ET.SubElement(child, "attribute").text = _text(entry)
            else:
                child.text = _text(value)
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(top, encoding="utf-8")


_ROOTS = {
    "services": ("services", "service"),
    "requests": ("service_requests", "request"),
    "errors": ("errors", "error"),
}


def render(kind: str, records: list[dict[str, Any]], fmt: str) -> tuple[bytes, str]:
    """(body, content type) of a list answer: services, requests or errors."""
    if fmt == "json":
        return json.dumps(records, ensure_ascii=False).encode(), "application/json"
    root, item = _ROOTS[kind]
    return _xml(root, item, records), "text/xml; charset=utf-8"


def render_definition(record: dict[str, Any], fmt: str) -> tuple[bytes, str]:
    """A service definition: one object, not a list (the spec's shape)."""
    if fmt == "json":
        return json.dumps(record, ensure_ascii=False).encode(), "application/json"
    top = ET.Element("service_definition")
    ET.SubElement(top, "service_code").text = record["service_code"]
    ET.SubElement(top, "attributes")
    return (
        b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(top, encoding="utf-8"),
        "text/xml; charset=utf-8",
    )


def error_records(errors: Iterable[Error]) -> list[dict[str, Any]]:
    return [{"code": e.code, "description": e.description} for e in errors]


_FORMAT = re.compile(r"^(json|xml)$")


def fmt_of(name: str) -> str:
    return name if _FORMAT.match(name) else "json"
