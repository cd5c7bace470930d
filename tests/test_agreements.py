"""Agreements managed while the gateway runs: checked whole, changed only by a party, versioned
on every change, terminated for good, audited; and what each state means for a decision."""

from __future__ import annotations

import copy
import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from gateway.cli import main
from gateway.errors import AccessDenied, Conflict, InputInvalid, NotFound
from gateway.service import agreements
from gateway.service.explain import explain
from gateway.service.runtime import Runtime
from gateway.storage import repositories as repo
from tests.conftest import PROJECT_ROOT, Clock

AGREEMENTS = PROJECT_ROOT / "consent_policies" / "samples" / "agreements"
DSA = "gbisd-riverside-2026"
CLINIC, DISTRICT, FOOD_BANK = "riverside-health", "grand-bend-isd", "northside-food-bank"


def sample(name: str = DSA, **changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((AGREEMENTS / f"{name}.yaml").read_text("utf-8"))
    return {**copy.deepcopy(document), **changes}


def changes_of(rt: Runtime) -> list[dict[str, Any]]:
    with rt.sessions() as session:
        return [dict(row.details) for row in repo.audit_entries(session, "agreement.changed", 1000, 0)]


def stored(rt: Runtime, agreement_id: str = DSA) -> agreements.AgreementSummary:
    return next(a for a in agreements.list_agreements(rt) if a.id == agreement_id)


# -- listing -------------------------------------------------------------------------------


def sample_parties() -> dict[str, set[str]]:
    """Each sample agreement's parties, read from the files (they are discovered, not listed)."""
    found = (yaml.safe_load(path.read_text("utf-8")) for path in AGREEMENTS.glob("*.yaml"))
    return {doc["id"]: set(doc["parties"]) for doc in found}


@pytest.mark.parametrize("party", [None, CLINIC, DISTRICT, FOOD_BANK])
def test_lists_every_agreement_or_a_partys(rt: Runtime, party: str | None) -> None:
    expected = sorted(i for i, parties in sample_parties().items() if party is None or party in parties)
    assert [a.id for a in agreements.list_agreements(rt, party=party)] == expected


def test_an_expired_agreement_is_listed_as_not_in_force(rt: Runtime) -> None:
    expired = stored(rt, "gbisd-riverside-2024")
    assert (expired.status, expired.in_force) == ("active", False)


# -- import: checked whole, a party only, versioned ------------------------------------------


def test_a_new_agreement_is_stored_and_audited(rt: Runtime) -> None:
    document = sample("gbisd-northside-2026", id="gbisd-northside-2027", title="Renewal")
    summary = agreements.import_agreement(rt, document, by=FOOD_BANK)
    assert (summary.id, summary.version, summary.changed, summary.in_force) == (
        "gbisd-northside-2027",
        1,
        True,
        True,
    )
    [change] = changes_of(rt)
    assert (change["agreementId"], change["version"], change["previous"], change["change"]) == (
        "gbisd-northside-2027",
        1,
        None,
        "imported",
    )


def test_the_same_terms_again_change_nothing_and_new_terms_raise_the_version(rt: Runtime) -> None:
    same = agreements.import_agreement(rt, sample(version=7), by=CLINIC)
    assert (same.version, same.changed, changes_of(rt)) == (1, False, [])
    changed = agreements.import_agreement(rt, sample(retention_days=30), by=CLINIC)
    assert (changed.version, changed.changed, changed.document["retention_days"]) == (2, True, 30)
    assert changes_of(rt)[0]["previous"] == {"version": 1, "status": "active"}


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
        agreements.import_agreement(rt, document, by=DISTRICT)
    assert {path for path, _ in BAD_TERMS} <= {issue.path for issue in caught.value.issues}
    assert stored(rt).version == 1


@pytest.mark.parametrize(("path", "change"), BAD_TERMS, ids=[path for path, _ in BAD_TERMS])
def test_each_bad_term_is_named(rt: Runtime, path: str, change: dict[str, Any]) -> None:
    with pytest.raises(InputInvalid) as caught:
        agreements.import_agreement(rt, sample(**change), by=DISTRICT)
    assert path in [issue.path for issue in caught.value.issues]


def test_schema_problems_are_reported_before_the_cross_checks(rt: Runtime) -> None:
    document = {k: v for k, v in sample(status="closed").items() if k != "title"}
    with pytest.raises(InputInvalid) as caught:
        agreements.import_agreement(rt, document, by=DISTRICT)
    assert sorted(issue.path for issue in caught.value.issues) == ["$", "$.status"]


def test_an_id_longer_than_the_store_keeps_is_refused(rt: Runtime) -> None:
    with pytest.raises(InputInvalid) as caught:
        agreements.import_agreement(rt, sample(id="a" * 81), by=DISTRICT)
    assert [issue.path for issue in caught.value.issues] == ["$.id"]


def test_only_a_party_may_import(rt: Runtime) -> None:
    with pytest.raises(AccessDenied):
        agreements.import_agreement(rt, sample(), by=FOOD_BANK)
    # Naming itself a party does not let an outsider rewrite the parties' agreement.
    takeover = sample(parties=[DISTRICT, CLINIC, FOOD_BANK])
    takeover["schedule"] = [*takeover["schedule"], {"party": FOOD_BANK, "receives": ["identity"]}]
    with pytest.raises(AccessDenied):
        agreements.import_agreement(rt, takeover, by=FOOD_BANK)
    assert (stored(rt).version, stored(rt).parties) == (1, (DISTRICT, CLINIC))


def test_read_agreement_file_refuses_duplicate_keys(tmp_path) -> None:
    path = tmp_path / "dup.yaml"
    path.write_text("id: a\nid: b\n", "utf-8")
    with pytest.raises(InputInvalid) as caught:
        agreements.read_agreement_file(path)
    assert "duplicate key 'id'" in caught.value.issues[0].message


# -- status: a party only, version + 1, terminated is final ------------------------------------

# (from, to, by, expected error or the version after)
TRANSITIONS: list[tuple[str, str, str, type[Exception] | int]] = [
    ("active", "suspended", DISTRICT, 2),
    ("active", "draft", CLINIC, 2),
    ("active", "terminated", CLINIC, 2),
    ("active", "active", CLINIC, 1),  # no change, no new version
    ("suspended", "active", DISTRICT, 3),
    ("terminated", "active", DISTRICT, Conflict),
    ("terminated", "suspended", CLINIC, Conflict),
    ("terminated", "terminated", CLINIC, 2),
    ("active", "closed", DISTRICT, InputInvalid),
    ("active", "suspended", FOOD_BANK, AccessDenied),
]


@pytest.mark.parametrize(("start", "status", "by", "expected"), TRANSITIONS)
def test_status_changes(
    rt: Runtime, start: str, status: str, by: str, expected: type[Exception] | int
) -> None:
    if start != "active":
        agreements.set_status(rt, DSA, start, by=DISTRICT, reason="set up")
    if isinstance(expected, int):
        assert agreements.set_status(rt, DSA, status, by=by, reason="board decision").version == expected
        assert stored(rt).status == status
        return
    before = stored(rt)
    with pytest.raises(expected):
        agreements.set_status(rt, DSA, status, by=by, reason="board decision")
    assert stored(rt) == before


def test_a_status_change_needs_a_reason_and_a_known_agreement(rt: Runtime) -> None:
    with pytest.raises(InputInvalid) as caught:
        agreements.set_status(rt, DSA, "suspended", by=DISTRICT, reason="  ")
    assert [i.path for i in caught.value.issues] == ["reason"]
    with pytest.raises(NotFound):
        agreements.set_status(rt, "no-such-agreement", "suspended", by=DISTRICT, reason="x")


def test_a_terminated_agreement_cannot_be_imported_again(rt: Runtime) -> None:
    agreements.set_status(rt, DSA, "terminated", by=CLINIC, reason="contract ended")
    with pytest.raises(Conflict):
        agreements.import_agreement(rt, sample(retention_days=10), by=CLINIC)


def test_status_changes_are_audited_with_their_reason(rt: Runtime) -> None:
    agreements.set_status(rt, DSA, "suspended", by=DISTRICT, reason="breach under review")
    [change] = changes_of(rt)
    assert {k: change[k] for k in ("agreementId", "version", "status", "change", "reason")} == {
        "agreementId": DSA,
        "version": 2,
        "status": "suspended",
        "change": "status",
        "reason": "breach under review",
    }


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
        ("draft", dt.date(2026, 11, 23), "deny"),
        ("terminated", dt.date(2026, 11, 23), "deny"),
    ],
)
def test_only_an_agreement_in_force_grants(
    rt: Runtime, clock: Clock, status: str, today: dt.date, effect: str
) -> None:
    if status != "active":
        agreements.set_status(rt, DSA, status, by=DISTRICT, reason="test")
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
    agreements.set_status(rt, DSA, "suspended", by=DISTRICT, reason="x")
    agreements.set_status(rt, DSA, "active", by=DISTRICT, reason="y")
    again = decide_screening(rt)
    assert again["effect"] == "permit"
    assert again["policyVersion"] != first
    assert again["matchedRules"] == [f"{DSA}@3#schedule.riverside-health.sends.sdoh-screening"]


