"""What the gateway holds of a directory, written back as HSDS 3.x JSON (a list of services in
the API shape). Reading it again with ``hsds_json`` gives the same values: the export carries
every field the gateway keeps, and nothing it does not (phones, contacts, fees stay with the
publisher). Ids are the publisher's; an organization is known here by name only, so its id is
derived from the name."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from gateway.core.directory import ScheduleRule, ServiceAtLocation
from gateway.formats.hsds_common import DirectoryRecord

_NAMESPACE = uuid.UUID("6f1d8a52-8d0e-4d53-9a43-2f7d3c1a9e10")  # the gateway's, for derived ids
_TAXONOMY_NAMES = {"airs": "AIRS", "open-eligibility": "Open Eligibility", "directory": "directory"}


def service_documents(records: Iterable[DirectoryRecord]) -> list[dict[str, Any]]:
    """One HSDS service per service id, with a service_at_location per location."""
    by_service: dict[str, list[DirectoryRecord]] = {}
    for record in records:
        by_service.setdefault(record.sal.service_id, []).append(record)
    return [_service(group) for _, group in sorted(by_service.items())]


def _derived(*parts: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, "|".join(parts)))


def _service(group: list[DirectoryRecord]) -> dict[str, Any]:
    first = group[0].sal
    document: dict[str, Any] = {
        "id": first.service_id,
        "name": first.name,
        # Said once on the service when every place says the same, else on each place.
        "description": first.description if len({r.sal.description for r in group}) == 1 else "",
        "status": first.status,
        "organization": {
            "id": _derived("organization", first.organization),
            "name": first.organization,
            "description": "",
        },
        "attributes": [_attribute(first, t.taxonomy, t.code, t.label) for t in first.terms],
        "capacities": _capacities(first),
    }
    document.update({k: v for k, v in _ages(first).items() if v is not None})
    if group[0].modified:
        document["last_modified"] = group[0].modified
    located = [r.sal for r in group if r.sal.location_id]
    if located:
        document["service_at_locations"] = [_service_at_location(sal) for sal in located]
    else:  # a service without a place keeps its languages, areas and hours on the service itself
        document.update(_placeless(first))
    return document


def _ages(sal: ServiceAtLocation) -> dict[str, float | int | None]:
    def whole(value: float | None) -> float | int | None:
        return int(value) if value is not None and value.is_integer() else value

    return {"minimum_age": whole(sal.age_min), "maximum_age": whole(sal.age_max)}


def _capacities(sal: ServiceAtLocation) -> list[dict[str, Any]]:
    if sal.capacity is None:
        return []
    unit = {"id": _derived("unit", "places"), "name": "places"}
    return [{"id": _derived("capacity", sal.id), "unit": unit, "available": sal.capacity, "updated": ""}]


def _attribute(sal: ServiceAtLocation, taxonomy: str, code: str, label: str) -> dict[str, Any]:
    return {
        "id": _derived("attribute", sal.service_id, taxonomy, code),
        "link_entity": "service",
        "link_type": "service_category",
        "taxonomy_term": {
            "id": _derived("term", taxonomy, code),
            "code": code,
            "name": label,
            "description": label,
            "taxonomy": _TAXONOMY_NAMES.get(taxonomy, taxonomy),
        },
    }


def _placeless(sal: ServiceAtLocation) -> dict[str, Any]:
    return {
        "languages": [_language(sal, code) for code in sal.languages],
        "service_areas": [_area(sal, name) for name in sal.service_area],
        "schedules": [_schedule(sal, i, rule) for i, rule in enumerate(sal.schedules)],
    }


def _service_at_location(sal: ServiceAtLocation) -> dict[str, Any]:
    location: dict[str, Any] = {
        "id": sal.location_id,
        "location_type": "physical",
        "languages": [_language(sal, code) for code in sal.languages],
        "addresses": [_address(sal)] if sal.address else [],
    }
    if sal.point is not None:
        location.update(latitude=sal.point.lat, longitude=sal.point.lon)
    return {
        "id": sal.id.split(":", 1)[1],
        "description": sal.description,
        "service_areas": [_area(sal, name) for name in sal.service_area],
        "schedules": [_schedule(sal, i, rule) for i, rule in enumerate(sal.schedules)],
        "location": location,
    }


def _language(sal: ServiceAtLocation, code: str) -> dict[str, Any]:
    return {"id": _derived("language", sal.id, code), "code": code}


def _area(sal: ServiceAtLocation, name: str) -> dict[str, Any]:
    return {"id": _derived("area", sal.id, name), "name": name}


def _address(sal: ServiceAtLocation) -> dict[str, Any]:
    # The gateway keeps the address as one line: it goes back as address_1.
    return {"id": _derived("address", sal.id), "address_1": sal.address, "address_type": "physical"}


def _schedule(sal: ServiceAtLocation, index: int, rule: ScheduleRule) -> dict[str, Any]:
    fields = {
        "freq": rule.freq,
        "byday": rule.byday,
        "bymonthday": rule.bymonthday,
        "byweekno": rule.byweekno,
        "byyearday": rule.byyearday,
        "count": rule.count,
        "opens_at": rule.opens_at,
        "closes_at": rule.closes_at,
        "valid_from": rule.valid_from,
        "valid_to": rule.valid_to,
        "dtstart": rule.dtstart,
        "until": rule.until,
        "timezone": _zone(rule.timezone),
        "description": rule.description,
    }
    document: dict[str, Any] = {"id": _derived("schedule", sal.id, str(index))}
    document.update({k: v for k, v in fields.items() if v not in ("", None)})
    if rule.freq:
        document["interval"] = rule.interval
    return document


def _zone(name: str) -> float | int | str | None:
    """HSDS 3.x writes the UTC offset as a number: fixed zones go back as one; an IANA zone
    with daylight saving has no single offset, so its name is written (read back as such)."""
    if name == "UTC":
        return 0
    if name.startswith("Etc/GMT") and name[7:]:
        return -int(name[7:])
    return name or None
