"""Booking's revisions (``versions/``) in the city database's one Alembic history.

The environment and ``migrate`` are the city database's (:mod:`ivr.db.migrations`): code calls
``ivr.db.ready(url)`` or ``ivr.db.migrate(url)``.
"""
