"""The canonical Success Plan document: creation and idempotent merge of mapped elements.

Elements are upserted by their content-derived id. Two elements are the same when their
content matches, ignoring the provenance fields that only say *when* and *in which message*
a fact arrived; so the same input twice changes nothing, and a fact keeps pointing to the
exchange that first brought it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from gateway.core.canonical import digest
from gateway.core.ids import derive_id
from gateway.core.labels import DOMAINS, Labels, combine
from gateway.core.mapping import PlanElement
from gateway.core.mapping_model import SINGLE_SLOTS

SCHEMA_VERSION = "1.0.0"
SCHEMA_ID = "https://success-plan-gateway.org/schemas/success-plan/1.0.0"
_VOLATILE_PROVENANCE = ("messageId", "receivedAt")


@dataclass(frozen=True, kw_only=True)
class MergeOutcome:
    plan: dict[str, Any]
    changed: tuple[str, ...]  # ids of elements added or replaced


def plan_id_for(student_id: str) -> str:
    return derive_id("plan", student_id)


def empty_plan(student_id: str) -> dict[str, Any]:
    return {
        "$schema": SCHEMA_ID,
        "schemaVersion": SCHEMA_VERSION,
        "planId": plan_id_for(student_id),
        "student": {
            "id": student_id,
            "identifiers": [],
            "languages": [],
            "enrollments": [],
        },
        "domains": {domain: {"facts": []} for domain in DOMAINS},
        "strengths": [],
        "interests": [],
        "needs": [],
        "goals": [],
        "supports": [],
        "team": [],
    }


def content_digest(element: Mapping[str, Any]) -> str:
    """Digest of what an element says, not of when it arrived."""
    return digest(_stable(element))


def _stable(element: Mapping[str, Any]) -> dict[str, Any]:
    stable = dict(element)
    stable["provenance"] = {
        k: v for k, v in element.get("provenance", {}).items() if k not in _VOLATILE_PROVENANCE
    }
    return stable


def same_content(one: Mapping[str, Any], other: Mapping[str, Any]) -> bool:
    """Whether two elements say the same (their content digests match). A derived summary changes
    with every batch of events: a difference is mostly found at the first differing value, without
    writing and hashing both elements."""
    first, second = _stable(one), _stable(other)
    return not surely_differ(first, second) and digest(first) == digest(second)


_JSON_TYPES = frozenset({dict, list, tuple, str, int, float, bool, type(None)})


def surely_differ(one: Any, other: Any) -> bool:
    """True only when the canonical JSON of the two values certainly differs; False when they may
    be the same (then the digests decide). Types ``json`` spells alike (a list and a tuple) or that
    it converts (non-text keys, subclasses, other objects) are left to the digests."""
    kind, other_kind = type(one), type(other)
    if kind in (list, tuple) and other_kind in (list, tuple):
        return len(one) != len(other) or any(surely_differ(a, b) for a, b in zip(one, other, strict=True))
    if kind is not other_kind:
        return kind in _JSON_TYPES and other_kind in _JSON_TYPES
    if kind is dict:
        if one.keys() != other.keys():
            return all(type(k) is str for k in one) and all(type(k) is str for k in other)
        return any(surely_differ(value, other[key]) for key, value in one.items())
    if kind is str or kind is int or kind is bool:
        return bool(one != other)
    if kind is float:
        return bool(one != other and one == one and other == other)  # NaN: left to the digests
    return False


def merge_elements(plan: Mapping[str, Any], elements: Iterable[PlanElement]) -> MergeOutcome:
    """Upsert ``elements``; the input plan is not modified (touched containers are copied)."""
    merged = _copy_frame(plan)
    by_slot: dict[str, list[dict[str, Any]]] = {}
    updates: dict[str, tuple[str, ...]] = {}
    for item in elements:
        by_slot.setdefault(item.slot, []).append(dict(item.element))
        if item.update_fields:
            updates[str(item.element["id"])] = item.update_fields
    changed: list[str] = []
    for slot, items in by_slot.items():
        node, key = _container(merged, slot)
        if slot in SINGLE_SLOTS:
            changed.extend(_replace_single(node, key, items))
        else:
            changed.extend(_upsert_many(node, key, items, updates))
    return MergeOutcome(plan=merged, changed=tuple(changed))


def _copy_frame(plan: Mapping[str, Any]) -> dict[str, Any]:
    # Elements are never mutated, only replaced, so copying the containers is enough.
    merged = {k: (list(v) if isinstance(v, list) else v) for k, v in plan.items()}
    student = dict(plan.get("student", {}))
    for key, value in student.items():
        if isinstance(value, list):
            student[key] = list(value)
    merged["student"] = student
    merged["domains"] = {d: {"facts": list(v.get("facts", []))} for d, v in plan.get("domains", {}).items()}
    return merged


def _container(plan: dict[str, Any], slot: str) -> tuple[dict[str, Any], str]:
    parts = slot.split(".")
    node = plan
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    return node, parts[-1]


def _replace_single(node: dict[str, Any], key: str, items: list[dict[str, Any]]) -> list[str]:
    changed = []
    for element in items:
        current = node.get(key)
        if current is None or not same_content(current, element):
            node[key] = element
            changed.append(str(element["id"]))
    return changed


def _upsert_many(
    node: dict[str, Any], key: str, items: list[dict[str, Any]], updates: Mapping[str, tuple[str, ...]]
) -> list[str]:
    current: dict[str, dict[str, Any]] = {str(e["id"]): e for e in node.get(key, [])}
    changed = []
    for element in items:
        element_id = str(element["id"])
        existing = current.get(element_id)
        if existing is not None and element_id in updates:
            element = _updated(existing, element, updates[element_id])
        if existing is not None and same_content(existing, element):
            continue
        current[element_id] = element
        changed.append(element_id)
    if changed:
        node[key] = [current[i] for i in sorted(current)]
    return changed


def _updated(
    existing: Mapping[str, Any], update: Mapping[str, Any], fields: tuple[str, ...]
) -> dict[str, Any]:
    """A partial update (a referral Task moving its support on): the named fields the update
    carries replace the element's own; the rest stays. The provenance names the latest record,
    and the labels become the stricter of the two."""
    merged = dict(existing)
    merged.update({name: update[name] for name in fields if name in update})
    merged["provenance"] = update["provenance"]
    both = [Labels(**existing["labels"]), Labels(**update["labels"])]
    merged["labels"] = combine(both, category=str(existing["labels"]["category"])).to_dict()
    return merged


def iter_elements(plan: Mapping[str, Any]) -> Iterable[tuple[str, Mapping[str, Any]]]:
    """Every (slot, element) of a plan, in a stable order."""
    student = plan.get("student", {})
    for key in ("name", "birthDate", "gradeLevel", "school"):
        if key in student:
            yield f"student.{key}", student[key]
    for key in ("identifiers", "languages", "enrollments", "locations"):
        for element in student.get(key, []):
            yield f"student.{key}", element
    for domain in DOMAINS:
        for element in plan.get("domains", {}).get(domain, {}).get("facts", []):
            yield f"domains.{domain}.facts", element
    for key in ("strengths", "interests", "needs", "goals", "supports", "team"):
        for element in plan.get(key, []):
            yield key, element


def without_elements(plan: Mapping[str, Any], hidden: set[str]) -> dict[str, Any]:
    """The plan minus the elements whose ids are in ``hidden`` (the input is not modified)."""
    result = _copy_frame(plan)
    for slot, element in list(iter_elements(plan)):
        if element["id"] not in hidden:
            continue
        node, key = _container(result, slot)
        if slot in SINGLE_SLOTS:
            del node[key]
        else:
            node[key] = [e for e in node[key] if e["id"] != element["id"]]
    return result


def without_source_records(
    plan: Mapping[str, Any], source_org: str, entity: str, source_ids: set[str]
) -> MergeOutcome:
    """The plan minus every element a given source's records brought (a delete, a key change,
    a record missing from a bulk file); ``changed`` lists the removed element ids."""
    removed = {
        str(element["id"])
        for _, element in iter_elements(plan)
        if _came_from(element.get("provenance", {}), source_org, entity, source_ids)
    }
    if not removed:
        return MergeOutcome(plan=dict(plan), changed=())
    return MergeOutcome(plan=without_elements(plan, removed), changed=tuple(sorted(removed)))


def _came_from(provenance: Mapping[str, Any], source_org: str, entity: str, source_ids: set[str]) -> bool:
    record = provenance.get("sourceRecord", {})
    return (
        provenance.get("sourceOrganization") == source_org
        and record.get("type") == entity
        and record.get("id") in source_ids
    )
