"""Typed tables. Documents are JSON (JSONB on PostgreSQL, plans JSON text); raw payloads are kept as bytes."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

Document = JSON().with_variant(JSONB(), "postgresql")
# A plan is read and written whole, as its text, by every batch that touches its student, and no
# query looks inside it: stored as JSON text on PostgreSQL too, it reads back as written with no
# conversion (1,000 plans of 7 KB: updated in 47-49 against 90-92 ms as JSONB, read in 13-23
# against 48-56 ms; migration 0019).
PlanDocument = JSON()
# A version's document is SQL NULL while the version is the current one: its document is the
# current row's (``fhir_resources``), written once, and is copied here when a newer version
# supersedes it (migration 0020).
VersionDocument = JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Aware UTC datetimes on every database (SQLite would hand back naive ones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime: the gateway stores aware UTC times only")
        return value.astimezone(dt.UTC) if value is not None else None

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


Timestamp = UTCDateTime()


class Base(DeclarativeBase):
    pass


class Organization(Base):
    __tablename__ = "organizations"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(40))
    document: Mapped[dict[str, Any]] = mapped_column(Document)
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp)


class Credential(Base):
    __tablename__ = "credentials"
    client_id: Mapped[str] = mapped_column(String(80), primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # secret | jwt-key
    # partner | administrator: what the holder may do beyond its own organization's exchanges.
    role: Mapped[str] = mapped_column(String(20), default="partner", server_default="partner")
    secret_hash: Mapped[str | None] = mapped_column(String(300))
    public_key_pem: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)


class UsedAssertion(Base):
    """Replay cache for JWT client assertions (``jti``) until they expire."""

    __tablename__ = "used_assertions"
    jti: Mapped[str] = mapped_column(String(200), primary_key=True)
    expires_at: Mapped[dt.datetime] = mapped_column(Timestamp, index=True)


class AgreementRow(Base):
    __tablename__ = "agreements"
    id: Mapped[str] = mapped_column(String(80), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20))
    document: Mapped[dict[str, Any]] = mapped_column(Document)
    updated_at: Mapped[dt.datetime] = mapped_column(Timestamp)


class AgreementVersionRow(Base):
    """Every version of an agreement ever proposed, and what became of it.

    ``key`` is the gateway's name for an agreement: the id its parties chose, scoped by the
    proposer when that id is already taken by an agreement the proposer is not a party to (so
    no answer reveals a foreign agreement's id). ``agreements`` holds the version in force."""

    __tablename__ = "agreement_versions"
    key: Mapped[str] = mapped_column(String(120), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    agreement_id: Mapped[str] = mapped_column(String(80), index=True)
    state: Mapped[str] = mapped_column(String(20))  # proposed | in-force | superseded | withdrawn
    document: Mapped[dict[str, Any]] = mapped_column(Document)
    digest: Mapped[str] = mapped_column(String(80))
    change: Mapped[str] = mapped_column(String(20))  # new | widening | narrowing | seeded
    widens: Mapped[list[str]] = mapped_column(Document, default=list)
    proposed_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp)
    decided_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)


class AgreementSignatureRow(Base):
    """One party's signature of one exact version (its digest), over HTTP or recorded from paper."""

    __tablename__ = "agreement_signatures"
    key: Mapped[str] = mapped_column(String(120), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    organization_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    signed_by: Mapped[str] = mapped_column(String(200))
    digest: Mapped[str] = mapped_column(String(80))
    method: Mapped[str] = mapped_column(String(20))  # credential | paper
    recorded_by: Mapped[str] = mapped_column(String(120))
    signed_at: Mapped[dt.datetime] = mapped_column(Timestamp)


class ConsentRow(Base):
    """A consent as received (FHIR R4 Consent) plus what the gateway tracks about it."""

    __tablename__ = "consents"
    id: Mapped[str] = mapped_column(String(80), primary_key=True)
    student_id: Mapped[str | None] = mapped_column(String(40), index=True)
    status: Mapped[str] = mapped_column(String(20), default="active")
    scope: Mapped[str] = mapped_column(String(40), default="patient-privacy")
    grantor: Mapped[str | None] = mapped_column(String(64))
    # Who stored it (may revoke it), and the id as the recorder sent it (``id`` may be scoped).
    recorded_by: Mapped[str | None] = mapped_column(String(64))
    local_id: Mapped[str | None] = mapped_column(String(64))
    signed_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)
    document: Mapped[dict[str, Any]] = mapped_column(Document)
    updated_at: Mapped[dt.datetime] = mapped_column(Timestamp)


