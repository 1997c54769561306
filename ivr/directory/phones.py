"""Staff phones of the directory in Asterisk: ``pjsip_directory.conf``, written and reloaded.

An extension entry is a SIP account its staff phone registers with (its own generated
secret); the file is included by ``pjsip.conf`` (``#tryinclude``: none yet is fine) and written
apart from the dialplan's rendering, so a directory change never re-renders the call flow and a
dialplan publication never touches the staff phones. After writing, ``res_pjsip`` is reloaded
over AMI and every endpoint is confirmed with ``PJSIPShowEndpoint``; if Asterisk does not run
what was written, the previous file is put back.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from ivr.asterisk.ami import AMIClient, AMIError
from ivr.asterisk.render import SECRET, RenderError, _write, clean_text
from ivr.directory.store import StaffPhone

FILE = "pjsip_directory.conf"
SIP_MODULE = "res_pjsip.so"
_EXTENSION = re.compile(r"^[0-9]{2,6}$")

_TEMPLATES = """; Staff phones of the switchboard directory - written by ivr/directory/phones.py.
; Do not edit: change the directory (admin: Directory; `ivr directory ...`).
[staff-endpoint](!)
type = endpoint
context = nu-staff
disallow = all
allow = alaw,ulaw
dtmf_mode = rfc4733
direct_media = no
rtp_symmetric = yes
force_rport = yes
rewrite_contact = yes

[staff-auth](!)
type = auth
auth_type = userpass

[staff-aor](!)
type = aor
max_contacts = 1
remove_existing = yes
"""


def render_phones(phones: Sequence[StaffPhone]) -> str:
    """The file's text; :class:`RenderError` for a value that cannot be written safely."""
    parts = [_TEMPLATES]
    for phone in sorted(phones, key=lambda p: p.extension):
        if not _EXTENSION.fullmatch(phone.extension):
            raise RenderError(f"staff extension {phone.extension!r} is not 2 to 6 digits")
        if not SECRET.fullmatch(phone.secret):
            raise RenderError(f"staff extension {phone.extension}: unusable secret")
        ext, name = phone.extension, clean_text(phone.name, 60) or phone.extension
        parts.append(
            f"\n[{ext}](staff-endpoint)\nauth = {ext}\naors = {ext}\n"
            f'callerid = "{name}" <{ext}>\n'
            f"\n[{ext}](staff-auth)\nusername = {ext}\npassword = {phone.secret}\n"
            f"\n[{ext}](staff-aor)\n"
        )
    return "".join(parts)


def publish_phones(
    etc_dir: str | Path,
    phones: Sequence[StaffPhone],
    ami: Callable[[], AMIClient] | None = None,
    timeout: float = 10.0,
) -> str:
    """Write the staff phones into ``etc_dir`` and, with ``ami``, reload and confirm them.
    Returns a short transcript; raises RuntimeError (the old file back) when not confirmed."""
    path = Path(etc_dir) / FILE
    text = render_phones(phones)
    old = path.read_text(encoding="utf-8") if path.exists() else None
    if old == text:
        return "staff phones unchanged"
    _write(path, text)
    if ami is None:
        return f"{len(phones)} staff phones written (no Asterisk to reload)"
    try:
        client = ami()
    except (OSError, AMIError) as err:
        return f"{len(phones)} staff phones written; Asterisk not reachable: {err}"
    try:
        _reload_and_confirm(client, phones, timeout)
    except (RuntimeError, AMIError, OSError, TimeoutError) as err:
        if old is None:
            path.unlink(missing_ok=True)
        else:
            _write(path, old)
        client.action("Reload", Module=SIP_MODULE, check=False)
        raise RuntimeError(f"staff phones not live: {err}") from err
    finally:
        client.close()
    return f"{len(phones)} staff phones live"


def _reload_and_confirm(client: AMIClient, phones: Sequence[StaffPhone], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        answer = client.action("Reload", Module=SIP_MODULE, timeout=timeout, check=False)
        if answer.ok:
            break
        if "in progress" not in (answer.message or "").lower() or time.monotonic() > deadline:
            raise RuntimeError(f"Asterisk refused the SIP reload: {answer.message}")
        time.sleep(0.2)
    while True:
        missing = [
            p.extension
            for p in phones
            if not client.action(
                "PJSIPShowEndpoint", Endpoint=p.extension, timeout=timeout, check=False
            ).ok
        ]
        if not missing:
            return
        if time.monotonic() > deadline:
            raise RuntimeError("endpoints not running: " + ", ".join(missing))
        time.sleep(0.1)
