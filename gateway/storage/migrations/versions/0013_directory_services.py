"""directory services (issue 16)

- ``directory_services``: one row per HSDS service at a location (or a service without a
  location) per directory, with its grid cell (indexed) for lookups near a place, the
  record's digest (idempotent re-import) and its terms, schedules, languages and service areas.
- ``directory_sources``: per directory, where it came from and the refresh watermark.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "directory_services",
        sa.Column("id", sa.String(300), primary_key=True),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("service_id", sa.String(120), nullable=False),
        sa.Column("location_id", sa.String(120), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("organization", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("address", sa.Text(), nullable=False),
        sa.Column("status", sa.String(40), nullable=False),
        sa.Column("age_min", sa.Float(), nullable=True),
        sa.Column("age_max", sa.Float(), nullable=True),
        sa.Column("capacity", sa.Integer(), nullable=True),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("lon", sa.Float(), nullable=True),
        sa.Column("cell", sa.String(24), nullable=True),
        sa.Column("languages", _DOCUMENT, nullable=False),
        sa.Column("service_area", _DOCUMENT, nullable=False),
        sa.Column("terms", _DOCUMENT, nullable=False),
        sa.Column("schedules", _DOCUMENT, nullable=False),
        sa.Column("modified", sa.String(40), nullable=False),
        sa.Column("digest", sa.String(80), nullable=False),
        sa.Column("imported_at", _TIME, nullable=False),
    )
    op.create_index("ix_directory_services_cell", "directory_services", ["cell"])
    op.create_index("ix_directory_services_source", "directory_services", ["source", "service_id"])
    op.create_table(
        "directory_sources",
        sa.Column("source", sa.String(64), primary_key=True),
        sa.Column("origin", sa.Text(), nullable=False),
        sa.Column("watermark", sa.String(40), nullable=False),
        sa.Column("digest", sa.String(80), nullable=False),
        sa.Column("imported_at", _TIME, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("directory_sources")
    op.drop_index("ix_directory_services_source", table_name="directory_services")
    op.drop_index("ix_directory_services_cell", table_name="directory_services")
    op.drop_table("directory_services")
