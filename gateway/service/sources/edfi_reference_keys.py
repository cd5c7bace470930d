"""Ed-Fi change-query rows of reference-data resources (``/deletes`` ``keyValues``,
``/keyChanges`` ``oldKeyValues``) as the key digests ``reference_records`` keeps rows by.

The rows name key values by leaf property names, parent-prefixed where a leaf alone is
ambiguous (``service.edfi_keys``); a reference table entry's ``key`` paths are matched the same
way, so a deleted assessment forgets exactly the row its record was kept under.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from gateway.core.reference_data import ReferenceEntity, key_digest
from gateway.service.sources.edfi_keys import key_names

# Some servers render a date key as a midnight date-time; the record itself carries the date.
_MIDNIGHT = re.compile(r"^(\d{4}-\d{2}-\d{2})T00:00:00(?:\.0+)?Z?$")


def reference_digest(source_org: str, entity: ReferenceEntity, values: Mapping[str, Any]) -> str | None:
    """The row key of the record these key values name, or None when a key part is missing."""
    parts: list[str] = []
    for path in entity.key:
        name = next((n for n in key_names(path) if values.get(n) is not None), None)
        if name is None:
            return None
        text = str(values[name])
        found = _MIDNIGHT.match(text)
        parts.append(found.group(1) if found else text)
    return key_digest(source_org, entity.entity, parts)


def missing_names(entity: ReferenceEntity, values: Mapping[str, Any]) -> list[str]:
    return [key_names(p)[-1] for p in entity.key if not any(values.get(n) is not None for n in key_names(p))]
