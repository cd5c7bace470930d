"""Who may see a served FHIR resource: the policy decision point, row by row.

What a partner sent itself it can always read back. Anything else is decided with the same
``decide`` every path uses: the resource's sender, categories, regimes and sensitivities, its
student and that student's consents, for the reader's organization, role and purpose (from its
token, or its registration's defaults). A resource not yet linked to a student (held) is seen
by its sender only. Decisions are cached per key within one request, and each is audited once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field

from gateway.core.consent import Consent
from gateway.core.policy import READ, Decision, DecisionRequest, PolicySet
from gateway.service.administration.partners import Principal
from gateway.service.compliance import audit, disclosures
from gateway.service.policy import enforcement
from gateway.service.policy.policies import consents_for, consents_for_many, policy_set
from gateway.service.runtime import Runtime
from gateway.service.views.plans import birth_date_of
from gateway.storage import plan_store
from gateway.storage.db import Session
from gateway.storage.fhir_store import RowLabels

DecisionKey = tuple[str, str, str, str, str]  # source, categories, regimes, sensitivities, student


def key_of(row: RowLabels) -> DecisionKey:
    return (row.source_org, row.category, row.regime, row.sensitivity, row.student_id or "")


@dataclass(frozen=True, kw_only=True)
class Reader:
    organization_id: str
    client_id: str
    role: str
    purpose: str

    @classmethod
    def of(cls, principal: Principal) -> Reader:
        return cls(
            organization_id=principal.organization_id,
            client_id=principal.client_id,
            role=principal.read_role or "",
            purpose=principal.purpose or "",
        )

    @property
    def actor(self) -> str:
        return f"{self.organization_id}/{self.client_id}"


@dataclass
class Judge:
    """Decides rows for one reader inside one transaction, remembering each decision."""

    session: Session
    rt: Runtime
    reader: Reader
    policy: PolicySet | None = None
    decisions: dict[DecisionKey, Decision] = field(default_factory=dict)
    consents: dict[str, tuple[Consent, ...]] = field(default_factory=dict)
    births: dict[str, dt.date | None] = field(default_factory=dict)

    def prefetch(self, rows: Iterable[RowLabels]) -> None:
        """The consents and birth dates of every student ``rows`` may need decisions for, in a few
        queries rather than a few per student."""
        wanted = {
            r.student_id
            for r in rows
            if r.student_id
            and r.source_org != self.reader.organization_id
            and r.student_id not in self.consents
        }
        if not wanted or not self.reader.role or not self.reader.purpose:
            return
        self.consents.update(consents_for_many(self.session, self.rt, wanted))
        plans = plan_store.plans_for(self.session, wanted)
        for student_id in wanted:
            plan = plans.get(student_id)
            self.births[student_id] = birth_date_of(plan.document) if plan is not None else None

    def sees(self, row: RowLabels) -> bool:
        if row.source_org == self.reader.organization_id:
            return True
        if not row.student_id or not self.reader.role or not self.reader.purpose:
            return False
        return self.decide(row).permitted

    def decide(self, row: RowLabels) -> Decision:
        key = key_of(row)
        if key not in self.decisions:
            self.decisions[key] = enforcement.enforce(
                "read", self._request(key), self._policy(), self._consents(key[4]), self.rt.now()
            )
        return self.decisions[key]

    def _request(self, key: DecisionKey) -> DecisionRequest:
        source, categories, regimes, sensitivities, student = key
        return DecisionRequest(
            action=READ,
            source_org=source,
            recipient_org=self.reader.organization_id,
            categories=frozenset(categories.split(",")),
            regimes=frozenset(regimes.split(",")),
            sensitivities=frozenset(sensitivities.split(",")),
            student_id=student,
            student_birth_date=self._birth_date(student),
            actor=self.reader.client_id,
            role=self.reader.role,
            purpose=self.reader.purpose,
        )

    def _policy(self) -> PolicySet:
        if self.policy is None:
            self.policy = policy_set(self.session, self.rt)
        return self.policy

    def _birth_date(self, student_id: str) -> dt.date | None:
        """Who may consent depends on the student's age: read from the plan, as a plan read does."""
        if student_id not in self.births:
            row = plan_store.get_plan(self.session, student_id)
            self.births[student_id] = birth_date_of(row.document) if row is not None else None
        return self.births[student_id]

    def _consents(self, student_id: str) -> tuple[Consent, ...]:
        if student_id not in self.consents:
            self.consents[student_id] = consents_for(self.session, self.rt, student_id)
        return self.consents[student_id]

    def decision_ids(self, rows: Iterable[RowLabels] | None = None) -> list[str]:
        keys = None if rows is None else {key_of(r) for r in rows}
        return sorted({d.decision_id for k, d in self.decisions.items() if keys is None or k in keys})

    def decision_drafts(self, rows: Iterable[RowLabels] | None = None) -> list[audit.AuditDraft]:
        """Each decision of this request once, as its own audit entry; given ``rows``, only the
        decisions those rows rest on (a search audits what it showed, and counts the rest)."""
        drafts: list[audit.AuditDraft] = []
        seen: set[str] = set()
        keys = None if rows is None else {key_of(r) for r in rows}
        chosen = {k: d for k, d in self.decisions.items() if keys is None or k in keys}
        for key, decision in sorted(chosen.items(), key=lambda kd: kd[1].decision_id):
            asked = disclosures.Asked(
                action=READ,
                source=key[0],
                recipient=self.reader.organization_id,
                role=self.reader.role,
                purpose=self.reader.purpose,
                categories=tuple(key[1].split(",")),
            )
            drafts += disclosures.decision_drafts(
                [(decision, asked)], actor=self.reader.actor, subject=key[4], seen=seen
            )
        return drafts
