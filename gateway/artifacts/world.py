"""A policy folder: organizations and agreements (the demo world, or a site's), validated whole,
and the agreement terms checks shared with the agreements service."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.artifacts.loading import Vocabulary
from gateway.artifacts.reading import ArtifactFolders, _Collector, _folders
from gateway.core.identity import authority_issues
from gateway.core.mapping_model import SLOTS
from gateway.core.policy import Agreement, ScheduleEntry
from gateway.errors import Issue


@dataclass(frozen=True, kw_only=True)
class World:
    """Organizations and agreements read from a policy folder (the demo world, or a site's)."""

    organizations: tuple[dict[str, Any], ...]
    agreements: tuple[dict[str, Any], ...]


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
