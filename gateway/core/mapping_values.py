"""The values a mapping run takes and gives, shared by the interpreter (``core.mapping``) and the
compiled form (``core.mapping_compiled``), and the small checks both make the same way."""

from __future__ import annotations

from collections.abc import Mapping as MappingABC
from dataclasses import dataclass, field
from typing import Any

from gateway.core.frozen import quick_init
from gateway.core.limits import IDENTIFIER_SYSTEM_MAX, IDENTIFIER_VALUE_MAX


@quick_init
@dataclass(frozen=True, kw_only=True)
class MappingContext:
    source_org: str
    message_id: str
    received_at: str
    record_digest: str
    identifier_systems: MappingABC[str, str] = field(default_factory=dict)
    codes: MappingABC[str, MappingABC[str, Any]] = field(default_factory=dict)
    # The unused-fields report walks every leaf of the record; the ingest path never reads it
    # and asks for none (``MappingResult.unused`` is then empty).
    trace: bool = True


@quick_init
@dataclass(frozen=True, kw_only=True)
class PlanElement:
    slot: str
    element: MappingABC[str, Any]
    # Non-empty: on an element with this id already in the plan, replace only these fields (a
    # referral Task's status), keeping the rest; empty: the element replaces its namesake whole.
    update_fields: tuple[str, ...] = ()


@quick_init
@dataclass(frozen=True, kw_only=True)
class RuleTrace:
    rule_id: str
    fired: int
    filled: tuple[tuple[str, str], ...]  # (element path, source location)


@quick_init
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


def identifier_problem(system: str, value: str) -> str | None:
    """An identifier must fit the link table (``core.limits``); it is refused, never cut."""
    for name, text, limit in (
        ("value", value, IDENTIFIER_VALUE_MAX),
        ("system", system, IDENTIFIER_SYSTEM_MAX),
    ):
        if len(text) > limit:
            return f"an identifier {name} is at most {limit} characters (this one has {len(text)})"
    return None


def number_of(value: Any) -> float | None:
    """A number (or numeric text) a comparison can read; None for anything else (a boolean too)."""
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def unmapped_code_message(table: str) -> str:
    return (
        f"code is not in crosswalk '{table}'; add it to "
        f"mappings/codes/{table}.yaml (the value is not repeated here)"
    )


def undeclared_system_message(source_org: str, system_of: str) -> str:
    return (
        f"partner {source_org} declares no identifier system "
        f"'{system_of}'; add it to the partner's identifier_systems"
    )
