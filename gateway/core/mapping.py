"""The declarative mapping engine: one source record in, plan elements and a trace out.

A mapping (YAML in ``mappings/``, already parsed and meta-schema-checked) is built once into
frozen values by ``build_mapping``; ``apply_mapping`` then runs it over a record. Every run
returns a trace: which rule filled which element from which source locations, and which
source fields no rule read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeVar

from gateway.core.ids import derive_id, element_id_for
from gateway.core.labels import Labels
from gateway.core.mapping_compiled import compiled
from gateway.core.mapping_model import (
    Condition,
    FieldSpec,
    Mapping,
    Rule,
    SubjectSpec,
)
from gateway.core.mapping_values import (
    MappingContext,
    MappingResult,
    PlanElement,
    RuleTrace,
    identifier_problem,
    number_of,
    undeclared_system_message,
    unmapped_code_message,
)
from gateway.core.paths import Match, Path, evaluate, leaf_locations
from gateway.core.transforms import TransformError, apply_transform
from gateway.errors import Issue, MappingFailed

T = TypeVar("T")

__all__ = [
    "MappingContext",
    "MappingResult",
    "PlanElement",
    "RuleTrace",
    "apply_mapping",
    "interpret_mapping",
]


@dataclass
class _Run:
    """Mutable scratch state of one run; never escapes ``apply_mapping``."""

    mapping: Mapping
    record: Any
    context: MappingContext
    issues: list[Issue] = field(default_factory=list)
    read: set[str] = field(default_factory=set)

    def select(self, path: Path, item: Match | None, *, reads: bool = True) -> tuple[Match, ...]:
        """Matches of ``path``; ``reads=False`` for iteration, which reads no field by itself."""
        if path.relative:
            if item is None:
                return ()
            matches = evaluate(path, item.value, item.location)
        else:
            matches = evaluate(path, self.record)
        if reads and self.context.trace:
            self.read.update(m.location for m in matches)
        return matches


def apply_mapping(mapping: Mapping, record: Any, context: MappingContext) -> MappingResult:
    """Map one record. Without a trace (the ingest path) the mapping's compiled form runs
    (``core.mapping_compiled``, same results, several times faster); the unused-fields report
    needs every location read, which only the interpreter records."""
    if context.trace:
        return interpret_mapping(mapping, record, context)
    return compiled(mapping)(record, context)


def interpret_mapping(mapping: Mapping, record: Any, context: MappingContext) -> MappingResult:
    """The reference semantics: the spec read afresh for every record, every read recorded."""
    run = _Run(mapping=mapping, record=record, context=context)
    source_id = _source_id(run)
    subject = _subject(run)
    elements: list[PlanElement] = []
    traces = [_apply_rule(run, rule, source_id, elements) for rule in mapping.rules]
    if mapping.subject_links:
        elements.extend(_identifier_elements(run, source_id, subject))
    if run.issues:
        # Two rules reading one bad field report it once.
        raise MappingFailed(
            f"mapping {mapping.id} could not map the {mapping.entity} record",
            tuple(dict.fromkeys(run.issues)),
        )
    return MappingResult(
        mapping_id=mapping.id,
        source_id=source_id,
        subject=subject,
        may_create_subject=mapping.subject_creates,
        elements=tuple(elements),
        rules=tuple(traces),
        unused=_unused(record, run.read) if context.trace else (),
    )


def _source_id(run: _Run) -> str:
    parts: list[str] = []
    for path in run.mapping.key:
        matches = run.select(path, None)
        if not matches:
            run.issues.append(Issue(path=path.text, message="record key field is missing"))
            continue
        parts.append(str(matches[0].value))
    return "|".join(parts)


def _subject(run: _Run) -> tuple[tuple[str, str], ...]:
    found: list[tuple[str, str]] = []
    known_issues = len(run.issues)
    for spec in run.mapping.subject:
        found.extend(_subject_identifiers(run, spec))
    if not found and len(run.issues) == known_issues:
        paths = ", ".join(spec.value.text for spec in run.mapping.subject)
        run.issues.append(Issue(path=paths or "$", message="no student identifier found in the record"))
    return tuple(dict.fromkeys(found))


def _subject_identifiers(run: _Run, spec: SubjectSpec) -> list[tuple[str, str]]:
    items: tuple[Match | None, ...] = (None,)
    if spec.for_each is not None:
        items = run.select(spec.for_each, None, reads=False)
    found = []
    for item in items:
        system = _subject_system(run, spec, item)
        for match in run.select(spec.value, item):
            value = _transformed(run, spec.transform, match)
            if system and value is not None:
                problem = identifier_problem(system, str(value))
                if problem:
                    run.issues.append(Issue(path=match.location, message=problem))
                    continue
                found.append((system, str(value)))
    return found


def _subject_system(run: _Run, spec: SubjectSpec, item: Match | None) -> str | None:
    if spec.system_from is not None:
        matches = run.select(spec.system_from, item)
        return str(matches[0].value) if matches else None
    if spec.system_of is not None:
        system = run.context.identifier_systems.get(spec.system_of)
        if system is None:
            run.issues.append(
                Issue(
                    path=f"subject.system_of={spec.system_of}",
                    message=undeclared_system_message(run.context.source_org, spec.system_of),
                )
            )
        return system
    return spec.system


def _transformed(run: _Run, transform: str | None, match: Match) -> Any:
    if transform is None:
        return match.value
    try:
        return apply_transform(transform, match.value)
    except TransformError as exc:
        run.issues.append(Issue(path=match.location, message=f"{transform}: {exc}"))
        return None


def _apply_rule(run: _Run, rule: Rule, source_id: str, out: list[PlanElement]) -> RuleTrace:
    items: tuple[Match | None, ...] = (None,)
    if rule.for_each is not None:
        items = run.select(rule.for_each, None, reads=False)
    filled: list[tuple[str, str]] = []
    fired = 0
    for index, item in enumerate(items):
        if not all(_holds(run, cond, item) for cond in rule.when):
            continue
        body = _fields(run, rule.fields, item, rule.id, filled)
        if not isinstance(body, dict):
            continue
        element = _element(run, rule, source_id, index, body)
        labels = _first_holding(run, rule.labels_when, item)
        if labels is not None:
            element["labels"] = labels.to_dict()
        target = _first_holding(run, rule.targets_when, item) or rule.target
        keyed = _keyed_id(run, rule, target, item, filled)
        if keyed is _SKIP:
            continue
        if keyed is not None:
            element["id"] = keyed
        out.append(PlanElement(slot=target, element=element, update_fields=rule.update_fields))
        fired += 1
    return RuleTrace(rule_id=rule.id, fired=fired, filled=tuple(filled))


def _holds(run: _Run, cond: Condition, item: Match | None) -> bool:
    return _holds_one(run, cond, item) or any(_holds(run, alt, item) for alt in cond.alternatives)


def _holds_one(run: _Run, cond: Condition, item: Match | None) -> bool:
    matches = run.select(cond.path, item)
    values = [m.value for m in matches]
    if cond.kind == "exists":
        return bool(values) == cond.expected
    if cond.kind == "crosswalk":
        table = run.context.codes.get(cond.table, {})
        return any(str(_quiet_transform(cond.transform, v)) in table for v in values) == cond.expected
    if cond.kind == "compare":
        return any(_compares(cond, v) for v in values)
    if cond.lookup is not None:
        values = [_condition_code(run, cond.lookup, m) for m in matches]
    found = any(str(v) in cond.values for v in values if v is not None)
    return not found if cond.kind == "not_in" else found


def _compares(cond: Condition, value: Any) -> bool:
    """A number (or numeric text) against the condition's threshold; anything else does not match."""
    number = number_of(value)
    if number is None:
        return False
    return {
        "gte": number >= cond.number,
        "gt": number > cond.number,
        "lte": number <= cond.number,
        "lt": number < cond.number,
    }[cond.op]


