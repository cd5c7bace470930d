"""guardian links: who may consent for a student besides the student (issue 10)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "guardian_links",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("student_id", sa.String(40), sa.ForeignKey("students.id"), nullable=False),
        sa.Column("person_system", sa.String(300), nullable=False),
        sa.Column("person_value", sa.String(200), nullable=False),
        sa.Column("relationship", sa.String(200), nullable=False),
        sa.Column("authority", sa.String(20), nullable=False),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("source_org", sa.String(64), nullable=False),
        sa.Column("entity", sa.String(80), nullable=True),
        sa.Column("source_id", sa.Text(), nullable=True),
        sa.Column("linked_by", sa.String(200), nullable=True),
        sa.Column("message_id", sa.String(40), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_guardian_links_student_id", "guardian_links", ["student_id"])
    op.create_index("ix_guardian_links_person", "guardian_links", ["person_system", "person_value"])
    op.create_index("ix_guardian_links_source", "guardian_links", ["source_org", "entity"])


def downgrade() -> None:
    op.drop_index("ix_guardian_links_source", table_name="guardian_links")
    op.drop_index("ix_guardian_links_person", table_name="guardian_links")
    op.drop_index("ix_guardian_links_student_id", table_name="guardian_links")
    op.drop_table("guardian_links")
