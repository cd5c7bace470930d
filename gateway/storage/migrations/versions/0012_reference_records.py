"""reference records (issue 13)

- ``reference_records``: partners' reference data (Ed-Fi assessments, gradebook entries,
  interventions, sections, sessions, calendars, courses, schools, programs, ...), one row per
  (source organization, resource, natural key digest) holding the latest body and its digest.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "reference_records",
        sa.Column("source_org", sa.String(64), primary_key=True),
        sa.Column("entity", sa.String(80), primary_key=True),
        sa.Column("key_digest", sa.String(80), primary_key=True),
        sa.Column("natural_key", sa.Text(), nullable=False),
        sa.Column("body", _DOCUMENT, nullable=False),
        sa.Column("body_digest", sa.String(80), nullable=False),
        sa.Column("message_id", sa.String(40), nullable=False),
        sa.Column("updated_at", _TIME, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("reference_records")
