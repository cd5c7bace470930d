"""An Ed-Fi ODS/API for tests: a real HTTP server (Flask under waitress, in a daemon thread, on
a free port) with the shapes of the published specifications (discovery API 1.0, change
queries API 1.0, resources DS 5.0) and of ODS/API behaviour (TokenController, paging, errors).

- ``GET {root}/`` discovery document; the data, token and change-query bases are configurable
  so a client that hard-codes paths fails;
- ``POST /oauth/token``: HTTP Basic client credentials, ``expires_in`` configurable; tokens can
  be revoked (then data calls answer 401, as an ODS/API does for an expired token);
- collections with offset paging (``offset``/``limit`` <= 500, ``totalCount`` -> ``Total-Count``)
  and, when ``version`` >= 7.3, cursor paging (``pageSize``/``pageToken`` -> ``Next-Page-Token``);
- change queries over an in-memory change log: ``availableChangeVersions`` (camelCase, or the
  PascalCase of ODS/API < 6.0), ``minChangeVersion``/``maxChangeVersion`` on collections,
  ``/deletes`` (``keyValues``) and ``/keyChanges`` (``oldKeyValues``/``newKeyValues``);
- scripted faults: a status (429 with ``Retry-After``, 5xx, 4xx) for the next N matching calls,
  with a ``{"message"}`` body (ODS/API <= 7.1) or RFC 9457 problem details (7.2+).
"""

from __future__ import annotations

import base64
import copy
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, Response, jsonify, request

from tests.http_server import serve_wsgi

# Natural keys as the ODS/API reports them in keyValues: (key value name, path in the resource).
NATURAL_KEYS: dict[str, tuple[tuple[str, tuple[str, ...]], ...]] = {
    "students": (("studentUniqueId", ("studentUniqueId",)),),
    "studentSchoolAssociations": (
        ("entryDate", ("entryDate",)),
        ("schoolId", ("schoolReference", "schoolId")),
        ("studentUniqueId", ("studentReference", "studentUniqueId")),
    ),
    "studentSchoolAttendanceEvents": (
        ("attendanceEventCategoryDescriptor", ("attendanceEventCategoryDescriptor",)),
        ("eventDate", ("eventDate",)),
        ("schoolId", ("schoolReference", "schoolId")),
        ("schoolYear", ("sessionReference", "schoolYear")),
        ("sessionName", ("sessionReference", "sessionName")),
        ("studentUniqueId", ("studentReference", "studentUniqueId")),
    ),
    # Reference data (DS 5.0 identities; keyValues by leaf name, as the ODS/API writes them).
    "assessments": (("assessmentIdentifier", ("assessmentIdentifier",)), ("namespace", ("namespace",))),
    "calendarDates": (
        ("calendarCode", ("calendarReference", "calendarCode")),
        ("date", ("date",)),
        ("schoolId", ("calendarReference", "schoolId")),
        ("schoolYear", ("calendarReference", "schoolYear")),
    ),
    "schools": (("schoolId", ("schoolId",)),),
}


@dataclass
class Item:
    id: str
    change_version: int
    body: dict[str, Any]


@dataclass
class Fault:
    path_contains: str
    status: int
    times: int
    retry_after: str | None = None
    shape: str = "message"  # message | problem


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    query: dict[str, str]
    authorization: str


@dataclass
class OdsConfig:
    version: str = "7.1"
    api_mode: str = ""
    school_year: int | None = None
    root: str = "/ods"
    data_path: str = "/ods/data/v3"
    oauth_path: str = "/ods/oauth/token"
    change_queries_path: str | None = "/ods/changeQueries/v1"
    pascal_case_versions: bool = False
    token_lifetime: int = 1800
    client_id: str = "district-sis"
    client_secret: str = "s3cret-value-never-printed"
    # Every other resource is offered (empty unless loaded), as on a real ODS/API.
    missing_resources: tuple[str, ...] = ()


