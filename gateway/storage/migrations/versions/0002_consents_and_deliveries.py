"""consent tracking columns and the delivery outbox

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

Document = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("consents") as batch:
        batch.add_column(sa.Column("status", sa.String(20), nullable=False, server_default="active"))
        batch.add_column(sa.Column("scope", sa.String(40), nullable=False, server_default="patient-privacy"))
        batch.add_column(sa.Column("grantor", sa.String(64), nullable=True))
        batch.add_column(sa.Column("signed_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "deliveries",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("student_id", sa.String(40), nullable=False, index=True),
        sa.Column("source_org", sa.String(64), nullable=False),
        sa.Column("recipient_org", sa.String(64), nullable=False, index=True),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("purpose", sa.String(60), nullable=False),
        sa.Column("role", sa.String(60), nullable=False),
        sa.Column("categories", Document, nullable=False),
        sa.Column("payload", Document, nullable=False),
        sa.Column("status", sa.String(20), nullable=False, index=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("decision_id", sa.String(40), nullable=True),
        sa.Column("consent_ids", Document, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("response_status", sa.Integer(), nullable=True),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("deliveries")
    with op.batch_alter_table("consents") as batch:
        for column in ("revoked_at", "signed_at", "grantor", "scope", "status"):
            batch.drop_column(column)
