"""The OpenAPI description of the agreement endpoints (``gateway.web.policy_api``), as data.

Merged into the policy document by ``gateway.web.policy_openapi``; ``tests/test_web_openapi.py``
checks real answers against it.
"""

from __future__ import annotations

from gateway.web.schema_parts import TEXT, Schema, closed_object, error_body, json_body, ref

AGREEMENT_STATUSES = ["active", "suspended", "terminated"]
VIEW_STATUSES = ["proposed", *AGREEMENT_STATUSES, "withdrawn"]
EFFECTS = ["unchanged", "proposed", "in-force", "signed", "withdrawn"]
TEXTS: Schema = {"type": "array", "items": TEXT}
TIME: Schema = {"type": "string", "format": "date-time"}
UNAUTHORIZED = "No valid bearer token (missing, expired, forged or revoked)."
NOT_AVAILABLE = "No such agreement naming the caller (the same answer whether it exists or not)."


def _signature() -> Schema:
    return closed_object(
        {
            "organization": TEXT,
            "signedBy": TEXT,
            "signedAt": TIME,
            "method": {"enum": ["credential", "paper"]},
            "digest": TEXT,
            "version": {"type": "integer", "minimum": 1},
        }
    )


def _proposal() -> Schema:
    return closed_object(
        {
            "version": {"type": "integer", "minimum": 1},
            "digest": {"type": "string", "description": "What each party signs: sha256 of this version."},
            "proposedBy": TEXT,
            "proposedAt": TIME,
            "widens": TEXTS,
            "document": ref("AgreementDocument"),
            "signatures": {"type": "array", "items": ref("AgreementSignature")},
            "awaiting": {"type": "array", "items": TEXT, "description": "Parties yet to sign."},
        }
    )


def _agreement_view() -> Schema:
    return closed_object(
        {
            "id": TEXT,
            "status": {"enum": VIEW_STATUSES},
            "version": {"type": ["integer", "null"], "minimum": 1, "description": "The version in force."},
            "inForce": {"type": "boolean"},
            "parties": TEXTS,
            "document": {"oneOf": [ref("AgreementDocument"), {"type": "null"}]},
            "signatures": {"type": "array", "items": ref("AgreementSignature")},
            "proposal": {"oneOf": [ref("AgreementProposal"), {"type": "null"}]},
            "effect": {"enum": EFFECTS, "description": "What this request did."},
            "changed": {"type": "boolean", "description": "Whether this request changed anything."},
        }
    )


SCHEMAS: dict[str, Schema] = {
    "AgreementSignature": _signature(),
    "AgreementProposal": _proposal(),
    "AgreementSummary": _agreement_view(),
    "AgreementList": closed_object({"agreements": {"type": "array", "items": ref("AgreementSummary")}}),
    "StatusChange": closed_object({"status": {"enum": AGREEMENT_STATUSES}, "reason": TEXT}),
    "SignatureRequest": closed_object(
        {
            "signedBy": {"type": "string", "description": "Who signed for the organization."},
            "digest": {"type": "string", "description": "The proposal's digest, as read."},
            "version": {"type": "integer", "minimum": 1},
            "for": {"type": "string", "description": "Administrator only: the party that signed on paper."},
        },
        optional=("version", "for"),
    ),
}


def _path(name: str, description: str) -> Schema:
    return {"name": name, "in": "path", "required": True, "description": description, "schema": TEXT}


def _body(schema: Schema) -> Schema:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _answers(done: str, **extra: str) -> Schema:
    answers = {
        "200": json_body(ref("AgreementSummary"), done),
        "202": json_body(ref("AgreementSummary"), "Proposed: in force once every party has signed."),
        "400": error_body("Invalid: every problem as an issue with its JSON path."),
        "401": error_body(UNAUTHORIZED),
        "403": error_body("The caller may not act on this agreement this way."),
        "409": error_body("Terminated (final), or nothing in force to change."),
        "415": error_body("The body is not JSON."),
    }
    return answers | {status: error_body(text) for status, text in extra.items()}


def _list_and_propose() -> Schema:
    return {
        "get": {
            "operationId": "listAgreements",
            "summary": "The agreements naming the caller (the administrator: all).",
            "responses": {
                "200": json_body(ref("AgreementList"), "The agreements."),
                "401": error_body(UNAUTHORIZED),
            },
        },
        "post": {
            "operationId": "importAgreement",
            "summary": "Propose an agreement, or a new version of one, naming the caller.",
            "description": "A new agreement or a version that widens sharing is proposed (202) and binds "
            "once every party has signed it; a version that only narrows applies at once (200).",
            "requestBody": _body(ref("AgreementDocument")),
            "responses": _answers("Unchanged, or a narrowing now in force."),
        },
    }


def _one() -> Schema:
    return {
        "get": {
            "operationId": "showAgreement",
            "summary": "An agreement's status, version in force, signatures and pending proposal.",
            "parameters": [_path("agreement_id", "The agreement's id.")],
            "responses": {
                "200": json_body(ref("AgreementSummary"), "The agreement."),
                "401": error_body(UNAUTHORIZED),
                "404": error_body(NOT_AVAILABLE),
            },
        }
    }


def _status() -> Schema:
    return {
        "post": {
            "operationId": "setAgreementStatus",
            "summary": "Suspend or terminate at once; reactivating is proposed to every party.",
            "parameters": [_path("agreement_id", "The agreement's id.")],
            "requestBody": _body(ref("StatusChange")),
            "responses": {
                status: answer
                for status, answer in _answers(
                    "The agreement after the change.", **{"404": NOT_AVAILABLE}
                ).items()
                if status != "403"  # any party may narrow; an outsider is told it does not exist
            },
        }
    }


def _signatures() -> Schema:
    answers = _answers("Already signed by this party.", **{"404": NOT_AVAILABLE})
    answers["201"] = json_body(ref("AgreementSummary"), "Signed (in force if it was the last signature).")
    answers["409"] = error_body("No such pending version, or the digest is not the version's.")
    del answers["202"]
    return {
        "post": {
            "operationId": "signAgreement",
            "summary": "Sign the pending version for the caller's organization.",
            "description": "The digest must be the proposal's (read it with GET): a changed text needs "
            "new signatures. Administrator credentials record a paper signature 'for' a party.",
            "parameters": [_path("agreement_id", "The agreement's id.")],
            "requestBody": _body(ref("SignatureRequest")),
            "responses": answers,
        }
    }


PATHS: dict[str, Schema] = {
    "/api/v1/agreements": _list_and_propose(),
    "/api/v1/agreements/{agreement_id}": _one(),
    "/api/v1/agreements/{agreement_id}/status": _status(),
    "/api/v1/agreements/{agreement_id}/signatures": _signatures(),
}
