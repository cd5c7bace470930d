"""A FHIR resource's JSON text as the server stores it, made where the resource is parsed.

The server stores what a partner sent with its own ``id`` and ``meta`` (a version and a time it
sets when the resource lands). A resource parsed in the parser process comes back to the process
that stores it as this text, not as a decoded tree, since that process only needs to store it:
unpickling the tree and encoding it as JSON again cost it about 14 µs per resource (the
workload's 3.5 KB Observations), the text and its join about 3. The text holds
every element but ``resourceType``, ``id`` and ``meta``, which are kept beside it, so the stored
document is joined from parts without decoding anything (``stored``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from gateway.core.fhir_search import references_in

# Where a resource names the organization it is addressed to.
OWNER_PATHS = {"Task": "owner", "ServiceRequest": "performer"}
_SET_BY_SERVER = frozenset({"resourceType", "id", "meta"})


@dataclass(frozen=True)
class ResourceText:
    """A resource as sent: its type, its own id, its ``meta`` (None when it had none) and the JSON
    text of its other elements (``{...}``, compact)."""

    resource_type: str
    id: str
    meta: Mapping[str, Any] | None
    rest: bytes
    owner: str | None  # ``owner_of`` the resource

    def data(self) -> dict[str, Any]:
        """The resource as it was sent (the same elements and values; the order of the first
        three keys may differ)."""
        head: dict[str, Any] = {"resourceType": self.resource_type, "id": self.id}
        if self.meta is not None:
            head["meta"] = dict(self.meta)
        rest: dict[str, Any] = orjson.loads(self.rest)
        return head | rest

    def references(self) -> tuple[tuple[str, str], ...]:
        """``fhir_search.relative_references`` of the resource, read off its text (the type and
        the id hold none)."""
        return references_in(self.rest, orjson.dumps(self.meta) if self.meta else b"")

    def stored(self, meta: Mapping[str, Any]) -> bytes:
        """The JSON text of the resource with ``meta`` in place of its own: what the server
        stores."""
        head = b'{"resourceType":%b,"id":%b,"meta":%b' % (
            orjson.dumps(self.resource_type),
            orjson.dumps(self.id),
            orjson.dumps(meta),
        )
        return head + b"}" if self.rest == b"{}" else head + b"," + self.rest[1:]


def resource_text(resource: Mapping[str, Any]) -> ResourceText | None:
    """The resource's parts, or None when it has no type and id as text, or a ``meta`` that is not
    an object (the server then stores it from its tree)."""
    resource_type, own_id = resource.get("resourceType"), resource.get("id")
    meta = resource.get("meta")
    if not (isinstance(resource_type, str) and isinstance(own_id, str) and own_id):
        return None
    if "meta" in resource and not isinstance(meta, dict):
        return None
    try:
        rest = orjson.dumps({k: v for k, v in resource.items() if k not in _SET_BY_SERVER})
    except TypeError:  # a value JSON cannot hold (an integer beyond 64 bits): stored from its tree
        return None
    return ResourceText(
        resource_type=resource_type, id=own_id, meta=meta, rest=rest, owner=owner_of(resource)
    )


def owner_of(resource: Mapping[str, Any]) -> str | None:
    """The partner id an ``Organization/{id}`` owner or performer reference names, if any."""
    found = resource.get(OWNER_PATHS.get(str(resource.get("resourceType")), ""))
    for reference in found if isinstance(found, list) else [found]:
        text = reference.get("reference") if isinstance(reference, Mapping) else None
        if isinstance(text, str) and "Organization/" in text:
            return text.rstrip("/").rsplit("/", 1)[-1][:64]
    return None