class Delivery(Base):
    """The transactional outbox: a consented disclosure waiting to be (or already) delivered."""

    __tablename__ = "deliveries"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    student_id: Mapped[str] = mapped_column(String(40), index=True)
    source_org: Mapped[str] = mapped_column(String(64))
    recipient_org: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(40))  # referral | export
    purpose: Mapped[str] = mapped_column(String(60))
    role: Mapped[str] = mapped_column(String(60))
    categories: Mapped[list[str]] = mapped_column(Document)
    payload: Mapped[dict[str, Any]] = mapped_column(Document)
    # The exact bytes every attempt sends, fixed when the referral is queued (``payload`` is
    # their parsed form), so an agency can deduplicate retries by the idempotency key.
    body: Mapped[bytes] = mapped_column(LargeBinary)
    body_digest: Mapped[str] = mapped_column(String(80))
    idempotency_key: Mapped[str] = mapped_column(String(80), index=True, unique=True)
    # queued | sending | sent | failed | cancelled
    status: Mapped[str] = mapped_column(String(20), index=True)
    reason: Mapped[str | None] = mapped_column(Text)
    decision_id: Mapped[str | None] = mapped_column(String(40))
    consent_ids: Mapped[list[str]] = mapped_column(Document, default=list)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    response_status: Mapped[int | None] = mapped_column(Integer)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(Timestamp, index=True)
    # While 'sending': which claim holds the row, and until when (renewed by its heartbeat).
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[dt.datetime | None] = mapped_column(Timestamp)
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp)
    updated_at: Mapped[dt.datetime] = mapped_column(Timestamp)
    # When the body (and payload) copy was purged at the end of its agreement's retention.
    purged_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)


class Message(Base):
    """The message store: every inbound payload, staged before anything can fail."""

    __tablename__ = "messages"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    organization_id: Mapped[str] = mapped_column(String(64), index=True)
    format: Mapped[str] = mapped_column(String(40))
    entity: Mapped[str | None] = mapped_column(String(80))
    content_type: Mapped[str | None] = mapped_column(String(100))
    # A FHIR create (POST /fhir/r4/{type}): the id the server assigned, fixed when the body was
    # stored so a replay creates the same resource.
    resource_id: Mapped[str | None] = mapped_column(String(64))
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    # A bulk file is kept outside the row, as $GATEWAY_HOME/payloads/<this name> (its digest);
    # ``payload`` is then empty. Small payloads (HTTP) stay in the row.
    payload_file: Mapped[str | None] = mapped_column(String(100))
    payload_digest: Mapped[str] = mapped_column(String(80), index=True)
    size: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), index=True)
    reason: Mapped[str | None] = mapped_column(Text)
    outcome: Mapped[dict[str, Any]] = mapped_column(Document, default=dict)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    received_at: Mapped[dt.datetime] = mapped_column(Timestamp, index=True)
    updated_at: Mapped[dt.datetime] = mapped_column(Timestamp)
    # When the payload copy was purged at the end of its agreement's retention (digest kept).
    purged_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)


class Student(Base):
    __tablename__ = "students"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp)


class StudentLink(Base):
    """The deterministic link table: (system, identifier) -> canonical student id."""

    __tablename__ = "student_links"
    system: Mapped[str] = mapped_column(String(300), primary_key=True)
    value: Mapped[str] = mapped_column(String(200), primary_key=True)
    student_id: Mapped[str] = mapped_column(ForeignKey("students.id"), index=True)
    message_id: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp)


class Plan(Base):
    __tablename__ = "plans"
    student_id: Mapped[str] = mapped_column(ForeignKey("students.id"), primary_key=True)
    document: Mapped[dict[str, Any]] = mapped_column(PlanDocument)
    version: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[dt.datetime] = mapped_column(Timestamp)


