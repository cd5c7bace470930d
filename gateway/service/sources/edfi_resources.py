"""What the gateway does with each Ed-Fi resource, read from the artifacts (never written by hand):

- **mapped**: a mapping in ``mappings/edfi`` turns the record into plan elements (its slots);
- **reference data**: ``mappings/codes/edfi-reference-data.yaml`` keeps it in ``reference_records``;
- **ignored**: ``mappings/codes/ignored-records.yaml`` says why it is not mapped;
- **no row**: none of these; the record would be rejected ("no mapping"). The resource-table test
  fails on any Data Standard 5 resource in this state.

``docs/edfi-resources.md`` (one row per resource) and the README's grouped table are rendered
here; tests/test_edfi_resources.py checks both are what the artifacts say today.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from gateway.artifacts import Artifacts
from gateway.core.attendance import EVENT_MAPPINGS
from gateway.core.reference_data import (
    IGNORED_RECORDS,
    REFERENCE_TABLES,
    build_reference_entities,
    ignored_reason,
)

FAMILY = "edfi-json"
MAPPED, REFERENCE, IGNORED, NO_ROW = "mapped", "reference data", "ignored", "no row"


@dataclass(frozen=True, kw_only=True)
class ResourceRow:
    resource: str  # "<schema>/<resource>" as in the API path, e.g. "ed-fi/assessments"
    fate: str  # mapped | reference data | ignored | no row
    detail: str  # the plan slots, what the reference data is, or why it is ignored

    @property
    def entity(self) -> str:
        return self.resource.rsplit("/", 1)[-1]


def resource_rows(artifacts: Artifacts, resources: Iterable[str]) -> list[ResourceRow]:
    """One row per resource, in the order given."""
    name = REFERENCE_TABLES[FAMILY]
    kept = build_reference_entities(artifacts.codes.get(name, {}), f"mappings/codes/{name}.yaml")
    ignored = artifacts.codes.get(IGNORED_RECORDS, {})
    rows = []
    for resource in resources:
        entity = resource.rsplit("/", 1)[-1]
        mapping = artifacts.mapping_for(FAMILY, entity)
        if mapping is not None:
            rows.append(ResourceRow(resource=resource, fate=MAPPED, detail=_slots(mapping.id, mapping.rules)))
        elif entity in kept:
            rows.append(ResourceRow(resource=resource, fate=REFERENCE, detail=kept[entity].about))
        elif (reason := ignored_reason(ignored, FAMILY, entity)) is not None:
            rows.append(ResourceRow(resource=resource, fate=IGNORED, detail=reason))
        else:
            rows.append(ResourceRow(resource=resource, fate=NO_ROW, detail="rejected: no mapping"))
    return rows


def mapped_elsewhere(artifacts: Artifacts, resources: Iterable[str]) -> list[str]:
    """Ed-Fi resources mapped that the list does not name (Data Standard 4 names, 5.1/5.2 additions)."""
    listed = {r.rsplit("/", 1)[-1] for r in resources}
    return sorted(
        f"ed-fi/{entity}"
        for family, entity in artifacts.mappings
        if family == FAMILY and entity not in listed
    )


def _slots(mapping_id: str, rules: Iterable[object]) -> str:
    targets = sorted({str(getattr(rule, "target", "")) for rule in rules})
    text = ", ".join(f"`{t}`" for t in targets)
    if mapping_id in EVENT_MAPPINGS:
        text += " (each event stored as an attendance row; the plan holds the summary)"
    return text


def markdown_table(rows: Iterable[ResourceRow]) -> str:
    """One line per resource: | resource | what happens | where / why |."""
    lines = [
        "| Resource | What happens | Plan slots, what it is, or why it is ignored |",
        "| --- | --- | --- |",
    ]
    lines += [f"| `{row.resource}` | {row.fate} | {_cell(row.detail)} |" for row in rows]
    return "\n".join(lines) + "\n"


def grouped_table(rows: Iterable[ResourceRow]) -> str:
    """Every resource named once, grouped by what happens to it (for the README)."""
    groups: dict[tuple[str, str], list[str]] = {}
    for row in rows:
        label = (
            row.detail if row.fate != REFERENCE else "kept in `reference_records`; plan facts point at them"
        )
        groups.setdefault((row.fate, label), []).append(row.entity)
    order = {MAPPED: 0, REFERENCE: 1, IGNORED: 2, NO_ROW: 3}
    lines = ["| What happens | Ed-Fi resources |", "| --- | --- |"]
    for (fate, label), entities in sorted(groups.items(), key=lambda item: (order[item[0][0]], item[0][1])):
        names = ", ".join(f"`{e}`" for e in sorted(entities, key=str.lower))
        lines.append(f"| {fate}: {_cell(label)} | {names} |")
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def document(artifacts: Artifacts, resources: list[str]) -> str:
    """``docs/edfi-resources.md``: counts, then one row per resource, then the other mapped names."""
    rows = resource_rows(artifacts, resources)
    counts = {fate: sum(1 for r in rows if r.fate == fate) for fate in (MAPPED, REFERENCE, IGNORED, NO_ROW)}
    extra = mapped_elsewhere(artifacts, resources)
    parts = [
        "# Ed-Fi resources: what the gateway does with each\n",
        "Generated from the artifacts by `gateway/service/sources/edfi_resources.py` "
        "(mappings in `mappings/edfi`, "
        "`mappings/codes/edfi-reference-data.yaml`, `mappings/codes/ignored-records.yaml`) over the "
        "Data Standard 5.0 resource list `tests/fixtures/edfi-ds5-resources.txt`; "
        "`tests/test_edfi_resources.py` fails when this file is stale "
        "(`pytest tests/test_edfi_resources.py --update-golden` rewrites it).\n",
        f"{len(rows)} resources: {counts[MAPPED]} mapped, {counts[REFERENCE]} kept as reference data, "
        f"{counts[IGNORED]} ignored with a reason, {counts[NO_ROW]} without a row. Descriptors "
        "(`*Descriptors`, a separate API) are ignored: codes reach plans through the crosswalks.\n",
        markdown_table(rows),
    ]
    if extra:
        parts += [
            "Also mapped (Data Standard 4 names and 5.1/5.2 additions the 5.0 list does not have):\n",
            markdown_table(resource_rows(artifacts, extra)),
        ]
    return "\n".join(parts)
