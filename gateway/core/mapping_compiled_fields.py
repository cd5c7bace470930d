"""Conditions and fields of a compiled mapping (``core.mapping_compiled``): each spec once into
a closure over its pre-read parts (readers, transform functions, crosswalk names and messages,
trace names), run per record with the same results and issues as the interpreter's."""

from __future__ import annotations

import operator
from collections.abc import Callable
from collections.abc import Mapping as MappingABC
from typing import Any

from gateway.core.ids import derive_id
from gateway.core.mapping_compiled_paths import Found, Item, MatchesFn, Reads, finders
from gateway.core.mapping_model import Condition, FieldSpec
from gateway.core.mapping_values import MappingContext, number_of, unmapped_code_message
from gateway.core.transforms import TRANSFORMS, TransformError
from gateway.errors import Issue

__all__ = [
    "SKIP",
    "CheckFn",
    "FieldFn",
    "Filled",
    "Run",
    "conditions",
    "fields",
    "key_parts",
    "missing_field",
    "transformer",
]

Filled = list[tuple[str, str]]  # (element path, source location) of a rule's trace


class _Skip:
    """A field with ``if_missing: skip`` (or ``if_unmapped: skip``) left the element out."""


SKIP = _Skip()
_NO_TABLE: MappingABC[str, Any] = {}


class Run(Reads):
    """Mutable scratch state of one record's run; never escapes the compiled function."""

    __slots__ = ("codes", "context", "issues", "source_org")

    def __init__(self, record: Any, context: MappingContext) -> None:
        super().__init__(record)
        self.codes = context.codes
        self.source_org = context.source_org
        self.context = context
        self.issues: list[Issue] = []


FieldFn = Callable[[Run, Item, Filled], Any]
CheckFn = Callable[[Run, Item], bool]


# --- values: transforms and crosswalks ------------------------------------------------------


def transformer(name: str | None) -> Callable[[Run, Found], Any] | None:
    """A transform that reports a refused value at its location (and gives None)."""
    if name is None:
        return None
    function = TRANSFORMS[name]

    def transformed(run: Run, found: Found) -> Any:
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


def _crosswalks(spec: FieldSpec) -> Callable[[Run, Any, Found], Any] | None:
    """The field's chain of crosswalks; an unknown code is reported (or skips the element)."""
    chain = spec.lookups or ((spec.lookup,) if spec.lookup else ())
    if not chain:
        return None
    skip = spec.skip_if_unmapped
    messages = {name: unmapped_code_message(name) for name in chain}

    def looked_up(run: Run, value: Any, found: Found) -> Any:
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
    matches, values = finders(cond.path)
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

    def looked_up(run: Run, item: Item) -> bool:
        # Every value is looked up (each unknown code is reported) before any is tested.
        codes = [code(run, found) for found in matches(run, item)]
        return any(str(v) in wanted for v in codes if v is not None) != negated

    return looked_up


def _condition_code(table_name: str) -> Callable[[Run, Found], Any]:
    message = unmapped_code_message(table_name)

    def code(run: Run, found: Found) -> Any:
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


def conditions(conds: tuple[Condition, ...]) -> CheckFn:
    return _all(tuple(_condition(c) for c in conds))


# --- fields ---------------------------------------------------------------------------------


def _field(spec: FieldSpec, where: str) -> FieldFn:
    """The value of one field (``where`` is its name in the trace); SKIP, None when missing."""
    if spec.id_of:
        key, target = key_parts(spec.children, where), spec.id_of

        def id_of(run: Run, item: Item, filled: Filled) -> Any:
            parts = key(run, item, filled)
            if parts is None or parts is SKIP:
                return None
            return [derive_id("el", "key", run.source_org, target, *parts)]

        return id_of
    if spec.children:
        body = fields(spec.children, where)

        def nested(run: Run, item: Item, filled: Filled) -> Any:
            value = body(run, item, filled)
            return value if value is SKIP else (value or None)

        return nested
    if spec.first_of:
        alternatives = tuple(_field(alt, where) for alt in spec.first_of)

        def first_of(run: Run, item: Item, filled: Filled) -> Any:
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
    sources = tuple(finders(path)[0] for path in (spec.source, *spec.fallbacks))
    transformed, looked_up, many = transformer(spec.transform), _crosswalks(spec), spec.many
    if transformed is None and looked_up is None:
        return _sourced_as_is(sources, where, many)

    def sourced(run: Run, item: Item, filled: Filled) -> Any:
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

    def as_is(run: Run, item: Item, filled: Filled) -> Any:
        for source in sources:
            found = source(run, item)
            if found:
                filled.extend([(where, match[0]) for match in found])
                return [match[1] for match in found] if many else found[0][1]
        return None

    return as_is


def _joined(spec: FieldSpec, where: str) -> FieldFn:
    """The first value of each ``join`` path, joined with "|"; None when one of them is missing."""
    sources = tuple(finders(path)[0] for path in spec.join)
    transformed, looked_up = transformer(spec.transform), _crosswalks(spec)

    def joined(run: Run, item: Item, filled: Filled) -> Any:
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


def missing_field(spec: FieldSpec, prefix: str) -> Callable[[Run, Item], None]:
    """Reports a required field that gave nothing, at its source location when it has one."""
    message = f"required for {prefix}.{spec.name} but missing"
    where = f"{prefix}.{spec.name}" if spec.source is None else spec.source.text
    tail = spec.source.text[1:] if spec.source is not None and spec.source.relative else None

    def missing(run: Run, item: Item) -> None:
        path = where if tail is None or item is None else item[0] + tail
        run.issues.append(Issue(path=path, message=message))

    return missing


def fields(specs: tuple[FieldSpec, ...], prefix: str) -> FieldFn:
    """The element body; SKIP to leave the element out; None when a required field is missing."""
    steps = tuple(
        (
            spec.name,
            _field(spec, f"{prefix}.{spec.name}"),
            spec.skip_if_missing,
            spec.required,
            missing_field(spec, prefix),
        )
        for spec in specs
    )

    def body(run: Run, item: Item, filled: Filled) -> Any:
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


def key_parts(specs: tuple[FieldSpec, ...], where: str) -> FieldFn:
    """The text parts of a key (to hash into an element id); SKIP; None when one is missing."""
    steps = tuple(_field(spec, f"{where}[{spec.name}]") for spec in specs)

    def parts(run: Run, item: Item, filled: Filled) -> Any:
        out: list[str] = []
        for value_of in steps:
            value = value_of(run, item, filled)
            if value is SKIP or value is None:
                return value
            out.append(str(value))
        return out

    return parts