class AuditEntryRow(Base):
    __tablename__ = "audit_entries"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    recorded_at: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(60), index=True)
    actor: Mapped[str] = mapped_column(String(200))
    subject: Mapped[str] = mapped_column(String(60), index=True)
    details: Mapped[dict[str, Any]] = mapped_column(Document)
    prev_hash: Mapped[str] = mapped_column(String(80))
    hash: Mapped[str] = mapped_column(String(80))


class AuditHead(Base):
    """One row, locked for update by each writer so the chain never forks."""

    __tablename__ = "audit_head"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(80))
    # Roots of the perfect Merkle subtrees over entries 1..seq, largest first (RFC 6962).
    frontier: Mapped[list[str] | None] = mapped_column(Document)


class AuditCheckpoint(Base):
    __tablename__ = "audit_checkpoints"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    hash: Mapped[str] = mapped_column(String(80))
    signed_at: Mapped[str] = mapped_column(String(40))
    key_id: Mapped[str] = mapped_column(String(80))
    signature: Mapped[str] = mapped_column(String(200))
    root: Mapped[str | None] = mapped_column(String(80))  # the Merkle tree root of entries 1..seq
    reason: Mapped[str | None] = mapped_column(String(20))  # entries | minutes | shutdown | manual


class CheckpointWitness(Base):
    """The outbox of signed tree heads on their way to a witness (a partner, a transparency log)."""

    __tablename__ = "checkpoint_witnesses"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    checkpoint_seq: Mapped[int] = mapped_column(Integer)
    witness: Mapped[str] = mapped_column(String(120))
    endpoint: Mapped[str] = mapped_column(Text)
    body: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(20))  # queued | sent | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    response_status: Mapped[int | None] = mapped_column(Integer)
    reason: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(Timestamp)
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp)
    updated_at: Mapped[dt.datetime] = mapped_column(Timestamp)


class SourceRecordRow(Base):
    """Which source records a partner has delivered, and into whose plan: the index that lets a
    delete, a key change or a bulk file's absence retract exactly the elements a record brought."""

    __tablename__ = "source_records"
    key_digest: Mapped[str] = mapped_column(String(80), primary_key=True)
    source_org: Mapped[str] = mapped_column(String(64))
    entity: Mapped[str] = mapped_column(String(80))
    source_id: Mapped[str] = mapped_column(Text)
    student_id: Mapped[str] = mapped_column(String(40), index=True)
    record_digest: Mapped[str] = mapped_column(String(80))
    message_id: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(20))  # active | retracted
    updated_at: Mapped[dt.datetime] = mapped_column(Timestamp)


class SyncState(Base):
    """Per-source, per-feed watermark of a pull (Ed-Fi change version, OneRoster REST run)."""

    __tablename__ = "sync_states"
    source_org: Mapped[str] = mapped_column(String(64), primary_key=True)
    feed: Mapped[str] = mapped_column(String(120), primary_key=True)
    watermark: Mapped[str | None] = mapped_column(String(80))
    details: Mapped[dict[str, Any]] = mapped_column(Document, default=dict)
    updated_at: Mapped[dt.datetime] = mapped_column(Timestamp)


class AttendanceEventRow(Base):
    """One attendance event (an Ed-Fi StudentSchoolAttendanceEvent) as its mapped plan element.

    Events are kept beside the plan rather than in it: a school year has ~180 per student, and a
    plan document rewritten per batch would grow with each. The plan holds the derived summary
    (gateway/core/attendance.py); the events stay readable and retractable here."""

    __tablename__ = "attendance_events"
    element_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    student_id: Mapped[str] = mapped_column(String(40))
    source_org: Mapped[str] = mapped_column(String(64))
    school: Mapped[str] = mapped_column(String(40))
    school_year: Mapped[int] = mapped_column(Integer)
    event_date: Mapped[str] = mapped_column(String(10))
    category: Mapped[str] = mapped_column(String(60))
    entity: Mapped[str] = mapped_column(String(80))
    source_id: Mapped[str] = mapped_column(Text)
    record_digest: Mapped[str] = mapped_column(String(80))
    content_key: Mapped[str] = mapped_column(String(200))  # record digest + mapping@version
    regime: Mapped[str] = mapped_column(String(20))
    sensitivity: Mapped[str] = mapped_column(String(20))
    document: Mapped[dict[str, Any]] = mapped_column(Document)
    message_id: Mapped[str] = mapped_column(String(40))
    updated_at: Mapped[dt.datetime] = mapped_column(Timestamp)


