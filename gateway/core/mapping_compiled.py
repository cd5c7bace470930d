"""A mapping compiled once into closures: the ingest path's form of ``apply_mapping``.

The interpreter (``core.mapping``) reads the spec afresh for every record: it dispatches on
each path segment and field kind, looks transforms up by name, formats the same trace names
and hashes the same id prefixes. Here all of that is done once per ``Mapping``; a record
then runs straight-line steps: paths are pre-split walkers (a condition reads values only, a
field its locations too), transforms are functions, trace names, provenance, labels and the
constant part of every element id are ready. Results are the interpreter's, exactly
(tests/test_mapping_compiled.py compares them on every shipped mapping); the unused-fields
report (``trace=True``) stays with the interpreter, the one that records every read.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from collections.abc import Mapping as MappingABC
from typing import Any

from gateway.core.ids import derive_id, id_deriver
from gateway.core.mapping_model import Condition, FieldSpec, Mapping, Rule, SubjectSpec
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
from gateway.core.paths import Path, Segment
from gateway.core.transforms import TRANSFORMS, TransformError
from gateway.errors import Issue, MappingFailed

__all__ = ["compiled"]

Found = tuple[str, Any]  # (location, value)
Item = Found | None  # the current item of a ``for_each``; None at the record's top
Filled = list[tuple[str, str]]


class _Skip:
    """A field with ``if_missing: skip`` (or ``if_unmapped: skip``) left the element out."""


SKIP = _Skip()
_NO_TABLE: MappingABC[str, Any] = {}


class _Run:
    """Mutable scratch state of one record's run; never escapes the compiled function."""

    __slots__ = ("codes", "context", "issues", "matched", "record", "source_org", "valued")

    def __init__(self, record: Any, context: MappingContext) -> None:
        self.record = record
        # What the record's paths of many matches gave, by path: one path is often read by
        # several rules and conditions (a FHIR category filter, a LOINC answer).
        self.matched: dict[str, list[Found]] = {}
        self.valued: dict[str, list[Any]] = {}
        self.codes = context.codes
        self.source_org = context.source_org
        self.context = context
        self.issues: list[Issue] = []


MatchesFn = Callable[[_Run, Item], list[Found]]
ValuesFn = Callable[[_Run, Item], list[Any]]
FieldFn = Callable[[_Run, Item, Filled], Any]
CheckFn = Callable[[_Run, Item], bool]
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


# --- paths --------------------------------------------------------------------------------


def _finders(path: Path) -> tuple[MatchesFn, ValuesFn]:
    """Two readers of ``path``: matches with their locations, and bare values (for conditions)."""
    if all(segment.kind in ("field", "index") for segment in path.segments):
        value_at, suffix = _single(path.segments)
        return _single_readers(value_at, suffix, path.relative)
    walk_matches, walk_values = _general(path.segments)
    if path.relative:
        return (
            lambda run, item: [] if item is None else walk_matches(item[1], item[0]),
            lambda run, item: [] if item is None else walk_values(item[1]),
        )
    text = path.text

    def matches(run: _Run, item: Item) -> list[Found]:
        found = run.matched.get(text)
        if found is None:
            found = run.matched[text] = walk_matches(run.record, "$")
        return found

    def values(run: _Run, item: Item) -> list[Any]:
        found = run.valued.get(text)
        if found is None:
            found = run.valued[text] = walk_values(run.record)
        return found

    return matches, values


def _single(segments: tuple[Segment, ...]) -> tuple[Callable[[Any], Any], str]:
    """A path of fields and indexes (most are) reaches one value at most, at a fixed suffix:
    a direct walk, None when it reaches nothing (a missing key and a null one alike, as in
    ``paths.evaluate``)."""
    suffix = "".join(f".{s.name}" if s.kind == "field" else f"[{s.index}]" for s in segments)
    if all(segment.kind == "field" for segment in segments):
        return _fields_at(tuple(segment.name for segment in segments)), suffix
    steps = tuple((s.kind == "field", s.name, s.index) for s in segments)

    def value_at(root: Any) -> Any:
        value = root
        for is_field, name, index in steps:
            if is_field:
                if not isinstance(value, dict):
                    return None
                value = value.get(name)
            elif isinstance(value, list) and index < len(value):
                value = value[index]
            else:
                return None
        return value

    return value_at, suffix


_get: Callable[[Any, str], Any] = (
    dict.get
)  # unbound: raises TypeError on anything but a dict, as ``isinstance`` would refuse it


