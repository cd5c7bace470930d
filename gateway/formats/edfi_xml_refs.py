"""``ref=`` references of an Ed-Fi XML interchange, completed from the record they point at.

An Ed-Fi reference (``XReference``, an ``Extended Reference`` type) names its record either by
its identity (``<DisciplineIncidentIdentity><IncidentIdentifier>…<SchoolReference>…``) or by
``ref="…"``, an ``IDREF`` to a record of the same interchange that carries ``id="…"``. The
Ed-Fi API shape only knows identities, so a reference given by ``ref=`` alone used to lose its
key fields (``disciplineIncidentReference.schoolId`` and ``incidentIdentifier`` went missing
and the record was refused for its key). The reader now completes it:

- a record with an ``id`` leaves the identity of its type (``DisciplineIncident`` ->
  ``DisciplineIncidentIdentityType``: copies of its own children named in that identity, in the
  identity's order) under that id;
- a reference with ``ref=`` and no identity element gets that identity, when the ids match and
  the identity types agree (a ``ref`` to a ``School`` completes a ``SchoolReference``, not an
  ``EducationOrganizationReference``), at any depth (a ``SchoolReference`` inside an identity too).

Records are streamed, so only earlier records can be pointed at; Ed-Fi's own load order puts a
referenced record first. A reference to a later record, or to a record of another file, stays
without key fields as before (left out of the JSON; the mapping says which key is missing).
At most ``MAX_IDS`` identities are kept per document, so memory stays bounded.
"""

from __future__ import annotations

import copy
import functools

from lxml import etree

from gateway.formats.edfi_xml_convert import plan
from gateway.formats.edfi_xml_schema import NS, type_model

MAX_IDS = 200_000
_REFERENCE_FIELDS = ("reference", "references")
_NESTED_FIELDS = ("array", "inline", "object")


class References:
    """The identities of one document's records that carry an ``id``, by id."""

    def __init__(self) -> None:
        self._identities: dict[str, tuple[str, tuple[etree._Element, ...]]] = {}

    def complete(self, element: etree._Element, type_name: str) -> None:
        """Give every ``ref=``-only reference below ``element`` the identity it points at."""
        for child in element:
            field = plan(type_name).get(child.tag)
            if field is None:
                continue
            if field.how in _REFERENCE_FIELDS:
                self._complete_reference(child, field.type_name)
            elif field.how in _NESTED_FIELDS:
                self.complete(child, field.type_name)

    def remember(self, element: etree._Element, type_name: str) -> None:
        """Keep the identity of a record that others may point at with ``ref=``."""
        record_id = element.get("id")
        identity_type = f"{type_name}IdentityType"
        if not record_id or len(self._identities) >= MAX_IDS:
            return
        if identity_type not in type_model().complex_types:
            return
        parts = _identity_parts(element, identity_type)
        if parts is not None:
            self._identities[record_id] = (identity_type, parts)

    def _complete_reference(self, reference: etree._Element, reference_type: str) -> None:
        identity_tag, identity_type = _identity_of(reference_type)
        identity = reference.find(identity_tag)
        if identity is not None:
            self.complete(identity, identity_type)  # its own nested references may be refs
            return
        known = self._identities.get(reference.get("ref") or "")
        if known is None or known[0] != identity_type:
            return
        identity = etree.Element(identity_tag)
        identity.extend(copy.deepcopy(part) for part in known[1])
        reference.insert(0, identity)  # the identity comes first in every reference type


@functools.cache
def _identity_of(reference_type: str) -> tuple[str, str]:
    """The Clark tag and type of a reference type's identity element."""
    return next(
        (tag, f.type_name) for tag, f in plan(reference_type).items() if f.type_name.endswith("IdentityType")
    )


def _identity_parts(element: etree._Element, identity_type: str) -> tuple[etree._Element, ...] | None:
    """Copies of the record's children the identity names, in the identity's order; None when one
    is missing (every part of an Ed-Fi identity is required: the record cannot stand for it)."""
    children = {child.tag: child for child in element}
    parts = []
    for child in type_model().complex_types[identity_type].children:
        found = children.get(f"{{{NS}}}{child.name}")
        if found is None:
            return None
        parts.append(copy.deepcopy(found))
    return tuple(parts)
