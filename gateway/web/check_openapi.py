"""The OpenAPI schema of an exchange check (``?dry_run=true``), beside the document that uses it."""

from __future__ import annotations

from gateway.web.schema_parts import COUNT, TEXT, Schema, closed_object, ref


def exchange_check(statuses: list[str]) -> Schema:
    """The answer of ``POST /api/v1/exchanges/{format}?dry_run=true`` (gateway/service/exchange/check.py)."""
    reason = closed_object({"reason": TEXT, "count": COUNT, "firstLocation": TEXT})
    reasons = {
        "type": "array",
        "items": reason,
        "maxItems": 5,
        "description": "The first distinct reasons of this outcome, with how many records gave each.",
    }
    return closed_object(
        {
            "dryRun": {"const": True},
            "file": TEXT,
            "format": TEXT,
            "payloadDigest": TEXT,
            "size": COUNT,
            "records": COUNT,
            **{name: COUNT for name in statuses},
            "students": COUNT,
            "wouldReject": {"type": "boolean", "description": "A record would be rejected or fail."},
            "reasons": {
                "type": "object",
                "properties": {name: reasons for name in statuses if name != "accepted"},
                "additionalProperties": False,
            },
            "error": ref("ErrorDetail"),
        },
        optional=("error",),
    )
