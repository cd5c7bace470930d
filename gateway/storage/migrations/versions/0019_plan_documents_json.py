"""plan documents as JSON text on PostgreSQL (issue 14: a batch reads and writes every plan it touches)

Every batch reads the plans of the students it touches as text and writes them back whole; no
query looks inside a plan. As JSONB, PostgreSQL converted each one on the way in (parsed into its
binary form) and on the way out (printed again); as JSON it keeps the text. 1,000 plans of 7 KB
(a district's, a month into the year): updated in 47-49 against 90-92 ms, read as text in 13-23
against 48-56 ms. A plan now also reads back with its keys in the order written, as on SQLite.
The column keeps lz4 (0018). SQLite stores JSON as text already: nothing changes there.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import text

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

_LZ4_BUILT_IN = text(
    "SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression' AND 'lz4' = ANY(enumvals)"
)


def _retype(kind: str) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    op.execute(f"ALTER TABLE plans ALTER COLUMN document TYPE {kind} USING document::{kind}")
    if bind.execute(_LZ4_BUILT_IN).first() is not None:
        op.execute("ALTER TABLE plans ALTER COLUMN document SET COMPRESSION lz4")


def upgrade() -> None:
    _retype("json")


def downgrade() -> None:
    _retype("jsonb")
