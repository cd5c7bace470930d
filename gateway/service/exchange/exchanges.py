"""One door for exchanges received over HTTP: most formats go straight through the pipeline;
a OneRoster bundle also applies its manifest (bulk absences and delta deletions), exactly as
``spgw ingest oneroster`` does, so the two ways in never disagree."""

from __future__ import annotations

from dataclasses import replace

from gateway.service.exchange.inbound import Inbound
from gateway.service.exchange.ingest import IngestSummary, ingest
from gateway.service.exchange.oneroster import ingest_oneroster
from gateway.service.runtime import Runtime

ONEROSTER_BUNDLES = frozenset({"oneroster", "oneroster-csv"})


def receive(
    rt: Runtime,
    *,
    source_org: str,
    format_name: str,
    payload: bytes,
    entity: str | None = None,
    content_type: str | None = None,
) -> IngestSummary:
    if format_name in ONEROSTER_BUNDLES:
        bundle = ingest_oneroster(rt, source_org=source_org, path_or_bytes=payload)
        # The sender learns how its export was read (counted per file and column), as the CLI says.
        warnings = [w.to_dict() for w in bundle.warnings]
        return replace(bundle.ingest, outcome={**bundle.ingest.outcome, "warnings": warnings})
    return ingest(
        rt,
        Inbound(
            source_org=source_org,
            format_name=format_name,
            payload=payload,
            entity=entity,
            content_type=content_type,
        ),
    )
