"""One error hierarchy for the whole gateway.

Each class carries its HTTP status and a stable machine code, so every layer (CLI, web, FHIR
endpoints) renders the same shape: ``{"error": {"code", "message", "issues": [{"path", "message"}]}}``.
Messages name identifiers and locations, never sensitive values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar


@dataclass(frozen=True, kw_only=True)
class Issue:
    """One problem of an input: where it is and what is wrong (and, when known, what to do)."""

    path: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"path": self.path, "message": self.message}


class GatewayError(Exception):
    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"

    def __init__(self, message: str, issues: tuple[Issue, ...] | list[Issue] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.issues = tuple(issues)

    def to_dict(self) -> dict[str, Any]:
        return {
            "error": {
                "code": self.code,
                "message": self.message,
                "issues": [issue.to_dict() for issue in self.issues],
            }
        }

    def __str__(self) -> str:
        if not self.issues:
            return self.message
        lines = [self.message] + [f"  {i.path}: {i.message}" for i in self.issues]
        return "\n".join(lines)


class ArtifactInvalid(GatewayError):
    """A mapping, schema or policy file is wrong: start-up stops, not a request."""

    status = 500
    code = "artifact_invalid"


class InputInvalid(GatewayError):
    """The payload cannot be parsed or does not meet its standard."""

    status = 400
    code = "input_invalid"


class OutsideLimits(InputInvalid):
    """The input is beyond what the gateway takes at its edge (``core.limits``: nesting, text
    characters, lengths); each issue names where."""

    status = 400
    code = "input_invalid"


class InvalidScope(InputInvalid):
    """A token request asked for scopes (or a purpose and role) the partner may not have."""

    status = 400
    code = "invalid_scope"


class PayloadTooLarge(InputInvalid):
    status = 413
    code = "payload_too_large"


class UnsupportedFormat(InputInvalid):
    status = 415
    code = "unsupported_format"


class MappingFailed(GatewayError):
    status = 422
    code = "mapping_failed"


class PlanInvalid(GatewayError):
    """A merged plan no longer validates against the canonical schema."""

    status = 422
    code = "plan_invalid"


class IdentityUnresolved(GatewayError):
    """A record cannot be linked to a student: it is held, never guessed."""

    status = 422
    code = "identity_unresolved"


class AuthenticationFailed(GatewayError):
    status = 401
    code = "authentication_failed"


class AccessDenied(GatewayError):
    """Every denial looks the same, whatever the reason, so nothing leaks."""

    status = 403
    code = "access_denied"


class InsufficientScope(AccessDenied):
    """The token was not granted the SMART scope this interaction needs."""

    status = 403
    code = "insufficient_scope"


class NotFound(GatewayError):
    status = 404
    code = "not_found"


class Gone(GatewayError):
    """The resource existed and was deleted (FHIR answers 410)."""

    status = 410
    code = "gone"


class MethodNotAllowed(GatewayError):
    status = 405
    code = "method_not_allowed"


class NotAcceptable(GatewayError):
    status = 406
    code = "not_acceptable"


class PreconditionFailed(GatewayError):
    """An ``If-Match`` named a version that is not the current one."""

    status = 412
    code = "precondition_failed"


class Conflict(GatewayError):
    status = 409
    code = "conflict"


class AuditBroken(GatewayError):
    status = 500
    code = "audit_broken"


class AuditUnavailable(GatewayError):
    """The audit entry could not be written, so nothing was stored, answered or sent (fail
    closed). Retrying later is safe: the exchange did not happen."""

    status = 503
    code = "audit_unavailable"


class StorageUnavailable(GatewayError):
    status = 503
    code = "storage_unavailable"


class UpstreamFailed(GatewayError):
    """A partner system the gateway pulls from (an Ed-Fi ODS/API, a OneRoster service) failed or
    refused: its answer is summarised (status, problem type, field paths), never its record values."""

    status = 502
    code = "upstream_failed"