def _condition_code(run: _Run, table_name: str, match: Match) -> Any:
    """A condition's value through its crosswalk; an unknown code is reported, never guessed."""
    table = run.context.codes.get(table_name, {})
    if str(match.value) in table:
        return table[str(match.value)]
    run.issues.append(
        Issue(
            path=match.location,
            message=unmapped_code_message(table_name),
        )
    )
    return None


def _quiet_transform(transform: str | None, value: Any) -> Any:
    """A condition only tests: a value the transform refuses simply does not match."""
    if transform is None:
        return value
    try:
        return apply_transform(transform, value)
    except TransformError:
        return None


class _Skip:
    """A field with ``if_missing: skip`` was missing: the element is left out, silently."""


_SKIP = _Skip()


def _first_holding(
    run: _Run, entries: tuple[tuple[tuple[Condition, ...], T], ...], item: Match | None
) -> T | None:
    return next((value for conds, value in entries if all(_holds(run, c, item) for c in conds)), None)


def _keyed_id(
    run: _Run, rule: Rule, target: str, item: Match | None, filled: list[tuple[str, str]]
) -> str | _Skip | None:
    """The id an ``element_key`` names (sender + key values), shared by every record naming it."""
    if not rule.element_key:
        return None
    keyed = _key_id(run, target, rule.element_key, item, f"{rule.id}.element_key", filled)
    if keyed is None:
        _missing(run, rule.element_key[0], item, f"{rule.id}.element_key")
        return _SKIP
    return keyed


def _key_id(
    run: _Run,
    target: str,
    key: tuple[FieldSpec, ...],
    item: Match | None,
    where: str,
    filled: list[tuple[str, str]],
) -> str | _Skip | None:
    """The id of the element a key names in ``target``; None when a key value is missing."""
    parts: list[str] = []
    for spec in key:
        value = _field_value(run, spec, item, f"{where}[{spec.name}]", filled)
        if isinstance(value, _Skip):
            return value
        if value is None:
            return None
        parts.append(str(value))
    return derive_id("el", "key", run.context.source_org, target, *parts)


