"""A served resource's current document is stored once (migration 0020): its history row holds
NULL until a newer version or a deletion supersedes it, and every version still reads back as
written, through the batch writer (``fhir_bulk``) and the single writer (``fhir_store``) alike."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from alembic import command
from sqlalchemy import select

from gateway.storage import fhir_bulk, fhir_store
from gateway.storage.db import _alembic_config, make_engine
from gateway.storage.fhir_bulk import RESOURCES, VERSIONS
from gateway.storage.fhir_store import ResourceLabels

NOW = dt.datetime(2026, 12, 7, 12, 0, tzinfo=dt.UTC)
LABELS = ResourceLabels(source_org="clinic", category="health", regime="hipaa", sensitivity="normal")


def _observation(status: str, value: int) -> dict[str, Any]:
    return {"resourceType": "Observation", "id": "obs-1", "status": status, "valueInteger": value}


def _batch(rt: Any, *documents: dict[str, Any]) -> None:
    """One batch writing ``documents`` (a resource may come twice), as the pipeline writes them."""
    with rt.sessions.begin() as session:
        keys = {(d["resourceType"], d["id"]) for d in documents}
        known = fhir_bulk.stored(session, keys)
        writes = [
            fhir_bulk.ResourceWrite(
                resource_type=d["resourceType"], resource_id=d["id"], document=d, labels=LABELS, tokens=()
            )
            for d in documents
        ]
        fhir_bulk.write_many(session, writes, known, NOW)


def _history(rt: Any) -> list[tuple[int, str | None, bool]]:
    with rt.sessions() as session:
        shown = fhir_store.versions(session, "Observation", "obs-1")
    return [(v.version_id, v.document.get("status"), v.deleted) for v in shown]


def _stored_documents(rt: Any) -> dict[int, bool]:
    """version id -> whether its history row holds a document of its own."""
    with rt.sessions() as session:
        rows = session.execute(
            select(VERSIONS.c.version_id, VERSIONS.c.document).where(VERSIONS.c.id == "obs-1")
        )
        return {row.version_id: row.document is not None for row in rows}


def _current(rt: Any) -> tuple[int, str]:
    with rt.sessions() as session:
        row = fhir_store.current(session, "Observation", "obs-1")
        assert row is not None
        return row.version_id, row.document["status"]


def test_batches_write_each_document_once_and_keep_every_version(rt: Any) -> None:
    _batch(rt, _observation("preliminary", 1))
    assert _stored_documents(rt) == {1: False}
    assert _history(rt) == [(1, "preliminary", False)]

    _batch(rt, _observation("amended", 2))
    assert _stored_documents(rt) == {1: True, 2: False}

    # One batch writing the resource twice: its first version there is superseded in the batch.
    _batch(rt, _observation("final", 3), _observation("corrected", 4))
    assert _stored_documents(rt) == {1: True, 2: True, 3: True, 4: False}
    assert _history(rt) == [
        (1, "preliminary", False),
        (2, "amended", False),
        (3, "final", False),
        (4, "corrected", False),
    ]
    assert _current(rt) == (4, "corrected")
    with rt.sessions() as session:
        third = fhir_store.version(session, "Observation", "obs-1", 3)
        fourth = fhir_store.version(session, "Observation", "obs-1", 4)
    assert third is not None
    assert fourth is not None
    assert (third.document["valueInteger"], third.document["meta"]["versionId"]) == (3, "3")
    assert fourth.document["meta"]["versionId"] == "4"


def test_a_deletion_and_a_new_write_keep_what_was(rt: Any) -> None:
    with rt.sessions.begin() as session:
        fhir_store.put(session, "Observation", "obs-1", _observation("preliminary", 1), LABELS, (), NOW)
    with rt.sessions.begin() as session:
        row = fhir_store.current(session, "Observation", "obs-1")
        assert row is not None
        fhir_store.mark_deleted(session, row, NOW)
    assert _stored_documents(rt) == {1: True, 2: True}  # the deletion's empty document is its own
    _batch(rt, _observation("final", 3))  # a batch writes it again after its deletion
    with rt.sessions.begin() as session:
        fhir_store.put(session, "Observation", "obs-1", _observation("amended", 4), LABELS, (), NOW)
    assert _stored_documents(rt) == {1: True, 2: True, 3: True, 4: False}
    assert _history(rt) == [
        (1, "preliminary", False),
        (2, None, True),
        (3, "final", False),
        (4, "amended", False),
    ]


def test_0020_empties_the_current_versions_stored_twice_and_its_downgrade_fills_them(
    database_url: str,
) -> None:
    """Rows written before 0020: a current version's document is emptied (the current row holds
    it), older versions and a deletion keep theirs; the downgrade puts it back."""
    engine = make_engine(database_url)
    config = _alembic_config()
    first, second = _observation("preliminary", 1), _observation("final", 2)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0019")
        connection.execute(RESOURCES.insert(), [_row("obs-1", 2, second, None), _row("obs-2", 2, first, NOW)])
        connection.execute(
            VERSIONS.insert(),
            [
                _version("obs-1", 1, first, 0),
                _version("obs-1", 2, second, 0),
                _version("obs-2", 1, first, 0),
                _version("obs-2", 2, {}, 1),
            ],
        )
        command.upgrade(config, "head")
        assert _documents(connection) == {
            ("obs-1", 1): first,
            ("obs-1", 2): None,
            ("obs-2", 1): first,
            ("obs-2", 2): {},
        }
        command.downgrade(config, "0019")
        assert _documents(connection)[("obs-1", 2)] == second
    engine.dispose()


@pytest.mark.parametrize(("version_id", "status"), [(1, "preliminary"), (2, "final")])
def test_a_version_read_after_0020_is_the_document_written(rt: Any, version_id: int, status: str) -> None:
    _batch(rt, _observation("preliminary", 1))
    _batch(rt, _observation("final", 2))
    with rt.sessions() as session:
        found = fhir_store.version(session, "Observation", "obs-1", version_id)
        missing = fhir_store.version(session, "Observation", "obs-1", 3)
    assert found is not None
    assert (found.version_id, found.document["status"]) == (version_id, status)
    assert missing is None


def _row(resource_id: str, version_id: int, document: dict[str, Any], deleted_at: Any) -> dict[str, Any]:
    return {
        "resource_type": "Observation",
        "id": resource_id,
        "version_id": version_id,
        "source_org": "clinic",
        "category": "health",
        "regime": "hipaa",
        "sensitivity": "normal",
        "document": document,
        "last_updated": NOW,
        "deleted_at": deleted_at,
    }


def _version(resource_id: str, version_id: int, document: dict[str, Any], deleted: int) -> dict[str, Any]:
    return {
        "resource_type": "Observation",
        "id": resource_id,
        "version_id": version_id,
        "document": document,
        "last_updated": NOW,
        "deleted": deleted,
    }


def _documents(connection: Any) -> dict[tuple[str, int], Any]:
    rows = connection.execute(select(VERSIONS.c.id, VERSIONS.c.version_id, VERSIONS.c.document))
    return {(row.id, row.version_id): row.document for row in rows}
