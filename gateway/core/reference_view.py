"""What a plan element points at, shown when the plan is read. Pure.

An element made by a rule a reference table lists under ``named_by`` (an assessment score, a
gradebook grade, an intervention support, an enrollment) names a reference record by key values
it carries. At read time the reader's visible plan goes in, the reference records it names are
looked up in one query (by the caller), and each element whose record is known gets a small
``reference`` object: the resource, its title and its key, taken from the stored record.

The record is looked up under the element's own source organization only: a district's
assessment result is titled by that district's assessment, never by another partner's record
with the same key. Joining on read (not when mapping) means the plan never depends on whether
the assessment or the result arrived first, and a replaced assessment shows its new title.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from gateway.core.paths import Path, evaluate
from gateway.core.plan import iter_elements, without_elements
from gateway.core.reference_data import NamedBy, ReferenceEntity, key_digest

RowKey = tuple[str, str, str]  # source organization, resource, key digest: reference_records' key


@dataclass(frozen=True, kw_only=True)
class Pointer:
    source_org: str
    entity: str
    key_digest: str

    @property
    def row(self) -> RowKey:
        return (self.source_org, self.entity, self.key_digest)


def pointers(plan: Mapping[str, Any], entities: Iterable[ReferenceEntity]) -> dict[str, Pointer]:
    """Element id -> the reference record the element names, for every element that names one."""
    by_rule = {rule: (e.entity, named) for e in entities for named in e.named_by for rule in named.rules}
    found: dict[str, Pointer] = {}
    for _, element in iter_elements(plan):
        provenance = element.get("provenance", {})
        hit = by_rule.get(rule_of(str(provenance.get("mapping", ""))))
        if hit is None:
            continue
        entity, named = hit
        values = _key_values(named, element)
        if values is not None:
            source_org = str(provenance.get("sourceOrganization", ""))
            found[str(element["id"])] = Pointer(
                source_org=source_org, entity=entity, key_digest=key_digest(source_org, entity, values)
            )
    return found


def rule_of(mapping: str) -> str:
    """``<mapping id>@<version>#<rule id>`` -> ``<mapping id>#<rule id>``: any version names it."""
    head, _, rule = mapping.partition("#")
    return f"{head.split('@', 1)[0]}#{rule}" if rule else ""


def _key_values(named: NamedBy, element: Mapping[str, Any]) -> list[str] | None:
    values = [_scalar(path, element) for path in named.key]
    return None if any(v is None for v in values) else [str(v) for v in values]


def _scalar(path: Path, node: Any) -> Any:
    matches = evaluate(path, node)
    if not matches or isinstance(matches[0].value, dict | list) or matches[0].value in ("", None):
        return None
    return matches[0].value


def with_references(
    plan: Mapping[str, Any],
    found: Mapping[str, Pointer],
    bodies: Mapping[RowKey, Mapping[str, Any]],
    entities: Mapping[str, ReferenceEntity],
) -> dict[str, Any]:
    """The plan with a ``reference`` on each element whose record is in ``bodies`` (the input
    plan is not modified; elements are replaced, never changed)."""
    shown = {
        element_id: reference_of(entities[p.entity], bodies[p.row])
        for element_id, p in found.items()
        if p.row in bodies and p.entity in entities
    }
    result = without_elements(plan, set())  # a copy of every container
    if not shown:
        return result
    for slot in sorted({slot for slot, e in iter_elements(result) if e["id"] in shown}):
        *parents, last = slot.split(".")
        node = result
        for part in parents:
            node = node[part]
        items = node[last]
        if isinstance(items, list):
            node[last] = [_with(e, shown) for e in items]
        else:
            node[last] = _with(items, shown)
    return result


def _with(element: Mapping[str, Any], shown: Mapping[str, dict[str, Any]]) -> Mapping[str, Any]:
    reference = shown.get(str(element["id"]))
    return element if reference is None else {**element, "reference": reference}


def reference_of(entity: ReferenceEntity, body: Mapping[str, Any]) -> dict[str, Any]:
    """``{"resource", "title"?, "key"}`` of a stored record; the key values as the record has them."""
    leaves = [path.fields[-1] if path.fields else path.text for path in entity.key]
    names = [
        leaf if leaves.count(leaf) == 1 else path.text[2:]
        for leaf, path in zip(leaves, entity.key, strict=True)
    ]
    reference: dict[str, Any] = {"resource": entity.entity}
    title = next((v for v in (_scalar(path, body) for path in entity.title) if v is not None), None)
    if title is not None:
        reference["title"] = str(title)
    reference["key"] = {name: _scalar(path, body) for name, path in zip(names, entity.key, strict=True)}
    return reference
