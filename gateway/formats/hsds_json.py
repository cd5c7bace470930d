"""HSDS 3.x JSON in the API shape: one service (``/services/{id}``), a list of services, or a
page (``{"contents": [...], "total_items", "total_pages", "page_number"}``). Each service with
its nested organization, service_at_locations → location (addresses, languages, schedules),
schedules, languages, attributes → taxonomy_term, service_areas and (3.1) capacities becomes one
record per service at a location (one record without a location when it lists none).

The tabular readers (3.x, and 1.x/2.x packages) nest their rows into this same shape first, so
every version reaches the same values through this one path. A nested object may carry
``"_where"`` (file and row) for its problems; otherwise the JSON path names the place.

Validation is structural, in code: the HSDS JSON Schemas are CC BY-SA 4.0 and are not shipped
with the gateway. The checks are those the gateway relies on (id, name, status values, numbers,
coordinates); other fields are read as published."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import orjson

from gateway.core.directory import ScheduleRule, ServiceAtLocation, Term
from gateway.core.geo import Point
from gateway.errors import InputInvalid, Issue
from gateway.formats.hsds_common import (
    GONE_STATUSES,
    REJECTED,
    WARNING,
    DirectoryRecord,
    Problem,
    ReadResult,
    address_text,
    clock_time,
    language,
    number,
    point,
    sal_id,
    schedule_sort_key,
    term,
    text,
    zone_of,
)

STATUSES = ("active", "inactive", "defunct", "temporarily closed")


def read_json(data: bytes, name: str, source: str) -> ReadResult:
    """Every service in ``data`` (a file or an API answer named ``name``)."""
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise InputInvalid(
            f"{name} is not JSON",
            [Issue(path=name, message=f"{exc.msg} at line {exc.lineno}; send HSDS 3.x JSON")],
        ) from None
    result = ReadResult(version="3.x")
    for service, where in services_in(document, name):
        add_service(result, service, source, where)
    return result


def services_in(document: Any, name: str) -> Iterator[tuple[Any, str]]:
    if isinstance(document, dict) and isinstance(document.get("contents"), list):
        yield from ((s, f"{name} $.contents[{i}]") for i, s in enumerate(document["contents"]))
    elif isinstance(document, list):
        yield from ((s, f"{name} $[{i}]") for i, s in enumerate(document))
    elif isinstance(document, dict) and "id" in document:
        yield document, f"{name} $"
    else:
        raise InputInvalid(
            f"{name} holds no HSDS services",
            [Issue(path=name, message="expected a service, a list of services or a page with contents")],
        )


def add_service(result: ReadResult, service: Any, source: str, where: str) -> None:
    """The service's records into ``result``; a service that breaks the schema is rejected
    with its place, a field that is merely unreadable is dropped with a warning."""
    if not isinstance(service, dict):
        result.problems.append(Problem(where=where, message="a service must be a JSON object"))
        return
    where = service.get("_where") or where
    missing = [f for f in ("id", "name") if not text(service.get(f))]
    if text(service.get("id")):
        result.held.add(text(service["id"]))  # until the service is read whole
    if missing:
        result.problems.append(
            Problem(where=where, message=f"the service lacks {', '.join(missing)}; add it and import again")
        )
        return
    status = text(service.get("status")).lower() or "active"
    if status not in STATUSES:
        result.problems.append(
            Problem(where=f"{where}.status", message=f"status must be one of {', '.join(STATUSES)}")
        )
        return
    if status in GONE_STATUSES:
        result.held.discard(text(service["id"]))
        result.gone.add(text(service["id"]))
        return
    problems: list[Problem] = []
    records = list(_records(service, source, where, status, problems))
    result.problems.extend(problems)
    if not any(p.severity == REJECTED for p in problems):
        result.records.extend(records)
        result.held.discard(text(service["id"]))


def _records(
    service: dict[str, Any], source: str, where: str, status: str, problems: list[Problem]
) -> Iterator[DirectoryRecord]:
    base = _service_values(service, where, problems)
    sals = [s for s in _list(service, "service_at_locations") if isinstance(s, dict)]
    for index, sal in enumerate(sals or [None]):
        here = (sal or {}).get("_where") or f"{where}.service_at_locations[{index}]"
        values = _at_location(service, sal, here, problems)
        sid, lid = text(service["id"]), values.pop("location_id")
        yield DirectoryRecord(
            sal=ServiceAtLocation(
                id=sal_id(source, sid, text((sal or {}).get("id")), lid),
                source=source,
                service_id=sid,
                location_id=lid,
                status=status,
                **base,
                **values,
            ),
            modified=text(service.get("last_modified")),
            where=here,
        )


def _service_values(service: dict[str, Any], where: str, problems: list[Problem]) -> dict[str, Any]:
    organization = service.get("organization")
    return {
        "name": text(service.get("name")),
        "organization": text(organization.get("name")) if isinstance(organization, dict) else "",
        "terms": _terms(service),
        "age_min": _age(service, "minimum_age", where, problems),
        "age_max": _age(service, "maximum_age", where, problems),
        "capacity": _capacity(service, where, problems),
    }


def _at_location(
    service: dict[str, Any], sal: dict[str, Any] | None, where: str, problems: list[Problem]
) -> dict[str, Any]:
    location = (sal or {}).get("location")
    location = location if isinstance(location, dict) else {}
    schedules = (
        _schedules(sal or {}, f"{where}.schedules", problems)
        or _schedules(service, f"{where}(service).schedules", problems)
        or _schedules(location, f"{where}.location.schedules", problems)
    )
    languages = [*_list(service, "languages"), *_list(location, "languages")]
    areas = [*_list(service, "service_areas"), *_list(sal or {}, "service_areas")]
    return {
        "location_id": text(location.get("id")),
        "languages": tuple(sorted({c for c in (_language(x) for x in languages) if c})),
        "service_area": tuple(sorted({a for x in areas for a in _areas(x) if a})),
        "point": _point(location, where, problems),
        "address": _address(location),
        "schedules": tuple(sorted(schedules, key=schedule_sort_key)),
        "description": text(service.get("description")) or text((sal or {}).get("description")),
    }


def _list(owner: dict[str, Any], key: str) -> list[Any]:
    value = owner.get(key)
    return value if isinstance(value, list) else []


def _age(service: dict[str, Any], key: str, where: str, problems: list[Problem]) -> float | None:
    try:
        return number(service.get(key))
    except ValueError:
        problems.append(
            Problem(
                where=f"{where}.{key}",
                message="not a number of years; the field was left out",
                severity=WARNING,
            )
        )
        return None


def _capacity(service: dict[str, Any], where: str, problems: list[Problem]) -> int | None:
    for index, capacity in enumerate(_list(service, "capacities")):
        try:
            available = number(capacity.get("available")) if isinstance(capacity, dict) else None
        except ValueError:
            available = None
            problems.append(
                Problem(
                    where=f"{where}.capacities[{index}].available",
                    severity=WARNING,
                    message="not a number; the capacity was left out",
                )
            )
        if available is not None:
            return int(available)
    return None


def _terms(service: dict[str, Any]) -> tuple[Term, ...]:
    found = set()
    for attribute in _list(service, "attributes"):
        node = attribute.get("taxonomy_term") if isinstance(attribute, dict) else None
        if not isinstance(node, dict):
            continue
        detail = node.get("taxonomy_detail")
        taxonomy = node.get("taxonomy") or (detail.get("name") if isinstance(detail, dict) else "")
        made = term(taxonomy, node.get("code"), node.get("name"))
        if made is not None:
            found.add(made)
    return tuple(sorted(found, key=lambda t: (t.taxonomy, t.code, t.label)))


def _language(node: Any) -> str:
    return language(node.get("code"), node.get("name")) if isinstance(node, dict) else language("", node)


_ZIP_LIST = re.compile(r"^\d{5}(?:-\d{4})?(?:\s*[,;\s]\s*\d{5}(?:-\d{4})?)*$")


def _areas(node: Any) -> list[str]:
    """A service area as matching checks it: the US ZIP codes it lists (a name, description or
    text extent made only of ZIP codes), else its name as published, shown for the coordinator
    to check. Free text naming a ZIP among other words is not mined for it."""
    if not isinstance(node, dict):
        return _zips(text(node)) or [text(node)]
    name = text(node.get("name")) or text(node.get("description"))
    extent = text(node.get("extent")) if text(node.get("extent_type")).lower() == "text" else ""
    return _zips(extent) or _zips(name) or _zips(text(node.get("description"))) or [name]


def _zips(value: str) -> list[str]:
    return re.split(r"[,;\s]+", value) if _ZIP_LIST.match(value) else []


def _point(location: dict[str, Any], where: str, problems: list[Problem]) -> Point | None:
    if location.get("latitude") in (None, "") and location.get("longitude") in (None, ""):
        return None
    try:
        return point(location.get("latitude"), location.get("longitude"))
    except ValueError as exc:
        place = location.get("_where") or f"{where}.location"
        problems.append(
            Problem(
                where=f"{place} latitude/longitude",
                severity=WARNING,
                message=f"{exc}; the place cannot be found near anyone until it is fixed",
            )
        )
        return None


def _address(location: dict[str, Any]) -> str:
    addresses = [a for a in _list(location, "addresses") if isinstance(a, dict)]
    physical = [a for a in addresses if text(a.get("address_type")).lower() in ("physical", "")]
    chosen = physical or addresses
    return address_text(chosen[0]) if chosen else ""


def _schedules(owner: dict[str, Any], where: str, problems: list[Problem]) -> list[ScheduleRule]:
    rules = []
    for index, node in enumerate(_list(owner, "schedules")):
        if isinstance(node, dict):
            rule = _schedule(node, node.get("_where") or f"{where}[{index}]", problems)
            if rule is not None:
                rules.append(rule)
    return rules


def readable_schedule(node: dict[str, Any]) -> bool:
    """Whether the schedule row reads without a warning (the tabular reader shares such rows)."""
    problems: list[Problem] = []
    _schedule(node, "", problems)
    return not problems


def _schedule(node: dict[str, Any], where: str, problems: list[Problem]) -> ScheduleRule | None:
    try:
        opens, opens_offset = clock_time(node.get("opens_at"))
        closes, _ = clock_time(node.get("closes_at"))
        interval = int(number(node.get("interval")) or 1)
    except ValueError as exc:
        return _left_out(problems, where, f"{exc}: the schedule was left out (write HH:MM, e.g. 09:00)")
    try:
        count = _count(node.get("count"))
    except ValueError as exc:
        return _left_out(
            problems, where, f"{exc}: the schedule was left out (write e.g. 3, or leave it empty)"
        )
    valid_from, valid_to = text(node.get("valid_from")), text(node.get("valid_to"))
    freq = text(node.get("freq")).upper()
    closed = bool(node.get("_closed")) or (
        not opens and not closes and not freq and bool(valid_from or valid_to)
    )
    return ScheduleRule(
        freq=freq,
        interval=interval,
        byday=text(node.get("byday")).upper().replace(" ", ""),
        bymonthday=text(node.get("bymonthday")).replace(" ", ""),
        byweekno=text(node.get("byweekno")).replace(" ", ""),
        byyearday=text(node.get("byyearday")).replace(" ", ""),
        count=count,
        opens_at="" if closed else opens,
        closes_at="" if closed else closes,
        valid_from=valid_from,
        valid_to=valid_to,
        dtstart=text(node.get("dtstart")),
        until=text(node.get("until")),
        timezone=zone_of(node.get("timezone"), opens_offset),
        closed=closed,
        description=text(node.get("description")),
    )


def _count(value: object) -> int | None:
    """RFC 5545 COUNT: a whole number of occurrences, at least 1 ("3", 3, "3.0")."""
    found = number(value)
    if found is None:
        return None
    if not found.is_integer() or found < 1:
        raise ValueError("count is not a whole number of at least 1")
    return int(found)


def _left_out(problems: list[Problem], where: str, message: str) -> ScheduleRule | None:
    """None, with a warning: a schedule row that cannot be read is dropped, its service lands."""
    problems.append(Problem(where=where, severity=WARNING, message=message))
    return None