@dataclass
class OdsState:
    resources: dict[str, list[Item]] = field(default_factory=dict)
    deletes: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    key_changes: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    change_version: int = 0
    next_id: int = 0


def key_values(resource: str, body: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for name, path in NATURAL_KEYS.get(resource, ()):
        value: Any = body
        for part in path:
            value = value.get(part) if isinstance(value, dict) else None
        found[name] = value
    return found


class EdFiOds:
    def __init__(self, config: OdsConfig | None = None) -> None:
        self.config = config or OdsConfig()
        self.state = OdsState()
        self.faults: list[Fault] = []
        self.seen: list[Seen] = []
        self.tokens: set[str] = set()
        self.tokens_issued = 0
        self.revoke_after_data_calls: int | None = None
        self.host = ""
        self._lock = threading.RLock()

    @property
    def base_url(self) -> str:
        return f"{self.host}{self.config.root}"

    # -- the change log ------------------------------------------------------------------------

    def _version(self) -> int:
        self.state.change_version += 1
        return self.state.change_version

    def create(self, resource: str, body: dict[str, Any]) -> str:
        with self._lock:
            self.state.next_id += 1
            item_id = f"{self.state.next_id:032x}"
            self.state.resources.setdefault(resource, []).append(
                Item(id=item_id, change_version=self._version(), body=copy.deepcopy(body))
            )
            return item_id

    def load(self, resource: str, bodies: list[dict[str, Any]]) -> list[str]:
        return [self.create(resource, body) for body in bodies]

    def _item(self, resource: str, item_id: str) -> Item:
        return next(i for i in self.state.resources[resource] if i.id == item_id)

    def update(self, resource: str, item_id: str, body: dict[str, Any]) -> None:
        """PUT: a new representation; a changed natural key is logged as a key change."""
        with self._lock:
            item = self._item(resource, item_id)
            old, new = key_values(resource, item.body), key_values(resource, body)
            item.body, item.change_version = copy.deepcopy(body), self._version()
            if old != new:
                self.state.key_changes.setdefault(resource, []).append(
                    {
                        "id": item_id,
                        "changeVersion": item.change_version,
                        "oldKeyValues": old,
                        "newKeyValues": new,
                    }
                )

    def delete(self, resource: str, item_id: str) -> None:
        with self._lock:
            item = self._item(resource, item_id)
            self.state.resources[resource].remove(item)
            self.state.deletes.setdefault(resource, []).append(
                {
                    "id": item_id,
                    "changeVersion": self._version(),
                    "keyValues": key_values(resource, item.body),
                }
            )

    # -- scripted behaviour ----------------------------------------------------------------

    def fail(
        self,
        path_contains: str,
        status: int,
        times: int = 1,
        retry_after: str | None = None,
        shape: str = "message",
    ) -> None:
        with self._lock:
            self.faults.append(Fault(path_contains, status, times, retry_after, shape))

    def revoke_tokens(self) -> None:
        with self._lock:
            self.tokens.clear()

    def data_calls(self) -> list[Seen]:
        return [s for s in self.seen if s.path.startswith(self.config.data_path)]

    # -- HTTP ------------------------------------------------------------------------------

    def app(self) -> Flask:
        app = Flask("test-edfi-ods")

        @app.route("/<path:path>", methods=["GET", "POST"])
        def anything(path: str) -> Response:
            with self._lock:
                return self._answer("/" + path)

        return app

    def _answer(self, path: str) -> Response:
        self.seen.append(
            Seen(request.method, path, dict(request.args), request.headers.get("Authorization", ""))
        )
        fault = self._fault_for(path)
        if fault is not None:
            return self._fault_response(fault, path)
        if path.rstrip("/") == self.config.root and request.method == "GET":
            return jsonify(self._discovery())
        if path == self.config.oauth_path and request.method == "POST":
            return self._token()
        changes = self.config.change_queries_path
        in_changes = bool(changes) and path.startswith(str(changes))
        if not in_changes and not path.startswith(self.config.data_path):
            return _message(404, "The specified resource could not be found.")
        if not self._authorised():
            return _problem(
                401, "urn:ed-fi:api:security:authentication", "Authentication Failed", "token invalid"
            )
        if in_changes:
            return self._change_versions(path)
        return self._data(path[len(self.config.data_path) :])

    def _fault_for(self, path: str) -> Fault | None:
        for fault in self.faults:
            if fault.times > 0 and fault.path_contains in path:
                fault.times -= 1
                return fault
        return None

    def _fault_response(self, fault: Fault, path: str) -> Response:
        if fault.shape == "problem":
            response = _problem(
                fault.status,
                "urn:ed-fi:api:bad-request:parameter-validation-failed"
                if fault.status == 400
                else "urn:ed-fi:api:system-error",
                "Parameter Validation Failed" if fault.status == 400 else "System Error",
                "The request parameters were invalid."
                if fault.status == 400
                else "An unexpected error occurred.",
                validation={"$.limit": ["Limit must be omitted or set to a value between 1 and 500."]}
                if fault.status == 400
                else None,
            )
        else:
            response = _message(fault.status, "An unexpected error occurred on the server.")
        if fault.retry_after is not None:
            response.headers["Retry-After"] = fault.retry_after
        return response

    def _discovery(self) -> dict[str, Any]:
        host = self.host
        urls = {
            "dependencies": f"{host}{self.config.root}/metadata/data/v3/dependencies",
            "openApiMetadata": f"{host}{self.config.root}/metadata/",
            "oauth": f"{host}{self.config.oauth_path}",
            "dataManagementApi": f"{host}{self.config.data_path}/",
            "xsdMetadata": f"{host}{self.config.root}/metadata/xsd",
        }
        if self.config.change_queries_path:
            urls["changeQueries"] = f"{host}{self.config.change_queries_path}"
        doc: dict[str, Any] = {
            "version": self.config.version,
            "informationalVersion": self.config.version,
            "suite": "3",
            "build": f"{self.config.version}.1294.0",
            "dataModels": [
                {"name": "Ed-Fi", "version": "5.0.0", "informationalVersion": "The Ed-Fi Data Model 5.0"}
            ],
            "urls": urls,
        }
        if self.config.api_mode:
            doc["apiMode"] = self.config.api_mode
        return doc

    def _token(self) -> Response:
        auth = request.authorization
        good = (self.config.client_id, self.config.client_secret)
        if auth is None or (auth.username, auth.password) != good:
            return _json({"error": "invalid_client"}, 401)
        if request.form.get("grant_type") != "client_credentials":
            return _json({"error": "unsupported_grant_type"}, 400)
        self.tokens_issued += 1
        token = f"{self.tokens_issued:032x}"
        self.tokens.add(token)
        return _json(
            {"access_token": token, "expires_in": self.config.token_lifetime, "token_type": "bearer"}, 200
        )

    def _authorised(self) -> bool:
        header = request.headers.get("Authorization", "")
        return header.startswith("Bearer ") and header[len("Bearer ") :] in self.tokens

    def _change_versions(self, path: str) -> Response:
        if not path.endswith("/availableChangeVersions"):
            return _message(404, "The specified resource could not be found.")
        oldest, newest = 0, self.state.change_version
        if self.config.pascal_case_versions:
            return _json({"OldestChangeVersion": oldest, "NewestChangeVersion": newest}, 200)
        return _json({"oldestChangeVersion": oldest, "newestChangeVersion": newest}, 200)

    def _data(self, rest: str) -> Response:
        parts = [p for p in rest.split("/") if p]
        if self.config.school_year is not None:
            if not parts or parts[0] != str(self.config.school_year):
                return _message(404, "The specified school year is not available.")
            parts = parts[1:]
        if len(parts) < 2 or parts[0] != "ed-fi":
            return _message(404, "The specified resource could not be found.")
        resource, tail = parts[1], parts[2:]
        if resource in self.config.missing_resources:
            return _message(404, "The specified resource could not be found.")
        self._count_data_call()
        if tail == ["deletes"]:
            return self._log_page(self.state.deletes.get(resource, []))
        if tail == ["keyChanges"]:
            return self._log_page(self.state.key_changes.get(resource, []))
        if tail:
            return _message(404, "The specified resource could not be found.")
        return self._collection(self.state.resources.get(resource, []))

    def _count_data_call(self) -> None:
        if self.revoke_after_data_calls is None:
            return
        self.revoke_after_data_calls -= 1
        if self.revoke_after_data_calls == 0:
            self.tokens.clear()  # the next call with the old token is answered 401
            self.revoke_after_data_calls = None

    def _window(self, version: int) -> bool:
        low, high = request.args.get("minChangeVersion"), request.args.get("maxChangeVersion")
        return (low is None or version >= int(low)) and (high is None or version <= int(high))

    def _collection(self, items: list[Item]) -> Response:
        chosen = [
            {"id": i.id, **i.body, "_etag": str(5250159352800270000 + i.change_version)}
            for i in items
            if self._window(i.change_version)
        ]
        if "pageSize" in request.args and _version_tuple(self.config.version) >= (7, 3):
            return self._cursor_page(chosen)
        return self._offset_page(chosen)

    def _log_page(self, rows: list[dict[str, Any]]) -> Response:
        if "pageSize" in request.args:
            return _problem(
                400,
                "urn:ed-fi:api:bad-request:parameter-validation-failed",
                "Parameter Validation Failed",
                "Cursor paging is not available on this endpoint.",
            )
        return self._offset_page([r for r in rows if self._window(int(r["changeVersion"]))])

    def _offset_page(self, rows: list[dict[str, Any]]) -> Response:
        offset, limit = int(request.args.get("offset", 0)), int(request.args.get("limit", 25))
        if not 1 <= limit <= 500 or offset < 0:
            return _problem(
                400,
                "urn:ed-fi:api:bad-request:parameter-validation-failed",
                "Parameter Validation Failed",
                "The request parameters were invalid.",
                errors=["Limit must be omitted or set to a value between 1 and 500."],
            )
        response = _json(rows[offset : offset + limit], 200)
        if request.args.get("totalCount") == "true":
            response.headers["Total-Count"] = str(len(rows))
        return response

    def _cursor_page(self, rows: list[dict[str, Any]]) -> Response:
        size = int(request.args["pageSize"])
        token = request.args.get("pageToken")
        start = int(base64.urlsafe_b64decode(token.encode()).decode()) if token else 0
        response = _json(rows[start : start + size], 200)
        if start + size < len(rows):
            response.headers["Next-Page-Token"] = base64.urlsafe_b64encode(
                str(start + size).encode()
            ).decode()
        return response


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split(".")[:2] if p.isdigit())


def _json(doc: Any, status: int) -> Response:
    response = jsonify(doc)
    response.status_code = status
    return response


def _message(status: int, message: str) -> Response:
    return _json({"message": message}, status)


def _problem(
    status: int,
    type_: str,
    title: str,
    detail: str,
    validation: dict[str, list[str]] | None = None,
    errors: list[str] | None = None,
) -> Response:
    doc = {
        "detail": detail,
        "type": type_,
        "title": title,
        "status": status,
        "correlationId": "c0ffee00-test",
        "validationErrors": validation or {},
        "errors": errors or [],
    }
    response = _json(doc, status)
    response.headers["Content-Type"] = "application/problem+json"
    return response


@contextmanager
def running_ods(config: OdsConfig | None = None) -> Iterator[EdFiOds]:
    ods = EdFiOds(config)
    with serve_wsgi(ods.app(), threads=4) as url:
        ods.host = url
        yield ods
