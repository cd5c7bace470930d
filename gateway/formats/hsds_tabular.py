"""HSDS tabular packages (3.x, and 1.x/2.x after ``hsds_legacy`` renames them) nested into the
3.x API shape and read by ``hsds_json``: one path from every version to the same values.

Rows join by id as the data package's foreign keys say. A row whose reference names nothing is
reported at its file and row and left out; a service row that breaks the schema is rejected
there and the rest lands."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gateway.formats import hsds_legacy
from gateway.formats.hsds_common import WARNING, Problem, ReadResult
from gateway.formats.hsds_csv import Package, Row, read_package
from gateway.formats.hsds_json import add_service, readable_schedule

Node = dict[str, Any]


def read_tabular(path: Path, source: str) -> ReadResult:
    package = read_package(path)
    version = hsds_legacy.version_of(package)
    if version != "3.x":
        package.read_all()  # the renames work on whole tables
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


class _Shared:
    """One dict for rows that read the same: a child row is kept as only the fields the reader
    reads, and a 50,000-service package repeats a few languages, terms and hours 100,000 times."""

    def __init__(self) -> None:
        self._seen: dict[tuple[tuple[str, ...], tuple[str, ...]], Node] = {}
        self.readable: dict[int, bool] = {}  # a shared schedule node's id -> whether it reads cleanly

    def node(self, row: Row, fields: tuple[str, ...]) -> Node:
        values = tuple(row.get(f, "") for f in fields)
        found = self._seen.get((fields, values))
        if found is None:
            found = self._seen[(fields, values)] = {f: v for f, v in zip(fields, values, strict=True) if v}
        return found

    def schedule(self, row: Row) -> Node | None:
        """The shared node of a schedule row that reads without a warning, else None."""
        node = self.node(row, _SCHEDULE)
        readable = self.readable.get(id(node))
        if readable is None:
            readable = self.readable[id(node)] = readable_schedule(node)
        return node if readable else None


# The fields hsds_json reads of each kind of child row (the rest of a row is left behind).
_LANGUAGE = ("code", "name")
_AREA = ("name", "description", "extent", "extent_type")
_CAPACITY = ("available",)
_ADDRESS = ("address_1", "address_2", "city", "state_province", "postal_code", "address_type")
_SCHEDULE = (
    "freq", "interval", "byday", "bymonthday", "byweekno", "byyearday", "count", "opens_at", "closes_at",
    "valid_from", "valid_to", "dtstart", "until", "timezone", "description", "_closed",
)  # fmt: skip


def _services(package: Package, problems: list[Problem]) -> list[Node]:
    """Every service's tree, joined as the rows stream by: services first, then what hangs on them."""
    organizations = {row.get("id", ""): row.get("name", "") for _, _, row in package.rows("organizations")}
    services: dict[str, Node] = {}
    nameless: list[Node] = []
    for file, number, row in package.rows("services"):
        node = _node(file, number, row)
        organization = organizations.get(row.get("organization_id", ""))
        if organization is not None:
            node["organization"] = {"name": organization}
        if row.get("id"):
            services[row["id"]] = node
        else:
            nameless.append(node)
    organizations.clear()
    shared = _Shared()
    locations = _locations(package, shared)
    sals = _service_at_locations(package, services, locations, problems)
    _attach_schedules(package, services, sals, locations, shared)
    _attach_children(package, services, sals, locations, shared)
    return [*services.values(), *nameless]


def _locations(package: Package, shared: _Shared) -> dict[str, Node]:
    locations = {row.get("id", ""): _node(f, n, row) for f, n, row in package.rows("locations")}
    for _, _, row in package.rows("addresses"):
        location = locations.get(row.get("location_id", ""))
        if location is not None:
            location.setdefault("addresses", []).append(shared.node(row, _ADDRESS))
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
    package: Package,
    services: dict[str, Node],
    sals: dict[str, Node],
    locations: dict[str, Node],
    shared: _Shared,
) -> None:
    for file, number, row in package.rows("schedules"):
        owner = (
            sals.get(row.get("service_at_location_id", ""))
            or services.get(row.get("service_id", ""))
            or locations.get(row.get("location_id", ""))
        )
        if owner is None:
            package.problems.append(
                Problem(
                    where=f"{file} row {number}",
                    severity=WARNING,
                    message="the schedule names no service, location or "
                    "service at location of this package; it was left out",
                )
            )
            continue
        # A row the reader will warn about keeps its file and row for the warning; the rest
        # (nearly all) are shared by their fields.
        owner.setdefault("schedules", []).append(shared.schedule(row) or _node(file, number, row))


def _attach_children(
    package: Package,
    services: dict[str, Node],
    sals: dict[str, Node],
    locations: dict[str, Node],
    shared: _Shared,
) -> None:
    for _, _, row in package.rows("languages"):
        owner = services.get(row.get("service_id", "")) or locations.get(row.get("location_id", ""))
        if owner is not None:
            owner.setdefault("languages", []).append(shared.node(row, _LANGUAGE))
    for _, _, row in package.rows("service_areas"):
        owner = sals.get(row.get("service_at_location_id", "")) or services.get(row.get("service_id", ""))
        if owner is not None:
            owner.setdefault("service_areas", []).append(shared.node(row, _AREA))
    for _, _, row in package.rows("service_capacity"):
        service = services.get(row.get("service_id", ""))
        if service is not None:
            service.setdefault("capacities", []).append(shared.node(row, _CAPACITY))
    _attach_attributes(package, services)


def _attach_attributes(package: Package, services: dict[str, Node]) -> None:
    taxonomies = {row.get("id", ""): row for _, _, row in package.rows("taxonomies")}
    terms: dict[str, Node] = {}
    for _, _, row in package.rows("taxonomy_terms"):
        detail = taxonomies.get(row.get("taxonomy_id", ""))
        terms[row.get("id", "")] = {**row, "taxonomy_detail": detail} if detail else dict(row)
    # hsds_json reads an attribute for its term alone: one node per term, whatever links to it.
    attributes = {term_id: {"taxonomy_term": term} for term_id, term in terms.items()}
    for _, _, row in package.rows("attributes"):
        found = attributes.get(row.get("taxonomy_term_id", ""))
        service = services.get(row.get("link_id", ""))
        if found is not None and service is not None:
            service.setdefault("attributes", []).append(found)
