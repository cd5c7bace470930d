"""partner authentication and input limits

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Credentials issued before roles existed are partner credentials; the server default fills
    # them, and batch mode lets SQLite take the NOT NULL column.
    with op.batch_alter_table("credentials") as batch:
        batch.add_column(sa.Column("role", sa.String(20), nullable=False, server_default="partner"))


def downgrade() -> None:
    with op.batch_alter_table("credentials") as batch:
        batch.drop_column("role")
