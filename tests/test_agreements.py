"""Agreements managed while the gateway runs: proposed, in force only once every party has signed
the exact version, narrowed at once by any party, terminated for good, audited; and what each
state means for a decision."""

from __future__ import annotations

import copy
import datetime as dt
import json
from typing import Any

import pytest
import yaml

from gateway.errors import AccessDenied, Conflict, InputInvalid, NotFound
from gateway.service.policy import agreements
from gateway.service.policy.agreement_signing import SignatureRequest, sign
from gateway.service.policy.agreement_views import Acting, AgreementView
from gateway.service.policy.explain import explain
from gateway.service.runtime import Runtime
from gateway.storage import audit_store
from tests.conftest import PROJECT_ROOT, Clock

AGREEMENTS = PROJECT_ROOT / "consent_policies" / "samples" / "agreements"
DSA = "gbisd-riverside-2026"
CLINIC, DISTRICT, FOOD_BANK = "riverside-health", "grand-bend-isd", "northside-food-bank"


def sample(name: str = DSA, **changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((AGREEMENTS / f"{name}.yaml").read_text("utf-8"))
    return {**copy.deepcopy(document), **changes}


ADMIN = Acting.administrator("test")


def party(org: str) -> Acting:
    return Acting.partner(org, f"{org}.test")


def audited(rt: Runtime, kind: str = "agreement.changed") -> list[dict[str, Any]]:
    with rt.sessions() as session:
        return [dict(row.details) for row in audit_store.audit_entries(session, kind, 1000, 0)]


def stored(rt: Runtime, agreement_id: str = DSA) -> AgreementView:
    return agreements.show_agreement(rt, agreement_id, ADMIN)


def propose(rt: Runtime, document: dict[str, Any], by: str) -> AgreementView:
    return agreements.import_agreement(rt, document, acting=party(by))


def sign_as(rt: Runtime, org: str, agreement_id: str = DSA, **request: Any) -> AgreementView:
    pending = stored(rt, agreement_id).proposal
    assert pending is not None
    fields = {"version_digest": pending["digest"], "signed_by": f"Director of {org}", **request}
    return sign(rt, SignatureRequest(agreement_id=agreement_id, **fields), acting=party(org))


def status(rt: Runtime, new: str, by: str, agreement_id: str = DSA) -> AgreementView:
    return agreements.set_status(rt, agreement_id, new, acting=party(by), reason="board decision")


# -- listing: a partner sees what names it --------------------------------------------------


def sample_parties() -> dict[str, set[str]]:
    """Each sample agreement's parties, read from the files (they are discovered, not listed)."""
    found = (yaml.safe_load(path.read_text("utf-8")) for path in AGREEMENTS.glob("*.yaml"))
    return {doc["id"]: set(doc["parties"]) for doc in found}


@pytest.mark.parametrize("org", [None, CLINIC, DISTRICT, FOOD_BANK])
def test_lists_every_agreement_or_a_partys(rt: Runtime, org: str | None) -> None:
    expected = sorted(i for i, parties in sample_parties().items() if org is None or org in parties)
    acting = ADMIN if org is None else party(org)
    assert [a.id for a in agreements.list_agreements(rt, acting)] == expected


def test_an_expired_agreement_is_listed_as_not_in_force(rt: Runtime) -> None:
    expired = stored(rt, "gbisd-riverside-2024")
    assert (expired.status, expired.in_force) == ("active", False)


def test_seeded_agreements_are_signed_on_paper_by_every_party(rt: Runtime) -> None:
    seeded = stored(rt)
    assert {(s["organization"], s["method"]) for s in seeded.signatures} == {
        (DISTRICT, "paper"),
        (CLINIC, "paper"),
    }


def test_another_partners_agreement_is_answered_as_not_existing(rt: Runtime) -> None:
    with pytest.raises(NotFound) as foreign:
        agreements.show_agreement(rt, DSA, party(FOOD_BANK))
    with pytest.raises(NotFound) as missing:
        agreements.show_agreement(rt, "no-such-agreement", party(FOOD_BANK))
    assert str(foreign.value).replace(DSA, "X") == str(missing.value).replace("no-such-agreement", "X")


# -- proposing: nothing binds until every party has signed -----------------------------------


def test_a_new_agreement_is_proposed_and_binds_only_when_every_party_signed(rt: Runtime) -> None:
    document = sample("gbisd-northside-2026", id="gbisd-northside-2027", title="Renewal")
    proposed = propose(rt, document, FOOD_BANK)
    assert (proposed.status, proposed.version, proposed.in_force, proposed.effect) == (
        None,
        None,
        False,
        "proposed",
    )[:0] or (
        proposed.status,
        proposed.version,
        proposed.effect,
    ) == ("proposed", None, "proposed")
    assert proposed.proposal is not None
    assert proposed.proposal["awaiting"] == sorted(document["parties"])
    for org in (FOOD_BANK, DISTRICT):
        assert sign_as(rt, org, "gbisd-northside-2027").effect == "signed"
        assert stored(rt, "gbisd-northside-2027").version is None
    done = sign_as(rt, CLINIC, "gbisd-northside-2027")
    assert (done.effect, done.status, done.version, done.in_force, done.proposal) == (
        "in-force",
        "active",
        1,
        True,
        None,
    )
    assert {s["organization"] for s in done.signatures} == set(document["parties"])
    [change] = audited(rt)
    assert (change["agreementId"], change["version"], change["change"]) == (
        "gbisd-northside-2027",
        1,
        "signed-by-every-party",
    )


def test_a_widening_version_leaves_the_version_in_force_until_signed(rt: Runtime) -> None:
    food_bank = "gbisd-northside-2026"
    widened = sample(food_bank)
    del widened["field_sets"]  # the food bank that dropped the field sets to read birth dates
    proposed = propose(rt, widened, FOOD_BANK)
    assert proposed.effect == "proposed"
    assert proposed.proposal is not None
    assert "field_sets.referral-fulfillment.case-worker" in proposed.proposal["widens"]
    in_force = stored(rt, food_bank)
    assert (in_force.version, in_force.document and "field_sets" in in_force.document) == (1, True)
    sign_as(rt, FOOD_BANK, food_bank)
    sign_as(rt, DISTRICT, food_bank)
    assert stored(rt, food_bank).version == 1  # the clinic has not signed
    assert sign_as(rt, CLINIC, food_bank).version == 2


def test_the_same_terms_again_change_nothing(rt: Runtime) -> None:
    same = propose(rt, sample(version=7), CLINIC)
    assert (same.version, same.changed, audited(rt, "agreement.proposed")) == (1, False, [])
    proposed = propose(rt, sample(retention_days=2000), CLINIC)
    again = propose(rt, sample(retention_days=2000), DISTRICT)
    assert proposed.proposal == again.proposal
    assert not again.changed


def test_a_narrowing_version_applies_at_once_whoever_makes_it(rt: Runtime) -> None:
    narrowed = propose(rt, sample(retention_days=30), DISTRICT)
    assert (narrowed.effect, narrowed.version, narrowed.document and narrowed.document["retention_days"]) == (
        "in-force",
        2,
        30,
    )
    [change] = audited(rt)
    assert (change["previous"], change["narrows"], change["change"]) == (
        {"version": 1, "status": "active"},
        ["retention_days"],
        "narrowing",
    )


def test_a_narrowing_withdraws_pending_proposals(rt: Runtime) -> None:
    propose(rt, sample(retention_days=2000), CLINIC)
    status(rt, "suspended", DISTRICT)
    assert stored(rt).proposal is None
    with pytest.raises(Conflict):
        sign(rt, SignatureRequest(agreement_id=DSA, signed_by="x", version=2), acting=party(DISTRICT))


def test_a_signature_of_another_text_is_refused(rt: Runtime) -> None:
    propose(rt, sample(retention_days=2000), CLINIC)
    stale = stored(rt).proposal
    propose(rt, sample(retention_days=2500), CLINIC)  # the text changed after it was read
    assert stale is not None
    with pytest.raises(Conflict):
        sign_as(rt, DISTRICT, version_digest=stale["digest"])
    with pytest.raises(Conflict):
        sign_as(rt, DISTRICT, version=stale["version"])
    assert sign_as(rt, DISTRICT).effect == "signed"


def test_signing_twice_changes_nothing(rt: Runtime) -> None:
    propose(rt, sample(retention_days=2000), CLINIC)
    sign_as(rt, CLINIC)
    assert sign_as(rt, CLINIC).effect == "unchanged"
    assert len(audited(rt, "agreement.signed")) == 1


BAD_TERMS = [
    ("$.parties[1]", {"parties": [DISTRICT, "acme-clinic"]}),
    ("$.schedule[0].sends", {"schedule": [{"party": DISTRICT, "sends": ["grades"]}]}),
    ("$.purposes", {"purposes": ["marketing"]}),
    ("$.recipient_roles", {"recipient_roles": ["janitor"]}),
    ("$.field_sets.treatment.nurse", {"field_sets": {"treatment": {"nurse": ["student.ssn"]}}}),
    ("$.expires", {"expires": "2025-01-01"}),
]


def test_every_problem_of_an_agreement_is_reported_at_once(rt: Runtime) -> None:
    document = sample()
    for _, change in BAD_TERMS:
        document.update(change)
    with pytest.raises(InputInvalid) as caught:
        propose(rt, document, DISTRICT)
    assert {path for path, _ in BAD_TERMS} <= {issue.path for issue in caught.value.issues}
    assert stored(rt).version == 1


@pytest.mark.parametrize(("path", "change"), BAD_TERMS, ids=[path for path, _ in BAD_TERMS])
def test_each_bad_term_is_named(rt: Runtime, path: str, change: dict[str, Any]) -> None:
    with pytest.raises(InputInvalid) as caught:
        propose(rt, sample(**change), DISTRICT)
    assert path in [issue.path for issue in caught.value.issues]


def test_schema_problems_are_reported_before_the_cross_checks(rt: Runtime) -> None:
    document = {k: v for k, v in sample(status="closed").items() if k != "title"}
    with pytest.raises(InputInvalid) as caught:
        propose(rt, document, DISTRICT)
    assert sorted(issue.path for issue in caught.value.issues) == ["$", "$.status"]


def test_an_id_longer_than_the_store_keeps_is_refused(rt: Runtime) -> None:
    with pytest.raises(InputInvalid) as caught:
        propose(rt, sample(id="a" * 81), DISTRICT)
    assert [issue.path for issue in caught.value.issues] == ["$.id"]


def test_a_partner_cannot_propose_an_agreement_that_does_not_name_it(rt: Runtime) -> None:
    with pytest.raises(AccessDenied):
        propose(rt, sample(), FOOD_BANK)


def test_a_foreign_id_is_scoped_not_revealed(rt: Runtime) -> None:
    """The food bank picks the id of the district-clinic agreement: it gets an agreement of its
    own under that id, and learns nothing of the other; the parties' agreement is untouched."""
    takeover = sample(parties=[DISTRICT, CLINIC, FOOD_BANK])
    takeover["schedule"] = [*takeover["schedule"], {"party": FOOD_BANK, "receives": ["identity"]}]
    own = propose(rt, takeover, FOOD_BANK)
    assert (own.id, own.effect, own.version) == (DSA, "proposed", None)
    original = agreements.show_agreement(rt, DSA, party(CLINIC))
    assert (original.version, original.parties, original.proposal) == (1, (DISTRICT, CLINIC), None)
    # Both are the district's: it addresses the plain id, the food bank its own.
    assert agreements.show_agreement(rt, DSA, party(FOOD_BANK)).proposal == own.proposal


def test_read_agreement_file_refuses_duplicate_keys(tmp_path) -> None:
    path = tmp_path / "dup.yaml"
    path.write_text("id: a\nid: b\n", "utf-8")
    with pytest.raises(InputInvalid) as caught:
        agreements.read_agreement_file(path)
    assert "duplicate key 'id'" in caught.value.issues[0].message


# -- status: who can move what ---------------------------------------------------------------

# (from, to, by, the error, or (the effect, the version in force after, its status))
TRANSITIONS: list[tuple[str, str, str, Any]] = [
    ("active", "suspended", DISTRICT, ("in-force", 2, "suspended")),
    ("active", "suspended", CLINIC, ("in-force", 2, "suspended")),
    ("active", "terminated", CLINIC, ("in-force", 2, "terminated")),
    ("active", "active", CLINIC, ("unchanged", 1, "active")),
    ("suspended", "active", DISTRICT, ("proposed", 2, "suspended")),  # reactivating: every party signs
    ("suspended", "terminated", DISTRICT, ("in-force", 3, "terminated")),
    ("terminated", "active", DISTRICT, Conflict),
    ("terminated", "suspended", CLINIC, Conflict),
    ("active", "closed", DISTRICT, InputInvalid),
    ("active", "draft", DISTRICT, InputInvalid),
    ("active", "suspended", FOOD_BANK, NotFound),  # not a party: as if it did not exist
]


@pytest.mark.parametrize(("start", "new", "by", "expected"), TRANSITIONS)
def test_status_changes(rt: Runtime, start: str, new: str, by: str, expected: Any) -> None:
    if start != "active":
        status(rt, start, DISTRICT)
    before = stored(rt)
    if isinstance(expected, tuple):
        result = status(rt, new, by)
        assert (result.effect, result.version, result.status) == expected
        return
    with pytest.raises(expected):
        status(rt, new, by)
    assert stored(rt) == before


def test_reactivation_binds_once_both_parties_signed(rt: Runtime) -> None:
    status(rt, "suspended", DISTRICT)
    status(rt, "active", DISTRICT)
    sign_as(rt, DISTRICT)
    assert stored(rt).status == "suspended"
    assert sign_as(rt, CLINIC).status == "active"


def test_terminating_a_proposal_withdraws_it(rt: Runtime) -> None:
    document = sample("gbisd-northside-2026", id="gbisd-northside-2027")
    propose(rt, document, FOOD_BANK)
    withdrawn = status(rt, "terminated", DISTRICT, "gbisd-northside-2027")
    assert (withdrawn.effect, withdrawn.status, withdrawn.proposal) == ("withdrawn", "withdrawn", None)
    with pytest.raises(Conflict):
        status(rt, "active", DISTRICT, "gbisd-northside-2027")


def test_a_status_change_needs_a_reason_and_a_known_agreement(rt: Runtime) -> None:
    with pytest.raises(InputInvalid) as caught:
        agreements.set_status(rt, DSA, "suspended", acting=party(DISTRICT), reason="  ")
    assert [i.path for i in caught.value.issues] == ["reason"]
    with pytest.raises(NotFound):
        status(rt, "suspended", DISTRICT, "no-such-agreement")


def test_a_terminated_agreement_cannot_change_again(rt: Runtime) -> None:
    status(rt, "terminated", CLINIC)
    with pytest.raises(Conflict):
        propose(rt, sample(retention_days=10), CLINIC)


def test_a_reason_is_audited_as_its_digest_never_its_text(rt: Runtime) -> None:
    agreements.set_status(rt, DSA, "suspended", acting=party(DISTRICT), reason="breach under review")
    [change] = audited(rt)
    assert (change["agreementId"], change["version"], change["reasonLength"]) == (DSA, 2, 19)
    assert "breach under review" not in json.dumps(change)


# -- signatures: each party for itself, the administrator from paper -------------------------


def test_a_partner_signs_only_for_its_own_organization(rt: Runtime) -> None:
    propose(rt, sample(retention_days=2000), CLINIC)
    with pytest.raises(AccessDenied):
        sign_as(rt, CLINIC, on_behalf_of=DISTRICT)


def test_the_administrator_records_a_paper_signature_audited_as_such(rt: Runtime) -> None:
    propose(rt, sample(retention_days=2000), CLINIC)
    sign_as(rt, CLINIC)
    digest = stored(rt).proposal["digest"]  # type: ignore[index]
    request = SignatureRequest(
        agreement_id=DSA, signed_by="J. Smith", on_behalf_of=DISTRICT, version_digest=digest
    )
    result = sign(rt, request, acting=ADMIN)
    assert (result.effect, result.version) == ("in-force", 2)
    paper = [s for s in result.signatures if s["organization"] == DISTRICT]
    assert [(s["method"], s["signedBy"]) for s in paper] == [("paper", "J. Smith")]
    signed = audited(rt, "agreement.signed")
    assert [s["method"] for s in signed] == ["credential", "paper"]
    assert "J. Smith" not in json.dumps(signed)


def test_the_administrator_must_say_for_whom(rt: Runtime) -> None:
    propose(rt, sample(retention_days=2000), CLINIC)
    with pytest.raises(InputInvalid):
        sign(rt, SignatureRequest(agreement_id=DSA, signed_by="J. Smith"), acting=ADMIN)


def test_only_a_party_named_in_the_version_signs(rt: Runtime) -> None:
    propose(rt, sample(retention_days=2000), CLINIC)
    request = SignatureRequest(agreement_id=DSA, signed_by="x", on_behalf_of=FOOD_BANK)
    with pytest.raises(AccessDenied):
        sign(rt, request, acting=ADMIN)


# -- what each state means for a decision ----------------------------------------------------


def decide_screening(rt: Runtime) -> dict[str, Any]:
    return explain(
        rt,
        source=CLINIC,
        recipient=DISTRICT,
        categories=["sdoh-screening"],
        purpose="care-coordination",
        role="coordinator",
        actor="t",
    )


@pytest.mark.parametrize(
    ("status", "today", "effect"),
    [
        ("active", dt.date(2026, 11, 23), "permit"),
        ("active", dt.date(2030, 7, 1), "deny"),  # expired
        ("active", dt.date(2025, 12, 31), "deny"),  # not yet effective
        ("suspended", dt.date(2026, 11, 23), "deny"),
        ("terminated", dt.date(2026, 11, 23), "deny"),
    ],
)
def test_only_an_agreement_in_force_grants(
    rt: Runtime, clock: Clock, status: str, today: dt.date, effect: str
) -> None:
    if status != "active":
        agreements.set_status(rt, DSA, status, acting=party(DISTRICT), reason="test")
    clock.now = dt.datetime.combine(today, dt.time(12), tzinfo=dt.UTC)
    decision = decide_screening(rt)
    assert decision["effect"] == effect
    if effect == "deny":
        assert decision["reasons"] == [
            "no active agreement lets 'grand-bend-isd' receive category 'sdoh-screening' from "
            "'riverside-health' for purpose 'care-coordination' as role 'coordinator'"
        ]


def test_every_change_moves_the_policy_version(rt: Runtime) -> None:
    first = decide_screening(rt)["policyVersion"]
    status(rt, "suspended", DISTRICT)
    assert decide_screening(rt)["effect"] == "deny"
    status(rt, "active", DISTRICT)
    assert decide_screening(rt)["effect"] == "deny"  # proposed, not yet signed
    sign_as(rt, DISTRICT)
    sign_as(rt, CLINIC)
    again = decide_screening(rt)
    assert again["effect"] == "permit"
    assert again["policyVersion"] != first
    assert again["matchedRules"] == [f"{DSA}@3#schedule.riverside-health.sends.sdoh-screening"]


# -- the CLI ---------------------------------------------------------------------------------


def test_cli_proposes_records_paper_signatures_and_changes_status(spgw, tmp_path) -> None:
    code, output = spgw("agreements", "list")
    assert (code, any(line.startswith(f"{DSA}@1  active") for line in output.splitlines())) == (0, True)
    path = tmp_path / "renewal.yaml"
    path.write_text(yaml.safe_dump(sample(retention_days=2000)), "utf-8")
    code, output = spgw("agreements", "import", str(path))
    assert (
        code,
        output.startswith(f"proposed: {DSA}@1"),
        "awaiting: grand-bend-isd, riverside-health" in output,
    ) == (
        0,
        True,
        True,
    )
    code, output = spgw("agreements", "sign", DSA, "--for", CLINIC, "--signed-by", "A. Chen", "--json")
    assert (code, json.loads(output)["proposal"]["awaiting"]) == (0, [DISTRICT])
    code, output = spgw(
        "agreements", "sign", DSA, "--for", DISTRICT, "--signed-by", "B. Diaz", "--digest", "sha256:0"
    )
    assert (code, json.loads(output)["error"]["code"]) == (2, "conflict")
    code, output = spgw("agreements", "sign", DSA, "--for", DISTRICT, "--signed-by", "B. Diaz")
    assert (code, output.startswith(f"in-force: {DSA}@2")) == (0, True)
    code, output = spgw("agreements", "set-status", DSA, "terminated", "--reason", "end", "--json")
    assert (code, json.loads(output)["status"]) == (0, "terminated")
    code, output = spgw("agreements", "set-status", DSA, "active", "--reason", "oops")
    assert (code, json.loads(output)["error"]["code"]) == (2, "conflict")
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(sample(purposes=["marketing"], recipient_roles=["janitor"])), "utf-8")
    code, output = spgw("agreements", "import", str(bad))
    assert (code, len(json.loads(output)["error"]["issues"])) == (2, 2)
