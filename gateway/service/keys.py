"""The gateway's own keys, kept in files under GATEWAY_HOME/keys, never in the database.

- ``audit-ed25519.pem`` signs audit checkpoints, so a database-only attacker cannot forge
  or truncate the log unnoticed;
- ``token-ed25519.pem`` signs the short-lived access tokens partners get from /oauth/token.
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

AUDIT_KEY = "audit-ed25519.pem"
TOKEN_KEY = "token-ed25519.pem"


@dataclass(frozen=True, kw_only=True)
class SigningKey:
    key_id: str
    private: Ed25519PrivateKey

    @property
    def public(self) -> Ed25519PublicKey:
        return self.private.public_key()

    def sign(self, data: bytes) -> str:
        return base64.urlsafe_b64encode(self.private.sign(data)).decode("ascii")

    def verify(self, data: bytes, signature: str) -> bool:
        try:
            self.public.verify(base64.urlsafe_b64decode(signature.encode("ascii")), data)
        except (InvalidSignature, ValueError):
            return False
        return True


@dataclass(frozen=True, kw_only=True)
class KeyRing:
    audit: SigningKey | None
    token: SigningKey | None


def ensure_keys(home: Path) -> KeyRing:
    folder = home / "keys"
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    for name in (AUDIT_KEY, TOKEN_KEY):
        path = folder / name
        if not path.exists():
            pem = Ed25519PrivateKey.generate().private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            path.write_bytes(pem)
            os.chmod(path, 0o600)
    return load_keys(home)


def load_keys(home: Path) -> KeyRing:
    return KeyRing(audit=_load(home / "keys" / AUDIT_KEY), token=_load(home / "keys" / TOKEN_KEY))


def _load(path: Path) -> SigningKey | None:
    if not path.exists():
        return None
    private = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(private, Ed25519PrivateKey):
        raise ValueError(f"{path} is not an Ed25519 private key")
    raw = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return SigningKey(key_id="ed25519:" + hashlib.sha256(raw).hexdigest()[:16], private=private)
