"""Alembic environment that builds the city database as ``main`` left it before the one history
(tests/test_city_db.py): two histories in one database, each with its own version table.

* booking's: revisions 0001-0003 (unchanged since, now kept with their features) in
  ``alembic_version``, on metadata with the city's naming convention, as booking's env had;
* the admin's own: ``admin_versions/`` here is main's ``admin_0001``, verbatim, in
  ``alembic_version_admin``, on metadata without a naming convention, as the admin's env had.

The test hands in the connection, the version table and the naming convention.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import MetaData

config = context.config
naming = config.attributes.get("naming")
context.configure(
    connection=config.attributes["connection"],
    target_metadata=MetaData(naming_convention=naming) if naming else MetaData(),
    version_table=config.attributes["version_table"],
    render_as_batch=True,
)
with context.begin_transaction():
    context.run_migrations()
