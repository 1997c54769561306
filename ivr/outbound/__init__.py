"""Outbound calls placed for the city's services (teleassistance courtesy calls, broadcasts,
appointment reminders) through one dialler that never holds more than N channels."""
