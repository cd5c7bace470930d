"""Who signed a FHIR R4 Consent, and what authority the document itself shows.

``Consent.performer[0]`` names the signer:

- a ``Patient`` (a reference ``Patient/...``, ``type: Patient`` or a contained Patient) is the
  student;
- a ``RelatedPerson`` is read from the document: contained (``#id``) with its ``identifier``
  and ``relationship``, or referenced by ``identifier`` {system, value} (no relationship can be
  read then; the guardian link's relationship stands for it). Relationship codes are HL7 v3
  RoleCode (``http://terminology.hl7.org/CodeSystem/v3-RoleCode``), read through the crosswalk
  ``mappings/codes/relatedperson-authority.yaml`` to ``parent``, ``guardian`` or ``none``.

Reading never grants authority: a parent or guardian still needs a guardian link to the
student (looked up by the service), and the ``signer-role`` extension, when present, must
agree with the performer; it cannot make anyone a parent. What the document lacks is returned
as a note naming ``Consent.performer`` and what is needed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gateway.core.consent import PARENT_ROLES, RELATED_PERSON, STUDENT_ROLE
from gateway.core.guardians import GUARDIAN, PARENT

SIGNER_EXTENSION = "https://success-plan-gateway.org/fhir/StructureDefinition/signer-role"
ROLE_CODE_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
AUTHORITY_TABLE = "relatedperson-authority"
NEEDED = (
    "the signer must be the student (a Patient) or a RelatedPerson whose relationship is a parent "
    "(HL7 v3 RoleCode PRN, MTH, FTH, NPRN, ADOPTP, ...) or legal guardian (GUARD)"
)
_STRUCTURE = "http://hl7.org/fhir/StructureDefinition/"


@dataclass(frozen=True, kw_only=True)
class SignerRead:
    role: str | None = None  # student | parent | guardian | related-person
    ids: tuple[tuple[str, str], ...] = ()  # the RelatedPerson's identifiers
    note: str | None = None  # why the performer gives no authority


def read_signer(doc: Mapping[str, Any], codes: Mapping[str, Mapping[str, Any]]) -> SignerRead:
    """The signer as the document shows it; an absent performer is left to the missing checks."""
    performers = doc.get("performer")
    if not isinstance(performers, list) or not performers:
        return SignerRead()
    performer = performers[0] if isinstance(performers[0], dict) else {}
    kind, resource = _kind(doc, performer)
    if kind == "Patient":
        found = SignerRead(role=STUDENT_ROLE)
    elif kind == "RelatedPerson":
        found = _related_person(doc, performer, resource, codes)
    else:
        found = _refused("Consent.performer[0] references neither a Patient nor a RelatedPerson")
    return _with_claim(found, _claimed_role(doc))


def _refused(why: str) -> SignerRead:
    return SignerRead(note=f"Consent.performer: {why}; {NEEDED}")


def _kind(doc: Mapping[str, Any], performer: Mapping[str, Any]) -> tuple[str, Mapping[str, Any] | None]:
    """The performer's resource type, and the contained resource when it is one."""
    reference = performer.get("reference")
    if isinstance(reference, str) and reference.startswith("#"):
        resource = _contained(doc, reference[1:])
        return (str(resource.get("resourceType", "")), resource) if resource else ("", None)
    if isinstance(reference, str) and "/" in reference:
        return reference.rsplit("/", 2)[-2], None
    kind = performer.get("type")
    return (str(kind).removeprefix(_STRUCTURE), None) if isinstance(kind, str) else ("", None)


def _contained(doc: Mapping[str, Any], local_id: str) -> Mapping[str, Any] | None:
    contained = doc.get("contained")
    items = contained if isinstance(contained, list) else []
    return next((r for r in items if isinstance(r, dict) and r.get("id") == local_id), None)