class GuardianLinkRow(Base):
    """A person with authority to consent for a student (a parent or legal guardian), named by an
    identifier, and what links them: an education record (Ed-Fi contact or parent association,
    OneRoster family user, kept with its source record so a delete or absence removes the link)
    or an administrator (``linked_by``). Reference data beside the plan, like attendance rows."""

    __tablename__ = "guardian_links"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    student_id: Mapped[str] = mapped_column(ForeignKey("students.id"), index=True)
    person_system: Mapped[str] = mapped_column(String(300))
    person_value: Mapped[str] = mapped_column(String(200))
    relationship: Mapped[str] = mapped_column(String(200))  # the source's code (descriptor, role, RoleCode)
    authority: Mapped[str] = mapped_column(String(20))  # parent | guardian
    source: Mapped[str] = mapped_column(String(20))  # edfi | oneroster | administrator
    source_org: Mapped[str] = mapped_column(String(64))
    entity: Mapped[str | None] = mapped_column(String(80))
    source_id: Mapped[str | None] = mapped_column(Text)
    linked_by: Mapped[str | None] = mapped_column(String(200))
    message_id: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp)
    updated_at: Mapped[dt.datetime] = mapped_column(Timestamp)


class FhirResourceRow(Base):
    """The current version of a FHIR resource the gateway serves (``/fhir/r4/{type}/{id}``):
    received from a partner, or written by the gateway itself (a referral's Task and
    ServiceRequest). ``source_org`` sent or wrote it; ``owner_org`` is the organization it is
    addressed to (a Task's owner, a ServiceRequest's performer); the labels are what the policy
    decision point decides a read on."""

    __tablename__ = "fhir_resources"
    resource_type: Mapped[str] = mapped_column(String(64), primary_key=True)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    version_id: Mapped[int] = mapped_column(Integer)
    source_org: Mapped[str] = mapped_column(String(64))
    owner_org: Mapped[str | None] = mapped_column(String(64))
    student_id: Mapped[str | None] = mapped_column(String(40), index=True)
    category: Mapped[str] = mapped_column(String(60))
    regime: Mapped[str] = mapped_column(String(20))
    sensitivity: Mapped[str] = mapped_column(String(20))
    delivery_id: Mapped[str | None] = mapped_column(String(40))
    message_id: Mapped[str | None] = mapped_column(String(40))
    # The client's own id (sent in the body), kept when the server assigned another.
    client_id: Mapped[str | None] = mapped_column(String(64))
    document: Mapped[dict[str, Any]] = mapped_column(Document)
    last_updated: Mapped[dt.datetime] = mapped_column(Timestamp)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)


class FhirResourceVersionRow(Base):
    """Every version of a served resource (``_history/{vid}``), the current one included; the
    current one's ``document`` is NULL: it is the current row's (``fhir_store.StoredVersion``)."""

    __tablename__ = "fhir_resource_versions"
    resource_type: Mapped[str] = mapped_column(String(64), primary_key=True)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    version_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    document: Mapped[dict[str, Any] | None] = mapped_column(VersionDocument)
    last_updated: Mapped[dt.datetime] = mapped_column(Timestamp)
    deleted: Mapped[int] = mapped_column(Integer, default=0)


class FhirSearchTokenRow(Base):
    """The search index of the current versions: one row per (parameter, value) a resource has.
    Values are normalised by ``core.fhir_search`` (tokens as ``system|code`` and ``code``,
    references as ``Type/id``, dates as ISO text), so a search is an index lookup per parameter."""

    __tablename__ = "fhir_search_tokens"
    resource_type: Mapped[str] = mapped_column(String(64), primary_key=True)
    param: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(300), primary_key=True)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)