def _fields_at(names: tuple[str, ...]) -> Callable[[Any], Any]:
    """The walk of a path of fields (the commonest), spelled out for one and two of them."""
    if len(names) == 1:
        (only,) = names

        def one(root: Any) -> Any:
            try:
                return _get(root, only)
            except TypeError:
                return None

        return one
    if len(names) == 2:
        first, second = names

        def two(root: Any) -> Any:
            try:
                return _get(_get(root, first), second)
            except TypeError:
                return None

        return two

    def many(root: Any) -> Any:
        value = root
        try:
            for name in names:
                value = _get(value, name)
        except TypeError:
            return None
        return value

    return many


def _single_readers(
    value_at: Callable[[Any], Any], suffix: str, relative: bool
) -> tuple[MatchesFn, ValuesFn]:
    if not relative:
        location = "$" + suffix

        def matches(run: _Run, item: Item) -> list[Found]:
            value = value_at(run.record)
            return [] if value is None else [(location, value)]

        def values(run: _Run, item: Item) -> list[Any]:
            value = value_at(run.record)
            return [] if value is None else [value]

        return matches, values

    def relative_matches(run: _Run, item: Item) -> list[Found]:
        value = None if item is None else value_at(item[1])
        return [] if value is None or item is None else [(item[0] + suffix, value)]

    def relative_values(run: _Run, item: Item) -> list[Any]:
        value = None if item is None else value_at(item[1])
        return [] if value is None else [value]

    return relative_matches, relative_values


def _general(
    segments: tuple[Segment, ...],
) -> tuple[Callable[[Any, str], list[Found]], Callable[[Any], list[Any]]]:
    steps = [_step(segment) for segment in segments]
    value_steps = [_value_step(segment) for segment in segments]

    def matches(root: Any, base: str) -> list[Found]:
        current: list[Found] = [(base, root)]
        for step in steps:
            current = step(current)
        return [found for found in current if found[1] is not None]

    def values(root: Any) -> list[Any]:
        current: list[Any] = [root]
        for step in value_steps:
            current = step(current)
        return [value for value in current if value is not None]

    return matches, values


def _step(segment: Segment) -> Callable[[list[Found]], list[Found]]:
    name, want = segment.name, segment.value
    if segment.kind == "field":
        dotted = "." + name
        return lambda cur: [(loc + dotted, v[name]) for loc, v in cur if isinstance(v, dict) and name in v]
    if segment.kind == "index":
        at, bracket = segment.index, f"[{segment.index}]"
        return lambda cur: [(loc + bracket, v[at]) for loc, v in cur if isinstance(v, list) and at < len(v)]
    if segment.kind == "star":
        return lambda cur: [
            (f"{loc}[{i}]", x) for loc, v in cur if isinstance(v, list) for i, x in enumerate(v)
        ]
    return lambda cur: [
        (f"{loc}[{i}]", x)
        for loc, v in cur
        if isinstance(v, list)
        for i, x in enumerate(v)
        if isinstance(x, dict) and name in x and str(x[name]) == want
    ]


def _value_step(segment: Segment) -> Callable[[list[Any]], list[Any]]:
    name, want = segment.name, segment.value
    if segment.kind == "field":
        return lambda cur: [v[name] for v in cur if isinstance(v, dict) and name in v]
    if segment.kind == "index":
        at = segment.index
        return lambda cur: [v[at] for v in cur if isinstance(v, list) and at < len(v)]
    if segment.kind == "star":
        return lambda cur: [x for v in cur if isinstance(v, list) for x in v]
    return lambda cur: [
        x
        for v in cur
        if isinstance(v, list)
        for x in v
        if isinstance(x, dict) and name in x and str(x[name]) == want
    ]


# --- values: transforms and crosswalks ------------------------------------------------------


def _transformer(name: str | None) -> Callable[[_Run, Found], Any] | None:
    """A transform that reports a refused value at its location (and gives None)."""
    if name is None:
        return None
    function = TRANSFORMS[name]

    def transformed(run: _Run, found: Found) -> Any:
        try:
            return function(found[1])
        except TransformError as exc:
            run.issues.append(Issue(path=found[0], message=f"{name}: {exc}"))
            return None

    return transformed


def _quiet(name: str | None) -> Callable[[Any], Any]:
    """A condition only tests: a value the transform refuses simply does not match."""
    if name is None:
        return lambda value: value
    function = TRANSFORMS[name]

    def quiet(value: Any) -> Any:
        try:
            return function(value)
        except TransformError:
            return None

    return quiet