def _fields(
    run: _Run,
    specs: tuple[FieldSpec, ...],
    item: Match | None,
    prefix: str,
    filled: list[tuple[str, str]],
) -> dict[str, Any] | _Skip | None:
    """The element body; ``_SKIP`` to leave the element out; None when a required field is missing."""
    body: dict[str, Any] = {}
    for spec in specs:
        value = _field_value(run, spec, item, f"{prefix}.{spec.name}", filled)
        if value is _SKIP or (value is None and spec.skip_if_missing):
            return _SKIP
        if value is None:
            if spec.required:
                _missing(run, spec, item, prefix)
                return None
            continue
        body[spec.name] = value
    return body


def _missing(run: _Run, spec: FieldSpec, item: Match | None, prefix: str) -> None:
    where = f"{prefix}.{spec.name}"
    if spec.source is not None:
        relative = spec.source.relative and item is not None
        where = f"{item.location}{spec.source.text[1:]}" if relative and item else spec.source.text
    run.issues.append(Issue(path=where, message=f"required for {prefix}.{spec.name} but missing"))


def _field_value(
    run: _Run,
    spec: FieldSpec,
    item: Match | None,
    where: str,
    filled: list[tuple[str, str]],
) -> Any:
    if spec.id_of:
        keyed = _key_id(run, spec.id_of, spec.children, item, where, filled)
        return None if keyed is None or keyed is _SKIP else [keyed]
    if spec.children:
        nested = _fields(run, spec.children, item, where, filled)
        return nested if nested is _SKIP else (nested or None)
    if spec.first_of:
        for alternative in spec.first_of:
            value = _field_value(run, alternative, item, where, filled)
            if value is not None and value is not _SKIP:
                return value
        return None
    if spec.join:
        return _joined_value(run, spec, item, where, filled)
    if spec.source is None:
        return spec.const
    matches = run.select(spec.source, item)
    for fallback in spec.fallbacks:
        matches = matches or run.select(fallback, item)
    if not matches:
        return None
    values = [_lookup(run, spec, _transformed(run, spec.transform, m), m) for m in matches]
    filled.extend((where, m.location) for m in matches)
    if any(v is _SKIP for v in values):
        return _SKIP
    values = [v for v in values if v is not None]
    if not values:
        return None
    return values if spec.many else values[0]


def _joined_value(
    run: _Run, spec: FieldSpec, item: Match | None, where: str, filled: list[tuple[str, str]]
) -> Any:
    """The first value of each ``join`` path, joined with "|"; None when one of them is missing."""
    firsts = [run.select(path, item)[:1] for path in spec.join]
    if not all(firsts):
        return None
    filled.extend((where, m[0].location) for m in firsts)
    key = "|".join(str(_transformed(run, spec.transform, m[0])) for m in firsts)
    return _lookup(run, spec, key, firsts[-1][0])


def _lookup(run: _Run, spec: FieldSpec, value: Any, match: Match) -> Any:
    for name in spec.lookups or ((spec.lookup,) if spec.lookup else ()):
        if value is None:
            return None
        table = run.context.codes.get(name, {})
        if str(value) not in table:
            if spec.skip_if_unmapped:
                return _SKIP
            run.issues.append(
                Issue(
                    path=match.location,
                    message=unmapped_code_message(name),
                )
            )
            return None
        value = table[str(value)]
    return value


def _element(run: _Run, rule: Rule, source_id: str, index: int, body: dict[str, Any]) -> dict[str, Any]:
    mapping, ctx = run.mapping, run.context
    labels: Labels = rule.labels or mapping.labels
    record_key = f"{ctx.source_org}|{mapping.entity}|{source_id}"
    return {
        "id": element_id_for(mapping.id, rule.id, record_key, index),
        **body,
        "provenance": {
            "sourceOrganization": ctx.source_org,
            "sourceSystem": mapping.source_system,
            "sourceFormat": mapping.format,
            "sourceRecord": {
                "type": mapping.entity,
                "id": source_id,
                "digest": ctx.record_digest,
            },
            "mapping": f"{mapping.id}@{mapping.version}#{rule.id}",
            "messageId": ctx.message_id,
            "receivedAt": ctx.received_at,
        },
        "labels": labels.to_dict(),
    }


def _identifier_elements(
    run: _Run, source_id: str, subject: tuple[tuple[str, str], ...]
) -> list[PlanElement]:
    # One element per (sender, system, value): each source vouches for the identifiers it sent.
    found = []
    for system, value in subject:
        element = _element(run, _IDENTIFIER_RULE, source_id, 0, {"system": system, "value": value})
        element["id"] = derive_id("el", "identifier", run.context.source_org, system, value)
        found.append(PlanElement(slot="student.identifiers", element=element))
    return found


_IDENTIFIER_RULE = Rule(
    id="identifier",
    target="student.identifiers",
    for_each=None,
    when=(),
    fields=(),
    labels=None,
)


def _unused(record: Any, read: set[str]) -> tuple[str, ...]:
    return tuple(loc for loc in leaf_locations(record) if not _covered(loc, read))


def _covered(location: str, read: set[str]) -> bool:
    """True when ``location`` or one of its ancestors was read by a rule."""
    if location in read:
        return True
    return any(location[i] in ".[" and location[:i] in read for i in range(len(location) - 1, 0, -1))
