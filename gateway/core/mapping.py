"""The declarative mapping engine: one source record in, plan elements and a trace out.

A mapping (YAML in ``mappings/``, already parsed and meta-schema-checked) is built once into
frozen values by ``build_mapping``; ``apply_mapping`` then runs it over a record. Every run
returns a trace: which rule filled which element from which source locations, and which
source fields no rule read.
"""

from __future__ import annotations

from collections.abc import Mapping as MappingABC
from dataclasses import dataclass, field
from typing import Any

from gateway.core.ids import derive_id, element_id_for
from gateway.core.labels import Labels
from gateway.core.mapping_model import (
    Condition,
    FieldSpec,
    Mapping,
    Rule,
    SubjectSpec,
)
from gateway.core.paths import Match, Path, evaluate, leaf_locations
from gateway.core.transforms import TransformError, apply_transform
from gateway.errors import Issue, MappingFailed

__all__ = [
    "MappingContext",
    "MappingResult",
    "PlanElement",
    "RuleTrace",
    "apply_mapping",
]


@dataclass(frozen=True, kw_only=True)
class MappingContext:
    source_org: str
    message_id: str
    received_at: str
    record_digest: str
    identifier_systems: MappingABC[str, str] = field(default_factory=dict)
    codes: MappingABC[str, MappingABC[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class PlanElement:
    slot: str
    element: MappingABC[str, Any]


@dataclass(frozen=True, kw_only=True)
class RuleTrace:
    rule_id: str
    fired: int
    filled: tuple[tuple[str, str], ...]  # (element path, source location)


@dataclass(frozen=True, kw_only=True)
class MappingResult:
    mapping_id: str
    source_id: str
    subject: tuple[tuple[str, str], ...]  # (system, value)
    may_create_subject: bool
    elements: tuple[PlanElement, ...]
    rules: tuple[RuleTrace, ...]
    unused: tuple[str, ...]

    @property
    def categories(self) -> frozenset[str]:
        return frozenset(e.element["labels"]["category"] for e in self.elements)


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
        if reads:
            self.read.update(m.location for m in matches)
        return matches


def apply_mapping(mapping: Mapping, record: Any, context: MappingContext) -> MappingResult:
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
        unused=_unused(record, run.read),
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
    for spec in run.mapping.subject:
        found.extend(_subject_identifiers(run, spec))
    if not found:
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
                    message=f"partner {run.context.source_org} declares no identifier system "
                    f"'{spec.system_of}'; add it to the partner's identifier_systems",
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
        out.append(PlanElement(slot=rule.target, element=_element(run, rule, source_id, index, body)))
        fired += 1
    return RuleTrace(rule_id=rule.id, fired=fired, filled=tuple(filled))


def _holds(run: _Run, cond: Condition, item: Match | None) -> bool:
    values = [m.value for m in run.select(cond.path, item)]
    if cond.kind == "exists":
        return bool(values) == cond.expected
    return any(str(v) in cond.values for v in values)


class _Skip:
    """A field with ``if_missing: skip`` was missing: the element is left out, silently."""


_SKIP = _Skip()


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
    if spec.children:
        nested = _fields(run, spec.children, item, where, filled)
        return nested if nested is _SKIP else (nested or None)
    if spec.source is None:
        return spec.const
    matches = run.select(spec.source, item)
    if not matches:
        return None
    values = [_lookup(run, spec, _transformed(run, spec.transform, m), m) for m in matches]
    filled.extend((where, m.location) for m in matches)
    values = [v for v in values if v is not None]
    if not values:
        return None
    return values if spec.many else values[0]


def _lookup(run: _Run, spec: FieldSpec, value: Any, match: Match) -> Any:
    if spec.lookup is None or value is None:
        return value
    table = run.context.codes.get(spec.lookup, {})
    if str(value) not in table:
        run.issues.append(
            Issue(
                path=match.location,
                message=f"code is not in crosswalk '{spec.lookup}'; add it to "
                f"mappings/codes/{spec.lookup}.yaml (the value is not repeated here)",
            )
        )
        return None
    return table[str(value)]


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
