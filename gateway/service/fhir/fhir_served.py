"""The FHIR resources ``/fhir/r4`` serves, written where they land: in the batch's transaction.

Every FHIR record a partner sends that is accepted or held (received, waiting for its student's
link) becomes the current version of a served resource, with the labels a read is decided on:
who sent it, whom it is addressed to (a Task's owner, a ServiceRequest's performer), whose
record it is, and its category, regime and sensitivity as the mapping labelled its elements.

Ids: a create (``POST /fhir/r4/{type}``) gets the id the server assigned when the body was
stored (so a replay writes the same resource); a resource in a Bundle or an NDJSON file keeps
its own id unless another partner's resource already has it, when it gets an id derived from
(sender, type, id), so partners never overwrite each other; an id-less one gets an id derived
from its message and location. Sending the same content again is no new version.
"""

from __future__ import annotations

import datetime as dt
import functools
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gateway.core import batch as core_batch
from gateway.core.canonical import digest
from gateway.core.fhir_search import relative_references, tokens_of
from gateway.core.fhir_text import ResourceText, owner_of
from gateway.formats.records import SourceRecord, record
from gateway.service.exchange.outcomes import ACCEPTED, HELD, RecordOutcome
from gateway.storage import fhir_bulk, fhir_store
from gateway.storage.db import Session
from gateway.storage.fhir_store import ResourceLabels
from gateway.storage.tables import FhirResourceRow

FHIR_FAMILY = core_batch.FHIR_FAMILY
SERVED = (ACCEPTED, HELD)
CLIENT_ID_SYSTEM = "https://success-plan-gateway.org/fhir/client-id"
_ID_NAMESPACE = uuid.UUID("6f1d8f7e-4b8e-4e55-9a57-0d2f1c0b5e11")
# The most restrictive first: a row keeps every label its elements carry.
_UNLABELLED = ("unmapped", "not-covered", "restricted")
_KINDS = ("category", "regime", "sensitivity")  # in the order of _UNLABELLED


@dataclass(frozen=True, kw_only=True)
class Landed:
    """One FHIR record of a batch that landed, with what the pipeline learnt of it. A record that
    crossed from the parser process as its text (``text``) is stored from that text: its tree is
    decoded only where the server must change it (a reference to rewrite, a version to compare)."""

    record: core_batch.Record
    outcome: RecordOutcome
    element_labels: tuple[Mapping[str, str], ...]
    mapping_labels: Mapping[str, str]
    client_id: str | None = None  # a create's own id, when the server assigned another
    tokens: tuple[tuple[str, str], ...] | None = None  # its search index as sent, when known
    references: tuple[tuple[str, str], ...] | None = None  # the references it makes, when known

    @property
    def data(self) -> Mapping[str, Any]:
        return self.record.data  # type: ignore[no-any-return]

    @property
    def location(self) -> str:
        return self.record.location

    @functools.cached_property
    def text(self) -> ResourceText | None:
        """The record as sent, in parts (``core.fhir_text``), when it was read where parsed."""
        text = getattr(getattr(self.record, "premapped", None), "text", None)
        return text if isinstance(text, ResourceText) else None

    def resource_type(self) -> str:
        text = self.text
        return text.resource_type if text is not None else str(self.data.get("resourceType"))

    def own_id(self) -> Any:
        """The id the record was sent with (any JSON value; None when it has none)."""
        text = self.text
        return text.id if text is not None else self.data.get("id")


@dataclass(frozen=True, kw_only=True)
class Sender:
    source_org: str
    message_id: str
    resource_id: str | None  # the id a create was assigned, or None


def with_assigned_id(
    records: list[SourceRecord], resource_id: str | None, partner: Mapping[str, Any]
) -> list[SourceRecord]:
    """A create's record is mapped as the resource the server will hold: under the id the server
    assigned, a client's own id kept as an identifier (for a Patient, in the sender's Patient-id
    system, so records that name the patient by either id link to the same student)."""
    if not resource_id or not records or not isinstance(records[0].data, Mapping):
        return records
    first = records[0]
    data = dict(first.data)
    own = data.get("id")
    if isinstance(own, str) and own and own != resource_id:
        kept = {"system": _client_id_system(data, partner), "value": own}
        data["identifier"] = [*[i for i in data.get("identifier") or [] if i != kept], kept]
    data["id"] = resource_id
    return [record(first.entity, first.location, data), *records[1:]]


