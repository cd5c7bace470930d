"""A FHIR search (``GET /{type}?…``) read against the search-parameter table, as values.

Repeated parameters are AND, comma-separated values OR (FHIR R4 3.1.1.4). Dates take the FHIR
prefixes (eq ne gt lt ge le; ``ne`` is refused) over the period their precision names, so
``date=gt2024-01-01`` means after that day and ``date=2024-01`` any time in that month. Tokens
match ``system|code``, ``|code``, ``code`` or ``system|`` (any code of the system); strings
match the start of the value, case-insensitively; references ``Type/id``, ``id`` or an
absolute URL, and ``:identifier`` a business identifier. Parameters this server does not know
are ignored and left out of the ``self`` link (lenient handling), or refused with
``Prefer: handling=strict``; an unsupported modifier is always refused.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from gateway.core.fhir_search import (
    DATE,
    REFERENCE,
    STRING,
    TOKEN,
    SearchParameter,
    parameters_of,
    reference_value,
)
from gateway.errors import InputInvalid, Issue

DEFAULT_COUNT, MAX_COUNT = 50, 500
_PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")
_DATE = re.compile(r"^\d{4}(-\d{2}(-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$")
# Past every character an ISO date-time of a longer precision may carry after the searched one.
_AFTER = "~"
# Result parameters read by the server itself, not searched.
CONTROL = frozenset(
    {"_count", "_offset", "_include", "_summary", "_format", "_pretty", "_elements", "_total"}
)
SUMMARIES = ("true", "false", "count", "data", "text")


@dataclass(frozen=True, kw_only=True)
class Criterion:
    """Rows whose ``param`` has a value matching any of ``values`` by ``op`` (eq, sw, gt, ge, lt, le)."""

    param: str
    values: tuple[str, ...]
    op: str = "eq"


@dataclass(frozen=True, kw_only=True)
class Include:
    source_type: str
    param: str
    target_type: str | None = None


@dataclass(frozen=True, kw_only=True)
class ParsedSearch:
    resource_type: str
    criteria: tuple[Criterion, ...] = ()
    last_updated: tuple[tuple[str, dt.datetime], ...] = ()
    ids: tuple[str, ...] | None = None
    count: int = DEFAULT_COUNT
    offset: int = 0
    includes: tuple[Include, ...] = ()
    summary: str | None = None
    used: tuple[tuple[str, str], ...] = ()  # the parameters applied, for the self link
    ignored: tuple[str, ...] = ()


@dataclass
class _Reading:
    """What the parameters read so far say (mutable while reading, frozen into ParsedSearch)."""

    criteria: list[Criterion] = field(default_factory=list)
    last_updated: list[tuple[str, dt.datetime]] = field(default_factory=list)
    ids: tuple[str, ...] | None = None
    count: int = DEFAULT_COUNT
    offset: int = 0
    includes: list[Include] = field(default_factory=list)
    summary: str | None = None
    used: list[tuple[str, str]] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)


def parse_search(
    resource_type: str, pairs: Sequence[tuple[str, str]], *, strict: bool = False
) -> ParsedSearch:
    """The search as values; every problem is reported at once (InputInvalid)."""
    known = parameters_of(resource_type)
    issues: list[Issue] = []
    reading = _Reading()
    for name, raw in pairs:
        base, _, modifier = name.partition(":")
        try:
            if _read_control(resource_type, base, raw, reading):
                pass
            elif base in ("_id", "_lastUpdated") or base in known:
                _read_criterion(resource_type, base, modifier, raw, reading)
            elif strict:
                issues.append(Issue(path=name, message=f"not a search parameter of {resource_type} here"))
                continue
            else:
                reading.ignored.append(name)
                continue
        except ValueError as exc:
            issues.append(Issue(path=name, message=str(exc)))
            continue
        if base not in ("_format", "_pretty"):
            reading.used.append((name, raw))
    if issues:
        raise InputInvalid(f"the {resource_type} search cannot be read", issues)
    return ParsedSearch(
        resource_type=resource_type,
        criteria=tuple(reading.criteria),
        last_updated=tuple(reading.last_updated),
        ids=reading.ids,
        count=reading.count,
        offset=reading.offset,
        includes=tuple(reading.includes),
        summary=reading.summary,
        used=tuple(reading.used),
        ignored=tuple(reading.ignored),
    )


def _read_control(resource_type: str, base: str, raw: str, reading: _Reading) -> bool:
    if base not in CONTROL:
        return False
    if base == "_count":
        reading.count = min(_whole(raw, "_count"), MAX_COUNT)
    elif base == "_offset":
        reading.offset = _whole(raw, "_offset")
    elif base == "_include":
        reading.includes.append(parse_include(resource_type, raw))
    elif base == "_summary":
        if raw not in SUMMARIES:
            raise ValueError(f"one of {', '.join(SUMMARIES)}")
        reading.summary = raw
    return True


def _whole(raw: str, name: str) -> int:
    if not raw.isdigit():
        raise ValueError(f"{name} is a whole number, 0 or more")
    return int(raw)


def parse_include(resource_type: str, raw: str) -> Include:
    """``Type:param[:target]``, a reference parameter of the searched type."""
    parts = raw.split(":")
    if len(parts) not in (2, 3) or parts[0] != resource_type:
        raise ValueError(f"use {resource_type}:<reference parameter>[:<target type>]")
    parameter = parameters_of(resource_type).get(parts[1])
    if parameter is None or parameter.type != REFERENCE:
        raise ValueError(f"'{parts[1]}' is not a reference parameter of {resource_type} here")
    return Include(
        source_type=resource_type, param=parts[1], target_type=parts[2] if len(parts) == 3 else None
    )


def _read_criterion(resource_type: str, base: str, modifier: str, raw: str, reading: _Reading) -> None:
    values = tuple(v for v in raw.split(",") if v != "")
    if not values:
        raise ValueError("give a value")
    if base == "_id":
        _no_modifier(modifier)
        previous = reading.ids
        reading.ids = values if previous is None else tuple(v for v in values if v in previous)
        return
    if base == "_lastUpdated":
        _no_modifier(modifier)
        for value in values:
            reading.last_updated.extend(instant_bounds(value))
        return
    parameter = parameters_of(resource_type)[base]
    reading.criteria.extend(_criteria(base, modifier, values, parameter))


def _no_modifier(modifier: str) -> None:
    if modifier:
        raise ValueError(f"the modifier ':{modifier}' is not supported here")


def _criteria(
    name: str, modifier: str, values: tuple[str, ...], parameter: SearchParameter
) -> list[Criterion]:
    kind = parameter.type
    if kind == TOKEN:
        _no_modifier(modifier)
        exact = tuple(v for v in values if not v.endswith("|"))
        systems = tuple(v for v in values if v.endswith("|"))
        if exact and systems:
            raise ValueError("give either codes or a system alone, not both, in one parameter")
        return [Criterion(param=name, values=exact or systems, op="eq" if exact else "sw")]
    if kind == REFERENCE:
        if modifier == "identifier":
            return [Criterion(param=name, values=tuple(f"identifier:{v}" for v in values))]
        if modifier and modifier[:1].isupper():  # a type modifier: subject:Patient=123
            return [Criterion(param=name, values=tuple(f"{modifier}/{v.split('/')[-1]}" for v in values))]
        _no_modifier(modifier)
        return [Criterion(param=name, values=tuple(reference_value(v, parameter) for v in values))]
    if kind == STRING:
        if modifier not in ("", "exact", "contains"):
            raise ValueError(f"the modifier ':{modifier}' is not supported here")
        return [Criterion(param=name, values=tuple(v.lower() for v in values), op="eq" if modifier else "sw")]
    if kind == DATE:
        _no_modifier(modifier)
        if len(values) > 1:
            raise ValueError("one date per parameter; repeat the parameter for a range")
        return [Criterion(param=name, values=(v,), op=op) for op, v in date_bounds(values[0])]
    raise ValueError(f"parameters of type {kind} are not supported")


def _prefixed(raw: str) -> tuple[str, str]:
    prefix = raw[:2] if raw[:2] in _PREFIXES and not raw[:2].isdigit() else "eq"
    value = raw[2:] if raw[:2] in _PREFIXES else raw
    if prefix not in ("eq", "gt", "lt", "ge", "le"):
        raise ValueError(f"the prefix '{prefix}' is not supported; use eq, gt, lt, ge or le")
    if not _DATE.match(value):
        raise ValueError("a date as YYYY, YYYY-MM, YYYY-MM-DD or an ISO date-time, after an optional prefix")
    return prefix, value


def date_bounds(raw: str) -> list[tuple[str, str]]:
    """Comparisons over the indexed ISO text: the searched value stands for its whole period."""
    prefix, value = _prefixed(raw)
    _period(value)  # a date that is no date (2026-13-45) is refused here, not compared
    return {
        "eq": [("ge", value), ("le", value + _AFTER)],
        "gt": [("gt", value + _AFTER)],
        "ge": [("ge", value)],
        "lt": [("lt", value)],
        "le": [("le", value + _AFTER)],
    }[prefix]


def instant_bounds(raw: str) -> list[tuple[str, dt.datetime]]:
    """``_lastUpdated`` comparisons over instants: the period the value's precision names."""
    prefix, value = _prefixed(raw)
    start, end = _period(value)
    return {
        "eq": [("ge", start), ("lt", end)],
        "gt": [("ge", end)],
        "ge": [("ge", start)],
        "lt": [("lt", start)],
        "le": [("lt", end)],
    }[prefix]


def _period(value: str) -> tuple[dt.datetime, dt.datetime]:
    if "T" in value:
        instant = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        if instant.tzinfo is None:
            instant = instant.replace(tzinfo=dt.UTC)
        step = dt.timedelta(seconds=1) if value.count(":") >= 2 else dt.timedelta(minutes=1)
        return instant, instant + step
    parts = [int(p) for p in value.split("-")]
    if len(parts) == 1:
        return _utc(parts[0], 1, 1), _utc(parts[0] + 1, 1, 1)
    if len(parts) == 2:
        year, month = parts
        return _utc(year, month, 1), _utc(year + month // 12, month % 12 + 1, 1)
    start = _utc(*parts)
    return start, start + dt.timedelta(days=1)


def _utc(year: int, month: int, day: int) -> dt.datetime:
    return dt.datetime(year, month, day, tzinfo=dt.UTC)
