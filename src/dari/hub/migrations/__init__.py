"""Alembic migrations of the hub store (run through `dari hub init` / `dari.hub.db.engine.migrate`)."""
