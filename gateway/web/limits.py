"""The edge limits (``core.limits``) for what arrives beside the body: URL path segments, query
parameters, and JSON bodies read through Flask (``request.get_json``).

A path segment or query value that holds a character no column can store (NUL on PostgreSQL),
or one longer than any identifier the gateway keeps, is refused before a view reads it: a path
segment as 404 (nothing can be named so), a query parameter as 400 naming it.
"""

from __future__ import annotations

from typing import Any

from flask import request
from flask.json.provider import DefaultJSONProvider

from gateway.core.limits import MAX_PARAMETER, shown, text_problem
from gateway.errors import InputInvalid, Issue, NotFound, OutsideLimits
from gateway.formats.records import load_json


def check_url() -> None:
    """A ``before_request`` hook: every path segment, then every query key and value."""
    for name, value in (request.view_args or {}).items():
        if isinstance(value, str) and text_problem(value, limit=MAX_PARAMETER):
            raise NotFound(f"no {name} of that name exists", [Issue(path=name, message=_segment(value))])
    issues = [
        Issue(path=shown(key), message=f"this query parameter {problem}")
        for key, value in request.args.items(multi=True)
        for problem in (text_problem(key, limit=MAX_PARAMETER), text_problem(value, limit=MAX_PARAMETER))
        if problem
    ]
    if issues:
        raise OutsideLimits("the query is outside the gateway's limits", issues)


def _segment(value: str) -> str:
    return f"this path segment {text_problem(value, limit=MAX_PARAMETER)}"


class StrictJSONProvider(DefaultJSONProvider):
    """``request.get_json`` with the gateway's strict reader: a body beyond the limits is refused
    with its paths; other unreadable JSON stays a ``ValueError``, as Flask expects (``silent``)."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        try:
            return load_json(s)
        except OutsideLimits:
            raise
        except InputInvalid as exc:
            raise ValueError(exc.message) from exc
