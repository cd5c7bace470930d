"""Query parameters every listing endpoint reads the same way, and JSON object bodies."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import request

from gateway.errors import InputInvalid, Issue, UnsupportedFormat
from gateway.formats.records import load_json

JSON_BODY_TYPES = ("application/json", "application/fhir+json")

DEFAULT_LIMIT, MAX_LIMIT, MAX_OFFSET = 100, 1000, 2**31 - 1


def iso_datetime(raw: str | None, name: str = "when") -> dt.datetime | None:
    """An optional ISO 8601 date-time parameter (None when absent); a bad one names itself."""
    if not raw:
        return None
    try:
        return dt.datetime.fromisoformat(raw)
    except ValueError:
        example = "an ISO date-time, e.g. 2026-12-07T15:30-05:00"
        raise InputInvalid("invalid time", [Issue(path=name, message=example)]) from None


def paging() -> tuple[int, int]:
    """``limit`` and ``offset``, checked together so both problems are reported at once."""
    limit, offset = _int_arg("limit", DEFAULT_LIMIT), _int_arg("offset", 0)
    issues = []
    if limit is None or not 1 <= limit <= MAX_LIMIT:
        issues.append(Issue(path="limit", message=f"a whole number from 1 to {MAX_LIMIT}"))
    if offset is None or not 0 <= offset <= MAX_OFFSET:
        issues.append(Issue(path="offset", message=f"a whole number from 0 to {MAX_OFFSET}"))
    if issues or limit is None or offset is None:
        raise InputInvalid("invalid paging parameters", issues)
    return limit, offset


def _int_arg(name: str, default: int) -> int | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    return int(raw) if raw.isascii() and raw.isdigit() else None


def json_object_body(*, required: bool = True) -> dict[str, Any]:
    """The JSON object sent (strict: UTF-8, no duplicate keys); ``{}`` for an allowed empty body."""
    raw = request.get_data()
    if not raw.strip() and not required:
        return {}
    if request.mimetype not in JSON_BODY_TYPES:
        raise UnsupportedFormat(
            "send a JSON body", [Issue(path="Content-Type", message=f"use {' or '.join(JSON_BODY_TYPES)}")]
        )
    body = load_json(raw)
    if not isinstance(body, dict):
        raise InputInvalid("the body must be a JSON object", [Issue(path="$", message="expected an object")])
    return body
