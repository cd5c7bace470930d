"""Data-sharing agreements (MOUs / DSAs) managed while the gateway runs.

An agreement is checked whole (the meta-schema, then the cross-checks of
``artifacts.check_agreement_terms``) and every problem is reported at once. Only a party may
import or change an agreement. Each change raises the version by one, so the policy version
every decision records names the exact terms it read; ``terminated`` is final. Every change is
audited (``agreement.changed``).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from sqlalchemy.orm import Session

from gateway.artifacts import agreement_from_doc, check_agreement_terms
from gateway.core.canonical import digest
from gateway.errors import AccessDenied, Conflict, InputInvalid, Issue, NotFound
from gateway.service import audit
from gateway.service.runtime import Runtime
from gateway.storage import repositories as repo
from gateway.storage.tables import AgreementRow

STATUSES = ("draft", "active", "suspended", "terminated")
FINAL = "terminated"
MAX_REASON = 500
MAX_ID = 80  # what the agreements table keeps


@dataclass(frozen=True, kw_only=True)
class AgreementSummary:
    id: str
    version: int
    status: str
    in_force: bool
    parties: tuple[str, ...]
    document: dict[str, Any]
    changed: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "version": self.version,
            "status": self.status,
            "inForce": self.in_force,
            "parties": list(self.parties),
            "changed": self.changed,
            "document": self.document,
        }


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice rather than keeping the last one silently."""


def _unique_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    keys = [loader.construct_object(key) for key, _ in node.value]
    for key_node, key in zip((k for k, _ in node.value), keys, strict=True):
        if keys.count(key) > 1:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
    return dict(loader.construct_pairs(node))


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _unique_mapping)


def read_agreement_file(path: Path) -> Any:
    """An agreement file as data (YAML, or JSON, which is YAML too); a file that cannot be read is
    an input error naming the file."""
    try:
        return yaml.load(path.read_text("utf-8"), _UniqueKeyLoader)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise InputInvalid(f"{path.name} cannot be read", [Issue(path=path.name, message=str(exc))]) from exc


def list_agreements(rt: Runtime, *, party: str | None = None) -> list[AgreementSummary]:
    """Every agreement, or only those ``party`` is a party to."""
    with rt.sessions() as session:
        rows = repo.agreement_rows(session)
        found = [_summary(rt, row) for row in rows]
    return [a for a in found if party is None or party in a.parties]


def import_agreement(rt: Runtime, document: Any, *, by: str) -> AgreementSummary:
    """Add an agreement, or change one (version + 1); the same terms again change nothing."""
    with rt.sessions.begin() as session:
        _check(session, rt, document)
        if by not in document["parties"]:
            raise _not_a_party()
        row = repo.get_agreement(session, document["id"])
        if row is not None and _terms(row.document) == _terms(document) and by in row.document["parties"]:
            return _summary(rt, row)
        previous = _previous(row, by)
        stored = {**document, "version": row.version + 1 if row is not None else document["version"]}
        summary = _store(session, rt, stored, previous, by=by, change="imported", reason="")
    audit.checkpoint(rt)
    return summary


def set_status(rt: Runtime, agreement_id: str, status: str, *, by: str, reason: str) -> AgreementSummary:
    """Activate, suspend, return to draft or terminate an agreement, saying why."""
    _check_status_request(status, reason)
    with rt.sessions.begin() as session:
        row = repo.get_agreement(session, agreement_id)
        if row is None:
            raise NotFound(f"agreement {agreement_id} does not exist")
        if row.status == status and by in row.document["parties"]:
            return _summary(rt, row)
        previous = _previous(row, by)
        stored = {**row.document, "status": status, "version": row.version + 1}
        summary = _store(session, rt, stored, previous, by=by, change="status", reason=reason.strip())
    audit.checkpoint(rt)
    return summary


def _check_status_request(status: str, reason: str) -> None:
    issues = []
    if status not in STATUSES:
        issues.append(Issue(path="status", message=f"one of {', '.join(STATUSES)}"))
    if not reason.strip():
        issues.append(Issue(path="reason", message="required: say why the status changes"))
    elif len(reason) > MAX_REASON:
        issues.append(Issue(path="reason", message=f"at most {MAX_REASON} characters"))
    if issues:
        raise InputInvalid("invalid status change", issues)


def _previous(row: AgreementRow | None, by: str) -> dict[str, Any] | None:
    """The stored terms ``by`` may change: a party's, and never a terminated agreement's."""
    if row is None:
        return None
    if by not in row.document["parties"]:
        raise _not_a_party()
    if row.status == FINAL:
        raise Conflict(
            f"agreement {row.id} is terminated; a terminated agreement cannot change",
            [Issue(path="status", message="terminated is final: make a new agreement with a new id")],
        )
    return {"version": row.version, "status": row.status}


def _not_a_party() -> AccessDenied:
    return AccessDenied("only a party to an agreement may import or change it")


def _terms(document: dict[str, Any]) -> str:
    # The version is the gateway's counter, not a term: the same terms again are no change.
    return digest({k: v for k, v in document.items() if k != "version"})


def _store(
    session: Session,
    rt: Runtime,
    document: dict[str, Any],
    previous: dict[str, Any] | None,
    *,
    by: str,
    change: str,
    reason: str,
) -> AgreementSummary:
    repo.upsert_agreement(session, document, rt.now())
    row = repo.get_agreement(session, document["id"])
    assert row is not None  # just written in this transaction
    summary = _summary(rt, row, changed=True)
    details: dict[str, Any] = {
        "agreementId": summary.id,
        "version": summary.version,
        "status": summary.status,
        "previous": previous,
        "change": change,
        "documentDigest": digest(document),
    }
    if reason:
        # An operator's statement about a contract between organizations, never about a student.
        details["reason"] = reason
    audit.record(
        session, rt, [audit.AuditDraft(kind="agreement.changed", actor=by, subject="", details=details)]
    )
    return summary


def _check(session: Session, rt: Runtime, document: Any) -> None:
    """The meta-schema first; the cross-checks need a document of the right shape."""
    issues = _schema_issues(rt, document)
    if not issues and len(document["id"]) > MAX_ID:
        issues.append(Issue(path="$.id", message=f"at most {MAX_ID} characters"))
    if not issues:
        org_ids = {org["id"] for org in repo.organization_docs(session)}
        issues = check_agreement_terms(document, org_ids, rt.artifacts.vocabulary)
    if issues:
        raise InputInvalid(f"the agreement is invalid: {len(issues)} problem(s); nothing was stored", issues)


def _schema_issues(rt: Runtime, document: Any) -> list[Issue]:
    path = rt.artifacts.root / "schemas" / "meta" / "agreement.schema.json"
    validator = jsonschema.Draft202012Validator(
        json.loads(path.read_text("utf-8")), format_checker=jsonschema.FormatChecker()
    )
    return [
        Issue(path=error.json_path, message=error.message)
        for error in sorted(validator.iter_errors(document), key=lambda e: list(map(str, e.absolute_path)))
    ]


def _summary(rt: Runtime, row: AgreementRow, *, changed: bool = False) -> AgreementSummary:
    agreement = agreement_from_doc(row.document)
    return AgreementSummary(
        id=row.id,
        version=row.version,
        status=row.status,
        in_force=agreement.in_force(_today(rt)),
        parties=tuple(sorted(agreement.parties)),
        document=dict(row.document),
        changed=changed,
    )


def _today(rt: Runtime) -> dt.date:
    return rt.now().date()
