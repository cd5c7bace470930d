"""One road for a parsed FHIR document, whether it came as JSON or as XML converted to JSON:
a Bundle's entries, or one resource, each checked once by ``fhir_validate``."""

from __future__ import annotations

from typing import Any

from gateway.formats.fhir_bundle import bundle_records
from gateway.formats.fhir_shape import is_resource_type
from gateway.formats.fhir_validate import Found, check_resource


def document_records(doc: dict[str, Any], where: str, entity: str | None) -> list[Found]:
    """A parsed document (JSON or converted XML): a Bundle's entries, or one resource."""
    named = entity if entity and is_resource_type(entity) else None
    if doc.get("resourceType") == "Bundle" and named in (None, "Bundle"):
        return bundle_records(doc)
    return check_resource(doc, where, entity=entity)
