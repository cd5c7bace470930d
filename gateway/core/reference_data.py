"""Reference data: records a partner sends that are not about one student, but that plan facts
point at (an Ed-Fi assessment, gradebook entry, section, school, ...). Pure: the table of
reference resources (``mappings/codes/edfi-reference-data.yaml``) in, their natural keys out.

A table entry is ``from: <resource>``, ``to: {key: [<path>, ...], about: <text>}``; the key paths
use the mapping path language (``core.paths``, plain fields only). The natural key of a record is
its key values joined by ``|`` (like a mapping's source id); the store keys rows by its digest.

Two optional parts let a plan read show what a fact points at (``core.reference_view``):
``title``, a path (or a list of paths, the first that has a value wins) to the words a person
knows the record by; ``named_by``, the plan elements that name the record: the mapping rules
that make them (``<mapping id>#<rule id>``) and the paths into the element that hold each key
value, in the order of ``key``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from gateway.core.canonical import digest
from gateway.core.paths import Path, PathSyntaxError, evaluate, parse_path
from gateway.errors import ArtifactInvalid, Issue

REFERENCE_TABLES = {"edfi-json": "edfi-reference-data"}  # mapping family -> its table in mappings/codes
# An ignored-records key "<family>|*<suffix>" covers every entity ending in <suffix> (Ed-Fi descriptors).
WILDCARD = "*"
# The crosswalk of records deliberately not mapped: "<mapping family>|<entity>" -> the reason.
IGNORED_RECORDS = "ignored-records"
_RULE = re.compile(r"[^@#\s]+#[^@#\s]+")


@dataclass(frozen=True, kw_only=True)
class NamedBy:
    """Plan elements that name a reference record: made by one of ``rules``, key values at ``key``."""

    rules: frozenset[str]  # "<mapping id>#<rule id>"
    key: tuple[Path, ...]


@dataclass(frozen=True, kw_only=True)
class ReferenceEntity:
    entity: str
    key: tuple[Path, ...]
    about: str
    title: tuple[Path, ...] = ()
    named_by: tuple[NamedBy, ...] = ()


@dataclass(frozen=True, kw_only=True)
class NaturalKey:
    text: str  # the key values joined by "|"
    digest: str  # of (source organization, resource, key values): the row's key


def build_reference_entities(table: dict[str, Any], where: str) -> dict[str, ReferenceEntity]:
    """The entries of a reference table, every problem reported at once (``ArtifactInvalid``)."""
    issues: list[Issue] = []
    found: dict[str, ReferenceEntity] = {}
    for entity, spec in table.items():
        entry = _entry(entity, spec, f"{where}: entry {entity!r}", issues)
        if entry is not None:
            found[entity] = entry
    if issues:
        raise ArtifactInvalid(f"{where} is invalid", issues)
    return found


def _entry(entity: str, spec: Any, where: str, issues: list[Issue]) -> ReferenceEntity | None:
    if not isinstance(spec, dict) or not isinstance(spec.get("about"), str) or not spec.get("key"):
        issues.append(Issue(path=where, message="'to' needs 'key' (a list of paths) and 'about' (text)"))
        return None
    if not isinstance(spec["key"], list):
        issues.append(Issue(path=f"{where}.key", message="must be a list of paths"))
        return None
    before = len(issues)
    key = _paths(spec["key"], f"{where}.key", issues)
    title = _paths(_as_list(spec.get("title", [])), f"{where}.title", issues)
    named_by = _named_by(spec.get("named_by", []), len(spec["key"]), f"{where}.named_by", issues)
    if len(issues) > before:
        return None
    return ReferenceEntity(entity=entity, key=key, about=spec["about"], title=title, named_by=named_by)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _paths(texts: list[Any], where: str, issues: list[Issue]) -> tuple[Path, ...]:
    found = (_plain_path(str(text), where, issues) for text in texts)
    return tuple(path for path in found if path is not None)


def _named_by(specs: Any, key_size: int, where: str, issues: list[Issue]) -> tuple[NamedBy, ...]:
    if not isinstance(specs, list):
        issues.append(Issue(path=where, message="must be a list of {rules, key}"))
        return ()
    found = []
    for number, spec in enumerate(specs):
        here = f"{where}[{number}]"
        rules = spec.get("rules") if isinstance(spec, dict) else None
        if not isinstance(rules, list) or not rules or not isinstance(spec.get("key"), list):
            issues.append(
                Issue(path=here, message="needs 'rules' (mapping-id#rule-id, ...) and 'key' (paths)")
            )
            continue
        for rule in rules:
            if not isinstance(rule, str) or not _RULE.fullmatch(rule):
                issues.append(
                    Issue(path=f"{here}.rules", message=f"{rule!r} is not '<mapping id>#<rule id>'")
                )
        key = _paths(spec["key"], f"{here}.key", issues)
        if len(spec["key"]) != key_size:
            message = f"names {len(spec['key'])} key values; the resource's key has {key_size}"
            issues.append(Issue(path=f"{here}.key", message=message))
        found.append(NamedBy(rules=frozenset(map(str, rules)), key=key))
    return tuple(found)


def _plain_path(text: str, where: str, issues: list[Issue]) -> Path | None:
    try:
        path = parse_path(text)
    except PathSyntaxError as exc:
        issues.append(Issue(path=where, message=str(exc)))
        return None
    if path.relative or path.fields is None:
        issues.append(Issue(path=where, message=f"{text!r}: a table path is '$' and plain fields only"))
        return None
    return path


def natural_key(
    source_org: str, entity: ReferenceEntity, record: Any
) -> tuple[NaturalKey | None, list[Issue]]:
    """The record's natural key, or the key paths it lacks (each an issue at its path)."""
    values: list[str] = []
    missing: list[Issue] = []
    for path in entity.key:
        matches = evaluate(path, record)
        if not matches or isinstance(matches[0].value, dict | list) or matches[0].value == "":
            missing.append(Issue(path=path.text, message="reference record key field is missing"))
            continue
        values.append(str(matches[0].value))
    if missing:
        return None, missing
    return NaturalKey(text="|".join(values), digest=key_digest(source_org, entity.entity, values)), []


def key_digest(source_org: str, entity: str, values: list[str]) -> str:
    """The store's row key: the same for a record and for anything naming it by the same values."""
    return digest([source_org, entity, values])


def ignored_reason(ignored: dict[str, Any], family: str, entity: str) -> str | None:
    """Why a record is deliberately not mapped: its "<family>|<entity>" entry, or a
    "<family>|*<suffix>" entry whose suffix ends the entity's name."""
    exact = ignored.get(f"{family}|{entity}")
    if exact is not None:
        return str(exact)
    prefix = f"{family}|{WILDCARD}"
    for key, reason in ignored.items():
        if (
            key.startswith(prefix)
            and len(entity) > len(key) - len(prefix)
            and entity.endswith(key[len(prefix) :])
        ):
            return str(reason)
    return None
