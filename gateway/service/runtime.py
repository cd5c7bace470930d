"""What a running gateway holds: settings, loaded artifacts, a session factory, keys, a clock.

Built by ``open_runtime``; nothing is module-level, so tests and workers each build their own.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from gateway.artifacts import ArtifactFolders, Artifacts, load_artifacts
from gateway.errors import InputInvalid, Issue
from gateway.service.administration.keys import KeyRing, load_keys
from gateway.storage.db import make_engine, session_factory

DEFAULT_MAX_PAYLOAD = 20 * 1024 * 1024
DEFAULT_MAX_BULK_PAYLOAD = 4 * 1024 * 1024 * 1024
# How long a claimed delivery stays with its sender without a renewal (see delivery_lease).
DEFAULT_DELIVERY_LEASE_SECONDS = 20.0
DEFAULT_STALE_AFTER_SECONDS = 900
DEFAULT_PUBLIC_URL = "http://127.0.0.1:8080"


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True, kw_only=True)
class Settings:
    home: Path
    database_url: str
    # The artifacts shipped in the package unless a site names its own: a folder holding
    # mappings/, schemas/ and consent_policies/, or any one of the three by itself.
    artifacts_root: Path | None = None
    mappings_dir: Path | None = None
    schemas_dir: Path | None = None
    policies_dir: Path | None = None
    max_payload_bytes: int = DEFAULT_MAX_PAYLOAD
    batch_size: int = 500
    # Bulk files (CLI, pulls) may exceed the HTTP limit; above the file threshold a payload is
    # kept as a file under $GATEWAY_HOME/payloads and streamed, in larger batches.
    max_bulk_payload_bytes: int = DEFAULT_MAX_BULK_PAYLOAD
    payload_file_threshold: int = 8 * 1024 * 1024
    bulk_batch_size: int = 5000
    token_ttl_seconds: int = 300
    issuer: str = "spgw"
    delivery_lease_seconds: float = DEFAULT_DELIVERY_LEASE_SECONDS
    # A message ``received`` with no progress for this long is taken for interrupted even when
    # its process cannot be checked (another host); batches show progress every few seconds.
    stale_after_seconds: int = DEFAULT_STALE_AFTER_SECONDS
    # The URL partners reach the gateway at (behind any proxy). Signed client assertions are
    # addressed to its token endpoint; the request's Host header is never trusted for that.
    public_base_url: str = DEFAULT_PUBLIC_URL
    # A plan answer that shows nothing takes at least this long, so that its timing does not
    # tell a known student from an unknown one (the work differs by a few milliseconds).
    denial_floor_ms: int = 15
    # A signed tree head is due when this many entries or this many minutes have passed since
    # the last one (whichever comes first); the newest head is always signed at shutdown.
    checkpoint_every_entries: int = 256
    checkpoint_every_minutes: float = 5.0
    # Where each signed head is also delivered (name=url pairs): a copy outside the gateway.
    audit_witnesses: tuple[tuple[str, str], ...] = ()
    # How often ``spgw deliver`` runs the retention purge of stored payload copies.
    retention_interval_seconds: float = 3600.0
    # A partner's JWKS URL is fetched again for an unknown kid at most once per this many seconds.
    jwks_refresh_seconds: float = 60.0
    # ``spgw serve``: auto is gunicorn on PostgreSQL and waitress on SQLite (one process: SQLite
    # has one writer at a time); workers 0 is 2 per CPU + 1. Threads are per worker.
    server: str = "auto"
    bind: str = "127.0.0.1:8080"
    workers: int = 0
    threads: int = 8
    # A bearer token that may read /metrics (besides administrator and compliance credentials).
    metrics_token: str = ""

    def __post_init__(self) -> None:
        # A wrong public URL would refuse every signed assertion; say so at start-up instead.
        parts = urlsplit(self.public_base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
            raise InputInvalid(
                "the gateway's public URL is not an absolute http(s) URL",
                [
                    Issue(
                        path="GATEWAY_PUBLIC_URL",
                        message="give the URL partners reach the gateway at, e.g. https://gateway.example.org",
                    )
                ],
            )

    def artifact_folders(self) -> ArtifactFolders:
        root = self.artifacts_root
        base = ArtifactFolders.under(root) if root else ArtifactFolders.bundled()
        return ArtifactFolders(
            mappings=self.mappings_dir or base.mappings,
            schemas=self.schemas_dir or base.schemas,
            policies=self.policies_dir or base.policies,
        )

    @property
    def token_url(self) -> str:
        return self.public_base_url.rstrip("/") + "/oauth/token"

    @classmethod
    def from_env(cls, home: str | os.PathLike[str] | None = None) -> Settings:
        """Environment, configuration file and defaults (gateway.service.administration.settings_file)."""
        from gateway.service.administration.settings_file import load_settings  # it builds on this class

        return load_settings(cli={"home": home} if home else None)


def _witnesses(text: str) -> tuple[tuple[str, str], ...]:
    """``name=https://...`` pairs, comma separated."""
    found = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, url = part.partition("=")
        if not sep or not name.strip() or urlsplit(url.strip()).scheme not in ("http", "https"):
            raise InputInvalid(
                "a witness is not name=http(s)-URL",
                [
                    Issue(
                        path="GATEWAY_AUDIT_WITNESSES",
                        message="e.g. partner=https://witness.example.org/heads",
                    )
                ],
            )
        found.append((name.strip(), url.strip()))
    return tuple(found)


@dataclass(frozen=True, kw_only=True)
class Runtime:
    settings: Settings
    artifacts: Artifacts
    engine: Engine
    sessions: sessionmaker[Session]
    keys: KeyRing
    clock: Callable[[], dt.datetime] = field(default=utc_now)

    def now(self) -> dt.datetime:
        return self.clock()


def open_runtime(
    settings: Settings,
    clock: Callable[[], dt.datetime] = utc_now,
    engine: Engine | None = None,
    artifacts: Artifacts | None = None,
) -> Runtime:
    """Load and check every artifact (a bad one stops here), connect, load keys. Artifacts
    already loaded from the same folders may be handed in (they are immutable)."""
    artifacts = artifacts or load_artifacts(settings.artifact_folders())
    settings.home.mkdir(parents=True, exist_ok=True)
    engine = engine or make_engine(settings.database_url)
    return Runtime(
        settings=settings,
        artifacts=artifacts,
        engine=engine,
        sessions=session_factory(engine),
        keys=load_keys(settings.home),
        clock=clock,
    )
