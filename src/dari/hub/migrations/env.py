"""Alembic environment: migrates the connection handed over by `dari.hub.db.engine.migrate`, or the URL given."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

import dari.hub.db.roles_tables  # noqa: F401  (registers the roles tables on the metadata)
from dari.hub.db import cohorts as _cohorts  # noqa: F401  (registers saved_cohort in the metadata)
from dari.hub.db import pods as _pods  # noqa: F401  (registers the research pods tables in the metadata)
from dari.hub.db.models import Base

config = context.config
connection = config.attributes.get("connection")
if connection is not None:
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "sqlite://")
    with engine.connect() as conn:
        context.configure(connection=conn, target_metadata=Base.metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
