"""Teleassistance (issue 13): elderly citizens the city calls every week to hear they are well.

This package is the enrolment: who is called, on which numbers, in which language, on which
weekdays and within which daily window (inside ``NU_TELEASSISTANCE_HOURS``), by an operator or
an automatic call, whom to alert, the consent they gave, and whether calls are suspended
(holiday, hospital). ``rules.py`` is pure (every problem names its field); ``models.py`` and its
revision keep citizens in the city database; ``store.py`` changes them all-or-nothing and
answers data-access (export) and erasure requests; ``csvio.py`` reads the enrolment
spreadsheet; ``cli.py`` is ``ivr teleassistance``. The week's calls, retries and the alarm
rule are ``schedule.py``'s (pure); call outcomes refer to the citizen's ``id``. Broadcasts (a
heat wave, a scam warning, an event: one message to the citizens of chosen areas, in their
language, within a window of the calling hours) are ``broadcast_rules.py`` (pure),
``broadcast_models.py``, ``broadcast_audio.py`` and ``broadcasts.py`` (store and dialler source).
"""
