"""HSDS 1.x and 2.x packages renamed into 3.x tables, in place (``hsds-gtfs.md`` §1.4):

- 1.x ``regular_schedule`` (weekday 1-7 or names, opens_at, closes_at) -> WEEKLY ``schedules``;
  ``holiday_schedule`` (start_date, end_date, closed) -> dated ``schedules`` (closed, or special
  hours); 2.x ``schedule`` is already RRULE-shaped;
- ``services_at_location`` -> ``service_at_location``; ``physical_address`` -> ``addresses``;
- ``languages.language`` (a name) -> ``name``; ``service_area.service_area`` -> ``name``;
- ``eligibility`` free text -> the service's minimum/maximum age when it states "ages N-M";
- 2.x ``taxonomy`` + ``service_taxonomy`` (or ``service_attribute``) -> ``taxonomy_terms`` +
  ``attributes``: the term's code is its ``code`` column, else its id (211 exports use the AIRS
  code as the id), and its taxonomy the ``vocabulary`` column.

Each renamed row keeps ``_where`` with its own file and row, so problems name the file the
publisher wrote."""

from __future__ import annotations

import contextlib
import json

from gateway.formats.hsds_common import WARNING, Problem, ages_in, weekday
from gateway.formats.hsds_csv import Package, Row

_V1 = (
    "regular_schedule",
    "regular_schedules",
    "holiday_schedule",
    "holiday_schedules",
    "services_at_location",
    "physical_address",
    "physical_addresses",
    "eligibility",
    "service_area",
)
_V2 = ("taxonomy", "service_taxonomy", "services_taxonomy", "service_attribute", "schedule")
_TRUE = frozenset({"true", "t", "yes", "y", "1", "closed"})


def version_of(package: Package) -> str:
    stated = _stated_version(package.descriptor)
    if stated:
        return stated
    if package.has(*_V2):
        return "2.x"
    return "1.x" if package.has(*_V1) else "3.x"


def _stated_version(descriptor: bytes) -> str:
    try:
        document = json.loads(descriptor) if descriptor else {}
    except ValueError:
        return ""
    version = str(document.get("version", "")) if isinstance(document, dict) else ""
    return f"{version[0]}.x" if version[:1] in ("1", "2", "3") else ""


def to_v3(package: Package) -> None:
    tables = package.tables
    if "service_at_location" not in tables and "services_at_location" in tables:
        tables["service_at_location"] = _renamed(package, ("services_at_location",))
    tables["schedules"] = [*_weekly(package), *_holidays(package), *_rrule_rows(package)]
    if "addresses" not in tables:
        tables["addresses"] = _renamed(
            package, ("physical_address", "physical_addresses"), address_type="physical"
        )
    tables["languages"] = _renamed(package, ("languages", "language"), name="language")
    tables["service_areas"] = _renamed(package, ("service_area", "service_areas"), name="service_area")
    _eligibility(package)
    _taxonomy(package)


def _renamed(package: Package, names: tuple[str, ...], **fields: str) -> list[tuple[int, Row]]:
    """Rows of the first table in ``names``; each field gets the named column's value when the
    row has none of its own (``address_type`` is set outright)."""
    found = []
    for _, number, row in _rows(package, *names):
        values = {k: (v if k == "address_type" else row.get(k) or row.get(v, "")) for k, v in fields.items()}
        found.append((number, {**row, **values}))
    return found


def _rows(package: Package, *names: str) -> list[tuple[str, int, Row]]:
    return [(f, n, {"_where": f"{f} row {n}", **r}) for f, n, r in package.rows(*names)]


def _weekly(package: Package) -> list[tuple[int, Row]]:
    found = []
    for file, number, row in _rows(package, "regular_schedule", "regular_schedules"):
        try:
            day = weekday(row.get("weekday"))
        except ValueError as exc:
            package.problems.append(
                Problem(
                    where=f"{file} row {number}",
                    severity=WARNING,
                    message=f"{exc}; the schedule row was left out",
                )
            )
            continue
        found.append((number, {**row, "freq": "WEEKLY", "byday": day}))
    return found


def _holidays(package: Package) -> list[tuple[int, Row]]:
    found = []
    for _, number, row in _rows(package, "holiday_schedule", "holiday_schedules"):
        closed = row.get("closed", "").strip().lower() in _TRUE
        dated = {"valid_from": row.get("start_date", ""), "valid_to": row.get("end_date", "")}
        found.append((number, {**row, **dated, "freq": "", "_closed": "1" if closed else ""}))
    return found


def _rrule_rows(package: Package) -> list[tuple[int, Row]]:
    found = []
    for _, number, row in _rows(package, "schedule"):
        if not row.get("byday") and row.get("weekday"):
            with contextlib.suppress(ValueError):  # else left as published, without a day
                row = {**row, "freq": row.get("freq") or "WEEKLY", "byday": weekday(row["weekday"])}
        found.append((number, row))
    return found


def _eligibility(package: Package) -> None:
    services = {row.get("id"): row for _, row in package.tables.get("services", [])}
    for _, _, row in package.rows("eligibility"):
        service = services.get(row.get("service_id"))
        if service is None or service.get("minimum_age") or service.get("maximum_age"):
            continue
        low, high = ages_in(row.get("eligibility", ""))
        if low is not None and high is not None:
            service["minimum_age"], service["maximum_age"] = str(low), str(high)


def _taxonomy(package: Package) -> None:
    if "taxonomy_terms" in package.tables:
        return
    package.tables["taxonomy_terms"] = [
        (
            n,
            {
                **r,
                "code": r.get("code") or r.get("id", ""),
                "taxonomy": r.get("vocabulary") or r.get("taxonomy", ""),
            },
        )
        for _, n, r in package.rows("taxonomy")
    ]
    links = package.rows("service_taxonomy", "services_taxonomy", "service_attribute")
    package.tables["attributes"] = [
        (
            n,
            {
                **r,
                "link_id": r.get("service_id", ""),
                "link_entity": "service",
                "taxonomy_term_id": r.get("taxonomy_id", ""),
            },
        )
        for _, n, r in links
    ]
