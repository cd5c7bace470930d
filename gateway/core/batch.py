"""One batch of inbound records, decided in memory: map -> decide -> identify -> merge -> validate.

Pure: given parsed records, the rules (mappings, codes, schemas, the inbound decision) and a
read-only ``Snapshot`` of what the batch touches, it returns each record's outcome and one
``BatchWrites`` value. It reads no database, file or clock; the service loads the snapshot,
applies the writes and appends the audit, in one transaction (``gateway.service.exchange.batch``).

Two calls, because what to load depends on what the records say: ``prepare`` (here) maps and
decides, and names the identifiers and attendance events to look up; ``batch_settle.settle``
takes the snapshot of those and decides the rest.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from gateway.core.attendance import EVENT_MAPPINGS, FACTS, school_of
from gateway.core.batch_attendance import StoredEvent
from gateway.core.fhir_search import relative_references, tokens_of
from gateway.core.fhir_text import ResourceText, resource_text
from gateway.core.frozen import quick_init
from gateway.core.identity import IdentityAuthority
from gateway.core.limits import SCHOOL_ID_MAX
from gateway.core.mapping import MappingContext, MappingResult, PlanElement, apply_mapping
from gateway.core.mapping_model import Mapping as MappingSpec
from gateway.core.outcomes import IGNORED, REJECTED, RecordOutcome
from gateway.core.policy import Decision
from gateway.core.reference_data import ignored_reason
from gateway.errors import Issue, MappingFailed

Identifier = tuple[str, str]
FHIR_FAMILY = "fhir-json"  # the mapping family of every FHIR wire format


class Record(Protocol):
    """A parsed source record (``gateway.formats.records.SourceRecord``)."""

    @property
    def location(self) -> str: ...
    @property
    def entity(self) -> str: ...
    @property
    def data(self) -> Any: ...
    @property
    def digest(self) -> str: ...


@dataclass(frozen=True, kw_only=True)
class Sender:
    """The exchange a batch belongs to, as the decisions need it."""

    source_org: str
    message_id: str
    format: str
    family: str  # the mapping family (``formats.mapping_format``)
    received_at: str
    identifier_systems: Mapping[str, str]
    authority: IdentityAuthority


@dataclass(frozen=True, kw_only=True)
class Premap:
    """A file's records mapped where they are parsed (``formats.stream_worker``'s second process),
    exactly as ``prepare`` would map them here: the same mappings, the same context. ``prepare``
    takes a record's ``premapped`` result when it is of the mapping in force for the record, and
    maps the record itself otherwise. The decision is never taken there: only the mapping."""

    family: str
    mappings: Mapping[str, MappingSpec]  # entity -> the mapping in force for it
    source_org: str
    message_id: str
    received_at: str
    identifier_systems: Mapping[str, str]
    codes: Mapping[str, Mapping[str, Any]]

    def __call__(self, rec: Record) -> Premapped | None:
        """The record's mapping result; None when it has no mapping or fails to map (``prepare``
        then maps it again, and refuses it with the mapping's own error)."""
        mapping = self.mappings.get(rec.entity)
        if mapping is None:
            return None
        try:
            result = apply_mapping(mapping, rec.data, _context_of(self, self.codes, rec.digest))
            # A FHIR record that lands is also served: its search index and the references it
            # makes, as sent, are read here too.
            fhir = self.family == FHIR_FAMILY
            tokens = tuple(tokens_of(rec.data)) if fhir else None
            text = resource_text(rec.data) if fhir else None
            references = _references(rec.data, text) if fhir else None
        except Exception:  # an optimisation only: prepare maps the record again, and a fault
            # there fails that record alone (ingest isolates it), where here it would end the stream
            return None
        return Premapped(
            mapping=_version_of(mapping),
            result=result,
            search_tokens=tokens,
            references=references,
            text=text,
        )


def _references(data: Any, text: ResourceText | None) -> tuple[tuple[str, str], ...]:
    """Read off the text where there is one: the resource is encoded once, not twice."""
    return text.references() if text is not None else relative_references(data)


@dataclass(frozen=True, kw_only=True)
class Premapped:
    mapping: str  # the mapping's id and version
    result: MappingResult
    search_tokens: tuple[tuple[str, str], ...] | None = None  # ``fhir_search.tokens_of`` the record
    references: tuple[tuple[str, str], ...] | None = None  # ``fhir_search.relative_references``
    # A FHIR record's text as the server stores it: the record crosses back to the process that
    # stores it as this, not as its decoded tree (``formats.records.SourceRecord``).
    text: ResourceText | None = None


