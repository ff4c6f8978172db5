"""The hub's relational store: SQLAlchemy 2 models, engine and sessions; schema changes through Alembic."""
