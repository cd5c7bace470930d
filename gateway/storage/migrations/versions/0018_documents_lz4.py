"""documents compressed with lz4 on PostgreSQL (issue 14: FHIR landing on PostgreSQL)

A served FHIR resource (about 3.5 KB of JSON) is stored twice, as the current row and as its
version, and a plan is rewritten with every batch that touches its student: all of them are
over PostgreSQL's TOAST threshold, so every write compresses them. With the default pglz,
COPYing 10,000 landing resources into one table took 541-580 ms; with lz4, 305-409 ms, for 13%
more space (23.7 against 20.9 MB), and reads decompress faster too. lz4 exists from
PostgreSQL 14, when the server was built with it (``default_toast_compression`` then lists it);
elsewhere, and on SQLite, nothing changes. Rows already stored keep their compression (each
value records its own); new values take lz4.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import text

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

DOCUMENTS = (("plans", "document"), ("fhir_resources", "document"), ("fhir_resource_versions", "document"))
_LZ4_BUILT_IN = text(
    "SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression' AND 'lz4' = ANY(enumvals)"
)


def _lz4_available() -> bool:
    bind = op.get_bind()
    return bind.dialect.name == "postgresql" and bind.execute(_LZ4_BUILT_IN).first() is not None


def upgrade() -> None:
    if _lz4_available():
        for table, column in DOCUMENTS:
            op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} SET COMPRESSION lz4")


def downgrade() -> None:
    if _lz4_available():
        for table, column in DOCUMENTS:
            op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} SET COMPRESSION DEFAULT")