def _version_of(mapping: MappingSpec) -> str:
    return f"{mapping.id}@{mapping.version}"


def premap_for(
    sender: Sender,
    mapping_for: Callable[[str, str], MappingSpec | None],
    codes: Mapping[str, Mapping[str, Any]],
    entities: Iterable[str],
) -> Premap:
    """The premap of a sender's file whose records may be of ``entities``."""
    found = {entity: mapping_for(sender.family, entity) for entity in entities}
    return Premap(
        family=sender.family,
        mappings={entity: mapping for entity, mapping in found.items() if mapping is not None},
        source_org=sender.source_org,
        message_id=sender.message_id,
        received_at=sender.received_at,
        identifier_systems=dict(sender.identifier_systems),
        codes=codes,
    )


@dataclass(frozen=True, kw_only=True)
class Rules:
    """The loaded artifacts and the inbound decision, as the batch uses them."""

    mapping_for: Callable[[str, str], MappingSpec | None]
    codes: Mapping[str, Mapping[str, Any]]
    element_validators: Mapping[str, Any]
    decide: Callable[[frozenset[str]], Decision]  # the inbound decision for a set of categories
    ignored: dict[str, Any] = field(default_factory=dict)  # "<family>|<entity>" -> why not mapped
    absence_categories: Mapping[str, str] = field(default_factory=dict)


@quick_init
@dataclass(frozen=True, kw_only=True)
class Mapped:
    record: Record
    result: MappingResult
    decision: Decision
    withheld: str = ""  # why some of the record's elements were not kept (the rest landed)
    search_tokens: tuple[tuple[str, str], ...] | None = None  # a FHIR record's index, premapped
    references: tuple[tuple[str, str], ...] | None = None  # and the references it makes


@dataclass(frozen=True, kw_only=True)
class Prepared:
    """The batch mapped and decided; what ``settle`` needs looked up."""

    mapped: Mapping[int, Mapped]
    outcomes: Mapping[int, RecordOutcome]

    def identifiers(self) -> set[Identifier]:
        return {i for m in self.mapped.values() for i in m.result.subject}

    def event_ids(self) -> set[str]:
        return {
            str(e.element["id"]) for m in self.mapped.values() for e in m.result.elements if is_event(m, e)
        }

    def attendance_identifiers(self) -> set[Identifier]:
        """Identifiers of the records that may change an attendance summary."""
        return {i for m in self.mapped.values() if attendance_input(m.result) for i in m.result.subject}


@dataclass(frozen=True, kw_only=True)
class Snapshot:
    """What the batch touches, as stored before it: read-only."""

    links: Mapping[Identifier, str]
    plans: Mapping[str, Mapping[str, Any]]  # student -> stored plan document
    event_keys: Mapping[str, str]  # event element id -> stored content key
    events: Mapping[str, Sequence[StoredEvent]] = field(default_factory=dict)  # for the summaries


@dataclass(frozen=True, kw_only=True)
class BatchWrites:
    students: tuple[str, ...] = ()
    links: tuple[tuple[str, str, str], ...] = ()  # (system, value, student)
    plans: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # student -> new document
    events: tuple[dict[str, Any], ...] = ()  # attendance_events rows
    sources: tuple[tuple[str, str, str, str, str, str], ...] = ()  # the source record index
    derived_students: tuple[str, ...] = ()  # whose attendance summary changed
    derived_changed: int = 0


@dataclass(frozen=True, kw_only=True)
class BatchResult:
    outcomes: tuple[RecordOutcome, ...]  # in record order
    writes: BatchWrites
    mapped: Mapping[int, Mapped]  # for the side writers (guardian links, served FHIR resources)
    by_index: Mapping[int, RecordOutcome]


def prepare(
    records: Sequence[Record],
    sender: Sender,
    rules: Rules,
    decided: Mapping[int, RecordOutcome] | None = None,
) -> Prepared:
    """Map each record not ``decided`` already (reference data) and take the inbound decision."""
    outcomes: dict[int, RecordOutcome] = dict(decided or {})
    mapped: dict[int, Mapped] = {}
    for index, rec in enumerate(records):
        if index not in outcomes:
            found = _map_one(rec, sender, rules)
            if isinstance(found, Mapped):
                mapped[index] = found
            else:
                outcomes[index] = found
    return Prepared(mapped=mapped, outcomes=outcomes)


