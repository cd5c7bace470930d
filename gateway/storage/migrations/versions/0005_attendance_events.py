"""attendance events kept as rows beside the plan (the plan holds the derived summary)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

Document = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "attendance_events",
        sa.Column("element_id", sa.String(40), primary_key=True),
        sa.Column("student_id", sa.String(40), nullable=False),
        sa.Column("source_org", sa.String(64), nullable=False),
        sa.Column("school", sa.String(40), nullable=False),
        sa.Column("school_year", sa.Integer(), nullable=False),
        sa.Column("event_date", sa.String(10), nullable=False),
        sa.Column("category", sa.String(60), nullable=False),
        sa.Column("entity", sa.String(80), nullable=False),
        sa.Column("source_id", sa.Text(), nullable=False),
        sa.Column("record_digest", sa.String(80), nullable=False),
        sa.Column("content_key", sa.String(200), nullable=False),
        sa.Column("regime", sa.String(20), nullable=False),
        sa.Column("sensitivity", sa.String(20), nullable=False),
        sa.Column("document", Document, nullable=False),
        sa.Column("message_id", sa.String(40), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_attendance_events_student", "attendance_events", ["student_id", "school", "school_year"]
    )


def downgrade() -> None:
    op.drop_index("ix_attendance_events_student", table_name="attendance_events")
    op.drop_table("attendance_events")