def _crosswalks(spec: FieldSpec) -> Callable[[_Run, Any, Found], Any] | None:
    """The field's chain of crosswalks; an unknown code is reported (or skips the element)."""
    chain = spec.lookups or ((spec.lookup,) if spec.lookup else ())
    if not chain:
        return None
    skip = spec.skip_if_unmapped
    messages = {name: unmapped_code_message(name) for name in chain}

    def looked_up(run: _Run, value: Any, found: Found) -> Any:
        for name in chain:
            if value is None:
                return None
            table = run.codes.get(name, _NO_TABLE)
            key = str(value)
            if key not in table:
                if skip:
                    return SKIP
                run.issues.append(Issue(path=found[0], message=messages[name]))
                return None
            value = table[key]
        return value

    return looked_up


# --- conditions -----------------------------------------------------------------------------

_COMPARE = {"gte": operator.ge, "gt": operator.gt, "lte": operator.le, "lt": operator.lt}


def _condition(cond: Condition) -> CheckFn:
    one = _one_condition(cond)
    alternatives = tuple(_condition(alt) for alt in cond.alternatives)
    if not alternatives:
        return one
    return lambda run, item: one(run, item) or any(alt(run, item) for alt in alternatives)


def _one_condition(cond: Condition) -> CheckFn:
    matches, values = _finders(cond.path)
    expected = cond.expected
    if cond.kind == "exists":
        return lambda run, item: bool(values(run, item)) == expected
    if cond.kind == "crosswalk":
        quiet, table_name = _quiet(cond.transform), cond.table
        return lambda run, item: (
            any(str(quiet(v)) in run.codes.get(table_name, _NO_TABLE) for v in values(run, item)) == expected
        )
    if cond.kind == "compare":
        compare, threshold = _COMPARE[cond.op], cond.number

        def compares(value: Any) -> bool:
            number = number_of(value)
            return number is not None and bool(compare(number, threshold))

        return lambda run, item: any(compares(v) for v in values(run, item))
    wanted, negated = frozenset(cond.values), cond.kind == "not_in"
    if cond.lookup is None:
        return lambda run, item: any(str(v) in wanted for v in values(run, item) if v is not None) != negated
    code = _condition_code(cond.lookup)

    def looked_up(run: _Run, item: Item) -> bool:
        # Every value is looked up (each unknown code is reported) before any is tested.
        codes = [code(run, found) for found in matches(run, item)]
        return any(str(v) in wanted for v in codes if v is not None) != negated

    return looked_up


def _condition_code(table_name: str) -> Callable[[_Run, Found], Any]:
    message = unmapped_code_message(table_name)

    def code(run: _Run, found: Found) -> Any:
        table = run.codes.get(table_name, _NO_TABLE)
        key = str(found[1])
        if key in table:
            return table[key]
        run.issues.append(Issue(path=found[0], message=message))
        return None

    return code


def _all(checks: tuple[CheckFn, ...]) -> CheckFn:
    if not checks:
        return lambda run, item: True
    if len(checks) == 1:
        return checks[0]
    return lambda run, item: all(check(run, item) for check in checks)


def _conditions(conds: tuple[Condition, ...]) -> CheckFn:
    return _all(tuple(_condition(c) for c in conds))


# --- fields ---------------------------------------------------------------------------------


def _field(spec: FieldSpec, where: str) -> FieldFn:
    """The value of one field (``where`` is its name in the trace); SKIP, None when missing."""
    if spec.id_of:
        key, target = _key_parts(spec.children, where), spec.id_of

        def id_of(run: _Run, item: Item, filled: Filled) -> Any:
            parts = key(run, item, filled)
            if parts is None or parts is SKIP:
                return None
            return [derive_id("el", "key", run.source_org, target, *parts)]

        return id_of
    if spec.children:
        body = _fields(spec.children, where)

        def nested(run: _Run, item: Item, filled: Filled) -> Any:
            value = body(run, item, filled)
            return value if value is SKIP else (value or None)

        return nested
    if spec.first_of:
        alternatives = tuple(_field(alt, where) for alt in spec.first_of)

        def first_of(run: _Run, item: Item, filled: Filled) -> Any:
            for alternative in alternatives:
                value = alternative(run, item, filled)
                if value is not None and value is not SKIP:
                    return value
            return None

        return first_of
    if spec.join:
        return _joined(spec, where)
    if spec.source is None:
        const = spec.const
        return lambda run, item, filled: const
    return _sourced(spec, where)


