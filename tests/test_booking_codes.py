"""Booking codes: Damm check digit, keypad-friendly shape, read-back groups.

The claim in booking/codes.py is checked two ways: on the table itself (a proof for every code)
and by brute force on sample codes (every single-digit error, every adjacent transposition).
"""

from __future__ import annotations

import random
from itertools import product

import pytest

from booking import codes
from booking.codes import _DAMM


def test_the_table_is_a_quasigroup_with_zero_diagonal():
    digits = set(range(10))
    assert all(set(row) == digits for row in _DAMM)  # each row a permutation
    assert all({row[c] for row in _DAMM} == digits for c in range(10))  # each column too
    assert all(_DAMM[i][i] == 0 for i in range(10))  # so a valid code ends in state 0


def test_the_table_is_weakly_totally_anti_symmetric():
    """(c*x)*y == (c*y)*x implies x == y: the property that catches every adjacent swap."""
    for c, x, y in product(range(10), repeat=3):
        if x != y:
            assert _DAMM[_DAMM[c][x]][y] != _DAMM[_DAMM[c][y]][x], (c, x, y)


def sample_codes(n: int = 500) -> list[str]:
    rng = random.Random(20260)
    out = []
    for _ in range(n):
        payload = rng.choice("123456789") + "".join(rng.choice("0123456789") for _ in range(6))
        out.append(payload + codes.check_digit(payload))
    return out


def test_every_single_digit_error_is_rejected():
    for code in sample_codes():
        assert codes.is_valid(code)
        for pos, wrong in product(range(codes.LENGTH), "0123456789"):
            if wrong != code[pos]:
                typo = code[:pos] + wrong + code[pos + 1 :]
                assert not codes.is_valid(typo), (code, typo)


def test_every_adjacent_transposition_is_rejected():
    for code in sample_codes():
        for pos in range(codes.LENGTH - 1):
            if code[pos] != code[pos + 1]:
                swapped = code[:pos] + code[pos + 1] + code[pos] + code[pos + 2 :]
                assert not codes.is_valid(swapped), (code, swapped)


def test_luhn_would_have_missed_09_90_and_damm_does_not():
    payload = "1234509"
    code = payload + codes.check_digit(payload)
    assert not codes.is_valid("1234590" + code[-1])


def test_new_codes_are_eight_digits_valid_and_say_what_they_are_for():
    for _ in range(300):
        booking, certificate = codes.new_code(), codes.new_code(codes.CERTIFICATE_FIRST)
        assert len(booking) == 8 and booking.isdigit() and codes.is_valid(booking)
        assert codes.is_booking_code(booking) and not codes.is_certificate_code(booking)
        assert codes.is_certificate_code(certificate) and not codes.is_booking_code(certificate)
    assert len({codes.new_code() for _ in range(1000)}) > 990  # random, not sequential


@pytest.mark.parametrize(
    "typed", ["", "1234567", "123456789", "1234567a", "０１２３４５６７", "01234567"]
)
def test_malformed_codes_are_invalid(typed):
    assert not codes.is_valid(typed)


def test_typed_separators_and_the_closing_hash_are_ignored():
    code = codes.new_code()
    assert codes.is_valid(f"{code[:3]} {code[3:6]}-{code[6:]}#")
    assert codes.normalize(f" {code}# ") == code


def test_spoken_groups_read_three_three_two():
    assert codes.spoken_groups("12345678") == ("123", "456", "78")
    assert codes.spoken_groups("1234 5678", sizes=(4, 4)) == ("1234", "5678")
    with pytest.raises(ValueError):
        codes.spoken_groups("12345678", sizes=(3, 3))
