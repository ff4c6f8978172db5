"""roles and notifications: in-app notifications with e-mail delivery, users' addresses, clinicians' feedback on
deployed models, stewards' pseudonymisation sign-offs

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 14:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply."""
    op.create_table(
        "notification",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("hub_user.id"), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("subject_ko", sa.String(length=300), nullable=False),
        sa.Column("subject_en", sa.String(length=300), nullable=False),
        sa.Column("link", sa.String(length=300), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("mailed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("mail_attempts", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_notification_user_read", "notification", ["user_id", "read_at"])
    op.create_table(
        "user_email",
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("hub_user.id"), nullable=False),
        sa.Column("address", sa.String(length=254), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id"),
    )
    op.create_table(
        "model_feedback",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model_sha256", sa.String(length=64), sa.ForeignKey("registered_model.sha256"), nullable=False),
        sa.Column("site_id", sa.String(length=64), sa.ForeignKey("site.id"), nullable=False),
        sa.Column("author_id", sa.Integer(), sa.ForeignKey("hub_user.id"), nullable=False),
        sa.Column("rating", sa.String(length=16), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_model_feedback_model_site", "model_feedback", ["model_sha256", "site_id"])
    op.create_table(
        "pseudonymisation_signoff",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dataset_id", sa.String(length=128), sa.ForeignKey("dataset.id"), nullable=False),
        sa.Column("site_id", sa.String(length=64), sa.ForeignKey("site.id"), nullable=False),
        sa.Column("report_sha256", sa.String(length=64), nullable=False),
        sa.Column("verdict", sa.String(length=16), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("signed_by", sa.Integer(), sa.ForeignKey("hub_user.id"), nullable=False),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    """Revert."""
    op.drop_table("pseudonymisation_signoff")
    op.drop_index("ix_model_feedback_model_site", table_name="model_feedback")
    op.drop_table("model_feedback")
    op.drop_table("user_email")
    op.drop_index("ix_notification_user_read", table_name="notification")
    op.drop_table("notification")
