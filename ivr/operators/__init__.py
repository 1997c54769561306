"""Operators: the city's accounts for the people who answer (name, extension, the departments
they may serve with a priority each, the languages they speak), each with their own SIP secret.

The accounts live in the city database (``models.py``); the rules an account must follow are
pure (``rules.py``); ``store.py`` reads and changes them all-or-nothing; what Asterisk needs from
them (endpoints, login rights, queue penalties) is the :class:`ivr.asterisk.render.OperatorLine`
list ``store.lines()`` returns, rendered and reloaded by the admin's publish path.
"""
