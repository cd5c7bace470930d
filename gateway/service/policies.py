"""Builds the policy set the decision point reads, from the registered partners and agreements."""

from __future__ import annotations

from sqlalchemy.orm import Session

from gateway.artifacts import agreement_from_doc
from gateway.core.policy import PolicySet
from gateway.service.runtime import Runtime
from gateway.storage import repositories as repo


def policy_set(session: Session, rt: Runtime) -> PolicySet:
    vocabulary = rt.artifacts.vocabulary
    return PolicySet(
        organizations=frozenset(doc["id"] for doc in repo.organization_docs(session)),
        agreements=tuple(agreement_from_doc(doc) for doc in repo.agreement_docs(session)),
        purposes=vocabulary.purposes,
        roles=vocabulary.roles,
        categories=vocabulary.categories,
    )
