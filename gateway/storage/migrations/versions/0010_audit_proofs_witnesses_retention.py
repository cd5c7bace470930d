"""audit proofs, checkpoint witnesses and payload retention (issue 11)

- ``audit_head.frontier``: the roots of the perfect Merkle subtrees over the entries so far
  (RFC 6962), so each checkpoint signs a tree root without rereading the log;
- ``audit_checkpoints.root`` and ``reason``: the signed tree head and why it was signed
  (entries, minutes, shutdown, manual); ``key_id`` already names the key, so rotation keeps
  old heads verifiable;
- ``checkpoint_witnesses``: the outbox of signed heads on their way to witness endpoints;
- ``messages.purged_at`` and ``deliveries.purged_at``: a payload copy removed when its agreement's
  retention ended (the row keeps its digest and metadata);
- an index on ``audit_entries.recorded_at`` for date-ranged reports and exports.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.add_column("audit_head", sa.Column("frontier", _DOCUMENT, nullable=True))
    op.add_column("audit_checkpoints", sa.Column("root", sa.String(80), nullable=True))
    op.add_column("audit_checkpoints", sa.Column("reason", sa.String(20), nullable=True))
    op.create_index("ix_audit_entries_recorded_at", "audit_entries", ["recorded_at"])
    op.create_table(
        "checkpoint_witnesses",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("checkpoint_seq", sa.Integer(), nullable=False),
        sa.Column("witness", sa.String(120), nullable=False),
        sa.Column("endpoint", sa.Text(), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("response_status", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_checkpoint_witnesses_due", "checkpoint_witnesses", ["status", "next_attempt_at"])
    op.add_column("messages", sa.Column("purged_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("deliveries", sa.Column("purged_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("deliveries", "purged_at")
    op.drop_column("messages", "purged_at")
    op.drop_index("ix_checkpoint_witnesses_due", table_name="checkpoint_witnesses")
    op.drop_table("checkpoint_witnesses")
    op.drop_index("ix_audit_entries_recorded_at", table_name="audit_entries")
    op.drop_column("audit_checkpoints", "reason")
    op.drop_column("audit_checkpoints", "root")
    op.drop_column("audit_head", "frontier")
