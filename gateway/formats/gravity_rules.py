"""Gravity SDOH Clinical Care rules that fhir.resources does not check (profiles, not base R4).

``check(resource, location)`` returns every problem of one resource, each with its FHIRPath-like
location; an empty tuple when the resource keeps the rules.
"""

from __future__ import annotations

from typing import Any

from gateway.errors import Issue


def check(resource: dict[str, Any], location: str) -> tuple[Issue, ...]:
    return ()
