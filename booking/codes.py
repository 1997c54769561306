"""Booking and request codes made for the phone: 8 digits, the last one a Damm check digit.

Digits only, because the caller types them on a keypad and hears them read back. Damm rather
than Luhn: Damm's quasigroup catches *every* single-digit error and *every* adjacent
transposition (Luhn misses 09 <-> 90), needs no extra symbol (ISBN's mod 11 needs an ``X``), and
is a ten-line table lookup. The check digit lets the IVR say "that code is wrong" at once,
without a database look-up, instead of "not found".

The first digit tells what the code is for (1-4 desk bookings, 5-9 certificate requests), so one
"type your code" prompt can serve both; it is never 0, which spreadsheets and SMS apps drop.
"""

from __future__ import annotations

import secrets

LENGTH = 8
BOOKING_FIRST = "1234"
CERTIFICATE_FIRST = "56789"

# The order-10 weakly totally anti-symmetric quasigroup from Damm's thesis (2004).
_DAMM = (
    (0, 3, 1, 7, 5, 9, 8, 6, 4, 2),
    (7, 0, 9, 2, 1, 5, 4, 8, 6, 3),
    (4, 2, 0, 6, 8, 7, 1, 3, 5, 9),
    (1, 7, 5, 0, 9, 8, 3, 4, 2, 6),
    (6, 1, 2, 3, 0, 4, 5, 9, 7, 8),
    (3, 6, 7, 4, 2, 0, 9, 5, 8, 1),
    (5, 8, 6, 9, 7, 2, 0, 1, 3, 4),
    (8, 9, 4, 5, 3, 6, 2, 0, 1, 7),
    (9, 4, 3, 8, 6, 1, 7, 2, 0, 5),
    (2, 5, 8, 1, 4, 3, 6, 7, 9, 0),
)


def _interim(digits: str) -> int:
    state = 0
    for ch in digits:
        state = _DAMM[state][ord(ch) - 48]
    return state


def check_digit(payload: str) -> str:
    """The Damm digit that makes ``payload + digit`` valid."""
    if not payload.isascii() or not payload.isdigit():
        raise ValueError("payload must be digits")
    return str(_interim(payload))


def normalize(typed: str) -> str:
    """What the caller or an operator typed, without spaces, dashes, dots or a closing ``#``."""
    return "".join(ch for ch in typed.strip().rstrip("#") if ch not in " -./")


def is_valid(code: str) -> bool:
    """True when ``code`` has the right length, only digits and a matching check digit."""
    code = normalize(code)
    return (
        len(code) == LENGTH
        and code.isascii()
        and code.isdigit()
        and code[0] != "0"
        and _interim(code) == 0
    )


def new_code(first_digits: str = BOOKING_FIRST) -> str:
    """A random valid code whose first digit is one of ``first_digits``.

    Random (not sequential) so a caller cannot guess someone else's code by adding one; the
    tables' unique constraints catch the rare repeat and the caller draws again.
    """
    payload = secrets.choice(first_digits) + "".join(
        secrets.choice("0123456789") for _ in range(LENGTH - 2)
    )
    return payload + check_digit(payload)


def is_booking_code(code: str) -> bool:
    return is_valid(code) and normalize(code)[0] in BOOKING_FIRST


def is_certificate_code(code: str) -> bool:
    return is_valid(code) and normalize(code)[0] in CERTIFICATE_FIRST


def spoken_groups(code: str, sizes: tuple[int, ...] = (3, 3, 2)) -> tuple[str, ...]:
    """Split a code for reading back: each group said digit by digit, a pause between groups.

    3-3-2 is how Italians read numbers aloud ("uno due tre, quattro cinque sei, sette otto"):
    short groups are easier to write down than eight digits in one breath.
    """
    code = normalize(code)
    if sum(sizes) != len(code):
        raise ValueError(f"group sizes {sizes} do not cover a {len(code)}-digit code")
    groups, at = [], 0
    for size in sizes:
        groups.append(code[at : at + size])
        at += size
    return tuple(groups)