# -- the CLI ---------------------------------------------------------------------------------


@pytest.fixture
def spgw(rt: Runtime, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Callable[..., tuple[int, str]]:
    """``spgw`` over the test's initialised gateway (the CLI runs on the real clock)."""
    monkeypatch.setenv("GATEWAY_DATABASE_URL", database_url)

    def run(*args: str) -> tuple[int, str]:
        result = CliRunner().invoke(main, ["--home", str(rt.settings.home), *args])
        return result.exit_code, result.output

    return run


def test_cli_lists_imports_and_changes_status(spgw, tmp_path) -> None:
    code, output = spgw("agreements", "list")
    assert (code, any(line.startswith(f"{DSA}@1  active") for line in output.splitlines())) == (0, True)
    path = tmp_path / "renewal.yaml"
    path.write_text(yaml.safe_dump(sample(retention_days=400)), "utf-8")
    code, output = spgw("agreements", "import", str(path), "--by", CLINIC)
    assert (code, output.startswith(f"changed: {DSA}@2")) == (0, True)
    code, output = spgw(
        "agreements", "set-status", DSA, "terminated", "--by", CLINIC, "--reason", "end", "--json"
    )
    assert (code, json.loads(output)["status"]) == (0, "terminated")
    code, output = spgw("agreements", "set-status", DSA, "active", "--by", CLINIC, "--reason", "oops")
    assert (code, json.loads(output)["error"]["code"]) == (2, "conflict")
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(sample(purposes=["marketing"], recipient_roles=["janitor"])), "utf-8")
    code, output = spgw("agreements", "import", str(bad), "--by", CLINIC)
    assert (code, len(json.loads(output)["error"]["issues"])) == (2, 2)
