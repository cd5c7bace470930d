"""``explain``: the full decision and every input it read; unknown terms are a deny with that
reason, never an error; the answer is the decision the enforcement points make."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from gateway.cli import main
from gateway.core.policy import PART2_NOTICE
from gateway.errors import InputInvalid
from gateway.service.policy import agreements, consents
from gateway.service.policy.explain import explain
from gateway.service.runtime import Runtime
from gateway.service.views.plans import ReadRequest, read_plan
from gateway.storage import audit_store
from tests.agreement_helpers import ADMIN, agree
from tests.conftest import PROJECT_ROOT
from tests.helpers import DISTRICT_IDS, LISA, send_demo

CLINIC, DISTRICT, FOOD_BANK = "riverside-health", "grand-bend-isd", "northside-food-bank"
CLINIC_CONSENT = "consent-0001-riverside-to-gbisd"
LISA_REF = f"{DISTRICT_IDS}|604822"
SCREENING: dict[str, Any] = {
    "source": CLINIC,
    "recipient": DISTRICT,
    "categories": ["sdoh-screening"],
    "regimes": ["HIPAA"],
    "sensitivities": ["restricted"],
    "purpose": "care-coordination",
    "role": "coordinator",
    "actor": "ms-ortiz",
}


@pytest.fixture
def lisa(rt: Runtime) -> Runtime:
    for prefix in ("01", "05", "04", "08"):  # 08: the district links Lisa's mother, who signed
        send_demo(rt, prefix)
    return rt


def test_the_answer_is_the_decision_and_what_it_read(lisa: Runtime) -> None:
    answer = explain(lisa, **SCREENING, student_ref=LISA_REF)
    assert (answer["effect"], answer["basis"]) == ("permit", [f"consent:{CLINIC_CONSENT}"])
    assert answer["matchedRules"] == [
        "gbisd-riverside-2026@1#schedule.riverside-health.sends.sdoh-screening",
        f"consent:{CLINIC_CONSENT}",
    ]
    inputs = answer["inputs"]
    assert (inputs["student"], inputs["birthDateKnown"]) == (LISA, True)
    assert inputs["consentsConsidered"] == [c.id for c in consents.list_consents(lisa, LISA)]
    assert CLINIC_CONSENT in inputs["consentsConsidered"]
    in_force = [
        a
        for a in agreements.list_agreements(lisa, ADMIN)
        if a.in_force and {CLINIC, DISTRICT} <= set(a.parties)
    ]
    assert inputs["agreementsInForce"] == [f"{a.id}@{a.version}" for a in in_force]
    assert "gbisd-riverside-2026@1" in inputs["agreementsInForce"]
    assert inputs["policyVersion"] == answer["policyVersion"]
    assert {o["type"] for o in answer["obligations"]} == {"retain-until", "no-redisclosure"}


def test_explain_gives_the_decision_a_read_makes(lisa: Runtime) -> None:
    view = read_plan(
        lisa,
        ReadRequest(
            student_id=LISA,
            organization_id=DISTRICT,
            actor="ms-ortiz",
            role="coordinator",
            purpose="care-coordination",
        ),
    )
    answer = explain(lisa, **SCREENING, student_ref=LISA)
    assert answer["decisionId"] in view.decision_ids


def test_without_the_student_no_consent_counts(lisa: Runtime) -> None:
    answer = explain(lisa, **SCREENING)
    assert answer["effect"] == "deny"
    assert answer["inputs"]["consentsConsidered"] == []
    assert answer["reasons"][0].startswith("no legal basis to disclose HIPAA data ('sdoh-screening')")


def test_an_identifier_nobody_is_linked_to_gives_no_student(lisa: Runtime) -> None:
    answer = explain(lisa, **SCREENING, student_ref=f"{DISTRICT_IDS}|000000")
    assert (answer["effect"], answer["inputs"]["student"]) == ("deny", None)


UNKNOWN = [
    ({"purpose": "marketing"}, "purpose 'marketing' is not in the vocabulary"),
    ({"role": "janitor"}, "role 'janitor' is not in the vocabulary"),
    ({"categories": ["grades"]}, "data category 'grades' is not in the vocabulary"),
    ({"source": "acme-clinic"}, "organization 'acme-clinic' is not a registered partner"),
    ({"recipient": "acme-agency"}, "organization 'acme-agency' is not a registered partner"),
    ({"categories": []}, "the request names no data category"),
]


@pytest.mark.parametrize(("change", "reason"), UNKNOWN, ids=[r for _, r in UNKNOWN])
def test_unknown_terms_are_a_deny_with_that_reason(
    lisa: Runtime, change: dict[str, Any], reason: str
) -> None:
    answer = explain(lisa, **{**SCREENING, **change}, student_ref=LISA)
    assert (answer["effect"], answer["basis"], answer["reasons"]) == ("deny", [], [reason])


def test_what_cannot_be_decided_is_a_bad_request(rt: Runtime) -> None:
    with pytest.raises(InputInvalid) as caught:
        explain(rt, **{**SCREENING, "actor": "x" * 121}, action="delete")
    assert [issue.path for issue in caught.value.issues] == ["actor", "action"]


def test_a_student_id_nobody_has_gives_no_student(lisa: Runtime) -> None:
    answer = explain(lisa, **SCREENING, student_ref="stu-" + "a" * 26)
    assert (answer["effect"], answer["inputs"]["student"]) == ("deny", None)


def test_part2_data_carries_the_notice_and_the_consent(lisa: Runtime) -> None:
    document = yaml.safe_load(
        (PROJECT_ROOT / "consent_policies/samples/agreements/gbisd-riverside-2026.yaml").read_text("utf-8")
    )
    document["schedule"][0]["receives"].append("substance-use")
    # The clinic's schedule already sends substance-use data; the district must also receive it.
    assert "substance-use" in document["schedule"][1]["sends"]
    agree(lisa, document, by=CLINIC)
    request = {**SCREENING, "categories": ["substance-use"], "regimes": ["42CFRPart2"], "student_ref": LISA}
    assert explain(lisa, **request)["effect"] == "deny"
    # 42 CFR 2.14: Lisa (16) consents herself to share her substance-use records.
    own = consents.record_consent(
        lisa,
        student_ref=LISA,
        grantor=CLINIC,
        recipients=[DISTRICT],
        categories=["substance-use"],
        purposes=["care-coordination"],
        labels=["42CFRPart2"],
        signer_role="student",
        signed_at=dt.date(2026, 11, 20),
        expires=dt.date(2027, 11, 20),
        recorded_by=CLINIC,
    )
    answer = explain(lisa, **request)
    assert (answer["effect"], answer["basis"]) == ("permit", [f"consent:{own.id}"])
    assert {"type": "attach-notice", "regulation": "42 CFR 2.32", "text": PART2_NOTICE} in answer[
        "obligations"
    ]
    assert {"type": "attach-consent", "consentId": own.id} in answer["obligations"]


def test_aggregates_suppress_small_cells(lisa: Runtime) -> None:
    answer = explain(lisa, **{**SCREENING, "regimes": [], "sensitivities": []}, action="aggregate")
    assert answer["effect"] == "permit"
    assert {"type": "suppress-small-cells", "agreement": "gbisd-riverside-2026", "minimum": 11} in answer[
        "obligations"
    ]


def test_every_explanation_is_audited_without_free_text(lisa: Runtime) -> None:
    threat = "Lisa Woods said she would run away"
    answer = explain(lisa, **{**SCREENING, "purpose": "emergency", "role": "Lisa"}, emergency_reason=threat)
    with lisa.sessions() as session:
        [entry] = audit_store.audit_entries(session, "policy.explained", 10, 0)
    assert (entry.details["decisionId"], entry.details["emergency"]) == (answer["decisionId"], True)
    assert entry.details["role"].startswith("unknown:sha256:")
    assert "Lisa" not in json.dumps(entry.details)


# -- the CLI ---------------------------------------------------------------------------------


def test_cli_explains(rt: Runtime, database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_DATABASE_URL", database_url)

    def spgw(*args: str) -> tuple[int, str]:
        result = CliRunner().invoke(main, ["--home", str(rt.settings.home), *args])
        return result.exit_code, result.output

    request = ["policy", "explain", "--source", CLINIC, "--to", DISTRICT, "--category", "sdoh-screening"]
    request += ["--purpose", "care-coordination", "--role", "coordinator"]
    code, output = spgw(*request)
    assert code == 0, output
    # Without --regime the data is labelled as a read labels it: a clinic's screening is HIPAA, and
    # no student's consent is named, so the read would deny it.
    assert output.startswith("DENY")
    assert "decided for: HIPAA, restricted" in output
    code, output = spgw(*request, "--regime", "not-covered")
    assert output.startswith("PERMIT")
    assert "rule: gbisd-riverside-2026@1#schedule.riverside-health.sends.sdoh-screening" in output
    code, output = spgw(*request, "--regime", "HIPAA", "--json")
    answer = json.loads(output)
    assert (code, answer["effect"], answer["inputs"]["regimes"]) == (0, "deny", ["HIPAA"])
    code, output = spgw(*request, "--action", "delete")
    assert code == 2