def client_id_of(document: Mapping[str, Any], source_org: str, partner: Mapping[str, Any]) -> str | None:
    """The sender's own id of a created resource, as ``with_assigned_id`` kept it."""
    system = _client_id_system(document, partner)
    for identifier in document.get("identifier") or []:
        if isinstance(identifier, Mapping) and identifier.get("system") == system:
            return str(identifier.get("value"))
    return None


def _client_id_system(document: Mapping[str, Any], partner: Mapping[str, Any]) -> str:
    patient_ids = (partner.get("identifier_systems") or {}).get("fhir-patient")
    if document.get("resourceType") == "Patient" and patient_ids:
        return str(patient_ids)
    return f"{CLIENT_ID_SYSTEM}/{partner.get('id', '')}"


def serve(session: Session, sender: Sender, landed: Sequence[Landed], now: dt.datetime) -> list[str]:
    """Write each landed record as a served resource, the whole batch at once; return the ids."""
    items = [item for item in landed if item.outcome.status in SERVED]
    if not items:
        return []
    candidates = _candidate_keys(sender, items)
    known = fhir_bulk.stored(session, candidates)
    keys = [_served_key(sender if n == 0 else None, sender, item, known) for n, item in enumerate(items)]
    # Only the ids derived here are new to look up: a candidate not found is not stored.
    known.update(fhir_bulk.stored(session, {k for k in keys if k not in candidates}))
    references = _server_references(session, sender.source_org, items)
    writes: list[fhir_bulk.ResourceWrite] = []
    latest: dict[tuple[str, str], Mapping[str, Any] | Landed]
    latest = {k: v.document for k, v in known.items() if not v.deleted}
    for key, item in zip(keys, items, strict=True):
        text = _as_sent(item, key, references, latest)
        if text is not None:
            # A new resource whose references stay as sent: stored from the text it came in.
            labels = _labels(sender, item, text.owner)
            writes.append(_write(key, text, labels, item.tokens or ()))
            latest[key] = item
            continue
        document = _document(item, key, references)
        labels = _labels(sender, item, owner_of(document))
        unchanged = key in latest and same_content(_latest(latest[key], key, references), document)
        # A relabel keeps the current version and its index: no tokens to compute.
        tokens = () if unchanged else _tokens(item, document, references)
        writes.append(_write(key, document, labels, tokens, relabel_only=unchanged))
        latest[key] = document
    fhir_bulk.write_many(session, writes, known, now)
    return [key[1] for key in keys]


def _as_sent(
    item: Landed, key: tuple[str, str], references: Mapping[str, str], latest: Mapping[tuple[str, str], Any]
) -> ResourceText | None:
    """The record's text, when the server stores it as sent: under its own type and id, no
    reference rewritten, no version before it to compare with, its index read where parsed."""
    text = item.text
    if text is None or references or key in latest or item.tokens is None:
        return None
    return text if key == (text.resource_type, text.id) else None


def _document(item: Landed, key: tuple[str, str], references: Mapping[str, str]) -> dict[str, Any]:
    return {**_resolved(dict(item.data), references), "resourceType": key[0], "id": key[1]}


def _latest(
    found: Mapping[str, Any] | Landed, key: tuple[str, str], references: Mapping[str, str]
) -> Mapping[str, Any]:
    """The document ``key`` holds so far in the batch: stored, or written as sent before."""
    return _document(found, key, references) if isinstance(found, Landed) else found


def _write(
    key: tuple[str, str],
    document: dict[str, Any] | ResourceText,
    labels: ResourceLabels,
    tokens: tuple[tuple[str, str], ...],
    *,
    relabel_only: bool = False,
) -> fhir_bulk.ResourceWrite:
    return fhir_bulk.ResourceWrite(
        resource_type=key[0],
        resource_id=key[1],
        document=document,
        labels=labels,
        tokens=tokens,
        relabel_only=relabel_only,
    )


def _tokens(
    item: Landed, document: Mapping[str, Any], references: Mapping[str, str]
) -> tuple[tuple[str, str], ...]:
    """The index read where the record was parsed is the served document's unless a reference
    was rewritten to a server id (the index holds no id of the resource itself)."""
    if item.tokens is not None and not references:
        return item.tokens
    return tuple(tokens_of(document))


def _candidate_keys(sender: Sender, items: Sequence[Landed]) -> set[tuple[str, str]]:
    keys = {(i.resource_type(), str(own)) for i in items if (own := i.own_id())}
    if sender.resource_id:
        keys.add((items[0].resource_type(), sender.resource_id))
    return keys


