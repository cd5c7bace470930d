"""SMART v2 scopes on every FHIR interaction.

``require(principal, resource_type, access)`` is called by each FHIR route before it does any
work; ``access`` is one SMART v2 permission letter: c (create), r (read, vread), u (update,
patch), d (delete), s (search). A token without scopes (issued before scopes existed) is
judged by the credential's role alone.
"""

from __future__ import annotations

from gateway.errors import InsufficientScope, Issue
from gateway.service.administration.partners import Principal

ACCESS_LETTERS = "cruds"


def granted(principal: Principal, resource_type: str, access: str) -> bool:
    if not principal.scopes:
        return True
    for scope in principal.scopes:
        context, _, rest = scope.partition("/")
        target, _, permissions = rest.partition(".")
        if context == "system" and target in (resource_type, "*") and access in permissions:
            return True
    return False


def require(principal: Principal, resource_type: str, access: str) -> None:
    if access not in ACCESS_LETTERS or len(access) != 1:
        raise ValueError(f"unknown SMART permission {access!r}")
    if not granted(principal, resource_type, access):
        raise InsufficientScope(
            "the access token was not granted the scope this interaction needs",
            [Issue(path="scope", message=f"ask the token endpoint for system/{resource_type}.{access}")],
        )
