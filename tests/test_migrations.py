"""The Alembic migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, select

from gateway.core.canonical import canonical_json, digest
from gateway.storage.db import _alembic_config, is_initialised, make_engine, migrate
from gateway.storage.tables import Base, Delivery


def test_migrations_match_the_models(database_url):
    engine = make_engine(database_url)
    migrate(engine)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)
    engine.dispose()
    assert differences == []


def test_migrate_twice_is_harmless(database_url):
    engine = make_engine(database_url)
    migrate(engine)
    migrate(engine)
    assert is_initialised(engine)
    assert set(Base.metadata.tables) <= set(inspect(engine).get_table_names())
    engine.dispose()


def test_0007_keeps_what_a_queued_delivery_holds_as_its_fixed_body(database_url):
    """A delivery queued before bodies were fixed goes out as it was stored, with its id as its key;
    one left 'sending' keeps its lease end (it was next_attempt_at)."""
    engine = make_engine(database_url)
    config = _alembic_config()
    payload = {"referral": {"deliveryId": "dlv-old", "note": "é"}, "plan": {}, "obligations": []}
    lease_end = dt.datetime(2026, 11, 23, 12, 2, tzinfo=dt.UTC)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0006")
        connection.execute(
            Delivery.__table__.insert().values(**_old_delivery("dlv-old", payload, lease_end)),
        )
        command.upgrade(config, "head")
    with engine.connect() as connection:
        row = connection.execute(select(Delivery.__table__).where(Delivery.id == "dlv-old")).one()
    engine.dispose()
    assert row.body == canonical_json(payload)
    assert row.body_digest == digest(payload)
    assert (row.idempotency_key, row.lease_owner, row.lease_until) == ("dlv-old", None, lease_end)


def _old_delivery(delivery_id: str, payload: dict, at: dt.datetime) -> dict:
    """A row as revision 0006 knew it (no body, key or lease columns)."""
    return {
        "id": delivery_id,
        "student_id": "stu-x",
        "source_org": "a",
        "recipient_org": "b",
        "kind": "referral",
        "purpose": "referral-fulfillment",
        "role": "case-worker",
        "categories": ["identity"],
        "payload": payload,
        "status": "sending",
        "consent_ids": [],
        "attempts": 1,
        "next_attempt_at": at,
        "created_at": at,
        "updated_at": at,
    }
