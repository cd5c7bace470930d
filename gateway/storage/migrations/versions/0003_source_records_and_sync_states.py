"""source record index (retractions, bulk deactivation) and pull watermarks

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

Document = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "source_records",
        sa.Column("key_digest", sa.String(80), primary_key=True),
        sa.Column("source_org", sa.String(64), nullable=False),
        sa.Column("entity", sa.String(80), nullable=False),
        sa.Column("source_id", sa.Text(), nullable=False),
        sa.Column("student_id", sa.String(40), nullable=False, index=True),
        sa.Column("record_digest", sa.String(80), nullable=False),
        sa.Column("message_id", sa.String(40), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_source_records_org_entity", "source_records", ["source_org", "entity", "status"])
    op.create_table(
        "sync_states",
        sa.Column("source_org", sa.String(64), primary_key=True),
        sa.Column("feed", sa.String(120), primary_key=True),
        sa.Column("watermark", sa.String(80), nullable=True),
        sa.Column("details", Document, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("sync_states")
    op.drop_index("ix_source_records_org_entity", table_name="source_records")
    op.drop_table("source_records")
