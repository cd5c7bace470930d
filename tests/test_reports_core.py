"""core.flow_report: aggregation tables, reason codes and determinism, from fixed values."""

from __future__ import annotations

import datetime as dt

import pytest

from gateway.core import flow_report as fr
from gateway.core.disclosure import DecisionRecord, DisclosureRecord

D = dt.date


def disclosure(
    i: int,
    source: str,
    recipient: str,
    purpose: str,
    cats: tuple[str, ...],
    n: int = 1,
    flow: str = "plan.read",
) -> DisclosureRecord:
    return DisclosureRecord(
        disclosure_id=f"dis-{i}",
        flow=flow,
        sources=(source,),
        recipient=recipient,
        recipient_role="coordinator",
        actor="a",
        purpose=purpose,
        legal_basis=("ferpa-99.31",),
        categories=cats,
        elements=(),
        record_count=n,
        payload_digest="sha256:0",
        redactions=(),
        agreements=(),
        consent_ids=(),
        decision_ids=(),
        policy_version="v",
    )


def decision(
    i: int, effect: str, reasons: tuple[str, ...], source: str = "isd", recipient: str = "bank"
) -> DecisionRecord:
    return DecisionRecord(
        decision_id=f"dec-{i}",
        effect=effect,
        action="read",
        source=source,
        recipient=recipient,
        role="r",
        purpose="p",
        categories=("health",),
        basis=(),
        obligations=(),
        rules=(),
        reasons=reasons,
        policy_version="v",
        agreements=(),
    )


DISCLOSURES = (
    fr.Disclosed(day=D(2026, 5, 1), record=disclosure(1, "isd", "clinic", "care", ("identity", "health"), 2)),
    fr.Disclosed(
        day=D(2026, 5, 2), record=disclosure(2, "isd", "bank", "referral", ("identity",), 1, "referral")
    ),
    fr.Disclosed(day=D(2026, 5, 3), record=disclosure(3, "isd", "clinic", "care", ("health",), 3)),
    fr.Disclosed(day=D(2026, 7, 1), record=disclosure(4, "isd", "clinic", "care", ("health",), 9)),  # outside
)


@pytest.mark.parametrize(
    ("by", "rows"),
    [
        (
            "pair",
            [
                {
                    "source": "isd",
                    "recipient": "bank",
                    "disclosures": 1,
                    "records": 1,
                    "flows": {"referral": 1},
                },
                {
                    "source": "isd",
                    "recipient": "clinic",
                    "disclosures": 2,
                    "records": 5,
                    "flows": {"plan.read": 2},
                },
            ],
        ),
        (
            "category",
            [
                {"category": "health", "disclosures": 2, "records": 5, "flows": {"plan.read": 2}},
                {
                    "category": "identity",
                    "disclosures": 2,
                    "records": 3,
                    "flows": {"plan.read": 1, "referral": 1},
                },
            ],
        ),
        (
            "purpose",
            [
                {"purpose": "care", "disclosures": 2, "records": 5, "flows": {"plan.read": 2}},
                {"purpose": "referral", "disclosures": 1, "records": 1, "flows": {"referral": 1}},
            ],
        ),
    ],
)
def test_flows_by_grouping(by: str, rows: list[dict[str, object]]) -> None:
    report = fr.build(_input(by))
    assert report["flows"] == rows
    assert report["totals"]["disclosures"] == 3


