"""The FHIR server's routes as one table: Flask is given them from it, and the CapabilityStatement
(``fhir_answers.capability``) and the OpenAPI paths (``fhir_openapi``) are generated from it, so
what the server announces is what it routes."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.core.fhir_search import SEARCH_PARAMETERS


@dataclass(frozen=True, kw_only=True)
class Route:
    rule: str  # Flask rule under /fhir/r4
    endpoint: str
    view: str
    methods: tuple[str, ...]
    interaction: str | None  # the FHIR interaction (TypeRestfulInteraction or system), if one
    level: str  # "system" or "type"
    summary: str
    scope: str | None = None  # the SMART v2 permission letter the view checks


# Every type the server serves for read and search: the ones it indexes.
SERVED_TYPES: tuple[str, ...] = tuple(sorted(SEARCH_PARAMETERS))

ROUTES: tuple[Route, ...] = (
    Route(
        rule="/metadata",
        endpoint="metadata",
        view="metadata",
        methods=("GET",),
        interaction="capabilities",
        level="system",
        summary="The CapabilityStatement: what this server does.",
    ),
    Route(
        rule="",
        endpoint="post_bundle",
        view="post_bundle",
        methods=("POST",),
        interaction="transaction",
        level="system",
        summary="A Bundle (collection, batch, transaction, searchset, document); batch and "
        "transaction are answered with their response Bundle.",
    ),
    Route(
        rule="/$import",
        endpoint="post_import",
        view="post_import",
        methods=("POST",),
        interaction=None,
        level="system",
        summary="NDJSON, one resource per line (as FHIR Bulk Data exports), streamed.",
    ),
    Route(
        rule="/<resource_type>",
        endpoint="create",
        view="create",
        methods=("POST",),
        interaction="create",
        level="type",
        summary="Create a resource (server-assigned id; If-None-Exist for a conditional create).",
        scope="c",
    ),
    Route(
        rule="/<resource_type>",
        endpoint="search",
        view="search",
        methods=("GET",),
        interaction="search-type",
        level="type",
        summary="Search; a searchset Bundle of what this caller may see.",
        scope="s",
    ),
    Route(
        rule="/<resource_type>/_search",
        endpoint="search_post",
        view="search",
        methods=("POST",),
        interaction="search-type",
        level="type",
        summary="Search with the parameters in a form body.",
        scope="s",
    ),
    Route(
        rule="/<resource_type>/<resource_id>",
        endpoint="read",
        view="read",
        methods=("GET",),
        interaction="read",
        level="type",
        summary="Read the current version.",
        scope="r",
    ),
    Route(
        rule="/<resource_type>/<resource_id>",
        endpoint="update",
        view="update",
        methods=("PUT",),
        interaction="update",
        level="type",
        summary="Update (If-Match for a version check).",
        scope="u",
    ),
    Route(
        rule="/<resource_type>/<resource_id>",
        endpoint="patch",
        view="patch",
        methods=("PATCH",),
        interaction="patch",
        level="type",
        summary="JSON Patch (RFC 6902), then an update.",
        scope="u",
    ),
    Route(
        rule="/<resource_type>/<resource_id>",
        endpoint="delete",
        view="not_allowed",
        methods=("DELETE",),
        interaction=None,
        level="type",
        summary="Not supported: 405.",
    ),
    Route(
        rule="/<resource_type>/<resource_id>/_history/<version_id>",
        endpoint="vread",
        view="vread",
        methods=("GET",),
        interaction="vread",
        level="type",
        summary="Read one version.",
        scope="r",
    ),
)


def type_interactions() -> tuple[str, ...]:
    return tuple(r.interaction for r in ROUTES if r.level == "type" and r.interaction)
