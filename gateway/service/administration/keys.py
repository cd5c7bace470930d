"""The gateway's own keys, kept in files under GATEWAY_HOME/keys, never in the database.

- ``audit-ed25519.pem`` signs audit checkpoints, so a database-only attacker cannot forge
  or truncate the log unnoticed;
- ``token-ed25519.pem`` signs the short-lived access tokens partners get from /oauth/token;
- ``audit-retired/<key id>.pub``: the public halves of rotated audit keys, so the heads they
  signed still verify (a head under a key id found nowhere here is forged).
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
RETIRED = "audit-retired"


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
        return verifies(self.public, data, signature)


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
            _write_private(path, Ed25519PrivateKey.generate())
    return load_keys(home)


def _write_private(path: Path, private: Ed25519PrivateKey) -> None:
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_bytes(pem)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def load_audit_key(home: Path) -> SigningKey | None:
    """The current audit key, read from its file each time a head is signed: a rotation made by
    another process (``spgw audit rotate-key``) takes effect without a restart."""
    return _load(home / "keys" / AUDIT_KEY)


def audit_public_keys(home: Path) -> dict[str, Ed25519PublicKey]:
    """Every audit key id this gateway has signed with: the current key and the retired ones."""
    found: dict[str, Ed25519PublicKey] = {}
    retired = home / "keys" / RETIRED
    if retired.is_dir():
        for path in sorted(retired.glob("*.pub")):
            public = serialization.load_pem_public_key(path.read_bytes())
            if isinstance(public, Ed25519PublicKey):
                found[key_id_of(public)] = public
    current = load_audit_key(home)
    if current is not None:
        found[current.key_id] = current.public
    return found


def rotate_audit_key(home: Path) -> tuple[str, str]:
    """Retire the audit key (its public half kept) and make a new one; (old id, new id)."""
    old = load_audit_key(home)
    if old is None:
        raise FileNotFoundError("no audit key to rotate: run 'spgw init'")
    retired = home / "keys" / RETIRED
    retired.mkdir(parents=True, exist_ok=True)
    public_pem = old.public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    (retired / f"{old.key_id.replace(':', '-')}.pub").write_bytes(public_pem)
    _write_private(home / "keys" / AUDIT_KEY, Ed25519PrivateKey.generate())
    new = load_audit_key(home)
    assert new is not None  # just written
    return old.key_id, new.key_id


def key_id_of(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "ed25519:" + hashlib.sha256(raw).hexdigest()[:16]


def note_key_hash(name: str, public: Ed25519PublicKey) -> bytes:
    """The 4-byte key hash of a C2SP signed note: SHA-256(name || LF || 0x01 || public key)."""
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(name.encode("utf-8") + b"\n\x01" + raw).digest()[:4]


def verifies(public: Ed25519PublicKey, data: bytes, signature: str) -> bool:
    try:
        public.verify(base64.urlsafe_b64decode(signature.encode("ascii")), data)
    except (InvalidSignature, ValueError):
        return False
    return True


def load_keys(home: Path) -> KeyRing:
    return KeyRing(audit=_load(home / "keys" / AUDIT_KEY), token=_load(home / "keys" / TOKEN_KEY))


def _load(path: Path) -> SigningKey | None:
    if not path.exists():
        return None
    private = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(private, Ed25519PrivateKey):
        raise ValueError(f"{path} is not an Ed25519 private key")
    return SigningKey(key_id=key_id_of(private.public_key()), private=private)
