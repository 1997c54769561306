"""The keyed hash of a caller's number: call records find a citizen's earlier calls without the
number ever being stored.

An HMAC-SHA256 with the city's own secret (``NU_CALLER_HASH_KEY``, else ``<var>/caller-hash-key``,
generated 0600 on first use): without the key, a hash cannot be reversed by hashing every
possible phone number (there are few enough to try them all against a plain hash).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

ENV = "NU_CALLER_HASH_KEY"
FILE = "caller-hash-key"


def load_key(var_dir: Path) -> bytes:
    """The city's key: the environment's, else the file's (created when absent)."""
    value = os.environ.get(ENV, "").strip()
    if value:
        return value.encode()
    path = Path(var_dir) / FILE
    try:
        key = path.read_text().strip()
        if len(key) >= 32:
            return key.encode()
    except OSError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first: theirs
        return path.read_text().strip().encode()
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    return key.encode()


def normal_number(number: str | None) -> str:
    """Digits only, Italy's prefix dropped: +39 333..., 0039 333... and 333... are one caller."""
    digits = "".join(ch for ch in number or "" if ch.isdigit())
    if digits.startswith("0039"):
        return digits[4:]
    if digits.startswith("39") and len(digits) > 10:
        return digits[2:]
    return digits


def caller_hash(key: bytes, number: str | None) -> str | None:
    """The caller's keyed hash; None for a withheld or unknown number (all alike)."""
    digits = normal_number(number)
    if len(digits) < 3:
        return None
    return hmac.new(key, digits.encode(), hashlib.sha256).hexdigest()
