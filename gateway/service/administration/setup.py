"""``spgw init``: create or migrate the database, create keys, optionally load the demo world."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.artifacts import load_world
from gateway.errors import ArtifactInvalid, GatewayError, Issue
from gateway.formats import parse_payload
from gateway.service.administration.keys import ensure_keys
from gateway.service.administration.partners import create_secret
from gateway.service.compliance import audit
from gateway.service.policy import consents
from gateway.service.policy.agreement_signing import seed_signed
from gateway.service.runtime import Runtime, Settings, open_runtime
from gateway.storage import organization_store
from gateway.storage.db import Session, make_engine, migrate

SAMPLES = "samples"


@dataclass(frozen=True, kw_only=True)
class InitReport:
    database: str
    home: str
    organizations: tuple[str, ...] = ()
    agreements: tuple[str, ...] = ()
    consents: tuple[str, ...] = ()
    credentials_file: str | None = None
    notes: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in self.__dict__.items()}


def initialise(settings: Settings, *, with_samples: bool = False) -> tuple[Runtime, InitReport]:
    ensure_keys(settings.home)
    engine = make_engine(settings.database_url)
    migrate(engine)
    rt = open_runtime(settings, engine=engine)
    report = InitReport(database=_redacted(settings.database_url), home=str(settings.home))
    if with_samples:
        report = load_samples(rt, rt.artifacts.folders.policies / SAMPLES, report)
    return rt, report


def _redacted(url: str) -> str:
    # Never print a database password.
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url


def load_samples(rt: Runtime, folder: Path, report: InitReport) -> InitReport:
    world = load_world(folder, rt.artifacts.vocabulary, rt.artifacts.folders)
    consents = _read_consents(folder / "consents")
    now = rt.now()
    with rt.sessions.begin() as session:
        for org in world.organizations:
            organization_store.upsert_organization(session, org, now)
        for doc in world.agreements:
            seed_signed(session, rt, doc, loaded_by="administrator:spgw-init")
        for consent in consents:
            _store_consent(session, rt, consent)
        audit.record(
            session,
            rt,
            [
                audit.AuditDraft(
                    kind="policy.loaded",
                    actor="spgw-init",
                    subject="",
                    details={
                        "organizations": [o["id"] for o in world.organizations],
                        "agreements": [f"{a['id']}@{a['version']}" for a in world.agreements],
                        "consents": [c["id"] for c in consents],
                    },
                )
            ],
        )
    audit.checkpoint(rt)
    credentials = _demo_credentials(rt, [o["id"] for o in world.organizations])
    return InitReport(
        database=report.database,
        home=report.home,
        organizations=tuple(o["id"] for o in world.organizations),
        agreements=tuple(a["id"] for a in world.agreements),
        consents=tuple(c["id"] for c in consents),
        credentials_file=str(credentials),
    )


def _read_consents(folder: Path) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    issues: list[Issue] = []
    for path in sorted(folder.glob("*.json")):
        parsed = parse_payload("fhir-json", path.read_bytes())
        issues.extend(
            Issue(path=f"{path.name}: {i.path}", message=i.message) for p in parsed.problems for i in p.issues
        )
        found.extend(r.data for r in parsed.records if r.entity == "Consent")
    if issues:
        raise ArtifactInvalid(f"consents in {folder} are invalid", issues)
    return found


def _store_consent(session: Session, rt: Runtime, doc: dict[str, Any]) -> None:
    # Checked like any import, recorded as by its grantor; the policy.loaded entry audits it.
    try:
        consents.store_consent(session, rt, doc, recorded_by=consents.grantor_of(rt, doc))
    except GatewayError as exc:
        raise ArtifactInvalid(
            f"sample consent {doc.get('id')} cannot be loaded: {exc.message}", exc.issues
        ) from exc


def _demo_credentials(rt: Runtime, organizations: list[str]) -> Path:
    """One client secret per demo partner, written where only this user can read it."""
    path = rt.settings.home / "demo-credentials.json"
    existing: dict[str, Any] = json.loads(path.read_text("utf-8")) if path.exists() else {}
    for org in organizations:
        if org not in existing:
            issued = create_secret(rt, org)
            existing[org] = {
                "client_id": issued.client_id,
                "client_secret": issued.client_secret,
            }
    path.write_text(json.dumps(existing, indent=2), encoding="utf-8")
    os.chmod(path, 0o600)
    return path