def _related_person(
    doc: Mapping[str, Any],
    performer: Mapping[str, Any],
    resource: Mapping[str, Any] | None,
    codes: Mapping[str, Mapping[str, Any]],
) -> SignerRead:
    if resource is None:
        # Referenced, not contained: only an identifier can be read, and the link says the rest.
        ids = _identifiers([performer.get("identifier")])
        if not ids:
            return _refused(
                "a RelatedPerson must be contained (#id) with its identifier and relationship, "
                "or referenced by identifier {system, value}"
            )
        return SignerRead(role=RELATED_PERSON, ids=ids)
    ids = _identifiers(resource.get("identifier"))
    if not ids:
        return _refused(
            "the RelatedPerson carries no identifier {system, value}, so no guardian link can name them"
        )
    if _other_patient(doc, resource):
        return _refused("the RelatedPerson is related to another patient than Consent.patient")
    role, problem = _authority(resource.get("relationship"), codes.get(AUTHORITY_TABLE, {}))
    return SignerRead(role=role, ids=ids) if role else SignerRead(ids=ids, note=problem)


def _identifiers(items: Any) -> tuple[tuple[str, str], ...]:
    found = []
    for item in items if isinstance(items, list) else []:
        system = item.get("system") if isinstance(item, dict) else None
        value = item.get("value") if isinstance(item, dict) else None
        if isinstance(system, str) and isinstance(value, str) and system and value:
            found.append((system, value))
    return tuple(found)


def _other_patient(doc: Mapping[str, Any], resource: Mapping[str, Any]) -> bool:
    """The RelatedPerson names a patient by identifier, and it is not the consent's patient."""
    theirs = _identifiers([_get(resource, "patient", "identifier")])
    ours = _identifiers([_get(doc, "patient", "identifier")])
    return bool(theirs and ours and theirs != ours)


def _get(node: Any, *keys: str) -> Any:
    for key in keys:
        node = node.get(key) if isinstance(node, dict) else None
    return node


def _authority(relationships: Any, table: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """parent or guardian from the v3 RoleCode codings, or why the relationship gives none."""
    codings = [
        coding
        for concept in (relationships if isinstance(relationships, list) else [])
        if isinstance(concept, dict) and isinstance(concept.get("coding"), list)
        for coding in concept["coding"]
        if isinstance(coding, dict) and coding.get("system") == ROLE_CODE_SYSTEM
    ]
    found = {str(c.get("code")): table.get(str(c.get("code"))) for c in codings}
    for authority in (PARENT, GUARDIAN):
        if authority in found.values():
            return authority, None
    if not codings:
        return None, (
            f"Consent.performer: the RelatedPerson states no relationship (a RelatedPerson.relationship "
            f"coding in {ROLE_CODE_SYSTEM}); {NEEDED}"
        )
    unknown = sorted(code for code, authority in found.items() if authority is None)
    if unknown:
        return None, (
            f"Consent.performer: relationship code(s) {', '.join(unknown)} are not in crosswalk "
            f"{AUTHORITY_TABLE}; {NEEDED}"
        )
    codes = ", ".join(sorted(found))
    return None, f"Consent.performer: relationship {codes} gives no authority to consent; {NEEDED}"


def _claimed_role(doc: Mapping[str, Any]) -> str | None:
    extensions = doc.get("extension")
    for extension in extensions if isinstance(extensions, list) else []:
        if isinstance(extension, dict) and extension.get("url") == SIGNER_EXTENSION:
            return str(extension.get("valueCode"))
    return None


def _with_claim(found: SignerRead, claimed: str | None) -> SignerRead:
    """The extension may say what the performer shows; a claim the performer does not back is refused."""
    if claimed is None or found.role is None:
        return found
    if claimed == STUDENT_ROLE and found.role == STUDENT_ROLE:
        return found
    if claimed in PARENT_ROLES and found.role != STUDENT_ROLE:
        return found
    return SignerRead(
        ids=found.ids,
        note=f"Consent.performer: the signer-role extension says '{claimed}', which Consent.performer[0] "
        f"does not show; {NEEDED}",
    )
