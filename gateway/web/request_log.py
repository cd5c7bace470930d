"""One JSON log line per request, tied to a request id the caller can quote back.

The id is the caller's ``X-Request-Id`` when it is a sane token (a proxy or partner that already
tags its calls keeps its id), else a new random one; it is echoed in the ``X-Request-Id`` header
and in every error body. The line names the route template (``/api/v1/plans/<student>``), never
the concrete path or its query string: those carry student identifiers. No body, no header value
other than the id reaches the line.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import time
import uuid
from typing import Any

from flask import Flask, g, has_request_context, request
from werkzeug.wrappers import Response as WerkzeugResponse

HEADER = "X-Request-Id"
# Letters, digits and a few separators, at most 128: what proxies (uuid, ULID, AWS trace ids) send;
# anything else (spaces, quotes, control characters, PHI someone put there) is replaced.
SANE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:=+/-]{0,127}")
NO_ROUTE = "(no route)"

log = logging.getLogger("gateway.request")


def request_id() -> str | None:
    """The current request's id, or None outside a request."""
    return g.get("request_id") if has_request_context() else None


def route_template() -> str:
    return request.url_rule.rule if request.url_rule is not None else NO_ROUTE


def _start() -> None:
    given = request.headers.get(HEADER, "")
    g.request_id = given if SANE_ID.fullmatch(given) else uuid.uuid4().hex
    g.request_started = time.perf_counter()


def elapsed_seconds() -> float:
    started: float = g.get("request_started", time.perf_counter())
    return time.perf_counter() - started


def _finish(response: WerkzeugResponse) -> WerkzeugResponse:
    rid = g.get("request_id") or uuid.uuid4().hex
    response.headers[HEADER] = rid
    log.info(
        "request",
        extra={
            "fields": {
                "requestId": rid,
                "method": request.method,
                "route": route_template(),
                "status": response.status_code,
                "durationMs": round(elapsed_seconds() * 1000, 2),
            }
        },
    )
    return response


def register_request_log(app: Flask) -> None:
    # First before_request of the app: even a request refused at the edge (check_url) has an id.
    app.before_request_funcs.setdefault(None, []).insert(0, _start)
    app.after_request(_finish)


class JsonFormatter(logging.Formatter):
    """Every log line as one JSON object, with the request id when logged inside a request.
    The fields are the record's ``fields`` extra and its message; never its arguments' repr."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        rid = request_id()
        if rid is not None:
            line["requestId"] = rid
        line.update(getattr(record, "fields", {}))
        if record.exc_info and record.exc_info[0] is not None:
            # The type only: an exception's text may quote a value from a student record.
            line["exception"] = record.exc_info[0].__name__
        return json.dumps(line, separators=(",", ":"))


def configure_json_logging(level: int = logging.INFO) -> None:
    """For ``spgw serve``: JSON lines on stderr for the gateway's loggers and the servers'."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Alembic says which dialect it runs on at every readiness probe: not news in a log.
    logging.getLogger("alembic.runtime.migration").setLevel(logging.WARNING)
