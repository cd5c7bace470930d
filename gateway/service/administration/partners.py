"""Partner organizations, their credentials, and authentication.

Partners authenticate at the token endpoint (OAuth 2.0 client credentials) with either a
client secret (stored as a scrypt hash) or a signed JWT client assertion (``private_key_jwt``,
as in SMART Backend Services: ``exp`` at most five minutes ahead, ``jti`` never reused). They
get a short-lived access token signed by the gateway's own key; every API call carries it.

Each credential has a role: ``partner`` (exchanges of its own organization), ``administrator``
(operating the gateway) or ``compliance`` (a compliance officer: reads the audit, the reports and
the accountings of every organization, and nothing else). The token carries the role, so the API
can tell them apart without a database read; issuing an administrator or compliance credential
is audited.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization

from gateway.errors import AuthenticationFailed, InputInvalid, Issue, NotFound
from gateway.service.compliance import audit
from gateway.service.fhir import jwks
from gateway.service.runtime import Runtime
from gateway.storage import organization_store
from gateway.storage.tables import Credential

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_ALGORITHMS = ["EdDSA", "ES256", "ES384", "RS384"]
MAX_ASSERTION_LIFETIME = dt.timedelta(minutes=5)
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}
PARTNER = "partner"
ADMINISTRATOR = "administrator"
COMPLIANCE = "compliance"
ROLES = (PARTNER, ADMINISTRATOR, COMPLIANCE)
# Roles whose issuance is audited: who may operate or oversee the gateway is a fact to prove later.
AUDITED_ROLES = frozenset({ADMINISTRATOR, COMPLIANCE})
# Credentials are issued on the gateway host (CLI, init), by whoever operates it.
OPERATOR = "operator"


@dataclass(frozen=True, kw_only=True)
class Principal:
    """Who is calling: the partner organization, the credential it used and that credential's role."""

    organization_id: str
    client_id: str
    role: str = PARTNER
    # SMART v2 scopes granted to the token (``system/Task.rs``); empty: none were asked for
    # and the credential's role decides (tokens issued before scopes existed).
    scopes: tuple[str, ...] = ()
    # The purpose and policy role of the partner's reads, from its token (asked for at the
    # token endpoint and checked there) or its registration's defaults; None: not stated.
    purpose: str | None = None
    read_role: str | None = None

    @property
    def is_administrator(self) -> bool:
        return self.role == ADMINISTRATOR

    @property
    def is_compliance(self) -> bool:
        return self.role == COMPLIANCE


@dataclass(frozen=True, kw_only=True)
class IssuedSecret:
    organization_id: str
    client_id: str
    client_secret: str


