"""HTTP endpoints for consents, agreements and policy explanations (registered by the app
factory; documented in OPENAPI_PATHS).

Every route needs a bearer token, and the caller only ever sees its own: the consents it
grants or receives, the agreements it is a party to. Someone else's consent is answered as not
existing. Views parse the request, call one service function and render the answer.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from flask import Blueprint, Response, jsonify, request

from gateway.errors import AccessDenied, InputInvalid, Issue
from gateway.service.policy import agreements as agreement_service
from gateway.service.policy import consents as consent_service
from gateway.service.policy.agreement_signing import SignatureRequest, sign
from gateway.service.policy.agreement_views import Acting, AgreementView
from gateway.service.policy.explain import explain
from gateway.web.auth import current_principal, current_runtime, require_principal
from gateway.web.params import json_object_body
from gateway.web.policy_openapi import PATHS, SCHEMAS

JSON_BODY_TYPES = ("application/json", "application/fhir+json")
FHIR_JSON = "application/fhir+json"
EXPLAIN_TEXT = ("source", "recipient", "purpose", "role", "actor", "student", "action", "emergencyReason")
EXPLAIN_LISTS = ("categories", "regimes", "sensitivities")

bp = Blueprint("policy_api", __name__, url_prefix="/api/v1")
bp.before_request(require_principal)

# Merged into the OpenAPI document by gateway.web.openapi.build_openapi.
OPENAPI_PATHS: dict[str, Any] = PATHS
OPENAPI_SCHEMAS: dict[str, Any] = SCHEMAS


def _caller() -> str:
    return current_principal().organization_id


def _body(*, required: bool = True) -> dict[str, Any]:
    return json_object_body(required=required)


# -- consents -------------------------------------------------------------------------------


@bp.post("/consents")
def post_consent() -> tuple[Response, int]:
    """Import a FHIR R4 Consent as its grantor: 201 when stored, 200 when already held."""
    body = _body()
    summary = consent_service.import_consent(current_runtime(), body, recorded_by=_caller())
    return jsonify(summary.to_dict()), 201 if summary.created else 200


@bp.get("/consents")
def get_consents() -> Response:
    student = request.args.get("student") or None
    found = consent_service.list_consents(current_runtime(), student, party=_caller())
    return jsonify({"consents": [c.to_dict() for c in found]})


@bp.get("/consents/<consent_id>")
def get_consent(consent_id: str) -> Response:
    document = consent_service.export_consent(current_runtime(), consent_id, party=_caller())
    return Response(json.dumps(document), mimetype=FHIR_JSON)


@bp.post("/consents/<consent_id>/revoke")
def post_revoke(consent_id: str) -> Response:
    rt, caller = current_runtime(), _caller()
    body = _body(required=False)
    requested_by = body.get("requestedBy", "organization")
    if not isinstance(requested_by, str):
        raise InputInvalid("invalid revocation", [Issue(path="requestedBy", message="a string")])
    # A consent the caller neither grants nor receives is answered as not existing.
    consent_service.export_consent(rt, consent_id, party=caller)
    summary = consent_service.revoke_consent(
        rt, consent_id, at=_instant(body.get("at")), by=caller, requested_by=requested_by
    )
    return jsonify(summary.to_dict())


def _instant(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    try:
        parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        parsed = None
    if not isinstance(value, str) or parsed is None:
        raise InputInvalid("invalid revocation time", [Issue(path="at", message="an ISO 8601 date-time")])
    return parsed


# -- agreements -----------------------------------------------------------------------------


def _acting() -> Acting:
    principal = current_principal()
    if principal.is_administrator:
        return Acting.administrator(principal.client_id)
    return Acting.partner(principal.organization_id, principal.client_id)


def _agreement_answer(result: AgreementView) -> tuple[Response, int]:
    # 202: a proposal is accepted but binds nobody until every party has signed it.
    return jsonify(result.to_dict()), 202 if result.effect in ("proposed", "signed") else 200


@bp.get("/agreements")
def get_agreements() -> Response:
    found = agreement_service.list_agreements(current_runtime(), _acting())
    return jsonify({"agreements": [a.to_dict() for a in found]})


@bp.get("/agreements/<agreement_id>")
def get_agreement(agreement_id: str) -> Response:
    return jsonify(agreement_service.show_agreement(current_runtime(), agreement_id, _acting()).to_dict())


@bp.post("/agreements")
def post_agreement() -> tuple[Response, int]:
    return _agreement_answer(agreement_service.import_agreement(current_runtime(), _body(), acting=_acting()))


@bp.post("/agreements/<agreement_id>/status")
def post_agreement_status(agreement_id: str) -> tuple[Response, int]:
    body = _body()
    _require_strings(body, ("status", "reason"), "a status change needs a status and a reason")
    result = agreement_service.set_status(
        current_runtime(), agreement_id, body["status"], acting=_acting(), reason=body["reason"]
    )
    return _agreement_answer(result)


@bp.post("/agreements/<agreement_id>/signatures")
def post_agreement_signature(agreement_id: str) -> tuple[Response, int]:
    body = _body()
    _require_strings(body, ("signedBy", "digest"), "a signature names its signer and the digest signed")
    _check_signature_fields(body)
    request_ = SignatureRequest(
        agreement_id=agreement_id,
        signed_by=body["signedBy"],
        version=body.get("version"),
        version_digest=body["digest"],
        on_behalf_of=body.get("for"),
    )
    result = sign(current_runtime(), request_, acting=_acting())
    return jsonify(result.to_dict()), 201 if result.changed else 200


def _require_strings(body: dict[str, Any], names: tuple[str, ...], message: str) -> None:
    issues = [
        Issue(path=name, message="required: a string")
        for name in names
        if not isinstance(body.get(name), str)
    ]
    if issues:
        raise InputInvalid(message, issues)


def _check_signature_fields(body: dict[str, Any]) -> None:
    issues = [
        Issue(path=name, message="unknown field") for name in sorted(body) if name not in SIGNATURE_FIELDS
    ]
    version = body.get("version")
    if version is not None and (isinstance(version, bool) or not isinstance(version, int)):
        issues.append(Issue(path="version", message="an integer"))
    if "for" in body and not isinstance(body["for"], str):
        issues.append(Issue(path="for", message="a string: the party that signed on paper"))
    if issues:
        raise InputInvalid("invalid signature", issues)


SIGNATURE_FIELDS = frozenset({"signedBy", "digest", "version", "for"})


# -- policy ---------------------------------------------------------------------------------


@bp.post("/policy/explain")
def post_explain() -> Response:
    caller = _caller()
    body = {"recipient": caller, "actor": caller, **_body()}
    _check_explain(body)
    if caller not in (body["source"], body["recipient"]):
        # Explanations name consents and agreements: only for a flow the caller takes part in.
        raise AccessDenied("explain a flow your organization sends or receives")
    answer = explain(
        current_runtime(),
        source=body["source"],
        recipient=body["recipient"],
        categories=body["categories"],
        purpose=body.get("purpose", ""),
        role=body.get("role", ""),
        actor=body["actor"],
        student_ref=body.get("student"),
        regimes=body.get("regimes", []),
        sensitivities=body.get("sensitivities", []),
        action=body.get("action", "read"),
        emergency_reason=body.get("emergencyReason", ""),
        asked_by=caller,
        partner_view=not current_principal().is_administrator,
        as_read=True,  # without regimes, the data is labelled as a plan read labels it
    )
    return jsonify(answer)


def _check_explain(body: dict[str, Any]) -> None:
    issues = [
        Issue(path=name, message="a string")
        for name in EXPLAIN_TEXT
        if name in body and not isinstance(body[name], str)
    ]
    issues += [
        Issue(path=name, message="a list of strings")
        for name in EXPLAIN_LISTS
        if name in body and not (isinstance(body[name], list) and all(isinstance(v, str) for v in body[name]))
    ]
    issues += [Issue(path=name, message="required") for name in ("source", "categories") if name not in body]
    issues += [
        Issue(path=name, message="unknown field") for name in sorted(body) if name not in _EXPLAIN_FIELDS
    ]
    if issues:
        raise InputInvalid("invalid explain request", issues)


_EXPLAIN_FIELDS = frozenset(EXPLAIN_TEXT + EXPLAIN_LISTS)