def _sourced(spec: FieldSpec, where: str) -> FieldFn:
    assert spec.source is not None
    sources = tuple(_finders(path)[0] for path in (spec.source, *spec.fallbacks))
    transformed, looked_up, many = _transformer(spec.transform), _crosswalks(spec), spec.many
    if transformed is None and looked_up is None:
        return _sourced_as_is(sources, where, many)

    def sourced(run: _Run, item: Item, filled: Filled) -> Any:
        found: list[Found] = []
        for source in sources:
            found = source(run, item)
            if found:
                break
        else:
            return None
        values = []
        for match in found:
            value = match[1] if transformed is None else transformed(run, match)
            if looked_up is not None:
                value = looked_up(run, value, match)
            values.append(value)
        filled.extend([(where, match[0]) for match in found])
        if looked_up is not None and SKIP in values:
            return SKIP
        values = [v for v in values if v is not None]
        if not values:
            return None
        return values if many else values[0]

    return sourced


def _sourced_as_is(sources: tuple[MatchesFn, ...], where: str, many: bool) -> FieldFn:
    """A field read as it is (no transform, no crosswalk): its matches are its values."""

    def as_is(run: _Run, item: Item, filled: Filled) -> Any:
        for source in sources:
            found = source(run, item)
            if found:
                filled.extend([(where, match[0]) for match in found])
                return [match[1] for match in found] if many else found[0][1]
        return None

    return as_is


def _joined(spec: FieldSpec, where: str) -> FieldFn:
    """The first value of each ``join`` path, joined with "|"; None when one of them is missing."""
    sources = tuple(_finders(path)[0] for path in spec.join)
    transformed, looked_up = _transformer(spec.transform), _crosswalks(spec)

    def joined(run: _Run, item: Item, filled: Filled) -> Any:
        firsts: list[Found] = []
        for source in sources:
            found = source(run, item)
            if not found:
                return None
            firsts.append(found[0])
        filled.extend([(where, first[0]) for first in firsts])
        parts = [first[1] if transformed is None else transformed(run, first) for first in firsts]
        key = "|".join([str(part) for part in parts])
        return key if looked_up is None else looked_up(run, key, firsts[-1])

    return joined


def _missing(spec: FieldSpec, prefix: str) -> Callable[[_Run, Item], None]:
    """Reports a required field that gave nothing, at its source location when it has one."""
    message = f"required for {prefix}.{spec.name} but missing"
    where = f"{prefix}.{spec.name}" if spec.source is None else spec.source.text
    tail = spec.source.text[1:] if spec.source is not None and spec.source.relative else None

    def missing(run: _Run, item: Item) -> None:
        path = where if tail is None or item is None else item[0] + tail
        run.issues.append(Issue(path=path, message=message))

    return missing


def _fields(specs: tuple[FieldSpec, ...], prefix: str) -> FieldFn:
    """The element body; SKIP to leave the element out; None when a required field is missing."""
    steps = tuple(
        (
            spec.name,
            _field(spec, f"{prefix}.{spec.name}"),
            spec.skip_if_missing,
            spec.required,
            _missing(spec, prefix),
        )
        for spec in specs
    )

    def body(run: _Run, item: Item, filled: Filled) -> Any:
        out: dict[str, Any] = {}
        for name, value_of, skip_if_missing, required, missing in steps:
            value = value_of(run, item, filled)
            if value is None:
                if skip_if_missing:
                    return SKIP
                if required:
                    missing(run, item)
                    return None
                continue
            if value is SKIP:
                return SKIP
            out[name] = value
        return out

    return body


def _key_parts(specs: tuple[FieldSpec, ...], where: str) -> FieldFn:
    """The text parts of a key (to hash into an element id); SKIP; None when one is missing."""
    steps = tuple(_field(spec, f"{where}[{spec.name}]") for spec in specs)

    def parts(run: _Run, item: Item, filled: Filled) -> Any:
        out: list[str] = []
        for value_of in steps:
            value = value_of(run, item, filled)
            if value is SKIP or value is None:
                return value
            out.append(str(value))
        return out

    return parts


# --- rules and the mapping ------------------------------------------------------------------


def _compile(mapping: Mapping) -> Compiled:
    key_readers = tuple((_finders(path)[1], path.text) for path in mapping.key)
    subject = _subject(mapping.subject)
    rules = tuple(_rule(mapping, rule) for rule in mapping.rules)
    identifiers = _identifiers(mapping) if mapping.subject_links else None
    failed = f"mapping {mapping.id} could not map the {mapping.entity} record"
    mapping_id, creates = mapping.id, mapping.subject_creates

    def run_mapping(record: Any, context: MappingContext) -> MappingResult:
        run = _Run(record, context)
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