class PartnerKeyRow(Base):
    """A public key a partner signs its client assertions with (``private_key_jwt``), by ``kid``:
    registered as a JWK, or taken from the partner's JWKS URL (``jwks_url`` set, refreshed)."""

    __tablename__ = "partner_keys"
    kid: Mapped[str] = mapped_column(String(200), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(80), primary_key=True)
    organization_id: Mapped[str] = mapped_column(String(64), index=True)
    jwk: Mapped[dict[str, Any]] = mapped_column(Document)
    algorithm: Mapped[str | None] = mapped_column(String(20))
    jwks_url: Mapped[str | None] = mapped_column(Text)
    added_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp)
    removed_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)


class PartnerJwksRow(Base):
    """A partner's JWKS URL and when it was last fetched (the cache and its rate limit)."""

    __tablename__ = "partner_jwks"
    client_id: Mapped[str] = mapped_column(String(80), primary_key=True)
    organization_id: Mapped[str] = mapped_column(String(64))
    url: Mapped[str] = mapped_column(Text)
    fetched_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)
    keys: Mapped[list[dict[str, Any]]] = mapped_column(Document, default=list)
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp)
    removed_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)


class ReferenceRecordRow(Base):
    """A partner's reference record (an Ed-Fi assessment, gradebook entry, section, school, ...):
    not about one student, but what plan facts point at (``mappings/codes/edfi-reference-data.yaml``).
    One row per (source organization, resource, natural key digest); the body is the latest one
    sent, replaced when its digest changes."""

    __tablename__ = "reference_records"
    source_org: Mapped[str] = mapped_column(String(64), primary_key=True)
    entity: Mapped[str] = mapped_column(String(80), primary_key=True)
    key_digest: Mapped[str] = mapped_column(String(80), primary_key=True)
    natural_key: Mapped[str] = mapped_column(Text)  # the key values joined by "|", as a mapping's source id
    body: Mapped[dict[str, Any]] = mapped_column(Document)
    body_digest: Mapped[str] = mapped_column(String(80))
    message_id: Mapped[str] = mapped_column(String(40))
    updated_at: Mapped[dt.datetime] = mapped_column(Timestamp)


Index("ix_audit_entries_recorded_at", AuditEntryRow.recorded_at)
Index("ix_checkpoint_witnesses_due", CheckpointWitness.status, CheckpointWitness.next_attempt_at)
Index("ix_messages_status_received", Message.status, Message.received_at)
Index(
    "ix_source_records_org_entity", SourceRecordRow.source_org, SourceRecordRow.entity, SourceRecordRow.status
)
# A batch's stored attendance read as aggregates from the index alone (migration 0017).
Index(
    "ix_attendance_events_summary",
    AttendanceEventRow.student_id,
    AttendanceEventRow.school,
    AttendanceEventRow.school_year,
    AttendanceEventRow.source_org,
    AttendanceEventRow.category,
    AttendanceEventRow.regime,
    AttendanceEventRow.sensitivity,
    AttendanceEventRow.event_date,
    AttendanceEventRow.record_digest,
)
Index("ix_guardian_links_person", GuardianLinkRow.person_system, GuardianLinkRow.person_value)
Index("ix_guardian_links_source", GuardianLinkRow.source_org, GuardianLinkRow.entity)
Index("ix_fhir_resources_owner", FhirResourceRow.resource_type, FhirResourceRow.owner_org)
Index(
    "ix_fhir_resources_client_id",
    FhirResourceRow.resource_type,
    FhirResourceRow.client_id,
    FhirResourceRow.source_org,
)
Index("ix_fhir_resources_updated", FhirResourceRow.resource_type, FhirResourceRow.last_updated)
Index("ix_fhir_search_tokens_resource", FhirSearchTokenRow.resource_type, FhirSearchTokenRow.id)

from gateway.storage import directory_tables as _directory_tables  # noqa: E402, F401  (issue 16, registers its tables)
from gateway.storage import people_tables as _people_tables  # noqa: E402, F401  (issue 15, registers its tables)
from gateway.storage import transit_tables as _transit_tables  # noqa: E402, F401  (issue 16, registers its tables)
