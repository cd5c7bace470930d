"""The policy decision point (spine: agreements only). Default deny; a permit names the
agreement clause for every category; one uncovered category denies the whole request; and a
request naming terms outside the vocabulary is denied with that reason, never an exception."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.core.policy import (
    DENY,
    INBOUND,
    PERMIT,
    READ,
    Agreement,
    DecisionRequest,
    PolicySet,
    ScheduleEntry,
    decide,
)

GBISD = "grand-bend-isd"
RIVERSIDE = "riverside-health"
NORTHSIDE = "northside-food-bank"
NOW = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)

DSA = Agreement(
    id="gbisd-riverside-2026",
    version=1,
    parties=frozenset({GBISD, RIVERSIDE}),
    status="active",
    effective=dt.date(2026, 1, 1),
    expires=dt.date(2030, 6, 30),
    schedule=(
        ScheduleEntry(
            party=GBISD,
            sends=frozenset({"identity", "enrollment", "attendance"}),
            receives=frozenset({"sdoh-screening", "care-plan"}),
        ),
        ScheduleEntry(
            party=RIVERSIDE,
            sends=frozenset({"identity", "sdoh-screening", "health-condition", "care-plan"}),
            receives=frozenset({"identity", "enrollment", "attendance"}),
        ),
    ),
    purposes=frozenset({"care-coordination", "treatment"}),
    recipient_roles=frozenset({"coordinator", "nurse", "clinician"}),
)


def policy_with(*agreements: Agreement) -> PolicySet:
    return PolicySet(
        organizations={GBISD: "school-district", RIVERSIDE: "health-provider", NORTHSIDE: "community-agency"},
        agreements=agreements,
        purposes=frozenset({"care-coordination", "treatment", "referral-fulfillment", "research"}),
        roles=frozenset({"coordinator", "nurse", "clinician", "case-worker", "teacher"}),
        categories=frozenset(
            {
                "identity",
                "enrollment",
                "attendance",
                "sdoh-screening",
                "health-condition",
                "care-plan",
                "referral",
                "substance-use",
            }
        ),
    )


POLICY = policy_with(DSA)

INBOUND_REQUEST = DecisionRequest(
    action=INBOUND, source_org=RIVERSIDE, recipient_org="", categories=frozenset({"sdoh-screening"})
)
READ_REQUEST = DecisionRequest(
    action=READ,
    source_org=RIVERSIDE,
    recipient_org=GBISD,
    categories=frozenset({"sdoh-screening"}),
    student_id="stu-aaaaaaaaaaaaaaaaaaaaaaaaaa",
    actor="coordinator@gbisd",
    role="coordinator",
    purpose="care-coordination",
)
BASES = {INBOUND: INBOUND_REQUEST, READ: READ_REQUEST}


def _cats(*names: str) -> frozenset[str]:
    return frozenset(names)


# Each row: the action, what changes in its base request and in the agreement, the effect, and
# a fragment the reasons must contain.
TRUTH_TABLE = [
    # --- INBOUND: a partner sends records to the gateway ---------------------------------
    pytest.param(
        INBOUND,
        {},
        {},
        PERMIT,
        "covered by gbisd-riverside-2026@1",
        id="inbound: active agreement covers the category",
    ),
    pytest.param(
        INBOUND,
        {"categories": _cats("identity", "care-plan")},
        {},
        PERMIT,
        "'care-plan' is covered",
        id="inbound: several covered categories",
    ),
    pytest.param(
        INBOUND,
        {"source_org": "unknown-clinic"},
        {},
        DENY,
        "'unknown-clinic' is not a registered partner",
        id="inbound: unregistered sender",
    ),
    pytest.param(
        INBOUND,
        {},
        {"expires": dt.date(2026, 11, 22)},
        DENY,
        "no active agreement lets 'riverside-health' send",
        id="inbound: expired yesterday",
    ),
    pytest.param(
        INBOUND,
        {},
        {"expires": dt.date(2026, 11, 23)},
        PERMIT,
        "covered",
        id="inbound: expires today, still in force",
    ),
    pytest.param(INBOUND, {}, {"expires": None}, PERMIT, "covered", id="inbound: open-ended agreement"),
    pytest.param(
        INBOUND,
        {},
        {"effective": dt.date(2026, 11, 24)},
        DENY,
        "no active agreement",
        id="inbound: effective tomorrow",
    ),
    pytest.param(
        INBOUND, {}, {"effective": dt.date(2026, 11, 23)}, PERMIT, "covered", id="inbound: effective today"
    ),
    pytest.param(INBOUND, {}, {"status": "suspended"}, DENY, "no active agreement", id="inbound: suspended"),
    pytest.param(
        INBOUND, {}, {"status": "terminated"}, DENY, "no active agreement", id="inbound: terminated"
    ),
    pytest.param(INBOUND, {}, {"status": "draft"}, DENY, "no active agreement", id="inbound: draft"),
    pytest.param(
        INBOUND,
        {"categories": _cats("substance-use")},
        {},
        DENY,
        "send category 'substance-use'",
        id="inbound: category not in the schedule",
    ),
    pytest.param(
        INBOUND,
        {"categories": _cats("sdoh-screening", "substance-use")},
        {},
        DENY,
        "send category 'substance-use'",
        id="inbound: deny overrides (one category uncovered)",
    ),
    pytest.param(
        INBOUND,
        {"source_org": NORTHSIDE},
        {},
        DENY,
        "lets 'northside-food-bank' send",
        id="inbound: sender not a party to any agreement",
    ),
    pytest.param(
        INBOUND,
        {"categories": _cats("grades")},
        {},
        DENY,
        "data category 'grades' is not in the vocabulary",
        id="inbound: unknown category",
    ),
    pytest.param(
        INBOUND, {"categories": _cats()}, {}, DENY, "names no data category", id="inbound: no category"
    ),
    # --- READ: an actor of a partner reads what another partner sent --------------------
    pytest.param(
        READ,
        {},
        {},
        PERMIT,
        "covered by gbisd-riverside-2026@1",
        id="read: active agreement, purpose and role",
    ),
    pytest.param(
        READ,
        {"role": "nurse", "purpose": "treatment"},
        {},
        PERMIT,
        "covered",
        id="read: another permitted role and purpose",
    ),
    pytest.param(
        READ,
        {"recipient_org": "unknown-school"},
        {},
        DENY,
        "'unknown-school' is not a registered partner",
        id="read: unregistered reader",
    ),
    pytest.param(
        READ,
        {"source_org": "unknown-clinic"},
        {},
        DENY,
        "'unknown-clinic' is not a registered partner",
        id="read: unregistered source",
    ),
    pytest.param(
        READ,
        {},
        {"expires": dt.date(2026, 6, 30)},
        DENY,
        "no active agreement lets 'grand-bend-isd' receive",
        id="read: expired",
    ),
    pytest.param(
        READ,
        {},
        {"effective": dt.date(2027, 1, 1)},
        DENY,
        "no active agreement",
        id="read: not yet effective",
    ),
    pytest.param(READ, {}, {"status": "suspended"}, DENY, "no active agreement", id="read: suspended"),
    pytest.param(READ, {}, {"status": "terminated"}, DENY, "no active agreement", id="read: terminated"),
    pytest.param(
        READ,
        {"categories": _cats("substance-use")},
        {},
        DENY,
        "receive category 'substance-use'",
        id="read: category not in the schedule",
    ),
    pytest.param(
        READ,
        {"categories": _cats("health-condition")},
        {},
        DENY,
        "receive category 'health-condition' from 'riverside-health'",
        id="read: source sends it but the reader does not receive it",
    ),
    pytest.param(
        READ, {"purpose": "research"}, {}, DENY, "for purpose 'research'", id="read: purpose not permitted"
    ),
    pytest.param(READ, {"role": "teacher"}, {}, DENY, "as role 'teacher'", id="read: role not permitted"),
    pytest.param(
        READ,
        {"recipient_org": NORTHSIDE},
        {},
        DENY,
        "lets 'northside-food-bank' receive",
        id="read: reader not a party",
    ),
    pytest.param(
        READ,
        {"categories": _cats("sdoh-screening", "health-condition")},
        {},
        DENY,
        "category 'health-condition'",
        id="read: deny overrides (one category uncovered)",
    ),
    pytest.param(
        READ,
        {"purpose": "marketing"},
        {},
        DENY,
        "purpose 'marketing' is not in the vocabulary",
        id="read: unknown purpose",
    ),
    pytest.param(
        READ, {"purpose": ""}, {}, DENY, "purpose '' is not in the vocabulary", id="read: no purpose"
    ),
    pytest.param(
        READ,
        {"role": "janitor"},
        {},
        DENY,
        "role 'janitor' is not in the vocabulary",
        id="read: unknown role",
    ),
    pytest.param(
        READ,
        {"categories": _cats("grades")},
        {},
        DENY,
        "'grades' is not in the vocabulary",
        id="read: unknown category",
    ),
    pytest.param(READ, {"categories": _cats()}, {}, DENY, "names no data category", id="read: no category"),
    # own records
    pytest.param(
        READ,
        {"source_org": GBISD, "categories": _cats("health-condition", "attendance"), "role": "teacher"},
        {"status": "terminated"},
        PERMIT,
        "reads records it sent itself",
        id="read: own records need no agreement",
    ),
    pytest.param(
        READ,
        {"source_org": GBISD, "purpose": "marketing"},
        {},
        DENY,
        "purpose 'marketing' is not in the vocabulary",
        id="read: own records still need vocabulary terms",
    ),
]


@pytest.mark.parametrize(("action", "request_changes", "agreement_changes", "effect", "reason"), TRUTH_TABLE)
def test_decide(
    action: str, request_changes: dict[str, Any], agreement_changes: dict[str, Any], effect: str, reason: str
) -> None:
    request = dataclasses.replace(BASES[action], **request_changes)
    policy = policy_with(dataclasses.replace(DSA, **agreement_changes))
    decision = decide(request, policy, (), NOW)
    assert decision.effect == effect
    assert any(reason in r for r in decision.reasons), decision.reasons
    if decision.permitted:
        assert decision.basis
        assert decision.matched_rules
        assert len(decision.reasons) >= len(decision.basis)
    else:
        assert decision.basis == ()
        assert decision.matched_rules == ()


def test_permit_names_the_clause_for_every_category() -> None:
    request = dataclasses.replace(READ_REQUEST, categories=_cats("sdoh-screening", "care-plan"))
    decision = decide(request, POLICY, (), NOW)
    clauses = (
        "gbisd-riverside-2026@1#schedule.riverside-health.sends.care-plan",
        "gbisd-riverside-2026@1#schedule.riverside-health.sends.sdoh-screening",
    )
    assert decision.matched_rules == clauses
    assert decision.basis == tuple(f"agreement:{c}" for c in clauses)
    assert decision.to_dict()["matchedRules"] == list(clauses)


def test_own_record_read_has_its_own_basis() -> None:
    request = dataclasses.replace(READ_REQUEST, source_org=GBISD)
    decision = decide(request, policy_with(), (), NOW)
    assert (decision.effect, decision.basis, decision.matched_rules) == (
        PERMIT,
        ("own-record:grand-bend-isd",),
        ("own-record",),
    )


def test_no_agreement_at_all_denies() -> None:
    decision = decide(INBOUND_REQUEST, policy_with(), (), NOW)
    assert decision.effect == DENY


def test_every_vocabulary_problem_is_a_reason() -> None:
    request = dataclasses.replace(
        READ_REQUEST, purpose="marketing", role="janitor", categories=_cats("grades", "x-ray")
    )
    reasons = " | ".join(decide(request, POLICY, (), NOW).reasons)
    for term in ("'marketing'", "'janitor'", "'grades'", "'x-ray'"):
        assert term in reasons


# --- decision ids and policy versions -----------------------------------------------------


@pytest.mark.parametrize(
    ("request_changes", "now", "same"),
    [
        pytest.param({}, NOW, True, id="same request, same time: same id"),
        pytest.param({}, NOW + dt.timedelta(seconds=1), False, id="a second later: new id"),
        pytest.param({"actor": "nurse@gbisd"}, NOW, False, id="another actor: new id"),
        pytest.param(
            {"student_id": "stu-bbbbbbbbbbbbbbbbbbbbbbbbbb"}, NOW, False, id="another student: new id"
        ),
        pytest.param({"categories": _cats("care-plan")}, NOW, False, id="another category: new id"),
    ],
)
def test_decision_id(request_changes: dict[str, Any], now: dt.datetime, same: bool) -> None:
    first = decide(READ_REQUEST, POLICY, (), NOW)
    other = decide(dataclasses.replace(READ_REQUEST, **request_changes), POLICY, (), now)
    assert (first.decision_id == other.decision_id) is same
    assert first.decision_id.startswith("dec-")


@pytest.mark.parametrize(
    ("changes", "same"),
    [
        pytest.param({}, True, id="same agreements: same version"),
        pytest.param({"status": "suspended"}, False, id="status changed: new version"),
        pytest.param({"status": "terminated"}, False, id="terminated: new version"),
        pytest.param({"version": 2}, False, id="agreement version bumped: new version"),
    ],
)
def test_policy_version(changes: dict[str, Any], same: bool) -> None:
    changed = policy_with(dataclasses.replace(DSA, **changes))
    assert (POLICY.version == changed.version) is same
    decision = decide(INBOUND_REQUEST, changed, (), NOW)
    assert decision.policy_version == changed.version


def test_policy_version_ignores_agreement_order() -> None:
    other = dataclasses.replace(DSA, id="another-dsa")
    assert policy_with(DSA, other).version == policy_with(other, DSA).version


def test_a_changed_policy_changes_the_decision_id() -> None:
    suspended = policy_with(dataclasses.replace(DSA, status="suspended"))
    assert (
        decide(INBOUND_REQUEST, POLICY, (), NOW).decision_id
        != decide(INBOUND_REQUEST, suspended, (), NOW).decision_id
    )


# --- properties ---------------------------------------------------------------------------

PARTIES = (GBISD, RIVERSIDE, NORTHSIDE)
CATEGORIES = ("identity", "enrollment", "sdoh-screening", "referral")
PURPOSES = ("care-coordination", "treatment")
ROLES = ("coordinator", "nurse")


@st.composite
def agreements(draw: st.DrawFn) -> Agreement:
    parties = sorted(draw(st.sets(st.sampled_from(PARTIES), min_size=2)))
    effective = draw(st.dates(min_value=dt.date(2025, 1, 1), max_value=dt.date(2027, 12, 31)))
    return Agreement(
        id="dsa",
        version=draw(st.integers(min_value=1, max_value=3)),
        parties=frozenset(parties),
        status=draw(st.sampled_from(("active", "active", "active", "suspended", "terminated", "draft"))),
        effective=effective,
        expires=draw(st.none() | st.dates(min_value=effective, max_value=dt.date(2030, 12, 31))),
        schedule=tuple(
            ScheduleEntry(
                party=party,
                sends=frozenset(draw(st.sets(st.sampled_from(CATEGORIES), min_size=1))),
                receives=frozenset(draw(st.sets(st.sampled_from(CATEGORIES), min_size=1))),
            )
            for party in parties
        ),
        purposes=frozenset(draw(st.sets(st.sampled_from(PURPOSES), min_size=1))),
        recipient_roles=frozenset(draw(st.sets(st.sampled_from(ROLES), min_size=1))),
    )


def agreement_lists(min_size: int = 0) -> st.SearchStrategy[list[Agreement]]:
    return st.lists(agreements(), min_size=min_size, max_size=4).map(
        lambda found: [dataclasses.replace(a, id=f"dsa-{i}") for i, a in enumerate(found)]
    )


@st.composite
def requests(draw: st.DrawFn) -> DecisionRequest:
    action = draw(st.sampled_from((INBOUND, READ)))
    source = draw(st.sampled_from(PARTIES))
    return DecisionRequest(
        action=action,
        source_org=source,
        recipient_org="" if action == INBOUND else draw(st.sampled_from([p for p in PARTIES if p != source])),
        categories=frozenset(draw(st.sets(st.sampled_from(CATEGORIES), min_size=1, max_size=3))),
        role="" if action == INBOUND else draw(st.sampled_from(ROLES)),
        purpose="" if action == INBOUND else draw(st.sampled_from(PURPOSES)),
    )


def world(found: list[Agreement]) -> PolicySet:
    return dataclasses.replace(policy_with(*found), categories=frozenset(CATEGORIES))


@settings(max_examples=100, deadline=None)
@given(found=agreement_lists(), request=requests(), data=st.data())
def test_agreement_order_does_not_change_the_decision(
    found: list[Agreement], request: DecisionRequest, data: st.DataObject
) -> None:
    shuffled = data.draw(st.permutations(found))
    first = decide(request, world(found), (), NOW)
    second = decide(request, world(list(shuffled)), (), NOW)
    assert (first.effect, first.matched_rules, first.decision_id) == (
        second.effect,
        second.matched_rules,
        second.decision_id,
    )


@settings(max_examples=100, deadline=None)
@given(found=agreement_lists(min_size=1), extra=agreements(), request=requests())
def test_adding_an_agreement_never_turns_a_permit_into_a_deny(
    found: list[Agreement], extra: Agreement, request: DecisionRequest
) -> None:
    before = decide(request, world(found), (), NOW)
    after = decide(request, world([*found, dataclasses.replace(extra, id="dsa-extra")]), (), NOW)
    if before.permitted:
        assert after.permitted


@settings(max_examples=100, deadline=None)
@given(found=agreement_lists(min_size=1), request=requests(), data=st.data())
def test_asking_for_fewer_categories_keeps_a_permit(
    found: list[Agreement], request: DecisionRequest, data: st.DataObject
) -> None:
    fewer = data.draw(st.sets(st.sampled_from(sorted(request.categories)), min_size=1))
    before = decide(request, world(found), (), NOW)
    after = decide(dataclasses.replace(request, categories=frozenset(fewer)), world(found), (), NOW)
    if before.permitted:
        assert after.permitted
        assert set(after.matched_rules) <= set(before.matched_rules)


@settings(max_examples=100, deadline=None)
@given(found=agreement_lists(), request=requests())
def test_every_permit_explains_itself(found: list[Agreement], request: DecisionRequest) -> None:
    decision = decide(request, world(found), (), NOW)
    if decision.permitted:
        assert len(decision.matched_rules) == len(request.categories)
        assert all(b.startswith("agreement:") for b in decision.basis)
    else:
        assert decision.reasons
