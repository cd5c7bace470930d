"""Natural keys of Ed-Fi change-query rows, as the gateway's mappings name source records.

A mapping's ``key`` paths, joined with "|", are a record's source id (``core.mapping``). An
Ed-Fi ``/deletes`` row carries ``keyValues`` and a ``/keyChanges`` row ``oldKeyValues``, keyed by
leaf property names (``studentUniqueId``, ``schoolId``, ``entryDate``), prefixed by the parent
reference where a leaf name alone is ambiguous (``gradingPeriodSchoolYear`` next to ``schoolYear``).
So each key path is matched by its parent-prefixed leaf name first, then by its leaf name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping as MappingOf
from typing import Any

from gateway.core.mapping_model import Mapping
from gateway.core.paths import Path

# Some servers render a date key as a midnight date-time; the record itself carries the date.
_MIDNIGHT = re.compile(r"^(\d{4}-\d{2}-\d{2})T00:00:00(?:\.0+)?Z?$")


def key_names(path: Path) -> tuple[str, ...]:
    """The names a key path may go by in ``keyValues``, most specific first."""
    fields = [s.name for s in path.segments if s.kind == "field"]
    if not fields:
        return ()
    leaf = fields[-1]
    if len(fields) < 2:
        return (leaf,)
    parent = fields[-2].removesuffix("Reference")
    if leaf.startswith(parent):  # schoolReference.schoolId is plainly "schoolId"
        return (leaf,)
    return (parent + leaf[:1].upper() + leaf[1:], leaf)


def _text(value: Any) -> str:
    text = str(value)
    found = _MIDNIGHT.match(text)
    return found.group(1) if found else text


def source_id_from(mapping: Mapping, values: MappingOf[str, Any]) -> str | None:
    """The record's source id built from key values, or None when a key part is missing."""
    parts: list[str] = []
    for path in mapping.key:
        name = next((n for n in key_names(path) if values.get(n) is not None), None)
        if name is None:
            return None
        parts.append(_text(values[name]))
    return "|".join(parts)


def missing_key_names(mapping: Mapping, values: MappingOf[str, Any]) -> list[str]:
    return [key_names(p)[-1] for p in mapping.key if not any(values.get(n) is not None for n in key_names(p))]
