"""Consents as values (``gateway.core.consent``): which consents count, what a consent says about
one data category, and how several consents combine. Behaviour as tables; how consents feed a
whole decision (legal bases, obligations) is in test_core_decide.py."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.core.consent import (
    DENY,
    NONE,
    PART2,
    PERMIT,
    Consent,
    ConsentQuery,
    Provision,
    age_on,
    evaluate,
    missing_elements,
    revoke,
)

NOW = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
STUDENT = "stu-lisa"
GBISD, RIVERSIDE, NORTHSIDE = "grand-bend-isd", "riverside-health", "northside-food-bank"
MINOR = dt.date(2010, 3, 14)  # 16 on NOW
ADULT = dt.date(2007, 5, 2)  # 19 on NOW

ROOT = Provision(
    type=PERMIT,
    start=NOW - 60 * DAY,
    end=NOW + 300 * DAY,
    actors=frozenset({RIVERSIDE}),
    actions=frozenset({"disclose"}),
    purposes=frozenset({"care-coordination"}),
    classes=frozenset({"attendance", "enrollment"}),
)
CONSENT = Consent(
    id="consent-a",
    student_id=STUDENT,
    status="active",
    scope="patient-privacy",
    signed_at=NOW - 30 * DAY,
    signer_role="parent",
    grantor=GBISD,
    provision=ROOT,
    signer_ids=(("https://grandbend.example.org/ns/contactUniqueId", "777822"),),
    signer_linked=True,  # the service found the guardian link
)
QUERY = ConsentQuery(
    student_id=STUDENT,
    source=GBISD,
    recipient=RIVERSIDE,
    action="disclose",
    purpose="care-coordination",
    category="attendance",
    labels=frozenset({"FERPA", "normal"}),
    birth_date=MINOR,
)
_CONSENT_FIELDS = {f.name for f in dataclasses.fields(Consent)}


def consent(**changes: Any) -> Consent:
    """CONSENT with ``changes``: names of Consent fields change the consent, others its root."""
    own = {k: v for k, v in changes.items() if k in _CONSENT_FIELDS}
    root = {k: v for k, v in changes.items() if k not in _CONSENT_FIELDS}
    return dataclasses.replace(CONSENT, provision=dataclasses.replace(ROOT, **root), **own)


def nested(kind: str, **fields: Any) -> Provision:
    return Provision(type=kind, **fields)


# --- one consent: does it count, and what does it say (R3, R4, R5, status) ------------------

VALIDITY = [
    # a valid consent speaks
    pytest.param(
        (consent(),), {}, PERMIT, "consent consent-a permits 'attendance'", id="permit: root permits"
    ),
    pytest.param(
        (consent(type=DENY),), {}, DENY, "consent consent-a denies 'attendance'", id="deny: root denies"
    ),
    pytest.param((), {}, NONE, "no valid consent covers 'attendance'", id="no consent: nothing said"),
    # period of the root provision (R3)
    pytest.param(
        (consent(end=NOW - DAY),),
        {},
        NONE,
        "consent-a has expired",
        id="expired yesterday: names the expiry",
    ),
    pytest.param(
        (consent(end=NOW - DAY),), {}, NONE, "no valid consent covers", id="expired yesterday: does not count"
    ),
    pytest.param((consent(end=NOW),), {}, PERMIT, "permits", id="ends exactly now: still valid"),
    pytest.param(
        (consent(start=NOW + DAY),),
        {},
        NONE,
        "consent-a is not yet in effect",
        id="not yet valid: names the start",
    ),
    pytest.param(
        (consent(start=NOW + DAY),), {}, NONE, "no valid consent covers", id="not yet valid: does not count"
    ),
    pytest.param((consent(start=NOW),), {}, PERMIT, "permits", id="starts exactly now: valid"),
    pytest.param(
        (consent(type=DENY, end=NOW - DAY),),
        {},
        NONE,
        "no valid consent",
        id="an expired deny no longer denies",
    ),
    pytest.param(
        (consent(signed_at=NOW + DAY),), {}, NONE, "consent-a is not signed yet", id="signed tomorrow"
    ),
    pytest.param((consent(signed_at=None),), {}, NONE, "not signed yet", id="never signed (no dateTime)"),
    # revocation (R4): from its time on
    pytest.param((consent(revoked_at=NOW - DAY),), {}, NONE, "consent-a was revoked", id="revoked yesterday"),
    pytest.param((consent(revoked_at=NOW),), {}, NONE, "was revoked", id="revoked exactly now"),
    pytest.param(
        (consent(type=DENY, revoked_at=NOW - DAY),),
        {},
        NONE,
        "was revoked",
        id="a revoked deny no longer denies",
    ),
    pytest.param(
        (consent(revoked_at=NOW + DAY),), {}, PERMIT, "permits", id="revocation dated tomorrow: valid today"
    ),
    pytest.param((revoke(CONSENT, NOW - DAY),), {}, NONE, "was revoked", id="revoke() yesterday"),
    pytest.param(
        (revoke(CONSENT, NOW + DAY),),
        {},
        PERMIT,
        "permits",
        id="revoke() dated tomorrow: valid today",
    ),
    # status
    *(
        pytest.param((consent(status=s),), {}, NONE, f"consent-a is {s}, not active", id=f"status {s}")
        for s in ("inactive", "draft", "proposed", "rejected", "entered-in-error")
    ),
    # who signed (R5)
    pytest.param((consent(signer_role="guardian"),), {}, PERMIT, "permits", id="guardian for a minor"),
    pytest.param(
        (consent(signer_role="legal-representative"),),
        {},
        NONE,
        "may not consent",
        id="a legal representative is not a parent or guardian",
    ),
    pytest.param(
        (consent(signer_linked=False),), {}, NONE, "not linked to the student", id="parent without a link"
    ),
    pytest.param(
        (consent(signer_role="guardian", signer_linked=False),),
        {},
        NONE,
        "spgw students guardians link",
        id="guardian without a link: the reason says how to link",
    ),
    pytest.param(
        (consent(signer_role="related-person"),), {}, PERMIT, "permits", id="linked, named by identifier only"
    ),
    pytest.param(
        (consent(signer_role="related-person", signer_linked=False),),
        {},
        NONE,
        "not linked",
        id="named by identifier only, no link",
    ),
    pytest.param(
        (consent(signer_role=None, signer_note="Consent.performer: relationship GRMTH gives no authority"),),
        {},
        NONE,
        "GRMTH gives no authority",
        id="a grandmother: the reading's reason is the decision's",
    ),
    pytest.param(
        (consent(),),
        {"birth_date": ADULT},
        NONE,
        "the student is 18 or older",
        id="wrong signer: parent for an adult",
    ),
    pytest.param(
        (consent(signer_role="student"),),
        {},
        NONE,
        "under 18 and may not consent alone",
        id="wrong signer: student under 18, FERPA data",
    ),
    pytest.param(
        (consent(signer_role="student"),),
        {"labels": frozenset({"HIPAA"})},
        NONE,
        "under 18 and may not consent alone",
        id="wrong signer: student under 18, HIPAA data",
    ),
    pytest.param(
        (consent(signer_role="student"),), {"birth_date": ADULT}, PERMIT, "permits", id="adult student signs"
    ),
    pytest.param(
        (consent(signer_role="teacher"),),
        {},
        NONE,
        "signer role 'teacher' may not consent",
        id="a teacher signs",
    ),
    pytest.param((consent(signer_role=None),), {}, NONE, "may not consent", id="no signer recorded"),
    pytest.param(
        (consent(),),
        {"birth_date": None},
        NONE,
        "birth date is unknown",
        id="birth date unknown: cannot check",
    ),
    # the root must apply to the query
    pytest.param((consent(student_id="stu-other"),), {}, NONE, "no valid consent", id="another student's"),
    pytest.param((consent(),), {"recipient": NORTHSIDE}, NONE, "no valid consent", id="another recipient"),
    pytest.param((consent(),), {"purpose": "research"}, NONE, "no valid consent", id="another purpose"),
    pytest.param((consent(),), {"category": "academic"}, NONE, "no valid consent", id="another category"),
    pytest.param(
        (consent(actions=frozenset({"collect"})),), {}, NONE, "no valid consent", id="another action"
    ),
    pytest.param(
        (consent(actors=frozenset(), actions=frozenset(), purposes=frozenset(), classes=frozenset()),),
        {},
        PERMIT,
        "permits",
        id="empty lists mean any",
    ),
    pytest.param(
        (consent(classes=frozenset(), labels=frozenset({"FERPA"})),),
        {},
        PERMIT,
        "permits",
        id="a label-scoped root covers data with that label",
    ),
    pytest.param(
        (consent(classes=frozenset(), labels=frozenset({PART2})),),
        {},
        NONE,
        "no valid consent",
        id="a Part 2-scoped root does not cover FERPA data",
    ),
]


@pytest.mark.parametrize(("consents", "query_changes", "effect", "reason"), VALIDITY)
def test_one_consent(
    consents: tuple[Consent, ...], query_changes: dict[str, Any], effect: str, reason: str
) -> None:
    outcome = evaluate(consents, dataclasses.replace(QUERY, **query_changes), NOW)
    assert outcome.effect == effect
    assert any(reason in r for r in outcome.reasons), outcome.reasons
    assert (outcome.consent_id is None) == (effect == NONE)


# --- who may consent: minors, 42 CFR 2.14, turning 18 (R5) ---------------------------------

AUTHORITY = [
    # 42 CFR 2.14: where state law lets a minor consent to SUD treatment alone, only the minor consents
    pytest.param(
        "student", MINOR, {PART2}, True, PERMIT, "permits", id="Part 2, self-consent state: minor counts"
    ),
    pytest.param(
        "parent", MINOR, {PART2}, True, NONE, "42 CFR 2.14", id="Part 2, self-consent state: parent does not"
    ),
    pytest.param(
        "guardian",
        MINOR,
        {PART2},
        True,
        NONE,
        "42 CFR 2.14",
        id="Part 2, self-consent state: guardian does not",
    ),
    pytest.param(
        "parent", MINOR, {PART2}, False, PERMIT, "permits", id="Part 2, parental state: parent counts"
    ),
    pytest.param(
        "student", MINOR, {PART2}, False, NONE, "under 18", id="Part 2, parental state: minor alone does not"
    ),
    pytest.param("student", ADULT, {PART2}, True, PERMIT, "permits", id="Part 2, adult: own consent"),
    pytest.param("parent", ADULT, {PART2}, False, NONE, "18 or older", id="Part 2, adult: parent does not"),
    pytest.param(
        "student", MINOR, {PART2, "restricted"}, True, PERMIT, "permits", id="Part 2 with a sensitivity label"
    ),
    # the self-consent rule is for Part 2 data only
    pytest.param("student", MINOR, {"FERPA"}, True, NONE, "under 18", id="FERPA: minor alone does not"),
    pytest.param("student", MINOR, {"HIPAA"}, True, NONE, "under 18", id="HIPAA: minor alone does not"),
    pytest.param("parent", MINOR, {"HIPAA"}, True, PERMIT, "permits", id="HIPAA: parent counts for a minor"),
]


@pytest.mark.parametrize(("signer", "birth", "labels", "self_consent", "effect", "reason"), AUTHORITY)
def test_who_may_consent(
    signer: str, birth: dt.date, labels: set[str], self_consent: bool, effect: str, reason: str
) -> None:
    query = dataclasses.replace(
        QUERY, labels=frozenset(labels), birth_date=birth, part2_minor_self_consent=self_consent
    )
    outcome = evaluate((consent(signer_role=signer, classes=frozenset()),), query, NOW)
    assert outcome.effect == effect
    assert any(reason in r for r in outcome.reasons), outcome.reasons


BIRTH = dt.date(2009, 6, 15)  # 18 on 2027-06-15
EIGHTEENTH = dt.date(2027, 6, 15)


def _noon(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(12), tzinfo=dt.UTC)


TURNING_18 = [
    # the same parental consent: counts the day before the 18th birthday, stops on the day
    pytest.param("parent", dt.date(2027, 1, 10), EIGHTEENTH - DAY, PERMIT, id="parent, day before 18"),
    pytest.param("parent", dt.date(2027, 1, 10), EIGHTEENTH, NONE, id="parent, on the 18th birthday"),
    pytest.param("parent", dt.date(2027, 1, 10), EIGHTEENTH + DAY, NONE, id="parent, after 18"),
    # the student's own consent counts from the day on
    pytest.param("student", EIGHTEENTH, EIGHTEENTH, PERMIT, id="student signs on the 18th birthday"),
    pytest.param("student", EIGHTEENTH, EIGHTEENTH + 30 * DAY, PERMIT, id="student's consent, a month on"),
    pytest.param("student", EIGHTEENTH - DAY, EIGHTEENTH - DAY, NONE, id="student signs the day before 18"),
    pytest.param(
        "student",
        EIGHTEENTH - DAY,
        EIGHTEENTH + DAY,
        NONE,
        id="signed by the student at 17: still not a valid consent at 18",
    ),
]


@pytest.mark.parametrize(("signer", "signed", "day", "effect"), TURNING_18)
def test_turning_18(signer: str, signed: dt.date, day: dt.date, effect: str) -> None:
    signed_consent = consent(
        signer_role=signer,
        signed_at=_noon(signed) - dt.timedelta(hours=1),
        start=_noon(dt.date(2027, 1, 1)),
        end=_noon(dt.date(2028, 6, 30)),
    )
    query = dataclasses.replace(QUERY, birth_date=BIRTH)
    assert evaluate((signed_consent,), query, _noon(day)).effect == effect


@pytest.mark.parametrize(
    ("birth", "day", "age"),
    [
        pytest.param(dt.date(2008, 11, 24), dt.date(2026, 11, 23), 17, id="day before the birthday"),
        pytest.param(dt.date(2008, 11, 23), dt.date(2026, 11, 23), 18, id="on the birthday"),
        pytest.param(dt.date(2008, 11, 22), dt.date(2026, 11, 23), 18, id="day after the birthday"),
        pytest.param(
            dt.date(2008, 12, 31), dt.date(2026, 1, 1), 17, id="new year before a December birthday"
        ),
        pytest.param(dt.date(2008, 2, 29), dt.date(2026, 2, 28), 17, id="leap-day birth, Feb 28"),
        pytest.param(dt.date(2008, 2, 29), dt.date(2026, 3, 1), 18, id="leap-day birth, Mar 1"),
        pytest.param(dt.date(2008, 2, 29), dt.date(2028, 2, 29), 20, id="leap-day birth, leap year"),
    ],
)
def test_age_on(birth: dt.date, day: dt.date, age: int) -> None:
    assert age_on(birth, day) == age


# --- completeness (R6): each missing element is named -----------------------------------------

COMPLETENESS = [
    pytest.param({}, [], id="complete"),
    pytest.param({"classes": frozenset({PART2})}, [], id="classes alone say what data"),
    pytest.param(
        {"classes": frozenset(), "labels": frozenset({PART2})}, [], id="a security label alone says what data"
    ),
    pytest.param({"classes": frozenset(), "labels": frozenset()}, ["what data"], id="no data named"),
    pytest.param({"actors": frozenset()}, ["to whom"], id="no recipient"),
    pytest.param({"purposes": frozenset()}, ["for what purpose"], id="no purpose"),
    pytest.param({"signer_role": None}, ["signature"], id="no signature"),
    pytest.param({"signed_at": None}, ["date"], id="no date"),
    pytest.param({"end": None}, ["expiry"], id="no expiry"),
    pytest.param({"student_id": ""}, ["student"], id="no student"),
    pytest.param(
        {"end": None, "signed_at": None, "actors": frozenset()},
        ["to whom", "date", "expiry"],
        id="three missing: all named, in order",
    ),
    pytest.param(
        {
            "classes": frozenset(),
            "actors": frozenset(),
            "purposes": frozenset(),
            "signer_role": None,
            "signed_at": None,
            "end": None,
            "student_id": "",
        },
        ["what data", "to whom", "for what purpose", "signature", "date", "expiry", "student"],
        id="everything missing",
    ),
]


@pytest.mark.parametrize(("changes", "missing"), COMPLETENESS)
def test_missing_elements(changes: dict[str, Any], missing: list[str]) -> None:
    found = missing_elements(consent(**changes))
    assert [name.split(" (")[0] for name in found] == missing
    assert all("(" in name and name.endswith(")") for name in found), "each names its FHIR element"


# --- several consents: precedence and nested provisions (R20) ----------------------------------


def signed(cid: str, days_ago: int, kind: str = PERMIT, **changes: Any) -> Consent:
    return consent(id=cid, signed_at=NOW - days_ago * DAY, type=kind, **changes)


COMBINING = [
    # within one scope the most recent applicable consent wins (documented in core/consent.py)
    pytest.param(
        (signed("old-deny", 20, DENY), signed("new-permit", 10)),
        {},
        PERMIT,
        "new-permit",
        id="newer permit wins",
    ),
    pytest.param(
        (signed("old-permit", 20), signed("new-deny", 10, DENY)), {}, DENY, "new-deny", id="newer deny wins"
    ),
    pytest.param(
        (signed("old-permit", 20), signed("new-deny", 10, DENY, revoked_at=NOW - DAY)),
        {},
        PERMIT,
        "old-permit",
        id="a revoked newer consent leaves the older one",
    ),
    pytest.param(
        (signed("old-permit", 20), signed("new-deny", 10, DENY, classes=frozenset({"academic"}))),
        {},
        PERMIT,
        "old-permit",
        id="a newer consent for another category leaves the older one",
    ),
    pytest.param(
        (signed("old-permit", 20), signed("new-deny", 10, DENY, signer_role="student")),
        {},
        PERMIT,
        "old-permit",
        id="a newer consent from a wrong signer leaves the older one",
    ),
    # ties on the signing time go to the larger id, whatever the input order
    pytest.param(
        (signed("c-a", 10), signed("c-b", 10, DENY)), {}, DENY, "c-b", id="tie: c-b (deny) over c-a"
    ),
    pytest.param(
        (signed("c-a", 10, DENY), signed("c-b", 10)), {}, PERMIT, "c-b", id="tie: c-b (permit) over c-a"
    ),
    # across scopes, deny overrides
    pytest.param(
        (signed("privacy-permit", 5), signed("research-deny", 50, DENY, scope="research")),
        {},
        DENY,
        "research-deny",
        id="older deny in another scope overrides a newer permit",
    ),
    pytest.param(
        (signed("privacy-permit", 5), signed("research-permit", 50, scope="research")),
        {},
        PERMIT,
        "privacy-permit",
        id="permits in two scopes: permit (first scope by name)",
    ),
    pytest.param(
        (signed("privacy-deny", 5, DENY), signed("treatment-deny", 6, DENY, scope="treatment")),
        {},
        DENY,
        "privacy-deny",
        id="denies in two scopes: the first scope by name is reported",
    ),
    # nested provisions carve exceptions out of the root
    pytest.param(
        (signed("c", 5, children=(nested(DENY, classes=frozenset({"attendance"})),)),),
        {},
        DENY,
        "c",
        id="root permit, nested deny for this category",
    ),
    pytest.param(
        (signed("c", 5, children=(nested(DENY, classes=frozenset({"enrollment"})),)),),
        {},
        PERMIT,
        "c",
        id="root permit, nested deny for another category",
    ),
    pytest.param(
        (signed("c", 5, children=(nested(DENY, actors=frozenset({RIVERSIDE})),)),),
        {},
        DENY,
        "c",
        id="root permit, nested deny for this recipient",
    ),
    pytest.param(
        (signed("c", 5, children=(nested(DENY, labels=frozenset({"very-restricted"})),)),),
        {"labels": frozenset({"FERPA", "very-restricted"})},
        DENY,
        "c",
        id="root permit, nested deny for this label",
    ),
    pytest.param(
        (signed("c", 5, children=(nested(DENY, labels=frozenset({"very-restricted"})),)),),
        {},
        PERMIT,
        "c",
        id="root permit, nested deny for a label the data lacks",
    ),
    pytest.param(
        (signed("c", 5, children=(nested(DENY, end=NOW - DAY),)),),
        {},
        PERMIT,
        "c",
        id="root permit, nested deny whose period has ended",
    ),
    pytest.param(
        (signed("c", 5, DENY, children=(nested(PERMIT, classes=frozenset({"attendance"})),)),),
        {},
        PERMIT,
        "c",
        id="root deny, nested permit for this category",
    ),
    pytest.param(
        (signed("c", 5, DENY, children=(nested(PERMIT, classes=frozenset({"enrollment"})),)),),
        {},
        DENY,
        "c",
        id="root deny, nested permit for another category",
    ),
    pytest.param(
        (signed("c", 5, children=(nested(PERMIT), nested(DENY, purposes=frozenset({"care-coordination"})))),),
        {},
        DENY,
        "c",
        id="nested deny overrides nested permit",
    ),
]


@pytest.mark.parametrize(("consents", "query_changes", "effect", "winner"), COMBINING)
def test_combining(
    consents: tuple[Consent, ...], query_changes: dict[str, Any], effect: str, winner: str
) -> None:
    query = dataclasses.replace(QUERY, **query_changes)
    for ordered in (consents, tuple(reversed(consents))):
        outcome = evaluate(ordered, query, NOW)
        assert (outcome.effect, outcome.consent_id) == (effect, winner)


# --- revocation is idempotent; the earlier revocation stands -----------------------------------

times = st.datetimes(
    min_value=dt.datetime(2026, 1, 1), max_value=dt.datetime(2028, 1, 1), timezones=st.just(dt.UTC)
)


@settings(max_examples=200, deadline=None)
@given(first=times, second=times, now=times)
def test_revoking_twice_equals_revoking_once(
    first: dt.datetime, second: dt.datetime, now: dt.datetime
) -> None:
    twice = revoke(revoke(CONSENT, first), second)
    assert twice == revoke(CONSENT, min(first, second))
    if first <= second:
        assert twice == revoke(CONSENT, first)
    assert evaluate((twice,), QUERY, now) == evaluate((revoke(CONSENT, min(first, second)),), QUERY, now)


def test_revoke_records_the_time_and_leaves_the_rest() -> None:
    revoked = revoke(CONSENT, NOW)
    assert revoked.revoked_at == NOW
    assert dataclasses.replace(revoked, revoked_at=None, status="active") == CONSENT
