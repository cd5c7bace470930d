"""Checking a partner's public JWK before it is trusted, and what a token check needs of it.

A JWK is accepted when it loads and is a public signing key the gateway verifies assertions
with: RSA (2048 bits or more, RS384), EC on P-384 (ES384) or P-256 (ES256), or OKP Ed25519
(EdDSA), with a ``kid``. A private key is refused outright, naming the private members, so a
partner who sent the wrong file knows what to send instead. Every problem is reported at once.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from gateway.errors import InputInvalid, Issue

PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")
MIN_RSA_BITS = 2048
# (kty, crv) -> the one algorithm a key of that kind verifies (no algorithm confusion).
ALGORITHMS = {
    ("RSA", None): "RS384",
    ("EC", "P-384"): "ES384",
    ("EC", "P-256"): "ES256",
    ("OKP", "Ed25519"): "EdDSA",
}


@dataclass(frozen=True, kw_only=True)
class CheckedKey:
    kid: str
    algorithm: str
    thumbprint: str  # RFC 7638, base64url SHA-256
    jwk: dict[str, Any]  # the public members only


def jwk_issues(jwk: Any, where: str = "$") -> list[Issue]:
    if not isinstance(jwk, dict):
        return [Issue(path=where, message="a JWK is a JSON object")]
    issues = []
    private = [m for m in PRIVATE_MEMBERS if m in jwk]
    if private:
        issues.append(
            Issue(
                path=f"{where}.{private[0]}",
                message=f"this is a private key ({', '.join(private)}); register the public key only: "
                "export the public JWK (without d, p, q, dp, dq, qi); the private key stays with the partner",
            )
        )
    kid = jwk.get("kid")
    if not isinstance(kid, str) or not kid.strip() or len(kid) > 200:
        issues.append(
            Issue(
                path=f"{where}.kid",
                message="a key needs a kid (1 to 200 characters): the partner puts it in each "
                "assertion's header so the key can be found",
            )
        )
    if jwk.get("use") not in (None, "sig"):
        issues.append(Issue(path=f"{where}.use", message="the key must be for signatures (use: sig)"))
    if _kind(jwk) not in ALGORITHMS:
        issues.append(
            Issue(
                path=f"{where}.kty",
                message="use an RSA key, an EC key on P-384 or P-256, or an OKP Ed25519 key",
            )
        )
    elif jwk.get("alg") not in (None, ALGORITHMS[_kind(jwk)]):
        issues.append(
            Issue(path=f"{where}.alg", message=f"a key of this kind signs with {ALGORITHMS[_kind(jwk)]}")
        )
    return issues or _load_issues(jwk, where)


def _kind(jwk: dict[str, Any]) -> tuple[Any, Any]:
    kty = jwk.get("kty")
    return (kty, None if kty == "RSA" else jwk.get("crv"))


def _load_issues(jwk: dict[str, Any], where: str) -> list[Issue]:
    try:
        loaded = jwt.PyJWK(jwk, algorithm=ALGORITHMS[_kind(jwk)])
    except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError):
        return [Issue(path=where, message="the key does not load: check its members (n, e or x, y, crv)")]
    key = loaded.key
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < MIN_RSA_BITS:
        return [Issue(path=f"{where}.n", message=f"an RSA key needs at least {MIN_RSA_BITS} bits")]
    return []


def checked_key(jwk: Any, where: str = "$") -> CheckedKey:
    issues = jwk_issues(jwk, where)
    if issues:
        raise InputInvalid("the key cannot be registered", issues)
    return _checked(jwk)


def _checked(jwk: dict[str, Any]) -> CheckedKey:
    algorithm = ALGORITHMS[_kind(jwk)]
    public = {k: v for k, v in jwk.items() if k not in PRIVATE_MEMBERS}
    return CheckedKey(kid=jwk["kid"], algorithm=algorithm, thumbprint=thumbprint(public), jwk=public)


def checked_keys(document: Any) -> list[CheckedKey]:
    """One JWK, or a JWKS (``{"keys": [...]}``): every key checked, every problem reported."""
    if isinstance(document, dict) and "keys" in document:
        keys = document["keys"]
        if not isinstance(keys, list) or not keys:
            raise InputInvalid("the JWKS has no keys", [Issue(path="$.keys", message="list the public keys")])
        issues = [i for n, key in enumerate(keys) for i in jwk_issues(key, f"$.keys[{n}]")]
        kids = [k.get("kid") for k in keys if isinstance(k, dict)]
        issues += [
            Issue(path="$.keys", message=f"kid '{kid}' is used twice; each key needs its own kid")
            for kid in sorted({k for k in kids if isinstance(k, str) and kids.count(k) > 1})
        ]
        if issues:
            raise InputInvalid("the JWKS cannot be registered", issues)
        return [_checked(key) for key in keys]
    return [checked_key(document)]


def usable_keys(keys: list[dict[str, Any]]) -> list[CheckedKey]:
    """The keys of a fetched JWKS that pass the checks (others are skipped: not ours to fix)."""
    return [_checked(key) for key in keys if not jwk_issues(key)]


def thumbprint(jwk: dict[str, Any]) -> str:
    """The RFC 7638 thumbprint (base64url SHA-256 of the required members, in order)."""
    required = {"RSA": ("e", "kty", "n"), "EC": ("crv", "kty", "x", "y"), "OKP": ("crv", "kty", "x")}
    members = {m: jwk[m] for m in required.get(str(jwk.get("kty")), ()) if m in jwk}
    text = json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(hashlib.sha256(text).digest()).rstrip(b"=").decode()


def verification_key(jwk: dict[str, Any], algorithm: str) -> Any:
    return jwt.PyJWK(jwk, algorithm=algorithm).key
