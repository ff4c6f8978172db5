"""saved cohorts: the cohort builder's definitions per user

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 14:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply."""
    op.create_table(
        "saved_cohort",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["owner_id"], ["hub_user.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_saved_cohort_owner", "saved_cohort", ["owner_id"])


def downgrade() -> None:
    """Revert."""
    op.drop_index("ix_saved_cohort_owner", table_name="saved_cohort")
    op.drop_table("saved_cohort")
