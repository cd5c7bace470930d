"""HSDS tabular packages (3.x, and 1.x/2.x after ``hsds_legacy`` renames them) nested into the
3.x API shape and read by ``hsds_json``: one path from every version to the same values.

Rows join by id as the data package's foreign keys say. A row whose reference names nothing is
reported at its file and row and left out; a service row that breaks the schema is rejected
there and the rest lands."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from gateway.formats import hsds_legacy
from gateway.formats.hsds_common import WARNING, Problem, ReadResult
from gateway.formats.hsds_csv import Package, Row, read_package
from gateway.formats.hsds_json import add_service

Node = dict[str, Any]


def read_tabular(path: Path, source: str) -> ReadResult:
    package = read_package(path)
    version = hsds_legacy.version_of(package)
    if version != "3.x":
        hsds_legacy.to_v3(package)
    services = _services(package, package.problems)
    result = ReadResult(version=version, problems=package.problems)
    package.tables.clear()  # what no service holds is freed now
    services.reverse()
    while services:  # each service's tree is freed once its records are made
        service = services.pop()
        add_service(result, service, source, service["_where"])
    return result


def _node(file: str, number: int, row: Row) -> Node:
    """The row itself as a node (a copy would double a large package in memory); a row a 1.x/2.x
    table was renamed from keeps its own file and row."""
    node: Node = row
    node.setdefault("_where", f"{file} row {number}")
    return node


def _missing(problems: list[Problem], where: str, field: str, target: str) -> None:
    problems.append(Problem(where=where, message=f"{field} names no row of {target}; the row was left out"))


def _services(package: Package, problems: list[Problem]) -> list[Node]:
    services = {row.get("id", ""): _node(f, n, row) for f, n, row in package.rows("services")}
    services.pop("", None)
    nameless = [_node(f, n, row) for f, n, row in package.rows("services") if not row.get("id")]
    organizations = {row.get("id", ""): row for _, _, row in package.rows("organizations")}
    locations = _locations(package)
    sals = _service_at_locations(package, services, locations, problems)
    _attach_schedules(package, services, sals, locations)
    _attach_children(package, services, sals, locations)
    for service in services.values():
        organization = organizations.get(service.get("organization_id", ""))
        if organization is not None:
            service["organization"] = organization
    return [*services.values(), *nameless]


def _locations(package: Package) -> dict[str, Node]:
    locations = {row.get("id", ""): _node(f, n, row) for f, n, row in package.rows("locations")}
    for _, _, row in package.rows("addresses"):
        location = locations.get(row.get("location_id", ""))
        if location is not None:
            location.setdefault("addresses", []).append(row)
    return locations


def _service_at_locations(
    package: Package, services: dict[str, Node], locations: dict[str, Node], problems: list[Problem]
) -> dict[str, Node]:
    sals: dict[str, Node] = {}
    for file, number, row in package.rows("service_at_location"):
        node = _node(file, number, row)
        where = node["_where"]
        service = services.get(row.get("service_id", ""))
        location = locations.get(row.get("location_id", ""))
        if service is None:
            _missing(problems, where, "service_id", "services.csv")
        elif location is None:
            _missing(problems, where, "location_id", "locations.csv")
        else:
            node["location"] = location
            service.setdefault("service_at_locations", []).append(node)
            sals[row.get("id") or f"{row['service_id']}@{row['location_id']}"] = node
    return sals


def _attach_schedules(
    package: Package, services: dict[str, Node], sals: dict[str, Node], locations: dict[str, Node]
) -> None:
    for file, number, row in package.rows("schedules"):
        owner = (
            sals.get(row.get("service_at_location_id", ""))
            or services.get(row.get("service_id", ""))
            or locations.get(row.get("location_id", ""))
        )
        if owner is not None:
            owner.setdefault("schedules", []).append(_node(file, number, row))
        else:
            package.problems.append(
                Problem(
                    where=f"{file} row {number}",
                    severity=WARNING,
                    message="the schedule names no service, location or "
                    "service at location of this package; it was left out",
                )
            )


def _attach_children(
    package: Package, services: dict[str, Node], sals: dict[str, Node], locations: dict[str, Node]
) -> None:
    for _, _, row in package.rows("languages"):
        owner = services.get(row.get("service_id", "")) or locations.get(row.get("location_id", ""))
        if owner is not None:
            owner.setdefault("languages", []).append(row)
    for _, _, row in package.rows("service_areas"):
        owner = sals.get(row.get("service_at_location_id", "")) or services.get(row.get("service_id", ""))
        if owner is not None:
            owner.setdefault("service_areas", []).append(row)
    for _, _, row in package.rows("service_capacity"):
        service = services.get(row.get("service_id", ""))
        if service is not None:
            service.setdefault("capacities", []).append(row)
    _attach_attributes(package, services)


def _attach_attributes(package: Package, services: dict[str, Node]) -> None:
    taxonomies = {row.get("id", ""): row for _, _, row in package.rows("taxonomies")}
    terms: dict[str, Node] = {}
    for _, _, row in package.rows("taxonomy_terms"):
        detail = taxonomies.get(row.get("taxonomy_id", ""))
        terms[row.get("id", "")] = {**row, "taxonomy_detail": detail} if detail else dict(row)
    grouped: dict[str, list[Node]] = defaultdict(list)
    for _, _, row in package.rows("attributes"):
        found = terms.get(row.get("taxonomy_term_id", ""))
        if found is not None:
            grouped[row.get("link_id", "")].append({**row, "taxonomy_term": found})
    for link_id, attributes in grouped.items():
        service = services.get(link_id)
        if service is not None:
            service.setdefault("attributes", []).extend(attributes)
