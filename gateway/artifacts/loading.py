"""Load and validate the gateway's data artifacts: mappings, code tables, schemas, vocabulary.

Every artifact is checked against its meta-schema and cross-checked (vocabulary, crosswalk names,
duplicate ids, reference tables). All problems of all files are reported at once, each with its
file and path; a bad artifact stops start-up, never a request."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import jsonschema_rs

from gateway.artifacts.reading import ArtifactFolders, _Collector, _folders
from gateway.core.guardians import AUTHORITY_TABLES, check_authority_table
from gateway.core.mapping_model import SLOTS, Mapping, build_mapping
from gateway.core.reference_data import REFERENCE_TABLES, ReferenceEntity, build_reference_entities
from gateway.core.screening import build_instruments
from gateway.errors import ArtifactInvalid, Issue


@dataclass(frozen=True, kw_only=True)
class Vocabulary:
    categories: frozenset[str]
    purposes: frozenset[str]
    roles: frozenset[str]


@dataclass(frozen=True, kw_only=True)
class Artifacts:
    folders: ArtifactFolders
    mappings: dict[tuple[str, str], Mapping]
    codes: dict[str, dict[str, Any]]
    vocabulary: Vocabulary
    plan_validator: jsonschema.Draft202012Validator
    # One validator per plan slot, for the element schema of that slot: the pipeline checks only
    # the elements a merge changed, not the whole plan again (the plan's frame never changes).
    # jsonschema-rs (compiled) is ~250x faster than the pure-Python validator on this hot path.
    element_validators: dict[str, jsonschema_rs.Draft202012Validator]
    # Reference-data entities per mapping family, built once when the tables are checked (plan
    # reads and every ingest batch use them).
    references: dict[str, dict[str, ReferenceEntity]] = field(default_factory=dict)

    def mapping_for(self, format_name: str, entity: str) -> Mapping | None:
        return self.mappings.get((format_name, entity))


def load_artifacts(where: ArtifactFolders | Path | None = None) -> Artifacts:
    """Every artifact under ``where`` (the packaged ones by default), checked; all problems at once."""
    folders = _folders(where)
    c = _Collector(folders)
    c.issues.extend(folders.missing())
    c.raise_if_any("artifact folders are missing")
    vocabulary = _load_vocabulary(c)
    codes = _load_codes(c)
    _check_screening_instruments(c, codes)
    _check_authority_tables(c, codes)
    mappings = _load_mappings(c, frozenset(codes), vocabulary)
    references = _check_reference_tables(c, codes, mappings)
    plan_schema = c.read(folders.schemas / "success-plan.schema.json")
    element_validators = _element_validators(c, plan_schema) if plan_schema else {}
    c.raise_if_any("artifacts are invalid")
    return Artifacts(
        folders=folders,
        mappings=mappings,
        codes=codes,
        vocabulary=vocabulary,
        plan_validator=jsonschema.Draft202012Validator(
            plan_schema, format_checker=jsonschema.FormatChecker()
        ),
        element_validators=element_validators,
        references=references,
    )


def _element_validators(
    c: _Collector, schema: dict[str, Any]
) -> dict[str, jsonschema_rs.Draft202012Validator]:
    """A validator per slot, found by walking the plan schema along the slot's path."""
    found = {}
    for slot in sorted(SLOTS):
        ref = _slot_ref(schema, slot)
        if ref is None:
            c.issues.append(
                Issue(path=f"schemas/success-plan.schema.json: slot {slot}", message="has no element schema")
            )
            continue
        # Same $id and $defs as the plan schema, so the element schema's own $refs resolve.
        rooted = {k: schema[k] for k in ("$schema", "$id", "$defs") if k in schema} | {"$ref": ref}
        found[slot] = jsonschema_rs.Draft202012Validator(rooted, validate_formats=True)
    return found


def _slot_ref(schema: dict[str, Any], slot: str) -> str | None:
    node: Any = schema
    for part in slot.split("."):
        node = _deref(schema, node)
        properties = node.get("properties", {})
        node = properties.get(part) if part in properties else node.get("additionalProperties")
        if not isinstance(node, dict):
            return None
    node = node.get("items", node)
    ref = node.get("$ref") if isinstance(node, dict) else None
    return ref if isinstance(ref, str) else None