def _subject(specs: tuple[SubjectSpec, ...]) -> Callable[[_Run], tuple[tuple[str, str], ...]]:
    readers = tuple(_subject_reader(spec) for spec in specs)
    paths = ", ".join(spec.value.text for spec in specs) or "$"

    def subject(run: _Run) -> tuple[tuple[str, str], ...]:
        found: list[tuple[str, str]] = []
        known_issues = len(run.issues)
        for read in readers:
            read(run, found)
        if not found and len(run.issues) == known_issues:
            run.issues.append(Issue(path=paths, message="no student identifier found in the record"))
        return tuple(dict.fromkeys(found))

    return subject


def _subject_reader(spec: SubjectSpec) -> Callable[[_Run, list[tuple[str, str]]], None]:
    items_of = _finders(spec.for_each)[0] if spec.for_each is not None else None
    value_of = _finders(spec.value)[0]
    system_of = _subject_system(spec)
    transformed = _transformer(spec.transform)

    def read(run: _Run, found: list[tuple[str, str]]) -> None:
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


def _subject_system(spec: SubjectSpec) -> Callable[[_Run, Item], str | None]:
    if spec.system_from is not None:
        values = _finders(spec.system_from)[1]

        def system_from(run: _Run, item: Item) -> str | None:
            found = values(run, item)
            return str(found[0]) if found else None

        return system_from
    if spec.system_of is not None:
        name, where = spec.system_of, f"subject.system_of={spec.system_of}"

        def system_of(run: _Run, item: Item) -> str | None:
            system = run.context.identifier_systems.get(name)
            if system is None:
                message = undeclared_system_message(run.source_org, name)
                run.issues.append(Issue(path=where, message=message))
            return system

        return system_of
    fixed = spec.system
    return lambda run, item: fixed


def _provenance(mapping: Mapping, rule_id: str) -> Callable[[_Run, str], dict[str, Any]]:
    """The provenance of an element: the record's and the message's part; the rest is fixed."""
    reference, source_system, source_format = (
        f"{mapping.id}@{mapping.version}#{rule_id}",
        mapping.source_system,
        mapping.format,
    )
    entity = mapping.entity

    def provenance(run: _Run, source_id: str) -> dict[str, Any]:
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


RuleFn = Callable[[_Run, str, list[PlanElement]], RuleTrace]


def _rule(mapping: Mapping, rule: Rule) -> RuleFn:
    items_of = _finders(rule.for_each)[0] if rule.for_each is not None else None
    when = _conditions(rule.when)
    body_of = _fields(rule.fields, rule.id)
    provenance = _provenance(mapping, rule.id)
    labels = (rule.labels or mapping.labels).to_dict()
    labels_when = tuple((_conditions(conds), found.to_dict()) for conds, found in rule.labels_when)
    targets_when = tuple((_conditions(conds), target) for conds, target in rule.targets_when)
    keyed = _keyed(rule)
    element_id = id_deriver("el", mapping.id, rule.id)
    entity, rule_id, default_target, update_fields = mapping.entity, rule.id, rule.target, rule.update_fields

    def apply_rule(run: _Run, source_id: str, out: list[PlanElement]) -> RuleTrace:
        items: list[Item] = [None] if items_of is None else list(items_of(run, None))
        filled: Filled = []
        fired = 0
        for index, item in enumerate(items):
            if not when(run, item):
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
        return RuleTrace(rule_id=rule_id, fired=fired, filled=tuple(filled))

    return apply_rule


def _keyed(rule: Rule) -> Callable[[_Run, str, Item, Filled], str | None] | None:
    """The id an ``element_key`` names (sender + key values); None: the element is left out."""
    if not rule.element_key:
        return None
    where = f"{rule.id}.element_key"
    parts_of = _key_parts(rule.element_key, where)
    missing = _missing(rule.element_key[0], where)

    def keyed(run: _Run, target: str, item: Item, filled: Filled) -> str | None:
        parts = parts_of(run, item, filled)
        if parts is SKIP:
            return None
        if parts is None:
            missing(run, item)
            return None
        return derive_id("el", "key", run.source_org, target, *parts)

    return keyed


def _identifiers(mapping: Mapping) -> Callable[[_Run, str, tuple[tuple[str, str], ...]], list[PlanElement]]:
    # One element per (sender, system, value): each source vouches for the identifiers it sent.
    provenance = _provenance(mapping, "identifier")
    labels = mapping.labels.to_dict()

    def identifiers(run: _Run, source_id: str, subject: tuple[tuple[str, str], ...]) -> list[PlanElement]:
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
