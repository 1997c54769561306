"""The city database's one declarative base: every feature declares its tables on it.

Each feature owns its models in its own package (``booking/models.py``,
``ivr/callbacks/models.py``, ``ivr/kpi/models.py``, ``ivr/admin/models.py``) and its migrations
beside them; this module only holds what they share, so all their tables are one ``MetaData``:
one schema to compare migrations against, one Alembic history (:mod:`ivr.db.migrations`).
"""

from __future__ import annotations

from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

# Stable constraint names: Alembic needs them to alter tables, and services read them (booking
# tells a code collision from a caller's second booking, callbacks a second active request).
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