def _deref(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node and str(node["$ref"]).startswith("#/$defs/"):
        node = schema["$defs"][str(node["$ref"]).split("/")[-1]]
    return node


def _load_vocabulary(c: _Collector) -> Vocabulary:
    path = c.folders.policies / "vocabulary.yaml"
    doc = c.read(path)
    if doc is None or not c.validate(doc, "vocabulary.schema.json", path):
        return Vocabulary(categories=frozenset(), purposes=frozenset(), roles=frozenset())
    return Vocabulary(
        categories=frozenset(doc["categories"]),
        purposes=frozenset(doc["purposes"]),
        roles=frozenset(doc["roles"]),
    )


def _load_codes(c: _Collector) -> dict[str, dict[str, Any]]:
    tables: dict[str, dict[str, Any]] = {}
    for path in sorted((c.folders.mappings / "codes").glob("*.yaml")):
        doc = c.read(path)
        if doc is None or not c.validate(doc, "codes.schema.json", path):
            continue
        if doc["id"] != path.stem:
            c.issues.append(
                Issue(
                    path=f"{c.rel(path)}: $.id",
                    message=f"must equal the file name '{path.stem}'",
                )
            )
        entries = [str(e["from"]) for e in doc["entries"]]
        for dup in sorted({e for e in entries if entries.count(e) > 1}):
            c.issues.append(
                Issue(
                    path=f"{c.rel(path)}: $.entries",
                    message=f"code {dup!r} is listed twice",
                )
            )
        tables[doc["id"]] = {str(e["from"]): e["to"] for e in doc["entries"]}
    return tables


def _check_screening_instruments(c: _Collector, codes: dict[str, dict[str, Any]]) -> None:
    """The instrument table is a crosswalk whose values have a shape of their own (issue 5)."""
    if "screening-instruments" not in codes:
        return
    try:
        build_instruments(codes["screening-instruments"], "mappings/codes/screening-instruments.yaml")
    except ArtifactInvalid as exc:
        c.issues.extend(exc.issues)


def _check_authority_tables(c: _Collector, codes: dict[str, dict[str, Any]]) -> None:
    """Who may consent (issue 10): these crosswalks map codes to parent, guardian or none."""
    for name in AUTHORITY_TABLES:
        if name not in codes:
            where = f"mappings/codes/{name}.yaml"
            c.issues.append(Issue(path=where, message="missing: who may consent needs it"))
            continue
        c.issues.extend(
            Issue(path=f"mappings/codes/{name}.yaml: $.entries", message=problem)
            for problem in check_authority_table(codes[name])
        )


def _check_reference_tables(
    c: _Collector, codes: dict[str, dict[str, Any]], mappings: dict[tuple[str, str], Mapping]
) -> dict[str, dict[str, ReferenceEntity]]:
    """Reference-data tables: each entry names its natural key as plain paths, and the plan
    elements that point at it by rules the mappings really have. The entities, per family."""
    rules = {f"{m.id}#{rule.id}" for m in mappings.values() for rule in m.rules}
    mappings_whole = not c.issues  # a mapping that failed to load would make its rules look unknown
    built: dict[str, dict[str, ReferenceEntity]] = {}
    for family, name in REFERENCE_TABLES.items():
        if name not in codes:
            continue
        where = f"mappings/codes/{name}.yaml"
        try:
            entities = build_reference_entities(codes[name], where)
        except ArtifactInvalid as exc:
            c.issues.extend(exc.issues)
            continue
        c.issues.extend(
            Issue(
                path=f"{where}: entry {entity!r}.named_by", message=f"'{rule}' is not a rule of any mapping"
            )
            for entity, found in entities.items()
            for named in found.named_by
            for rule in sorted(named.rules - rules)
            if mappings_whole
        )
        built[family] = entities
    return built


def _load_mappings(
    c: _Collector, codes: frozenset[str], vocabulary: Vocabulary
) -> dict[tuple[str, str], Mapping]:
    found: dict[tuple[str, str], Mapping] = {}
    for path in mapping_files(c.folders.mappings):
        doc = c.read(path)
        if doc is None or not c.validate(doc, "mapping.schema.json", path):
            continue
        _check_categories(c, doc, c.rel(path), vocabulary)
        try:
            mapping = build_mapping(doc, c.rel(path), codes)
        except ArtifactInvalid as exc:
            c.issues.extend(exc.issues)
            continue
        key = (mapping.format, mapping.entity)
        if key in found:
            c.issues.append(
                Issue(
                    path=c.rel(path),
                    message=f"{key} is already mapped by {found[key].origin}",
                )
            )
        found[key] = mapping
    return found


def mapping_files(mappings: Path) -> list[Path]:
    """Every mapping file, however deep; ``mappings/codes/`` holds crosswalks, not mappings."""
    codes = mappings / "codes"
    return sorted(p for p in mappings.rglob("*.yaml") if codes not in p.parents)


def _check_categories(c: _Collector, doc: dict[str, Any], origin: str, vocabulary: Vocabulary) -> None:
    if not vocabulary.categories:
        return  # the vocabulary itself is broken and already reported
    labels = [("$.labels", doc.get("labels"))] + [
        (f"$.rules[{i}].labels", r.get("labels")) for i, r in enumerate(doc.get("rules", []))
    ]
    labels += [
        (f"$.rules[{i}].labels_when[{j}].labels", entry.get("labels"))
        for i, r in enumerate(doc.get("rules", []))
        for j, entry in enumerate(r.get("labels_when", []))
    ]
    for where, label in labels:
        if label is not None and label.get("category") not in vocabulary.categories:
            c.issues.append(
                Issue(
                    path=f"{origin}: {where}.category",
                    message=f"'{label.get('category')}' is not a category in "
                    "consent_policies/vocabulary.yaml",
                )
            )
