"""The HTTP API: thin views that parse the request, call one service function and render.

``public`` serves what needs no token (health, the OpenAPI document); ``api`` is ``/api/v1``,
where every request first proves who it is (``auth.require_principal``).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from flask import Blueprint, Response, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

import gateway
from gateway.errors import InputInvalid, Issue, PayloadTooLarge, UnsupportedFormat
from gateway.service.administration.health import check
from gateway.service.exchange.check import audit_check, check_payload
from gateway.service.exchange.exchanges import receive
from gateway.service.exchange.ingest import IngestSummary, record_oversized, replay
from gateway.service.exchange.messages import list_messages, show_message
from gateway.service.views.plans import ReadRequest, read_plan
from gateway.web.auth import current_principal, current_runtime, require_principal
from gateway.web.errors import error_response, render_error, status_for_code
from gateway.web.openapi import FORMAT_TYPES, JSON_TYPES, build_openapi
from gateway.web.params import json_object_body, paging

log = logging.getLogger(__name__)

SUCCESS_STATUS = {"mapped": 200, "partial": 200, "held": 202}

public = Blueprint("public", __name__)
api = Blueprint("api", __name__, url_prefix="/api/v1")
api.before_request(require_principal)


@public.get("/health")
def health() -> tuple[Response, int]:
    health = check(current_runtime())
    body = {"status": "ok", "version": gateway.__version__, "database": "ok"}
    if not health.database:
        log.warning("health probe: database unavailable")
        return jsonify({**body, "database": "unavailable"}), 503
    return jsonify(body), 200


@public.get("/openapi.json")
def openapi() -> Response:
    return jsonify(build_openapi())


@api.post("/exchanges/<format_name>")
def post_exchange(format_name: str) -> Response:
    rt, source = current_runtime(), current_principal().organization_id
    entity = request.args.get("entity") or None
    dry_run = _dry_run()
    try:
        payload = request.get_data()
    except RequestEntityTooLarge:
        if dry_run:  # a check stores nothing, not even the refusal
            raise PayloadTooLarge(
                f"payload of {request.content_length} bytes exceeds the gateway's limit",
                [Issue(path="body", message="split it into smaller payloads, or check it with spgw check")],
            ) from None
        # Refused unread, but the refusal is stored and audited like any other rejection.
        return render_summary(
            record_oversized(rt, source_org=source, format_name=format_name, size=request.content_length)
        )
    if dry_run:
        report = check_payload(rt, source_org=source, format_name=format_name, payload=payload, entity=entity)
        audit_check(rt, source, report)
        return jsonify(report.to_dict())
    summary = receive(
        rt,
        source_org=source,
        format_name=format_name,
        payload=payload,
        entity=entity,
        content_type=request.content_type,
    )
    accepted = FORMAT_TYPES.get(format_name, JSON_TYPES)
    if summary.status in SUCCESS_STATUS or request.mimetype in accepted:
        return render_summary(summary)
    # Every body is stored and judged by its parser (nothing is lost); when it is refused and it
    # was not declared as its format's type, the declared type is the likely cause: named.
    return error_response(_unsupported_type(accepted), messageId=summary.message_id)


def _dry_run() -> bool:
    """``?dry_run=true``: check the body (service/exchange/check.py) instead of storing it."""
    value = request.args.get("dry_run", "false").lower()
    if value not in DRY_RUN_VALUES:
        raise InputInvalid(
            "dry_run must be true or false", [Issue(path="dry_run", message="send true, false, 1 or 0")]
        )
    return DRY_RUN_VALUES[value]


DRY_RUN_VALUES = {"true": True, "1": True, "false": False, "0": False}


def _unsupported_type(accepted: tuple[str, ...]) -> UnsupportedFormat:
    return UnsupportedFormat(
        "the payload was stored and refused: its Content-Type is not accepted",
        [Issue(path="Content-Type", message=f"send one of {', '.join(accepted)}")],
    )


def render_summary(summary: IngestSummary) -> Response:
    """Mapped or partial: 200; held: 202; refused: the error shape, naming the stored message."""
    status = SUCCESS_STATUS.get(summary.status)
    if status is not None:
        response = jsonify(summary.to_dict())
        response.status_code = status
        return response
    error = summary.outcome.get("error")
    if error is not None:  # the whole payload was refused: its own error says why
        return render_error(
            status_for_code(error["code"]),
            code=error["code"],
            message=error["message"],
            issues=error["issues"],
            messageId=summary.message_id,
        )
    return render_error(
        422,
        code="input_invalid",
        message=summary.reason,
        issues=_record_issues(summary.outcome.get("records", [])),
        messageId=summary.message_id,
    )


def _record_issues(records: list[dict[str, Any]]) -> list[dict[str, str]]:
    flat = []
    for rec in records:
        issues = rec.get("issues") or [{"path": rec["location"], "message": rec["reason"]}]
        for issue in issues:
            path = issue["path"]
            where = path if path == rec["location"] else f"{rec['location']}: {path}"
            flat.append({"path": where, "message": issue["message"]})
    return flat


@api.get("/plans/<path:student>")
def get_plan(student: str) -> Response:
    request_ = _read_request(request.args.get("actor", ""), request.args.get("role", ""))
    read = replace(request_, purpose=request.args.get("purpose", ""))
    # An unknown identifier, an unknown student and a plan with nothing visible get one answer.
    return jsonify(read_plan(current_runtime(), read, student_ref=student).to_dict())


@api.post("/plans/emergency-reads")
def post_emergency_read() -> Response:
    """FERPA 34 CFR 99.36: a health-or-safety emergency read states the threat; it travels in the
    body (never the URL, which proxies log) and is audited as a digest, flagged for compliance."""
    body = json_object_body()
    issues = [
        Issue(path=name, message="required: a string")
        for name in ("student", "actor", "role", "threat")
        if not isinstance(body.get(name), str)
    ]
    issues += [Issue(path=name, message="unknown field") for name in sorted(set(body) - EMERGENCY_FIELDS)]
    if issues:
        raise InputInvalid("an emergency read names the student, actor, role and the threat", issues)
    read = replace(
        _read_request(body["actor"], body["role"]), purpose="emergency", emergency_reason=body["threat"]
    )
    return jsonify(read_plan(current_runtime(), read, student_ref=body["student"]).to_dict())


EMERGENCY_FIELDS = frozenset({"student", "actor", "role", "threat"})


def _read_request(actor: str, role: str) -> ReadRequest:
    return ReadRequest(
        student_id="", organization_id=current_principal().organization_id, actor=actor, role=role, purpose=""
    )


@api.get("/messages")
def get_messages() -> Response:
    limit, offset = paging()
    rows = list_messages(
        current_runtime(),
        request.args.get("status") or None,
        limit,
        offset,
        source=current_principal().organization_id,
    )
    return jsonify({"messages": rows, "limit": limit, "offset": offset})


@api.get("/messages/<message_id>")
def get_message(message_id: str) -> Response:
    return jsonify(show_message(current_runtime(), message_id, source=current_principal().organization_id))


@api.post("/messages/<message_id>/replay")
def post_replay(message_id: str) -> Response:
    rt = current_runtime()
    # Only the sender may replay its message; someone else's is reported as not existing.
    show_message(rt, message_id, source=current_principal().organization_id)
    return render_summary(replay(rt, message_id))


BLUEPRINTS = (public, api)
