"""Is the gateway able to work: can it reach its database and does it hold its keys?

``check`` is the cheap probe behind ``/health``; ``readiness`` the full one behind ``/ready``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway.errors import StorageUnavailable
from gateway.service.administration.keys import load_keys
from gateway.service.runtime import Runtime
from gateway.storage.ops_queries import migration_revisions, ping


@dataclass(frozen=True, kw_only=True)
class Health:
    database: bool
    keys: bool

    @property
    def ok(self) -> bool:
        return self.database and self.keys


def check(rt: Runtime) -> Health:
    try:
        ping(rt.sessions)
        database = True
    except StorageUnavailable:
        database = False
    return Health(database=database, keys=rt.keys.audit is not None and rt.keys.token is not None)


# -- readiness: may a load balancer send this worker requests? ------------------------------


@dataclass(frozen=True, kw_only=True)
class Check:
    name: str
    ok: bool
    detail: str


@dataclass(frozen=True, kw_only=True)
class Readiness:
    checks: tuple[Check, ...]

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def failed(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.checks if not c.ok)

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": "ready" if self.ok else "not-ready",
            "failed": list(self.failed),
            "checks": {c.name: {"ok": c.ok, "detail": c.detail} for c in self.checks},
        }


def readiness(rt: Runtime) -> Readiness:
    """The database answers and is migrated to the code's newest revision, the signing keys load
    from their files (a head is signed with the file's key, not the one read at start-up), and
    the artifacts are loaded. Details name what failed, never a URL, a path's content or a value."""
    return Readiness(checks=(*_database(rt), _keys(rt), _artifacts(rt)))


def _database(rt: Runtime) -> tuple[Check, Check]:
    try:
        current, head = migration_revisions(rt.engine)
    except StorageUnavailable as exc:
        return Check(name="database", ok=False, detail=exc.message), Check(
            name="migrations", ok=False, detail="not checked: no database"
        )
    answered = Check(name="database", ok=True, detail="answers")
    if current != head:
        detail = f"at revision {current or 'none'}, the code needs {head}: run 'spgw init' to migrate"
        return answered, Check(name="migrations", ok=False, detail=detail)
    return answered, Check(name="migrations", ok=True, detail=f"at head {head}")


def _keys(rt: Runtime) -> Check:
    try:
        ring = load_keys(rt.settings.home)
    except (OSError, ValueError) as exc:
        return Check(name="keys", ok=False, detail=f"a key file cannot be read ({type(exc).__name__})")
    missing = [name for name, key in (("audit", ring.audit), ("token", ring.token)) if key is None]
    if missing:
        return Check(name="keys", ok=False, detail=f"missing: {', '.join(missing)}; run 'spgw init'")
    return Check(name="keys", ok=True, detail="audit and token keys load")


def _artifacts(rt: Runtime) -> Check:
    count = len(rt.artifacts.mappings)
    return Check(name="artifacts", ok=count > 0, detail=f"{count} mappings loaded")