def _served_key(
    create: Sender | None, sender: Sender, item: Landed, known: Mapping[tuple[str, str], fhir_bulk.Stored]
) -> tuple[str, str]:
    """A create's id names the first record only; the others keep or derive their own."""
    resource_type = item.resource_type()
    if create is not None and create.resource_id:
        return resource_type, create.resource_id
    own = item.own_id()
    if not isinstance(own, str) or not own:
        return resource_type, str(uuid.uuid5(_ID_NAMESPACE, f"{sender.message_id}|{item.location}"))
    existing = known.get((resource_type, own))
    if existing is None or existing.source_org == sender.source_org:
        return resource_type, own
    return resource_type, str(uuid.uuid5(_ID_NAMESPACE, f"{sender.source_org}|{resource_type}|{own}"))


def write(
    session: Session,
    resource_type: str,
    resource_id: str,
    document: dict[str, Any],
    labels: ResourceLabels,
    now: dt.datetime,
) -> FhirResourceRow:
    """A new version, unless the content is what the current version already holds (then only
    its labels follow: a held record replayed after its link learns its student)."""
    document = {**document, "resourceType": resource_type, "id": resource_id}
    row = fhir_store.current(session, resource_type, resource_id, lock=True)
    if row is not None and row.deleted_at is None and same_content(row.document, document):
        fhir_store.relabel(row, labels)
        return row
    return fhir_store.put(session, resource_type, resource_id, document, labels, tokens_of(document), now)


def same_content(stored: Mapping[str, Any], document: Mapping[str, Any]) -> bool:
    return digest(_without_meta(stored)) == digest(_without_meta(document))


def _without_meta(document: Mapping[str, Any]) -> dict[str, Any]:
    meta = {k: v for k, v in (document.get("meta") or {}).items() if k not in ("versionId", "lastUpdated")}
    return {**{k: v for k, v in document.items() if k != "meta"}, **({"meta": meta} if meta else {})}


def _server_references(session: Session, source_org: str, items: Sequence[Landed]) -> dict[str, str]:
    """``Type/clientId`` -> ``Type/serverId`` for the sender's references to resources the server
    gave another id (a create's client id); a reference to an id the sender's resource has is kept."""
    named = {
        reference
        for item in items
        for reference in (item.references if item.references is not None else relative_references(item.data))
    }
    if not named:
        return {}
    own = {k for k, org in fhir_bulk.source_orgs(session, named).items() if org == source_org}
    replaced = fhir_bulk.server_ids(session, source_org, named - own)
    return {f"{t}/{c}": f"{t}/{server}" for (t, c), server in replaced.items()}


def _resolved(node: Any, replaced: Mapping[str, str]) -> Any:
    """References the server replaced read the server's id, so searches by reference find them."""
    if not replaced:
        return node
    if isinstance(node, list):
        return [_resolved(item, replaced) for item in node]
    if not isinstance(node, dict):
        return node
    out = {k: _resolved(v, replaced) for k, v in node.items()}
    reference = node.get("reference")
    if isinstance(reference, str) and reference in replaced:
        out["reference"] = replaced[reference]
    return out


def _labels(sender: Sender, item: Landed, owner: str | None) -> ResourceLabels:
    kinds = tuple(
        tuple(str(found[name]) if found.get(name) else "" for name in _KINDS)
        for found in (*item.element_labels, item.mapping_labels)
    )
    category, regime, sensitivity = _joined(kinds)
    own = item.own_id()
    return ResourceLabels(
        source_org=sender.source_org,
        owner_org=owner,
        student_id=item.outcome.student_id if item.outcome.status == ACCEPTED else None,
        category=category,
        regime=regime,
        sensitivity=sensitivity,
        message_id=sender.message_id,
        client_id=item.client_id or (str(own) if own else None),
    )


@functools.lru_cache(maxsize=1024)
def _joined(kinds: tuple[tuple[str, ...], ...]) -> tuple[str, str, str]:
    """Each kind's labels joined (a mapping's records carry the same few combinations: kept)."""
    joined = []
    for position, default in enumerate(_UNLABELLED):
        values = sorted({kind[position] for kind in kinds if kind[position]})
        joined.append(",".join(values)[:60] if values else default)
    return joined[0], joined[1], joined[2]
