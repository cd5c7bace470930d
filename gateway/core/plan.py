"""The canonical Success Plan document: creation and idempotent merge of mapped elements.

Elements are upserted by their content-derived id. Two elements are the same when their
content matches, ignoring the provenance fields that only say *when* and *in which message*
a fact arrived; so the same input twice changes nothing, and a fact keeps pointing to the
exchange that first brought it.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from gateway.core.canonical import digest
from gateway.core.ids import derive_id
from gateway.core.labels import DOMAINS
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
    stable = dict(element)
    stable["provenance"] = {
        k: v for k, v in element.get("provenance", {}).items() if k not in _VOLATILE_PROVENANCE
    }
    return digest(stable)


def merge_elements(plan: Mapping[str, Any], elements: Iterable[PlanElement]) -> MergeOutcome:
    merged = copy.deepcopy(dict(plan))
    changed: list[str] = []
    for item in elements:
        if _upsert(merged, item.slot, dict(item.element)):
            changed.append(str(item.element["id"]))
    return MergeOutcome(plan=merged, changed=tuple(changed))


def _container(plan: dict[str, Any], slot: str) -> tuple[dict[str, Any], str]:
    parts = slot.split(".")
    node = plan
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    return node, parts[-1]


def _upsert(plan: dict[str, Any], slot: str, element: dict[str, Any]) -> bool:
    node, key = _container(plan, slot)
    if slot in SINGLE_SLOTS:
        current = node.get(key)
        if current is not None and content_digest(current) == content_digest(element):
            return False
        node[key] = element
        return True
    items: list[dict[str, Any]] = node.setdefault(key, [])
    for i, current in enumerate(items):
        if current["id"] == element["id"]:
            if content_digest(current) == content_digest(element):
                return False
            items[i] = element
            return True
    items.append(element)
    items.sort(key=lambda e: str(e["id"]))
    return True


def iter_elements(plan: Mapping[str, Any]) -> Iterable[tuple[str, Mapping[str, Any]]]:
    """Every (slot, element) of a plan, in a stable order."""
    student = plan.get("student", {})
    for key in ("name", "birthDate", "gradeLevel", "school"):
        if key in student:
            yield f"student.{key}", student[key]
    for key in ("identifiers", "languages", "enrollments"):
        for element in student.get(key, []):
            yield f"student.{key}", element
    for domain in DOMAINS:
        for element in plan.get("domains", {}).get(domain, {}).get("facts", []):
            yield f"domains.{domain}.facts", element
    for key in ("strengths", "interests", "needs", "goals", "supports", "team"):
        for element in plan.get(key, []):
            yield key, element
