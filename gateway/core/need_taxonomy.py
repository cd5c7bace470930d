"""Does a directory's service answer a need category? Read from the crosswalk table
``mappings/codes/need-category-taxonomy.yaml`` (validated at load against schemas/meta/codes):
first by the terms the service is filed under, then, as a stated fallback, by words of its name
or description.

- 211 / AIRS codes are hierarchical: a listed code covers its descendants ("BD-1800" covers
  "BD-1800.2000" and "BD-1800.2000-180"), never a sibling that merely shares a prefix
  ("BD-18" is not a code; "BD-1800" does not cover "BD-18001").
- Open Eligibility and directory-own terms are compared by code or label, without case.
- A term is taken as AIRS when its taxonomy says so under any of the names directories give it
  ("AIRS", "211", "211 LA", "Inform USA") or when its code has the AIRS shape with a number.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gateway.core.directory import ServiceAtLocation, Term
from gateway.errors import InputInvalid, Issue

TABLE = "need-category-taxonomy"
_AIRS_NAMES = {
    "airs",
    "211",
    "211la",
    "informusa",
    "airs211",
    "211taxonomy",
    "airs211taxonomy",
    "211lacounty",
}
_OE_NAMES = {"openeligibility", "oe"}
_AIRS_CODE = re.compile(r"^[A-Z]{1,2}-\d{4}(\.\d{4}(-\d{3})?)?$")


@dataclass(frozen=True, kw_only=True)
class CategoryTerms:
    category: str
    airs: tuple[str, ...]
    open_eligibility: frozenset[str]
    directory: frozenset[str]
    keywords: re.Pattern[str] | None


def category_terms(table: Mapping[str, Any] | None, category: str) -> CategoryTerms:
    """The crosswalk's entry for ``category``; an unknown category is refused naming the known ones."""
    entry = (table or {}).get(category)
    if not isinstance(entry, Mapping):
        known = ", ".join(sorted(table or {})) or "none: the crosswalk table is missing"
        raise InputInvalid(
            f"no directory terms for need category {category!r}",
            [Issue(path="category", message=f"use one of: {known} (mappings/codes/{TABLE}.yaml)")],
        )
    words = [str(w).lower() for w in entry.get("keywords", ())]
    return CategoryTerms(
        category=category,
        airs=tuple(str(c).upper() for c in entry.get("airs", ())),
        open_eligibility=frozenset(str(t).strip().lower() for t in entry.get("open-eligibility", ())),
        directory=frozenset(str(t).strip().lower() for t in entry.get("directory", ())),
        keywords=re.compile(r"\b(?:" + "|".join(map(re.escape, words)) + ")") if words else None,
    )


def match_category(terms: CategoryTerms, service: ServiceAtLocation) -> tuple[str, bool] | None:
    """How the service answers the category: (how, by a term?) or None. Terms win over words;
    the first matching term in the service's own order is named."""
    return match_parts(terms, service.terms, service.name, service.description)


def match_parts(
    terms: CategoryTerms, service_terms: Sequence[Term], name: str, description: str
) -> tuple[str, bool] | None:
    """``match_category`` on the parts it reads (a search tests stored rows before making values)."""
    for term in service_terms:
        how = _term_match(terms, term)
        if how:
            return how, True
    if terms.keywords is not None:
        if terms.keywords.search(name.lower()):
            return "matched by its name", False
        if terms.keywords.search(description.lower()):
            return "matched by its description", False
    return None


def _term_match(terms: CategoryTerms, term: Term) -> str:
    kind = _taxonomy(term)
    if kind == "airs":
        code = term.code.strip().upper()
        return f"211/AIRS {code}" if any(_covers(parent, code) for parent in terms.airs) else ""
    words = {term.code.strip().lower(), term.label.strip().lower()} - {""}
    if kind == "open-eligibility" and words & terms.open_eligibility:
        return f"Open Eligibility {term.label or term.code}"
    if words & (terms.directory | terms.open_eligibility):
        return f"directory term {term.label or term.code}"
    return ""


def _taxonomy(term: Term) -> str:
    name = re.sub(r"[^a-z0-9]", "", term.taxonomy.lower())
    if name in _AIRS_NAMES or _AIRS_CODE.match(term.code.strip().upper()):
        return "airs"
    return "open-eligibility" if name in _OE_NAMES else "directory"


def _covers(parent: str, code: str) -> bool:
    """AIRS levels are separated by '-' then '.' then '-': a parent covers a code equal to it or
    continuing it at a level boundary."""
    return code == parent or (code.startswith(parent) and code[len(parent)] in "-.")
