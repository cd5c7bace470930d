"""the FHIR resource store and partners' signing keys (issue 12)

- ``fhir_resources``: the current version of every resource ``/fhir/r4`` serves, with who sent
  it, whom it is addressed to and the labels a read is decided on;
- ``fhir_resource_versions``: every version, for ``_history/{vid}``;
- ``fhir_search_tokens``: the search index of current versions, one row per parameter value;
- ``messages.resource_id``: the id the server assigned to a FHIR create, fixed with the body;
- ``partner_keys`` and ``partner_jwks``: partners' public keys for ``private_key_jwt``, by
  ``kid``, registered as JWKs or fetched from a JWKS URL.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "fhir_resources",
        sa.Column("resource_type", sa.String(64), primary_key=True),
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("source_org", sa.String(64), nullable=False),
        sa.Column("owner_org", sa.String(64), nullable=True),
        sa.Column("student_id", sa.String(40), nullable=True),
        sa.Column("category", sa.String(60), nullable=False),
        sa.Column("regime", sa.String(20), nullable=False),
        sa.Column("sensitivity", sa.String(20), nullable=False),
        sa.Column("delivery_id", sa.String(40), nullable=True),
        sa.Column("message_id", sa.String(40), nullable=True),
        sa.Column("client_id", sa.String(64), nullable=True),
        sa.Column("document", _DOCUMENT, nullable=False),
        sa.Column("last_updated", _TIME, nullable=False),
        sa.Column("deleted_at", _TIME, nullable=True),
    )
    op.create_index("ix_fhir_resources_student_id", "fhir_resources", ["student_id"])
    op.create_index("ix_fhir_resources_owner", "fhir_resources", ["resource_type", "owner_org"])
    op.create_index("ix_fhir_resources_updated", "fhir_resources", ["resource_type", "last_updated"])
    op.create_index("ix_fhir_resources_client_id", "fhir_resources", ["resource_type", "client_id", "source_org"])
    op.create_table(
        "fhir_resource_versions",
        sa.Column("resource_type", sa.String(64), primary_key=True),
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("version_id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("document", _DOCUMENT, nullable=False),
        sa.Column("last_updated", _TIME, nullable=False),
        sa.Column("deleted", sa.Integer(), nullable=False),
    )
    op.create_table(
        "fhir_search_tokens",
        sa.Column("resource_type", sa.String(64), primary_key=True),
        sa.Column("param", sa.String(64), primary_key=True),
        sa.Column("value", sa.String(300), primary_key=True),
        sa.Column("id", sa.String(64), primary_key=True),
    )
    # No separate (resource_type, param, value) index: the primary key starts with those columns.
    op.create_index("ix_fhir_search_tokens_resource", "fhir_search_tokens", ["resource_type", "id"])
    op.add_column("messages", sa.Column("resource_id", sa.String(64), nullable=True))
    op.create_table(
        "partner_keys",
        sa.Column("kid", sa.String(200), primary_key=True),
        sa.Column("client_id", sa.String(80), primary_key=True),
        sa.Column("organization_id", sa.String(64), nullable=False),
        sa.Column("jwk", _DOCUMENT, nullable=False),
        sa.Column("algorithm", sa.String(20), nullable=True),
        sa.Column("jwks_url", sa.Text(), nullable=True),
        sa.Column("added_by", sa.String(120), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("removed_at", _TIME, nullable=True),
    )
    op.create_index("ix_partner_keys_organization_id", "partner_keys", ["organization_id"])
    op.create_table(
        "partner_jwks",
        sa.Column("client_id", sa.String(80), primary_key=True),
        sa.Column("organization_id", sa.String(64), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("fetched_at", _TIME, nullable=True),
        sa.Column("keys", _DOCUMENT, nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("removed_at", _TIME, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("partner_jwks")
    op.drop_index("ix_partner_keys_organization_id", table_name="partner_keys")
    op.drop_table("partner_keys")
    op.drop_column("messages", "resource_id")
    op.drop_index("ix_fhir_search_tokens_resource", table_name="fhir_search_tokens")
    op.drop_table("fhir_search_tokens")
    op.drop_table("fhir_resource_versions")
    op.drop_index("ix_fhir_resources_client_id", table_name="fhir_resources")
    op.drop_index("ix_fhir_resources_updated", table_name="fhir_resources")
    op.drop_index("ix_fhir_resources_owner", table_name="fhir_resources")
    op.drop_index("ix_fhir_resources_student_id", table_name="fhir_resources")
    op.drop_table("fhir_resources")
