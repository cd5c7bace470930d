"""delivery outbox: fixed bodies, idempotency keys and leases

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_deliveries = sa.table(
    "deliveries",
    sa.column("id", sa.String),
    sa.column("payload"),  # untyped: SQLite hands back JSON text, PostgreSQL a decoded JSONB value
    sa.column("status", sa.String),
    sa.column("next_attempt_at", sa.DateTime(timezone=True)),
    sa.column("body", sa.LargeBinary),
    sa.column("body_digest", sa.String),
    sa.column("idempotency_key", sa.String),
    sa.column("lease_until", sa.DateTime(timezone=True)),
)


def _canonical(payload: Any) -> bytes:
    # The gateway's canonical JSON (RFC 8785 for these values), frozen here as of this revision.
    value = json.loads(payload) if isinstance(payload, str | bytes) else payload
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _fill_bodies() -> None:
    """Rows queued before this revision keep what they hold as their fixed body; the delivery id
    stays their idempotency key (it already was the key they were sent with). A row left
    'sending' kept its lease end in next_attempt_at."""
    bind = op.get_bind()
    rows = bind.execute(sa.select(_deliveries.c.id, _deliveries.c.payload, _deliveries.c.status))
    for delivery_id, payload, status in rows.all():
        body = _canonical(payload)
        values: dict[str, Any] = {
            "body": body,
            "body_digest": "sha256:" + hashlib.sha256(body).hexdigest(),
            "idempotency_key": delivery_id,
        }
        if status == "sending":
            values["lease_until"] = _deliveries.c.next_attempt_at
        bind.execute(_deliveries.update().where(_deliveries.c.id == delivery_id).values(**values))


def upgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("body", sa.LargeBinary(), nullable=True))
        batch.add_column(sa.Column("body_digest", sa.String(80), nullable=True))
        batch.add_column(sa.Column("idempotency_key", sa.String(80), nullable=True))
        batch.add_column(sa.Column("lease_owner", sa.String(64), nullable=True))
        batch.add_column(sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True))
    _fill_bodies()
    with op.batch_alter_table("deliveries") as batch:
        for name, kind in (("body", sa.LargeBinary()), ("body_digest", sa.String(80))):
            batch.alter_column(name, existing_type=kind, nullable=False)
        batch.alter_column("idempotency_key", existing_type=sa.String(80), nullable=False)
        batch.create_index("ix_deliveries_idempotency_key", ["idempotency_key"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_index("ix_deliveries_idempotency_key")
        for name in ("lease_until", "lease_owner", "idempotency_key", "body_digest", "body"):
            batch.drop_column(name)
