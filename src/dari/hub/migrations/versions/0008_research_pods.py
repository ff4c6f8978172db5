"""research pods: submitted bundles, sites' manifests of held outputs, output checkers' reviews, released files

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 23:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply."""
    op.create_table(
        "pod_submission",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("grant_id", sa.String(length=40), sa.ForeignKey("access_grant.id"), nullable=False),
        sa.Column("researcher_id", sa.Integer(), sa.ForeignKey("hub_user.id"), nullable=False),
        sa.Column("site_id", sa.String(length=64), sa.ForeignKey("site.id"), nullable=False),
        sa.Column("dataset_id", sa.String(length=128), sa.ForeignKey("dataset.id"), nullable=False),
        sa.Column("bundle_name", sa.String(length=200), nullable=False),
        sa.Column("bundle_sha256", sa.String(length=64), nullable=False),
        sa.Column("bundle_size", sa.Integer(), nullable=False),
        sa.Column("bundle", sa.LargeBinary(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("run_id", sa.String(length=80), nullable=True),
        sa.Column("manifest", sa.JSON(), nullable=True),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("pulled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_pod_submission_site_status", "pod_submission", ["site_id", "status"])
    op.create_table(
        "pod_output_review",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("submission_id", sa.String(length=40), sa.ForeignKey("pod_submission.id"), nullable=False),
        sa.Column("reviewer_id", sa.Integer(), sa.ForeignKey("hub_user.id"), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("submission_id", "reviewer_id", name="uq_pod_review_once"),
    )
    op.create_table(
        "pod_released_file",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("submission_id", sa.String(length=40), sa.ForeignKey("pod_submission.id"), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("submission_id", "name", name="uq_pod_released_name"),
    )


def downgrade() -> None:
    """Revert."""
    op.drop_table("pod_released_file")
    op.drop_table("pod_output_review")
    op.drop_index("ix_pod_submission_site_status", table_name="pod_submission")
    op.drop_table("pod_submission")
