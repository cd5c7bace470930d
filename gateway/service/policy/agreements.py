"""Data-sharing agreements (MOUs / DSAs): proposed, signed by every party, narrowed by any.

The life cycle is ``proposed → active → suspended → terminated``, in versions:

- A new agreement, or a new version that **widens** sharing (a party, purpose, role, category
  or field more, a longer retention, a later end; ``core.agreement_change`` says which), is
  ``proposed``: it has no effect until every party it names has signed that exact version
  (``agreement_signing``). Until then the version in force stays in force.
- A version that only **narrows** (suspend, terminate, a shorter term, fewer fields) takes effect
  at once, whichever party makes it: withdrawing is always allowed. It withdraws pending
  proposals, which were written against terms no longer in force.
- ``terminated`` is final. Every change is audited; partner free text (a reason) is audited as
  its digest and length only.

A partner acts only on agreements that name it and proposes only agreements that name it; the
administrator (the CLI, or an administrator credential) acts on any.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from gateway.artifacts import bundled_root, check_agreement_terms
from gateway.core.agreement_change import compare, terms_digest, version_digest
from gateway.core.canonical import digest
from gateway.errors import AccessDenied, Conflict, InputInvalid, Issue
from gateway.service.compliance import audit
from gateway.service.policy.agreement_views import (
    Acting,
    AgreementView,
    named_parties,
    resolve_key,
    scoped_key,
    view,
    visible_keys,
)
from gateway.service.runtime import Runtime
from gateway.storage import agreement_store as store
from gateway.storage import organization_store
from gateway.storage.db import Session
from gateway.storage.tables import AgreementVersionRow

STATUSES = ("active", "suspended", "terminated")
FINAL = "terminated"
MAX_REASON = 500
MAX_ID = 80  # what the agreements table keeps

__all__ = ["STATUSES", "Acting", "AgreementView", "import_agreement", "list_agreements", "set_status"]


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


# -- reading --------------------------------------------------------------------------------


def list_agreements(rt: Runtime, acting: Acting | None = None) -> list[AgreementView]:
    """Every agreement the caller may see (the administrator: all)."""
    acting = acting or Acting.administrator()
    with rt.sessions() as session:
        return [view(session, key, rt.now().date()) for key in visible_keys(session, acting)]


def show_agreement(rt: Runtime, agreement_id: str, acting: Acting) -> AgreementView:
    with rt.sessions() as session:
        return view(session, resolve_key(session, acting, agreement_id), rt.now().date())


# -- proposing and changing -----------------------------------------------------------------


def import_agreement(rt: Runtime, document: Any, *, acting: Acting) -> AgreementView:
    """Propose an agreement or a new version of one; a version that only narrows applies at once."""
    with rt.sessions.begin() as session:
        _check(session, rt, document)
        if not acting.is_administrator and acting.organization not in document["parties"]:
            raise AccessDenied(
                "a partner may only propose an agreement that names it",
                [Issue(path="$.parties", message="include your organization, or ask the administrator")],
            )
        key = _key_for(session, acting, document["id"])
        result = _change(session, rt, key, document, acting, reason="")
    audit.checkpoint(rt)
    return result


def set_status(rt: Runtime, agreement_id: str, status: str, *, acting: Acting, reason: str) -> AgreementView:
    """Suspend or terminate at once (any party); reactivating is a proposal every party signs."""
    _check_status_request(status, reason)
    with rt.sessions.begin() as session:
        key = resolve_key(session, acting, agreement_id)
        current = _in_force(session, key)
        if current is None:
            result = _status_without_version(session, rt, key, status, acting, reason)
        else:
            changed = {**current.document, "status": status}
            result = _change(session, rt, key, changed, acting, reason=reason.strip())
    audit.checkpoint(rt)
    return result


def _status_without_version(
    session: Session, rt: Runtime, key: str, status: str, acting: Acting, reason: str
) -> AgreementView:
    """Nothing in force yet: terminating withdraws the proposal; anything else awaits signatures."""
    if status != FINAL:
        raise Conflict(
            "this agreement has no version in force: every party must sign the proposal first",
            [
                Issue(
                    path="status", message="sign the proposal (POST .../signatures), or terminate to withdraw"
                )
            ],
        )
    withdrawn = store.withdraw_pending(session, key, rt.now())
    if withdrawn:
        _audit(session, rt, "agreement.withdrawn", acting, key, {"versions": withdrawn, **_reason(reason)})
    return view(session, key, rt.now().date(), effect="withdrawn" if withdrawn else "unchanged")


def _change(
    session: Session, rt: Runtime, key: str, document: dict[str, Any], acting: Acting, *, reason: str
) -> AgreementView:
    rows = store.versions(session, key)
    current = next((row for row in rows if row.state == store.IN_FORCE), None)
    pending = [row for row in rows if row.state == store.PROPOSED]
    _check_not_final(current)
    _check_may_act(acting, rows)
    same = {terms_digest(row.document) for row in ([current] if current else []) + pending}
    if terms_digest(document) in same:
        return view(session, key, rt.now().date())
    change = compare(current.document if current else None, document)
    version = max((row.version for row in rows), default=int(document["version"]) - 1) + 1
    stored = {**document, "version": version}
    withdrawn = store.withdraw_pending(session, key, rt.now())
    row = store.propose(
        session,
        key=key,
        document=stored,
        digest=version_digest(stored),
        widens=change.widens,
        proposed_by=acting.audit_actor,
        now=rt.now(),
    )
    details = {"version": version, "widens": list(change.widens), "narrows": list(change.narrows)}
    details |= {"withdrawn": withdrawn, **_reason(reason)}
    if change.needs_signatures:
        _audit(session, rt, "agreement.proposed", acting, key, {**details, "versionDigest": row.digest})
        return view(session, key, rt.now().date(), effect="proposed")
    store.put_in_force(session, row, rt.now())
    previous = {"version": current.version, "status": current.document["status"]} if current else None
    _audit(
        session,
        rt,
        "agreement.changed",
        acting,
        key,
        {**details, "previous": previous, "change": "narrowing"},
    )
    return view(session, key, rt.now().date(), effect="in-force")


def _key_for(session: Session, acting: Acting, agreement_id: str) -> str:
    """The agreement this id names for the caller; a new one, scoped when the id is foreign."""
    if visible_keys(session, acting, agreement_id):
        return resolve_key(session, acting, agreement_id)
    if acting.organization is None or not store.keys_for_id(session, agreement_id):
        return agreement_id
    # Taken by an agreement that does not name the caller: a key of its own, so no answer tells.
    return scoped_key(agreement_id, acting.organization)


def _in_force(session: Session, key: str) -> AgreementVersionRow | None:
    return next((row for row in store.versions(session, key) if row.state == store.IN_FORCE), None)


def _check_not_final(current: AgreementVersionRow | None) -> None:
    if current is not None and current.document["status"] == FINAL:
        raise Conflict(
            f"agreement {current.agreement_id} is terminated; a terminated agreement cannot change",
            [Issue(path="status", message="terminated is final: make a new agreement with a new id")],
        )


def _check_may_act(acting: Acting, rows: list[AgreementVersionRow]) -> None:
    if rows and not acting.is_administrator and acting.organization not in named_parties(rows):
        raise AccessDenied("only a party to an agreement may change it")


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


def _reason(reason: str) -> dict[str, Any]:
    # Free text from a partner: its digest and length prove what was said without repeating it.
    return {"reasonDigest": digest(reason), "reasonLength": len(reason)} if reason else {}


def _audit(
    session: Session, rt: Runtime, kind: str, acting: Acting, key: str, details: dict[str, Any]
) -> None:
    entry = {"agreementId": key, **details}
    audit.record(
        session, rt, [audit.AuditDraft(kind=kind, actor=acting.audit_actor, subject="", details=entry)]
    )


# -- checking a document --------------------------------------------------------------------


def _check(session: Session, rt: Runtime, document: Any) -> None:
    """The meta-schema first; the cross-checks need a document of the right shape."""
    issues = _schema_issues(rt, document)
    if not issues and len(document["id"]) > MAX_ID:
        issues.append(Issue(path="$.id", message=f"at most {MAX_ID} characters"))
    if not issues:
        org_ids = {org["id"] for org in organization_store.organization_docs(session)}
        issues = check_agreement_terms(document, org_ids, rt.artifacts.vocabulary)
    if issues:
        raise InputInvalid(f"the agreement is invalid: {len(issues)} problem(s); nothing was stored", issues)


def _schema_issues(rt: Runtime, document: Any) -> list[Issue]:
    path = bundled_root() / "schemas" / "meta" / "agreement.schema.json"
    validator = jsonschema.Draft202012Validator(
        json.loads(path.read_text("utf-8")), format_checker=jsonschema.FormatChecker()
    )
    return [
        Issue(path=error.json_path, message=error.message)
        for error in sorted(validator.iter_errors(document), key=lambda e: list(map(str, e.absolute_path)))
    ]
