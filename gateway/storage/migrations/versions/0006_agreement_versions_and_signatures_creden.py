"""agreement versions and signatures; who recorded each consent

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03

Agreements in force before this revision become version rows ``in-force`` (change ``seeded``)
without signatures: they were accepted before the gateway kept signatures. Consents recorded
before it were recorded by their grantor (the only organization allowed to record them then).
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from gateway.core.agreement_change import version_digest

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

Document = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    versions = op.create_table(
        "agreement_versions",
        sa.Column("key", sa.String(120), primary_key=True),
        sa.Column("version", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("agreement_id", sa.String(80), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("document", Document, nullable=False),
        sa.Column("digest", sa.String(80), nullable=False),
        sa.Column("change", sa.String(20), nullable=False),
        sa.Column("widens", Document, nullable=False),
        sa.Column("proposed_by", sa.String(120), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_agreement_versions_agreement_id", "agreement_versions", ["agreement_id"])
    op.create_table(
        "agreement_signatures",
        sa.Column("key", sa.String(120), primary_key=True),
        sa.Column("version", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("organization_id", sa.String(64), primary_key=True),
        sa.Column("signed_by", sa.String(200), nullable=False),
        sa.Column("digest", sa.String(80), nullable=False),
        sa.Column("method", sa.String(20), nullable=False),
        sa.Column("recorded_by", sa.String(120), nullable=False),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=False),
    )
    with op.batch_alter_table("consents") as batch:
        batch.add_column(sa.Column("recorded_by", sa.String(64), nullable=True))
        batch.add_column(sa.Column("local_id", sa.String(64), nullable=True))
    _backfill(versions)


def _backfill(versions: sa.Table) -> None:
    connection = op.get_bind()
    now = dt.datetime.now(dt.UTC)
    agreements = sa.table(
        "agreements", sa.column("id"), sa.column("version"), sa.column("document", Document)
    )
    rows = connection.execute(sa.select(agreements.c.id, agreements.c.version, agreements.c.document))
    for key, version, document in rows:
        connection.execute(
            versions.insert().values(
                key=key,
                version=version,
                agreement_id=document["id"],
                state="in-force",
                document=document,
                digest=version_digest(document),
                change="seeded",
                widens=[],
                proposed_by="migration-0006",
                created_at=now,
                decided_at=now,
            )
        )
    consents = sa.table(
        "consents", sa.column("id"), sa.column("grantor"), sa.column("recorded_by"), sa.column("local_id")
    )
    connection.execute(consents.update().values(recorded_by=consents.c.grantor, local_id=consents.c.id))


def downgrade() -> None:
    with op.batch_alter_table("consents") as batch:
        batch.drop_column("local_id")
        batch.drop_column("recorded_by")
    op.drop_table("agreement_signatures")
    op.drop_index("ix_agreement_versions_agreement_id", table_name="agreement_versions")
    op.drop_table("agreement_versions")
