"""An HSDS 3.x API for tests: a real HTTP server (Flask under waitress) with the shapes of the
published OpenAPI document (``schema/openapi.json``): ``GET /services`` pages
(``page``/``per_page``, the ``Page`` wrapper with ``contents``, ``total_items``, ``total_pages``,
``page_number``, ``first_page``/``last_page``/``empty``), ``modified_after`` on
``last_modified``, ``GET /services/{id}`` fully nested. Lists answer with minimal services
(no ``service_at_locations``) unless ``full=true`` is asked for and ``honour_full`` is set, as
servers differ there. ``fail_next`` scripts an HTTP error for the next request."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, jsonify, request

from tests.http_server import serve_wsgi

_MINIMAL = ("id", "name", "description", "status", "last_modified", "organization")


@dataclass
class HsdsApi:
    services: dict[str, dict[str, Any]] = field(default_factory=dict)
    honour_full: bool = True
    fail_next: int | None = None
    calls: list[str] = field(default_factory=list)

    def put(self, service: dict[str, Any]) -> None:
        self.services[service["id"]] = copy.deepcopy(service)

    def app(self) -> Flask:
        app = Flask("hsds-api")

        @app.get("/api/services")
        def services() -> Any:
            self.calls.append(request.full_path)
            if self.fail_next is not None:
                status, self.fail_next = self.fail_next, None
                return jsonify({"message": "scripted failure"}), status
            return jsonify(self._page())

        @app.get("/api/services/<service_id>")
        def service(service_id: str) -> Any:
            self.calls.append(request.full_path)
            found = self.services.get(service_id)
            return (jsonify(found), 200) if found else (jsonify({"message": "not found"}), 404)

        return app

    def _page(self) -> dict[str, Any]:
        after = request.args.get("modified_after", "")
        size = int(request.args.get("per_page", "50"))
        number = int(request.args.get("page", "1"))
        chosen = [s for _, s in sorted(self.services.items()) if s.get("last_modified", "") > after]
        full = self.honour_full and request.args.get("full") == "true"
        shown = [s if full else {k: s[k] for k in _MINIMAL if k in s} for s in chosen]
        pages = max(1, -(-len(shown) // size))
        contents = shown[(number - 1) * size : number * size]
        return {
            "total_items": len(shown),
            "total_pages": pages,
            "page_number": number,
            "size": size,
            "first_page": number == 1,
            "last_page": number >= pages,
            "empty": not contents,
            "contents": contents,
        }


@contextmanager
def hsds_api(api: HsdsApi) -> Iterator[str]:
    """Yields the API root (``http://host:port/api``)."""
    with serve_wsgi(api.app()) as url:
        yield url + "/api"
