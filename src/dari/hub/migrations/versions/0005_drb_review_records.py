"""DRB review records: applicant affiliation, cohort, DUA version and hash; IRB documents; per-site revocation

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07 14:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply."""
    with op.batch_alter_table("application") as batch:
        batch.add_column(sa.Column("applicant_affiliation", sa.String(length=300), nullable=False, server_default=""))
        batch.add_column(sa.Column("cohort", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("dua_version", sa.String(length=32), nullable=False, server_default=""))
        batch.add_column(sa.Column("dua_sha256", sa.String(length=64), nullable=False, server_default=""))
    op.create_table(
        "application_document",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("application_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["application_id"], ["application.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "grant_site_revocation",
        sa.Column("grant_id", sa.String(length=40), nullable=False),
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_by", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["grant_id"], ["access_grant.id"]),
        sa.ForeignKeyConstraint(["site_id"], ["site.id"]),
        sa.ForeignKeyConstraint(["revoked_by"], ["hub_user.id"]),
        sa.PrimaryKeyConstraint("grant_id", "site_id"),
    )


def downgrade() -> None:
    """Revert."""
    op.drop_table("grant_site_revocation")
    op.drop_table("application_document")
    with op.batch_alter_table("application") as batch:
        for column in ("dua_sha256", "dua_version", "cohort", "applicant_affiliation"):
            batch.drop_column(column)
