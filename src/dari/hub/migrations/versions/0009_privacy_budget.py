"""privacy budget: the DRB's ε budget per grant (differential privacy of federated training)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 23:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply."""
    with op.batch_alter_table("access_grant") as batch:
        batch.add_column(sa.Column("epsilon_budget", sa.Double(), nullable=True))


def downgrade() -> None:
    """Revert."""
    with op.batch_alter_table("access_grant") as batch:
        batch.drop_column("epsilon_budget")