def hash_secret(secret: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(secret.encode(), salt=salt, **_SCRYPT)
    return "scrypt$" + base64.b64encode(salt).decode() + "$" + base64.b64encode(digest).decode()


def secret_matches(secret: str, stored: str) -> bool:
    try:
        _, salt, expected = stored.split("$")
        digest = hashlib.scrypt(secret.encode(), salt=base64.b64decode(salt), **_SCRYPT)
    except ValueError:
        return False
    return hmac.compare_digest(digest, base64.b64decode(expected))


_DUMMY_HASH = hash_secret("not-a-real-secret")


def create_secret(rt: Runtime, organization_id: str, *, role: str = PARTNER) -> IssuedSecret:
    """A new client id and secret; the secret is shown once and stored only as a hash."""
    check_role(role)
    client_id = f"{organization_id}.{secrets.token_hex(4)}"
    secret = secrets.token_urlsafe(32)
    credential = credential_row(
        rt, organization_id, client_id, "secret", role, secret_hash=hash_secret(secret)
    )
    _add_credential(rt, credential)
    return IssuedSecret(organization_id=organization_id, client_id=client_id, client_secret=secret)


def register_public_key(
    rt: Runtime, organization_id: str, public_key_pem: str, *, role: str = PARTNER
) -> str:
    check_role(role)
    serialization.load_pem_public_key(public_key_pem.encode())  # refuse a key that does not load
    client_id = f"{organization_id}.jwt.{secrets.token_hex(4)}"
    _add_credential(
        rt, credential_row(rt, organization_id, client_id, "jwt-key", role, public_key_pem=public_key_pem)
    )
    return client_id


def check_role(role: str) -> None:
    if role not in ROLES:
        raise InputInvalid(
            "unknown credential role",
            [Issue(path="role", message=f"use one of: {', '.join(ROLES)}")],
        )


def credential_row(
    rt: Runtime,
    organization_id: str,
    client_id: str,
    kind: str,
    role: str,
    *,
    secret_hash: str | None = None,
    public_key_pem: str | None = None,
) -> Credential:
    return Credential(
        client_id=client_id,
        organization_id=organization_id,
        kind=kind,
        role=role,
        secret_hash=secret_hash,
        public_key_pem=public_key_pem,
        created_at=rt.now(),
        revoked_at=None,
    )


def _add_credential(rt: Runtime, credential: Credential) -> None:
    with rt.sessions.begin() as session:
        require_org(session, credential.organization_id)
        organization_store.add_credential(session, credential)
        if credential.role in AUDITED_ROLES:
            audit.record(session, rt, [issued_draft(credential)])
    if credential.role in AUDITED_ROLES:
        audit.checkpoint(rt)


def issued_draft(credential: Credential) -> audit.AuditDraft:
    return audit.AuditDraft(
        kind="credential.issued",
        actor=OPERATOR,
        subject=credential.client_id,
        details={
            "organizationId": credential.organization_id,
            "kind": credential.kind,
            "role": credential.role,
        },
    )


def require_org(session: Any, organization_id: str) -> None:
    if organization_id not in {o["id"] for o in organization_store.organization_docs(session)}:
        raise NotFound(f"organization '{organization_id}' is not registered")


def _refused() -> AuthenticationFailed:
    # One answer for every failure: which part was wrong is not told to the caller.
    return AuthenticationFailed(
        "client authentication failed",
        [
            Issue(
                path="client",
                message="check the client id and secret, or the signed client assertion",
            )
        ],
    )


def authenticate_secret(rt: Runtime, client_id: str, client_secret: str) -> Principal:
    with rt.sessions() as session:
        credential = organization_store.active_credential(session, client_id)
    usable = credential is not None and credential.kind == "secret" and bool(credential.secret_hash)
    # Hash even for an unknown client, so response time does not tell which client ids exist.
    stored = credential.secret_hash if usable and credential and credential.secret_hash else _DUMMY_HASH
    if not secret_matches(client_secret, stored) or not usable or credential is None:
        raise _refused()
    return _principal(credential)


def authenticate_assertion(rt: Runtime, assertion: str) -> Principal:
    """A signed client assertion addressed to this gateway's public token URL, used once. The key
    is the credential's registered PEM, or the key of its key set named by the header's ``kid``
    (registered as a JWK or fetched from the partner's JWKS URL, refreshed for an unknown kid)."""
    try:
        client_id = str(jwt.decode(assertion, options={"verify_signature": False}).get("iss", ""))
        kid = jwt.get_unverified_header(assertion).get("kid")
    except jwt.PyJWTError as exc:
        raise _refused() from exc
    with rt.sessions() as session:
        credential = organization_store.active_credential(session, client_id)
    if credential is None or credential.kind != "jwt-key":
        raise _refused()
    key, algorithms = _assertion_key(rt, credential, kid)
    claims = _verified_claims(assertion, credential, key, algorithms, rt.settings.token_url, rt.now())
    expires = dt.datetime.fromtimestamp(int(claims["exp"]), dt.UTC)
    with rt.sessions.begin() as session:
        if not organization_store.remember_assertion(
            session, _replay_key(client_id, claims["jti"]), expires, rt.now()
        ):
            raise _refused()
    return _principal(credential)


def _assertion_key(rt: Runtime, credential: Credential, kid: Any) -> tuple[Any, list[str]]:
    if credential.public_key_pem:
        return credential.public_key_pem, ASSERTION_ALGORITHMS
    if not isinstance(kid, str) or not kid:
        raise _refused()  # a key set is searched by kid only
    found = jwks.assertion_key(rt, credential.client_id, kid)
    if found is None:
        raise _refused()
    return found


def _principal(credential: Credential) -> Principal:
    return Principal(
        organization_id=credential.organization_id, client_id=credential.client_id, role=credential.role
    )


def _replay_key(client_id: str, jti: str) -> str:
    # A digest: the jti is the partner's text, of any length; the key column holds 200 characters.
    return f"{client_id}:{hashlib.sha256(jti.encode()).hexdigest()}"


def _verified_claims(
    assertion: str,
    credential: Credential,
    key: Any,
    algorithms: list[str],
    audience: str,
    now: dt.datetime,
) -> dict[str, Any]:
    try:
        claims: dict[str, Any] = jwt.decode(
            assertion,
            key=key,
            algorithms=algorithms,
            audience=audience,
            issuer=credential.client_id,
            options={
                "require": ["exp", "iss", "sub", "jti", "aud"],
                "verify_exp": False,
                "verify_iat": False,
            },
        )
    except jwt.PyJWTError as exc:
        raise _refused() from exc
    if claims["sub"] != credential.client_id or not _fresh(claims, now, MAX_ASSERTION_LIFETIME):
        raise _refused()
    if not isinstance(claims["jti"], str) or not claims["jti"].strip():
        raise _refused()  # without a usable jti a replay could not be told apart
    return claims


def _fresh(claims: dict[str, Any], now: dt.datetime, longest: dt.timedelta) -> bool:
    """Expiry is checked against the gateway's clock, not the library's."""
    try:
        expires = dt.datetime.fromtimestamp(int(claims["exp"]), dt.UTC)
    except (TypeError, ValueError):
        return False
    return now < expires <= now + longest


def _expired() -> AuthenticationFailed:
    return AuthenticationFailed(
        "access token is missing, expired or invalid",
        [Issue(path="Authorization", message="get a new token from POST /oauth/token")],
    )


def issue_access_token(rt: Runtime, principal: Principal) -> dict[str, Any]:
    key = rt.keys.token
    if key is None:
        raise AuthenticationFailed("the gateway has no token key; run 'spgw init'")
    now = rt.now()
    ttl = rt.settings.token_ttl_seconds
    claims = {
        "iss": rt.settings.issuer,
        "sub": principal.client_id,
        "org": principal.organization_id,
        "role": principal.role,
        "iat": int(now.timestamp()),
        "exp": int(now.timestamp()) + ttl,
        "jti": secrets.token_hex(12),
        "scope": " ".join(principal.scopes),
        **({"purpose": principal.purpose} if principal.purpose else {}),
        **({"read_role": principal.read_role} if principal.read_role else {}),
    }
    token = jwt.encode(claims, key.private, algorithm="EdDSA", headers={"kid": key.key_id})
    answer = {"access_token": token, "token_type": "Bearer", "expires_in": ttl, "scope": claims["scope"]}
    return answer


def verify_access_token(rt: Runtime, token: str) -> Principal:
    key = rt.keys.token
    if key is None:
        raise _refused()
    try:
        claims = jwt.decode(
            token,
            key=key.public,
            algorithms=["EdDSA"],
            issuer=rt.settings.issuer,
            options={
                "require": ["exp", "iss", "sub", "org", "role"],
                "verify_exp": False,
                "verify_iat": False,
            },
        )
    except jwt.PyJWTError as exc:
        raise _expired() from exc
    if not _fresh(claims, rt.now(), dt.timedelta(seconds=rt.settings.token_ttl_seconds)):
        raise _expired()
    with rt.sessions() as session:
        credential = organization_store.active_credential(session, claims["sub"])
    # The role must be a known one and the credential's own: a token never claims more.
    if credential is None or claims["role"] not in ROLES or claims["role"] != credential.role:
        raise _refused()
    return Principal(
        organization_id=claims["org"],
        client_id=claims["sub"],
        role=claims["role"],
        scopes=tuple(str(claims.get("scope") or "").split()),
        purpose=_text_claim(claims, "purpose"),
        read_role=_text_claim(claims, "read_role"),
    )


def _text_claim(claims: dict[str, Any], name: str) -> str | None:
    value = claims.get(name)
    return value if isinstance(value, str) and value else None