def _map_one(rec: Record, sender: Sender, rules: Rules) -> Mapped | RecordOutcome:
    mapping = rules.mapping_for(sender.family, rec.entity)
    if mapping is None:
        ignored = ignored_reason(rules.ignored, sender.family, rec.entity)
        if ignored is not None:
            return RecordOutcome(location=rec.location, status=IGNORED, reason=str(ignored))
        why = f"no mapping for {sender.format} entity '{rec.entity}'; add one under mappings/ and replay"
        return rejected(rec, why)
    premapped = _premapped(rec, mapping)
    if premapped is not None:
        result = premapped.result
    else:
        try:
            result = apply_mapping(mapping, rec.data, _context(sender, rules, rec))
        except MappingFailed as exc:
            return rejected(rec, exc.message, exc.issues)
    school_issue = _school_issue(result, rec)
    if school_issue is not None:
        return rejected(rec, "the attendance event cannot be stored", (school_issue,))
    decision = rules.decide(result.categories | {mapping.labels.category})
    withheld = ""
    if not decision.permitted:
        result, decision, withheld = _narrowed(result, mapping.labels.category, decision, rules.decide)
    if not decision.permitted:
        refused = rejected(rec, "denied by policy: " + "; ".join(decision.reasons))
        return replace(refused, decision_id=decision.decision_id)
    if premapped is None:
        return Mapped(record=rec, result=result, decision=decision, withheld=withheld)
    return Mapped(
        record=rec,
        result=result,
        decision=decision,
        withheld=withheld,
        search_tokens=premapped.search_tokens,
        references=premapped.references,
    )


def _premapped(rec: Record, mapping: MappingSpec) -> Premapped | None:
    """The record's result from where it was parsed, if it is of the mapping in force."""
    found = getattr(rec, "premapped", None)
    if isinstance(found, Premapped) and found.mapping == _version_of(mapping):
        return found
    return None


def _narrowed(
    result: MappingResult,
    own_category: str,
    denied: Decision,
    decide: Callable[[frozenset[str]], Decision],
) -> tuple[MappingResult, Decision, str]:
    """A record whose own category the agreement covers lands without the elements of the
    categories it does not (a new part of a mapping, such as an address's location, must not cost
    a sender its whole record); a record whose own category is not covered stays refused."""
    categories = result.categories | {own_category}
    kept = frozenset(c for c in categories if decide(frozenset({c})).permitted)
    if own_category not in kept:
        return result, denied, ""
    decision = decide(kept)
    if not decision.permitted:
        return result, denied, ""
    elements = tuple(e for e in result.elements if e.element["labels"]["category"] in kept)
    dropped = ", ".join(sorted(categories - kept))
    why = f"elements of category {dropped} not kept: the agreement does not cover them from this sender"
    return replace(result, elements=elements), decision, why


def _school_issue(result: MappingResult, rec: Record) -> Issue | None:
    """An attendance event is stored under its school (``core.limits.SCHOOL_ID_MAX``): refused, never cut."""
    school = school_of(result.mapping_id, rec.data) if result.mapping_id in EVENT_MAPPINGS else None
    if school is None or len(school) <= SCHOOL_ID_MAX:
        return None
    path = "$." + ".".join(EVENT_MAPPINGS[result.mapping_id])
    return Issue(path=path, message=f"a school id is at most {SCHOOL_ID_MAX} characters")


def _context(sender: Sender, rules: Rules, rec: Record) -> MappingContext:
    return _context_of(sender, rules.codes, rec.digest)


def _context_of(
    who: Sender | Premap, codes: Mapping[str, Mapping[str, Any]], record_digest: str
) -> MappingContext:
    """The one mapping context of the ingest path, here or where the file is parsed."""
    return MappingContext(
        source_org=who.source_org,
        message_id=who.message_id,
        received_at=who.received_at,
        record_digest=record_digest,
        identifier_systems=who.identifier_systems,
        codes=codes,
        trace=False,
    )


def is_event(item: Mapped, element: PlanElement) -> bool:
    return item.result.mapping_id in EVENT_MAPPINGS and element.slot == FACTS


def attendance_input(result: MappingResult) -> bool:
    return result.mapping_id in EVENT_MAPPINGS or any(
        e.slot == "student.enrollments" for e in result.elements
    )


def rejected(rec: Record, reason: str, issues: tuple[Issue, ...] = ()) -> RecordOutcome:
    return RecordOutcome(location=rec.location, status=REJECTED, reason=reason, issues=issues)
