"""A OneRoster REST service for tests: real HTTP (Flask under waitress in a daemon thread, on a
free port), shapes per the Ed-Fi OneRoster 1.2 OpenAPI (``{"users": [...]}`` envelopes,
``X-Total-Count``, ``{href, sourcedId, type}`` references, ``imsx_StatusInfo`` errors), 1.1 and
1.2 paths, OAuth2 client credentials with expiring tokens, scripted 429 / 5xx answers."""

from __future__ import annotations

import base64
import itertools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask, Response, jsonify, request

from tests.http_server import serve_wsgi

CLIENT_ID, CLIENT_SECRET = "or-client", "or-secret"
PREFIXES = ("/ims/oneroster/v1p1/", "/ims/oneroster/rostering/v1p2/", "/ims/oneroster/gradebook/v1p2/")


def _ims_error(status: int, minor: str) -> tuple[Response, int]:
    body = {
        "imsx_codeMajor": "failure",
        "imsx_severity": "error",
        "imsx_CodeMinor": {
            "imsx_codeMinorField": [
                {"imsx_codeMinorFieldName": "TargetEndSystem", "imsx_codeMinorFieldValue": minor}
            ]
        },
        "imsx_description": "scripted failure",
    }
    return jsonify(body), status


class OneRosterService:
    def __init__(self) -> None:
        self.collections: dict[str, list[dict[str, Any]]] = {}
        self.token_lifetime = 3600
        self.valid_tokens: set[str] = set()
        self.token_requests = 0
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.script: list[int] = []  # statuses to answer data requests with before serving them
        self.base_url = ""
        self._lock = threading.Lock()
        self._ids = itertools.count(1)

    def revoke_tokens(self) -> None:
        with self._lock:
            self.valid_tokens.clear()

    def answer(self, *statuses: int) -> None:
        with self._lock:
            self.script.extend(statuses)

    def app(self) -> Flask:
        app = Flask("test-oneroster")

        @app.post("/oauth/token")
        def token() -> tuple[Response, int]:
            expected = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
            if (
                request.headers.get("Authorization") != expected
                or request.form.get("grant_type") != "client_credentials"
            ):
                return jsonify({"error": "invalid_client"}), 401
            with self._lock:
                self.token_requests += 1
                value = f"tok-{next(self._ids)}"
                self.valid_tokens.add(value)
            return jsonify(
                {"access_token": value, "token_type": "bearer", "expires_in": self.token_lifetime}
            ), 200

        @app.get("/ims/oneroster/<path:rest>")
        def collection(rest: str) -> tuple[Response, int]:
            return self._collection(request.path)

        return app

    def _collection(self, path: str) -> tuple[Response, int]:
        with self._lock:
            self.requests.append((path, dict(request.args)))
            scripted = self.script.pop(0) if self.script else None
            authorised = request.headers.get("Authorization", "").removeprefix("Bearer ") in self.valid_tokens
        if not authorised:
            return _ims_error(401, "unauthorisedrequest")
        if scripted is not None and scripted != 200:  # 200 in the script: serve this one normally
            return _ims_error(scripted, "server_busy")
        name = next((path.removeprefix(p) for p in PREFIXES if path.startswith(p)), None)
        if name not in self.collections:
            return _ims_error(404, "unknownobject")
        items = self.collections[name]
        offset, limit = int(request.args.get("offset", 0)), int(request.args.get("limit", 100))
        response = jsonify({name: items[offset : offset + limit]})
        response.headers["X-Total-Count"] = str(len(items))
        return response, 200


@contextmanager
def running_oneroster() -> Iterator[OneRosterService]:
    service = OneRosterService()
    with serve_wsgi(service.app(), threads=4) as url:
        service.base_url = url
        yield service


def ref(kind: str, sourced_id: str) -> dict[str, str]:
    return {
        "href": f"/ims/oneroster/rostering/v1p2/{kind}s/{sourced_id}",
        "sourcedId": sourced_id,
        "type": kind,
    }


def user_12(sourced_id: str, role: str = "student", grade: str = "10") -> dict[str, Any]:
    return {
        "sourcedId": sourced_id,
        "status": "active",
        "dateLastModified": "2025-10-01T08:00:00.000Z",
        "metadata": {"boarding": False},
        "enabledUser": True,
        "username": f"u{sourced_id}",
        "userIds": [{"type": "Local", "identifier": sourced_id[-3:]}],
        "givenName": "Test",
        "familyName": "User",
        "roles": [{"roleType": "primary", "role": role, "org": ref("org", "s-1")}],
        "grades": [grade] if role == "student" else [],
    }


def enrollment_12(sourced_id: str, user: str, status: str = "active") -> dict[str, Any]:
    return {
        "sourcedId": sourced_id,
        "status": status,
        "dateLastModified": "2025-10-01T08:00:00.000Z",
        "user": ref("user", user),
        "class": ref("class", "k-bio-1"),
        "school": ref("org", "s-1"),
        "role": "student",
        "primary": False,
        "beginDate": "2025-08-18",
        "endDate": "2025-12-19",
    }
