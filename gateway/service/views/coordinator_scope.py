"""What the coordinator's view of a student can include and what it cannot, from agreements and
consents alone.

A statement is made for every (partner organization, data category) that an agreement naming the
coordinator's organization schedules (the partner ``sends`` it), whether or not the student has
such records: "health-condition records from riverside-health: no agreement in force", "sdoh-
screening records from riverside-health: no consent on file". Each is the decision a read would
make for a record of that category from that partner, for this student, this purpose and role,
with the regimes and sensitivities the mappings label such records with (a category some mapping
labels HIPAA and another FERPA is decided for both). Nothing here looks at the plan, so a
statement never says whether a record exists.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from gateway.artifacts import Artifacts
from gateway.core.consent import DENY as CONSENT_DENY
from gateway.core.consent import Consent, ConsentQuery, evaluate
from gateway.core.labels import REGIMES, SENSITIVITIES
from gateway.core.policy import READ, Agreement, Decision, DecisionRequest, PolicySet, decide
from gateway.service.referrals.referrals import LABELS as REFERRAL_LABELS
from gateway.service.views.plans import ReadRequest

CAN, CANNOT, PARTLY = "can", "cannot", "partly"
# Why: the decision's grounds, in words a template turns into a sentence.
ALLOWED = "allowed"
NO_AGREEMENT = "no-agreement"
NO_CONSENT = "no-consent"
REFUSED = "consent-refuses"

LabelPair = tuple[str, str]  # regime, sensitivity


@dataclass(frozen=True, kw_only=True)
class Statement:
    organization: str
    category: str
    outcome: str  # CAN | CANNOT | PARTLY
    reason: str  # ALLOWED | NO_AGREEMENT | NO_CONSENT | REFUSED (for what is withheld)
    regimes_allowed: tuple[str, ...] = ()
    regimes_withheld: tuple[str, ...] = ()
    agreements: tuple[str, ...] = ()  # the agreements a permit rests on
    consents: tuple[str, ...] = ()  # the consents a permit rests on
    only: tuple[str, ...] | None = None  # the plan slots a minimum-necessary field set keeps (None: all)


@dataclass(frozen=True, kw_only=True)
class Scope:
    organization: str  # the reader's own: its records are always in view
    statements: tuple[Statement, ...]

    @property
    def can(self) -> tuple[Statement, ...]:
        return tuple(s for s in self.statements if s.outcome != CANNOT)

    @property
    def cannot(self) -> tuple[Statement, ...]:
        return tuple(s for s in self.statements if s.outcome != CAN)


@dataclass(frozen=True, kw_only=True)
class _Asked:
    """One reader and one student: what every statement is decided for."""

    request: ReadRequest
    birth_date: dt.date | None
    policy: PolicySet
    consents: tuple[Consent, ...]
    now: dt.datetime


def scope_of(
    artifacts: Artifacts,
    request: ReadRequest,
    *,
    policy: PolicySet,
    consents: tuple[Consent, ...],
    birth_date: dt.date | None,
    now: dt.datetime,
) -> Scope:
    """Every statement for ``request``'s reader and student (pure: values in, values out)."""
    asked = _Asked(request=request, birth_date=birth_date, policy=policy, consents=consents, now=now)
    labels = category_labels(artifacts)
    statements = tuple(
        _statement(asked, org, category, labels.get(category) or _ALL_LABELS)
        for org, category in scheduled_pairs(policy.agreements, request.organization_id)
    )
    return Scope(organization=request.organization_id, statements=statements)


def scheduled_pairs(agreements: Iterable[Agreement], reader: str) -> list[tuple[str, str]]:
    """(partner, category) for every category a partner sends under an agreement naming ``reader``."""
    pairs = {
        (entry.party, category)
        for agreement in agreements
        if reader in agreement.parties
        for entry in agreement.schedule
        if entry.party != reader
        for category in entry.sends
    }
    return sorted(pairs)


_ALL_LABELS: frozenset[LabelPair] = frozenset((r, s) for r in REGIMES for s in SENSITIVITIES)


