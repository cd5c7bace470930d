"""OneRoster REST JSON (1.1 / 1.2): one collection page ``{"users": [...]}`` in, records of the
same shape as the CSV rows out, so the same ``oneroster`` mappings apply.

References become the CSV's ``*SourcedId`` columns (``{"user": {"sourcedId": "x"}}`` ->
``userSourcedId``), lists of references comma lists (``orgs`` -> ``orgSourcedIds``), string lists
comma lists (``grades``), ``userIds`` the CSV's ``{type:identifier}`` list, and a 1.2 user's
``roles[]`` its primary ``role``. ``metadata`` and other nested extensions are left out. Entities
and statuses are classified as for CSV (``nonstudent-users``, ``family-users``, ``deactivations``).
Values are read as leniently as CSV cells (``oneroster_leniency``): ``"TRUE"`` or ``1`` for a
boolean, ``"Active"`` for a status, a date-time in a date field; ``page_rows`` gives the page's
rows as read and the warnings, counted per collection and field, for the pull's summary.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, BinaryIO

from gateway.errors import InputInvalid, Issue
from gateway.formats.oneroster_csv import DEACTIVATIONS, NONSTUDENT
from gateway.formats.oneroster_family import agents, family_records, family_role
from gateway.formats.oneroster_leniency import ReadWarning, Tally, read_cells, read_enum
from gateway.formats.oneroster_rows import row_issues
from gateway.formats.oneroster_tables import DEACTIVATING, ROLES_12, SPECS, FileSpec
from gateway.formats.records import RecordProblem, SourceRecord, load_json, record

StreamItem = SourceRecord | RecordProblem

# REST collection -> the CSV file whose rows it carries
COLLECTIONS: dict[str, str] = {
    "users": "users",
    "students": "users",
    "teachers": "users",
    "enrollments": "enrollments",
    "classes": "classes",
    "courses": "courses",
    "orgs": "orgs",
    "schools": "orgs",
    "academicSessions": "academicSessions",
    "terms": "academicSessions",
    "gradingPeriods": "academicSessions",
    "demographics": "demographics",
    "lineItems": "lineItems",
    "results": "results",
    "categories": "categories",
}
_REFERENCES = {
    "user": "userSourcedId",
    "class": "classSourcedId",
    "school": "schoolSourcedId",
    "org": "orgSourcedId",
    "course": "courseSourcedId",
    "parent": "parentSourcedId",
    "lineItem": "lineItemSourcedId",
    "student": "studentSourcedId",
    "category": "categorySourcedId",
    "gradingPeriod": "gradingPeriodSourcedId",
    "schoolYear": "schoolYearSourcedId",
    "primaryOrg": "primaryOrgSourcedId",
    "academicSession": "academicSessionSourcedId",
    "scoreScale": "scoreScaleSourcedId",
}
_REFERENCE_LISTS = {"orgs": "orgSourcedIds", "terms": "termSourcedIds", "agents": "agentSourcedIds"}
_RENAMED = {"grade": "grades"}  # the Ed-Fi OneRoster service names the users' grades 'grade'
_DROPPED = frozenset({"metadata", "href", "children", "demographics", "userProfiles", "resources"})


def iter_records(stream: BinaryIO, entity: str | None = None) -> Iterator[StreamItem]:
    body = load_json(stream.read())
    collection, items = _collection(body, entity)
    stem = COLLECTIONS[collection]
    spec = _rest_spec(stem)
    tally = Tally()
    for index, item in enumerate(items):
        where = f"$.{collection}[{index}]"
        if not isinstance(item, dict):
            yield RecordProblem(location=where, issues=(Issue(path=where, message="expected an object"),))
            continue
        row = _read(spec, item, tally, collection, index)
        issues = row_issues(spec, {k: v for k, v in row.items() if isinstance(v, str)}, where, sep=".")
        if issues:
            yield RecordProblem(location=where, issues=tuple(issues))
        elif row.get("status") in DEACTIVATING:
            yield record(DEACTIVATIONS, where, {"file": stem, **row})
        elif (role := _family(stem, row)) is not None:
            yield from family_records(where, row, role)
        else:
            yield record(_entity(stem, row), where, row)


def page_rows(body: bytes, entity: str | None) -> tuple[list[dict[str, Any]], tuple[ReadWarning, ...]]:
    """A page's object items as read (flattened, spellings read as the binding's) and the
    warnings; nothing for a page that is no collection (its ingest says why)."""
    try:
        collection, items = _collection(load_json(body), entity)
    except InputInvalid:
        return [], ()
    spec, tally = _rest_spec(COLLECTIONS[collection]), Tally()
    rows = [_read(spec, item, tally, collection, i) for i, item in enumerate(items) if isinstance(item, dict)]
    return rows, tally.warnings()


def _read(spec: FileSpec, item: dict[str, Any], tally: Tally, collection: str, index: int) -> dict[str, Any]:
    row = flatten(item)
    texts = {k: v for k, v in row.items() if isinstance(v, str)}
    row.update(read_cells(spec, texts, tally, collection, index))
    if COLLECTIONS[collection] == "users":
        row.update(_user_roles(row, tally, collection, index))
    return row


def _user_roles(row: dict[str, Any], tally: Tally, collection: str, index: int) -> dict[str, str]:
    """A user's role names in another case read as the spec's (``Student``); a role the spec does
    not name (an ``ext:`` role) stays as written: it is not a student role either way. A 1.2
    user's roles (``roles[]``, its primary one also in ``role``) are counted once."""
    out: dict[str, str] = {}
    column = "roles[].role" if "roleNames" in row else "role"
    for key in ("role", "roleNames"):
        if key in row:
            names = [read_enum(n, ROLES_12) for n in str(row[key]).split(",")]
            read = [n for n, _ in names]
            out[key] = ",".join(sorted(set(read)) if key == "roleNames" else read)
            for _, rule in names if column == "role" or key == "roleNames" else ():
                if rule is not None:
                    tally.add(collection, column, rule, index)
    return out


