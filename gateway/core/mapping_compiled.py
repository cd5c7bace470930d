"""A mapping compiled once into closures: the ingest path's form of ``apply_mapping``.

The interpreter (``core.mapping``) reads the spec afresh for every record: it dispatches on
each path segment and field kind, looks transforms up by name, formats the same trace names
and hashes the same id prefixes. Here all of that is done once per ``Mapping``; a record
then runs straight-line steps: paths are pre-split walkers (a condition reads values only, a
field its locations too), transforms are functions, trace names, provenance, labels and the
constant part of every element id are ready. Results are the interpreter's, exactly
(tests/test_mapping_compiled.py compares them on every shipped mapping); the unused-fields
report (``trace=True``) stays with the interpreter, the one that records every read. Paths
are compiled in ``mapping_compiled_paths``, conditions and fields in ``mapping_compiled_fields``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gateway.core.ids import derive_id, id_deriver
from gateway.core.mapping_compiled_fields import (
    SKIP,
    Filled,
    Run,
    conditions,
    fields,
    key_parts,
    missing_field,
    transformer,
)
from gateway.core.mapping_compiled_paths import Item, finders
from gateway.core.mapping_model import Mapping, Rule, SubjectSpec
from gateway.core.mapping_values import (
    MappingContext,
    MappingResult,
    PlanElement,
    RuleTrace,
    identifier_problem,
    undeclared_system_message,
)
from gateway.errors import Issue, MappingFailed

__all__ = ["compiled"]
Compiled = Callable[[Any, MappingContext], MappingResult]

_CACHE: dict[int, tuple[Mapping, Compiled]] = {}
_CACHE_MAX = 512  # mappings in force are a few dozen; tests build many small ones


def compiled(mapping: Mapping) -> Compiled:
    """The mapping's compiled form, built on first use and kept while the mapping lives here.

    Keyed by identity (a ``Mapping`` is frozen; hashing its whole tree per record would cost
    what compiling saves); the entry holds the mapping, so its id cannot be reused meanwhile."""
    entry = _CACHE.get(id(mapping))
    if entry is not None and entry[0] is mapping:
        return entry[1]
    if len(_CACHE) >= _CACHE_MAX:
        _CACHE.clear()
    function = _compile(mapping)
    _CACHE[id(mapping)] = (mapping, function)
    return function


# --- rules and the mapping ------------------------------------------------------------------


def _compile(mapping: Mapping) -> Compiled:
    key_readers = tuple((finders(path)[1], path.text) for path in mapping.key)
    subject = _subject(mapping.subject)
    rules = tuple(_rule(mapping, rule) for rule in mapping.rules)
    identifiers = _identifiers(mapping) if mapping.subject_links else None
    failed = f"mapping {mapping.id} could not map the {mapping.entity} record"
    mapping_id, creates = mapping.id, mapping.subject_creates

    def run_mapping(record: Any, context: MappingContext) -> MappingResult:
        run = Run(record, context)
        parts: list[str] = []
        for read, text in key_readers:
            values = read(run, None)
            if values:
                parts.append(str(values[0]))
            else:
                run.issues.append(Issue(path=text, message="record key field is missing"))
        source_id = "|".join(parts)
        subject_ids = subject(run)
        elements: list[PlanElement] = []
        traces = [apply_rule(run, source_id, elements) for apply_rule in rules]
        if identifiers is not None:
            elements.extend(identifiers(run, source_id, subject_ids))
        if run.issues:
            # Two rules reading one bad field report it once.
            raise MappingFailed(failed, tuple(dict.fromkeys(run.issues)))
        return MappingResult(
            mapping_id=mapping_id,
            source_id=source_id,
            subject=subject_ids,
            may_create_subject=creates,
            elements=tuple(elements),
            rules=tuple(traces),
            unused=(),
        )

    return run_mapping


def _subject(specs: tuple[SubjectSpec, ...]) -> Callable[[Run], tuple[tuple[str, str], ...]]:
    readers = tuple(_subject_reader(spec) for spec in specs)
    paths = ", ".join(spec.value.text for spec in specs) or "$"

    def subject(run: Run) -> tuple[tuple[str, str], ...]:
        found: list[tuple[str, str]] = []
        known_issues = len(run.issues)
        for read in readers:
            read(run, found)
        if not found and len(run.issues) == known_issues:
            run.issues.append(Issue(path=paths, message="no student identifier found in the record"))
        return tuple(dict.fromkeys(found))

    return subject


def _subject_reader(spec: SubjectSpec) -> Callable[[Run, list[tuple[str, str]]], None]:
    items_of = finders(spec.for_each)[0] if spec.for_each is not None else None
    value_of = finders(spec.value)[0]
    system_of = _subject_system(spec)
    transformed = transformer(spec.transform)

    def read(run: Run, found: list[tuple[str, str]]) -> None:
        items: list[Item] = [None] if items_of is None else list(items_of(run, None))
        for item in items:
            system = system_of(run, item)
            for match in value_of(run, item):
                value = match[1] if transformed is None else transformed(run, match)
                if system and value is not None:
                    problem = identifier_problem(system, str(value))
                    if problem:
                        run.issues.append(Issue(path=match[0], message=problem))
                        continue
                    found.append((system, str(value)))

    return read


def _subject_system(spec: SubjectSpec) -> Callable[[Run, Item], str | None]:
    if spec.system_from is not None:
        values = finders(spec.system_from)[1]

        def system_from(run: Run, item: Item) -> str | None:
            found = values(run, item)
            return str(found[0]) if found else None

        return system_from
    if spec.system_of is not None:
        name, where = spec.system_of, f"subject.system_of={spec.system_of}"

        def system_of(run: Run, item: Item) -> str | None:
            system = run.context.identifier_systems.get(name)
            if system is None:
                message = undeclared_system_message(run.source_org, name)
                run.issues.append(Issue(path=where, message=message))
            return system

        return system_of
    fixed = spec.system
    return lambda run, item: fixed


def _provenance(mapping: Mapping, rule_id: str) -> Callable[[Run, str], dict[str, Any]]:
    """The provenance of an element: the record's and the message's part; the rest is fixed."""
    reference, source_system, source_format = (
        f"{mapping.id}@{mapping.version}#{rule_id}",
        mapping.source_system,
        mapping.format,
    )
    entity = mapping.entity

    def provenance(run: Run, source_id: str) -> dict[str, Any]:
        ctx = run.context
        return {
            "sourceOrganization": ctx.source_org,
            "sourceSystem": source_system,
            "sourceFormat": source_format,
            "sourceRecord": {"type": entity, "id": source_id, "digest": ctx.record_digest},
            "mapping": reference,
            "messageId": ctx.message_id,
            "receivedAt": ctx.received_at,
        }

    return provenance


RuleFn = Callable[[Run, str, list[PlanElement]], RuleTrace]


def _rule(mapping: Mapping, rule: Rule) -> RuleFn:
    items_of = finders(rule.for_each)[0] if rule.for_each is not None else None
    when = conditions(rule.when) if rule.when else None
    body_of = fields(rule.fields, rule.id)
    provenance = _provenance(mapping, rule.id)
    labels = (rule.labels or mapping.labels).to_dict()
    labels_when = tuple((conditions(conds), found.to_dict()) for conds, found in rule.labels_when)
    targets_when = tuple((conditions(conds), target) for conds, target in rule.targets_when)
    keyed = _keyed(rule)
    element_id = id_deriver("el", mapping.id, rule.id)
    entity, rule_id, default_target, update_fields = mapping.entity, rule.id, rule.target, rule.update_fields
    unfired = RuleTrace(rule_id=rule_id, fired=0, filled=())  # frozen: one serves every record

    def apply_rule(run: Run, source_id: str, out: list[PlanElement]) -> RuleTrace:
        items: list[Item] = [None] if items_of is None else list(items_of(run, None))
        filled: Filled = []
        fired = 0
        for index, item in enumerate(items):
            if when is not None and not when(run, item):
                continue
            body = body_of(run, item, filled)
            if body is None or body is SKIP:
                continue
            element = {"id": None, **body, "provenance": provenance(run, source_id), "labels": labels.copy()}
            if labels_when:
                chosen = next((dict(found) for check, found in labels_when if check(run, item)), None)
                if chosen is not None:
                    element["labels"] = chosen
            target = default_target
            if targets_when:
                target = next((t for check, t in targets_when if check(run, item)), None) or default_target
            if keyed is None:
                element["id"] = element_id(f"{run.source_org}|{entity}|{source_id}", str(index))
            else:
                key_id = keyed(run, target, item, filled)
                if key_id is None:
                    continue
                element["id"] = key_id
            out.append(PlanElement(slot=target, element=element, update_fields=update_fields))
            fired += 1
        if not fired and not filled:
            return unfired
        return RuleTrace(rule_id=rule_id, fired=fired, filled=tuple(filled))

    return apply_rule


def _keyed(rule: Rule) -> Callable[[Run, str, Item, Filled], str | None] | None:
    """The id an ``element_key`` names (sender + key values); None: the element is left out."""
    if not rule.element_key:
        return None
    where = f"{rule.id}.element_key"
    parts_of = key_parts(rule.element_key, where)
    missing = missing_field(rule.element_key[0], where)

    def keyed(run: Run, target: str, item: Item, filled: Filled) -> str | None:
        parts = parts_of(run, item, filled)
        if parts is SKIP:
            return None
        if parts is None:
            missing(run, item)
            return None
        return derive_id("el", "key", run.source_org, target, *parts)

    return keyed


def _identifiers(mapping: Mapping) -> Callable[[Run, str, tuple[tuple[str, str], ...]], list[PlanElement]]:
    # One element per (sender, system, value): each source vouches for the identifiers it sent.
    provenance = _provenance(mapping, "identifier")
    labels = mapping.labels.to_dict()

    def identifiers(run: Run, source_id: str, subject: tuple[tuple[str, str], ...]) -> list[PlanElement]:
        return [
            PlanElement(
                slot="student.identifiers",
                element={
                    "id": derive_id("el", "identifier", run.source_org, system, value),
                    "system": system,
                    "value": value,
                    "provenance": provenance(run, source_id),
                    "labels": labels.copy(),
                },
            )
            for system, value in subject
        ]

    return identifiers
