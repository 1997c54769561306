"""Alembic environment for the admin tables (called from ivr.admin.db.migrate with a connection).

New revision for developers::

    alembic -x url=sqlite:///var/numero-unico.db -c /dev/null revision \
        --autogenerate -m "what changed"   # with script_location = ivr/admin/migrations
"""

from __future__ import annotations

from alembic import context

from ivr.admin.db import VERSION_TABLE
from ivr.admin.models import Base

config = context.config
target_metadata = Base.metadata


def _include(obj, name, type_, reflected, compare_to):  # noqa: ANN001 - alembic hook
    # The database is shared with booking/: only ever look at our own tables.
    return type_ != "table" or name.startswith("admin_")


def _configure(**kw) -> None:  # noqa: ANN003
    context.configure(
        target_metadata=target_metadata,
        version_table=VERSION_TABLE,
        render_as_batch=True,
        include_object=_include,
        **kw,
    )


connection = config.attributes.get("connection")
if connection is not None:
    _configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()
else:
    from ivr.admin.db import make_engine
    from ivr.config import load

    url = context.get_x_argument(as_dictionary=True).get("url") or load().database_url
    engine = make_engine(url)
    with engine.begin() as conn:
        _configure(connection=conn)
        with context.begin_transaction():
            context.run_migrations()