def _input(by: str = "pair", **changes: object) -> fr.ReportInput:
    values: dict[str, object] = {
        "start": D(2026, 5, 1),
        "end": D(2026, 5, 31),
        "by": by,
        "disclosures": DISCLOSURES,
        "decisions": (),
        "emergencies": (),
        "consents": (),
        "agreements": (),
        "retention": {},
    }
    values.update(changes)
    return fr.ReportInput(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("reason", "code"),
    [
        (
            "no active agreement lets 'bank' receive category 'health' from 'isd' for 'p' as 'r'",
            fr.NO_AGREEMENT,
        ),
        (
            "no legal basis to disclose ferpa data ('health') to 'bank' for 'p': no consent permits it",
            fr.NO_LEGAL_BASIS,
        ),
        ("consent c-1 denies 'health' to 'bank'", fr.CONSENT_DENIED),
        ("consent c-1 was revoked", fr.CONSENT_DENIED),
        ("no valid consent covers 'health' for 'bank'", fr.CONSENT_DENIED),
        ("signer role 'x' may not consent", fr.CONSENT_DENIED),
        ("data category 'x' is not in the vocabulary", fr.VOCABULARY),
        ("organization 'x' is not a registered partner", fr.VOCABULARY),
        ("the request names no data category", fr.VOCABULARY),
        ("something new", fr.OTHER),
    ],
)
def test_reason_code(reason: str, code: str) -> None:
    assert fr.reason_code(reason) == code


def test_denials_by_code_counted_once_per_decision() -> None:
    no_agreement = "no active agreement lets 'bank' receive category 'health'"
    decisions = (
        fr.Decided(day=D(2026, 5, 1), record=decision(1, "deny", (no_agreement, no_agreement))),
        fr.Decided(day=D(2026, 5, 2), record=decision(2, "deny", ("consent c-9 was revoked",))),
        fr.Decided(day=D(2026, 5, 3), record=decision(3, "permit", ())),
        fr.Decided(day=D(2026, 5, 4), record=decision(4, "deny", (no_agreement,))),
    )
    report = fr.build(_input(decisions=decisions))
    assert [(d["reason"], d["denials"]) for d in report["denials"]] == [
        ("consent-denied", 1),
        ("no-agreement", 2),
    ]
    assert report["totals"]["decisions"] == 4
    assert report["totals"]["denials"] == 3


def test_consents_and_agreements_sections() -> None:
    consents = (
        fr.ConsentFact(
            id="c2", status="active", recorded_by="isd", signed=D(2026, 5, 2), revoked=None, ends=None
        ),
        fr.ConsentFact(
            id="c1",
            status="inactive",
            recorded_by="isd",
            signed=D(2025, 1, 1),
            revoked=D(2026, 5, 9),
            ends=D(2026, 5, 20),
        ),
        fr.ConsentFact(
            id="c3", status="active", recorded_by="isd", signed=None, revoked=None, ends=D(2026, 5, 31)
        ),
    )
    agreements = (
        fr.AgreementFact(
            key="a",
            id="a",
            version=2,
            state="proposed",
            parties=("bank", "isd"),
            unsigned_by=("bank",),
            expires=None,
        ),
        fr.AgreementFact(
            key="a",
            id="a",
            version=1,
            state="in-force",
            parties=("bank", "isd"),
            unsigned_by=(),
            expires=D(2026, 7, 30),
        ),
        fr.AgreementFact(
            key="b",
            id="b",
            version=1,
            state="in-force",
            parties=("isd",),
            unsigned_by=(),
            expires=D(2026, 8, 1),
        ),
    )
    report = fr.build(_input(consents=consents, agreements=agreements))
    assert report["consents"] == {"granted": ["c2"], "revoked": ["c1"], "expired": ["c3"]}
    assert [(a["key"], a["version"]) for a in report["agreements"]["proposed"]] == [("a", 2)]
    assert report["agreements"]["unsigned"][0]["unsignedBy"] == ["bank"]
    # 2026-05-31 + 60 days = 2026-07-30: a ends within, b after
    assert [a["key"] for a in report["agreements"]["ending"]] == ["a"]


def test_the_report_holds_no_student_ids_and_is_deterministic() -> None:
    shuffled = tuple(reversed(DISCLOSURES))
    assert fr.build(_input()) == fr.build(_input(disclosures=shuffled))
    assert "stu-" not in str(fr.build(_input()))
