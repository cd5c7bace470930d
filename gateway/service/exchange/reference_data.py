"""Reference data in: records of the resources a family's reference table lists (Ed-Fi
assessments, gradebook entries, interventions, sections, schools, ... see
``mappings/codes/edfi-reference-data.yaml``) are kept in ``reference_records`` rather than mapped
into a plan, inside the batch's transaction.

A kept record is ``accepted`` (it landed; it names no student), its reason says it was kept as
reference data and whether it was new, replaced (its body changed) or unchanged (sent again).
A record without its natural key is rejected with the missing key paths, and kept in the
message store for replay like any rejected record.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from gateway.core.reference_data import (
    REFERENCE_TABLES,
    ReferenceEntity,
    natural_key,
)
from gateway.core.reference_view import pointers, with_references
from gateway.formats.records import SourceRecord
from gateway.service.exchange.outcomes import ACCEPTED, REJECTED, RecordOutcome
from gateway.service.runtime import Runtime
from gateway.storage import reference_store
from gateway.storage.db import Session
from gateway.storage.reference_store import ReferenceRecord


def reference_entities(rt: Runtime, family: str) -> dict[str, ReferenceEntity]:
    """The resources a mapping family keeps as reference data (checked when artifacts load)."""
    return rt.artifacts.references.get(family, {})


def referenced(session: Session, rt: Runtime, plan: dict[str, Any]) -> dict[str, Any]:
    """The plan as a reader may see it, with a ``reference`` on each element whose reference
    record is known (one query for the whole plan). Given only what the reader may already see,
    it adds a title to visible elements and nothing else."""
    entities = {e.entity: e for family in REFERENCE_TABLES for e in reference_entities(rt, family).values()}
    found = pointers(plan, entities.values())
    bodies = reference_store.bodies(session, (p.row for p in found.values())) if found else {}
    return with_references(plan, found, bodies, entities)


def keep(
    session: Session,
    rt: Runtime,
    sender: tuple[str, str, str],
    records: list[SourceRecord],
    outcomes: dict[int, RecordOutcome],
    now: dt.datetime,
) -> None:
    """Store the batch's reference records; ``sender`` is (source org, message id, mapping family).
    Sets the outcome of each record it takes; the pipeline maps the others."""
    source_org, message_id, family = sender
    entities = reference_entities(rt, family)
    if not entities:
        return
    kept: dict[int, ReferenceRecord] = {}
    for index, rec in enumerate(records):
        entity = entities.get(rec.entity)
        if entity is None or rt.artifacts.mapping_for(family, rec.entity) is not None:
            continue
        key, missing = natural_key(source_org, entity, rec.data)
        if key is None:
            outcomes[index] = RecordOutcome(
                location=rec.location,
                status=REJECTED,
                reason=f"the {rec.entity} record lacks its natural key; send the key fields and replay",
                issues=tuple(missing),
            )
            continue
        kept[index] = _stored(source_org, message_id, rec, key.text, key.digest)
    saved = reference_store.save(session, kept.values(), now)
    for index, record in kept.items():
        outcomes[index] = RecordOutcome(
            location=records[index].location,
            status=ACCEPTED,
            reason=f"kept as reference data ({record.entity}): {saved[record.key_digest]}",
        )


def _stored(
    source_org: str, message_id: str, rec: SourceRecord, text: str, key_digest: str
) -> ReferenceRecord:
    return ReferenceRecord(
        source_org=source_org,
        entity=rec.entity,
        key_digest=key_digest,
        natural_key=text,
        body=rec.data,
        body_digest=rec.digest,
        message_id=message_id,
    )


def forget(rt: Runtime, source_org: str, entity: str, key_digests: list[str]) -> int:
    """Remove the reference records an Ed-Fi delete or key change names; returns how many existed."""
    with rt.sessions.begin() as session:
        return reference_store.delete(session, source_org, entity, key_digests)


def reference_body(
    session: Session, rt: Runtime, source_org: str, family: str, entity: str, record: dict[str, Any]
) -> dict[str, Any] | None:
    """The stored body of the reference record ``record`` names by its key fields (e.g. an
    assessment, given ``{"assessmentIdentifier": ..., "namespace": ...}``), or None."""
    found = reference_entities(rt, family).get(entity)
    if found is None:
        return None
    key, _ = natural_key(source_org, found, record)
    row = reference_store.find(session, source_org, entity, key.digest) if key is not None else None
    return row.body if row is not None else None