def category_labels(artifacts: Artifacts) -> dict[str, frozenset[LabelPair]]:
    """Category -> the (regime, sensitivity) pairs mappings label its elements with."""
    found: dict[str, set[LabelPair]] = {}

    def add(category: str, regime: str, sensitivity: str) -> None:
        if category:
            found.setdefault(category, set()).add((regime, sensitivity))

    for mapping in artifacts.mappings.values():
        add(mapping.labels.category, mapping.labels.regime, mapping.labels.sensitivity)
        for rule in mapping.rules:
            for labels in [rule.labels, *(entry[1] for entry in rule.labels_when)]:
                if labels is not None:
                    add(labels.category, labels.regime, labels.sensitivity)
    # The referral status an agency reports lands with these labels (service.referrals).
    add(REFERRAL_LABELS["category"], REFERRAL_LABELS["regime"], REFERRAL_LABELS["sensitivity"])
    return {category: frozenset(pairs) for category, pairs in found.items()}


def _statement(asked: _Asked, org: str, category: str, labels: frozenset[LabelPair]) -> Statement:
    decided = {pair: _decide(asked, org, category, pair) for pair in sorted(labels)}
    allowed = sorted({regime for (regime, _), d in decided.items() if d.permitted})
    withheld = sorted({regime for (regime, _), d in decided.items() if not d.permitted} - set(allowed))
    permits = [d for d in decided.values() if d.permitted]
    outcome = CAN if not withheld else PARTLY if allowed else CANNOT
    denied = next(((pair, d) for pair, d in decided.items() if not d.permitted), None)
    return Statement(
        organization=org,
        category=category,
        outcome=outcome,
        reason=ALLOWED if denied is None else _why_not(asked, org, category, denied[0]),
        regimes_allowed=tuple(allowed) if withheld else (),
        regimes_withheld=tuple(withheld) if allowed else (),
        agreements=_rule_ids(permits, lambda r: r.split("@", 1)[0] if "#schedule." in r else ""),
        consents=_rule_ids(permits, lambda r: r.split(":", 1)[1] if r.startswith("consent:") else ""),
        only=_kept(permits),
    )


def _decide(asked: _Asked, org: str, category: str, pair: LabelPair) -> Decision:
    request = asked.request
    return decide(
        DecisionRequest(
            action=READ,
            source_org=org,
            recipient_org=request.organization_id,
            categories=frozenset({category}),
            regimes=frozenset({pair[0]}),
            sensitivities=frozenset({pair[1]}),
            student_id=request.student_id,
            student_birth_date=asked.birth_date,
            actor=request.actor,
            role=request.role,
            purpose=request.purpose,
        ),
        asked.policy,
        asked.consents,
        asked.now,
    )


def _why_not(asked: _Asked, org: str, category: str, pair: LabelPair) -> str:
    """A denial in one word: no agreement covers it, a consent refuses it, or none permits it."""
    if not _covered(asked, org, category):
        return NO_AGREEMENT
    request = asked.request
    query = ConsentQuery(
        student_id=request.student_id,
        source=org,
        recipient=request.organization_id,
        action="disclose",
        purpose=request.purpose,
        category=category,
        labels=frozenset(pair),
        birth_date=asked.birth_date,
        part2_minor_self_consent=asked.policy.part2_minor_self_consent,
    )
    outcome = evaluate(asked.consents, query, asked.now)
    return REFUSED if outcome.effect == CONSENT_DENY else NO_CONSENT


def _covered(asked: _Asked, org: str, category: str) -> bool:
    request, today = asked.request, asked.now.date()
    for agreement in asked.policy.agreements:
        source, reader = agreement.entry_for(org), agreement.entry_for(request.organization_id)
        if (
            agreement.in_force(today)
            and source is not None
            and reader is not None
            and category in source.sends
            and category in reader.receives
            and request.purpose in agreement.purposes
            and request.role in agreement.recipient_roles
        ):
            return True
    return False


def _rule_ids(decisions: list[Decision], pick: Callable[[str], str]) -> tuple[str, ...]:
    return tuple(sorted({p for d in decisions for r in d.matched_rules if (p := pick(r))}))


def _kept(decisions: list[Decision]) -> tuple[str, ...] | None:
    """The slots minimum-necessary field sets keep; None when no field set limits the view."""
    kept = [o for d in decisions for o in d.obligations if o.get("type") == "keep-only"]
    if not kept:
        return None
    return tuple(sorted({str(path) for o in kept for path in o.get("paths", [])}))  # type: ignore[attr-defined]