def _collection(body: Any, entity: str | None) -> tuple[str, list[Any]]:
    lists = {k: v for k, v in body.items() if isinstance(v, list)} if isinstance(body, dict) else {}
    name = entity if entity in lists else next(iter(lists), None)
    if name is None or name not in COLLECTIONS:
        raise InputInvalid(
            "not a OneRoster collection page",
            [Issue(path="$", message=f"expected one of {', '.join(sorted(COLLECTIONS))} as a JSON array")],
        )
    return name, lists[name]


def _rest_spec(stem: str) -> FileSpec:
    """The CSV spec's value checks; only sourcedId is required (REST may send a partial view)."""
    base = SPECS["1.2"].get(stem) or SPECS["1.1"][stem]
    return FileSpec(
        columns=base.columns,
        required=("sourcedId",),
        enums=base.enums,
        dates=base.dates,
        booleans=base.booleans,
        numbers=base.numbers,
    )


def flatten(item: dict[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for key, value in item.items():
        if key in _DROPPED or value is None or value == "" or value == []:
            continue
        if key in _REFERENCES and isinstance(value, dict):
            if value.get("sourcedId"):
                row[_REFERENCES[key]] = str(value["sourcedId"])
        elif key in _REFERENCE_LISTS and isinstance(value, list):
            row[_REFERENCE_LISTS[key]] = ",".join(
                str(v.get("sourcedId")) for v in value if isinstance(v, dict)
            )
        elif key == "userIds" and isinstance(value, list):
            row["userIds"] = ",".join(_user_id(v) for v in value)
        elif key == "roles" and isinstance(value, list):
            row.update(_roles(value))
        elif isinstance(value, bool):
            row[_RENAMED.get(key, key)] = "true" if value else "false"
        elif isinstance(value, list) and all(isinstance(v, str | int | float) for v in value):
            row[_RENAMED.get(key, key)] = ",".join(str(v) for v in value)
        elif isinstance(value, str | int | float):
            row[_RENAMED.get(key, key)] = str(value)
    return row


def _user_id(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + f"{value.get('type', '')}:{value.get('identifier', '')}" + "}"
    return str(value)


def _roles(roles: list[Any]) -> dict[str, str]:
    found = [r for r in roles if isinstance(r, dict) and r.get("role")]
    primary = next((r for r in found if r.get("roleType") == "primary"), found[0] if found else None)
    if primary is None:
        return {}
    names = sorted({str(r["role"]) for r in found})
    return {"role": str(primary["role"]), "roleNames": ",".join(names)}


def _family(stem: str, row: dict[str, Any]) -> str | None:
    role = family_role(row, {}) if stem == "users" else None
    return role if role and agents(row) else None


def _entity(stem: str, row: dict[str, Any]) -> str:
    if stem == "users":
        roles = set(str(row.get("roleNames", row.get("role", ""))).split(","))
        return stem if "student" in roles else NONSTUDENT + stem
    if stem == "enrollments" and row.get("role") != "student":
        return NONSTUDENT + stem
    return stem
