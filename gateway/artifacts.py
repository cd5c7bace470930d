"""Load and validate the gateway's data artifacts: mappings, code tables, schemas, policies.

Every artifact is checked against its meta-schema in ``schemas/meta/`` and cross-checked
(vocabulary, crosswalk names, duplicate ids). All problems of all files are reported at once,
each with its file and path; a bad artifact stops start-up, never a request.

The artifacts ship inside the package (``gateway/_artifacts``, read with ``importlib.resources``);
an operator may point any of the three folders at a site's own copy. The meta-schemas always come
from the package, so a site's folders are held to exactly the same rules.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import jsonschema_rs
import yaml

from gateway._artifacts import bundled_root as bundled_root
from gateway.core.guardians import AUTHORITY_TABLES, check_authority_table
from gateway.core.identity import authority_issues
from gateway.core.mapping_model import SLOTS, Mapping, build_mapping
from gateway.core.policy import Agreement, ScheduleEntry
from gateway.core.reference_data import REFERENCE_TABLES, build_reference_entities
from gateway.core.screening import build_instruments
from gateway.errors import ArtifactInvalid, Issue

FOLDER_NAMES = ("mappings", "schemas", "consent_policies")


@dataclass(frozen=True, kw_only=True)
class ArtifactFolders:
    """Where the three artifact folders are read from (each may be a site's own)."""

    mappings: Path
    schemas: Path
    policies: Path

    @classmethod
    def under(cls, root: Path) -> ArtifactFolders:
        return cls(mappings=root / "mappings", schemas=root / "schemas", policies=root / "consent_policies")

    @classmethod
    def bundled(cls) -> ArtifactFolders:
        return cls.under(bundled_root())

    def named(self) -> tuple[tuple[str, Path], ...]:
        return (("mappings", self.mappings), ("schemas", self.schemas), ("consent_policies", self.policies))

    def missing(self) -> list[Issue]:
        return [
            Issue(path=str(folder), message=f"the {name} folder does not exist; check the setting naming it")
            for name, folder in self.named()
            if not folder.is_dir()
        ]


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys instead of keeping the last one silently."""


def _mapping_no_duplicates(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return dict(loader.construct_pairs(node))


_StrictLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _mapping_no_duplicates,
)


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

    def mapping_for(self, format_name: str, entity: str) -> Mapping | None:
        return self.mappings.get((format_name, entity))


@dataclass(frozen=True, kw_only=True)
class World:
    """Organizations and agreements read from a policy folder (the demo world, or a site's)."""

    organizations: tuple[dict[str, Any], ...]
    agreements: tuple[dict[str, Any], ...]


class _Collector:
    def __init__(self, folders: ArtifactFolders) -> None:
        self.folders = folders
        self.issues: list[Issue] = []
        self._validators: dict[str, jsonschema.Draft202012Validator] = {}

    def rel(self, path: Path) -> str:
        """``mappings/codes/x.yaml`` for a file in a known folder (wherever that folder is)."""
        for name, folder in self.folders.named():
            if path == folder or folder in path.parents:
                return str(Path(name) / path.relative_to(folder))
        return str(path)

    def read(self, path: Path) -> Any:
        try:
            text = path.read_text(encoding="utf-8")
            return json.loads(text) if path.suffix == ".json" else yaml.load(text, _StrictLoader)
        except (OSError, ValueError, yaml.YAMLError) as exc:
            self.issues.append(Issue(path=self.rel(path), message=f"cannot be read: {exc}"))
            return None

    def validate(self, doc: Any, meta: str, path: Path) -> bool:
        validator = self._validators.get(meta)
        if validator is None:
            schema = json.loads((bundled_root() / "schemas" / "meta" / meta).read_text("utf-8"))
            validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
            self._validators[meta] = validator
        found = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
        for error in found:
            self.issues.append(Issue(path=f"{self.rel(path)}: {error.json_path}", message=error.message))
        return not found

    def raise_if_any(self, what: str) -> None:
        if self.issues:
            raise ArtifactInvalid(
                f"{what}: {len(self.issues)} problem(s); fix them and restart",
                self.issues,
            )


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
    _check_reference_tables(c, codes, mappings)
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
) -> None:
    """Reference-data tables: each entry names its natural key as plain paths, and the plan
    elements that point at it by rules the mappings really have."""
    rules = {f"{m.id}#{rule.id}" for m in mappings.values() for rule in m.rules}
    mappings_whole = not c.issues  # a mapping that failed to load would make its rules look unknown
    for name in REFERENCE_TABLES.values():
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


def load_world(folder: Path, vocabulary: Vocabulary, where: ArtifactFolders | Path | None = None) -> World:
    """Organizations and agreements of a policy folder, validated whole."""
    c = _Collector(_folders(where))
    orgs_path = folder / "organizations.yaml"
    orgs_doc = c.read(orgs_path)
    organizations: list[dict[str, Any]] = []
    if orgs_doc is not None and c.validate(orgs_doc, "organizations.schema.json", orgs_path):
        organizations = list(orgs_doc["organizations"])
        c.issues.extend(organization_term_issues(organizations, vocabulary, c.rel(orgs_path)))
        c.issues.extend(authority_issues(organizations, c.rel(orgs_path)))
    org_ids = {o["id"] for o in organizations}
    agreements = [
        doc
        for path in sorted((folder / "agreements").glob("*.yaml"))
        if (doc := _load_agreement(c, path, org_ids, vocabulary)) is not None
    ]
    c.raise_if_any(f"policy folder {c.rel(folder)} is invalid")
    return World(organizations=tuple(organizations), agreements=tuple(agreements))


def organization_term_issues(
    organizations: list[dict[str, Any]], vocabulary: Vocabulary, where: str
) -> list[Issue]:
    """An organization's default purpose and role (for its tokens) are vocabulary terms."""
    terms = {"default_purpose": vocabulary.purposes, "default_role": vocabulary.roles}
    return [
        Issue(
            path=f"{where}: $.organizations[{n}].{key}",
            message=f"'{org[key]}' is not in consent_policies/vocabulary.yaml; use one of: "
            + ", ".join(sorted(allowed)),
        )
        for n, org in enumerate(organizations)
        for key, allowed in terms.items()
        if key in org and org[key] not in allowed
    ]


def _load_agreement(
    c: _Collector, path: Path, org_ids: set[str], vocabulary: Vocabulary
) -> dict[str, Any] | None:
    doc = c.read(path)
    if doc is None or not c.validate(doc, "agreement.schema.json", path):
        return None
    where = c.rel(path)
    issues = check_agreement_terms(doc, org_ids, vocabulary)
    c.issues.extend(Issue(path=f"{where}: {i.path}", message=i.message) for i in issues)
    return None if issues else dict(doc)


def check_agreement_terms(doc: dict[str, Any], org_ids: set[str], vocabulary: Vocabulary) -> list[Issue]:
    """Cross-checks the meta-schema cannot express: known parties and vocabulary terms."""
    issues = [
        Issue(path=f"$.parties[{i}]", message=f"'{p}' is not a registered organization")
        for i, p in enumerate(doc["parties"])
        if p not in org_ids
    ]
    for i, entry in enumerate(doc["schedule"]):
        if entry["party"] not in doc["parties"]:
            issues.append(
                Issue(
                    path=f"$.schedule[{i}].party",
                    message=f"'{entry['party']}' is not a party",
                )
            )
        for direction in ("sends", "receives"):
            issues.extend(
                Issue(
                    path=f"$.schedule[{i}].{direction}",
                    message=f"unknown data category '{cat}'",
                )
                for cat in entry.get(direction, [])
                if cat not in vocabulary.categories
            )
    for field, known in (
        ("purposes", vocabulary.purposes),
        ("recipient_roles", vocabulary.roles),
    ):
        issues.extend(
            Issue(path=f"$.{field}", message=f"unknown term '{term}'")
            for term in doc[field]
            if term not in known
        )
    for purpose, by_role in doc.get("field_sets", {}).items():
        if purpose not in doc["purposes"]:
            issues.append(Issue(path=f"$.field_sets.{purpose}", message="not a purpose of this agreement"))
        for role, slots in by_role.items():
            issues.extend(
                Issue(path=f"$.field_sets.{purpose}.{role}", message=f"'{slot}' is not a plan slot")
                for slot in slots
                if slot not in SLOTS
            )
    if doc.get("expires") and doc["expires"] < doc["effective"]:
        issues.append(Issue(path="$.expires", message="expires before it becomes effective"))
    return issues


def agreement_from_doc(doc: dict[str, Any]) -> Agreement:
    return Agreement(
        id=doc["id"],
        version=int(doc["version"]),
        parties=frozenset(doc["parties"]),
        status=doc["status"],
        effective=dt.date.fromisoformat(doc["effective"]),
        expires=dt.date.fromisoformat(doc["expires"]) if doc.get("expires") else None,
        schedule=tuple(
            ScheduleEntry(
                party=e["party"],
                sends=frozenset(e.get("sends", [])),
                receives=frozenset(e.get("receives", [])),
            )
            for e in doc["schedule"]
        ),
        purposes=frozenset(doc["purposes"]),
        recipient_roles=frozenset(doc["recipient_roles"]),
        retention_days=doc.get("retention_days"),
        redisclosure=doc.get("redisclosure"),
        min_cell_size=doc.get("min_cell_size"),
        field_sets={
            purpose: {role: tuple(slots) for role, slots in by_role.items()}
            for purpose, by_role in doc.get("field_sets", {}).items()
        },
    )


def _folders(where: ArtifactFolders | Path | None) -> ArtifactFolders:
    if where is None:
        return ArtifactFolders.bundled()
    return where if isinstance(where, ArtifactFolders) else ArtifactFolders.under(where)
