"""Dial strings for outbound calls: a city's trunk template with the number put in.

One rule for every outbound feature (callbacks, teleassistance courtesy calls, broadcasts,
reminders): the template is the city's setting (``PJSIP/{number}@trunk``), the number is digits
only. A ``&`` or ``,`` in either would dial someone else or change Dial()'s options.
"""

from __future__ import annotations

import re

DIAL_TEMPLATE = re.compile(r"^[A-Za-z0-9/@._:-]*\{number\}[A-Za-z0-9/@._:-]*$")


def dial_string(template: str, number: str) -> str:
    """``PJSIP/{number}@trunk`` for this number; ValueError for a template or number unfit for
    Dial() or Originate."""
    if not DIAL_TEMPLATE.match(template) or not number.isdigit():
        raise ValueError("unusable outbound dial string or number")
    return template.replace("{number}", number)
