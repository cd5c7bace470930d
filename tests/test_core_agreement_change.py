"""Which changes to an agreement widen sharing (every party signs) and which only narrow it
(any one party, at once): one row per term."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.core.agreement_change import compare, terms_digest, version_digest

SAMPLE = (
    Path(__file__).resolve().parent.parent / "consent_policies/samples/agreements/gbisd-northside-2026.yaml"
)
BASE: dict[str, Any] = yaml.safe_load(SAMPLE.read_text("utf-8"))
FOOD_BANK = "northside-food-bank"
CASE_WORKER = "referral-fulfillment.case-worker"


def changed(**terms: Any) -> dict[str, Any]:
    return {**copy.deepcopy(BASE), **terms}


def with_receives(party: str, categories: list[str]) -> dict[str, Any]:
    document = changed()
    for entry in document["schedule"]:
        if entry["party"] == party:
            entry["receives"] = categories
    return document


def with_field_set(slots: list[str] | None) -> dict[str, Any]:
    document = changed()
    if slots is None:
        del document["field_sets"]
    else:
        document["field_sets"]["referral-fulfillment"]["case-worker"] = slots
    return document


FIELDS = BASE["field_sets"]["referral-fulfillment"]["case-worker"]

# (new version, the terms it widens, the terms it narrows)
CHANGES: list[Any] = [
    # status: withdrawing is narrowing, coming back is widening
    pytest.param(changed(status="suspended"), [], ["status"], id="suspend"),
    pytest.param(changed(status="terminated"), [], ["status"], id="terminate"),
    # parties, purposes, roles
    pytest.param(changed(parties=[*BASE["parties"], "acme"]), ["parties"], [], id="a party more"),
    pytest.param(changed(parties=BASE["parties"][:2]), [], ["parties"], id="a party fewer"),
    pytest.param(
        changed(purposes=[*BASE["purposes"], "care-coordination"]),
        ["purposes"],
        [],
        id="a purpose more",
    ),
    pytest.param(
        changed(recipient_roles=["case-worker", "nurse"]), ["recipient_roles"], [], id="a role more"
    ),
    # the schedule
    pytest.param(
        with_receives(FOOD_BANK, ["identity", "referral", "demographics"]),
        [f"schedule.{FOOD_BANK}.receives"],
        [],
        id="a category more",
    ),
    pytest.param(with_receives(FOOD_BANK, ["referral"]), [], [f"schedule.{FOOD_BANK}.receives"], id="fewer"),
    # minimum necessary: the case of the food bank that dropped its field sets and read birth dates
    pytest.param(
        with_field_set(None),
        [f"field_sets.{CASE_WORKER}", "field_sets.referral-fulfillment.*"],
        [],
        id="field sets dropped",
    ),
    pytest.param(
        with_field_set([*FIELDS, "student.birthDate"]), [f"field_sets.{CASE_WORKER}"], [], id="a field more"
    ),
    pytest.param(with_field_set(FIELDS[:2]), [], [f"field_sets.{CASE_WORKER}"], id="a field fewer"),
    pytest.param(
        with_field_set(["student", *FIELDS[2:]]), [f"field_sets.{CASE_WORKER}"], [], id="wider slot"
    ),
    # term and retention
    pytest.param(changed(retention_days=730), ["retention_days"], [], id="longer retention"),
    pytest.param(changed(retention_days=30), [], ["retention_days"], id="shorter retention"),
    pytest.param(
        {k: v for k, v in BASE.items() if k != "retention_days"}, ["retention_days"], [], id="no limit"
    ),
    pytest.param(changed(expires="2031-06-30"), ["expires"], [], id="later end"),
    pytest.param(changed(expires="2027-06-30"), [], ["expires"], id="earlier end"),
    pytest.param(changed(effective="2025-01-01"), ["effective"], [], id="earlier start"),
    pytest.param(changed(effective="2026-06-01"), [], ["effective"], id="later start"),
    # onward disclosure and small cells
    pytest.param(changed(redisclosure="prohibited-without-consent"), ["redisclosure"], [], id="redisclose"),
    pytest.param(changed(min_cell_size=20), [], ["min_cell_size"], id="a larger small cell"),
    # a term that cannot be compared asks for signatures
    pytest.param(changed(title="Renamed"), ["title"], [], id="a new title"),
    pytest.param(changed(), [], [], id="the same terms"),
]


@pytest.mark.parametrize(("new", "widens", "narrows"), CHANGES)
def test_what_a_version_widens_and_narrows(
    new: dict[str, Any], widens: list[str], narrows: list[str]
) -> None:
    change = compare(BASE, new)
    assert (sorted(change.widens), sorted(change.narrows)) == (sorted(widens), sorted(narrows))
    assert change.needs_signatures == bool(widens)


def test_a_new_agreement_always_needs_every_signature() -> None:
    assert compare(None, BASE).needs_signatures


def test_reactivating_widens() -> None:
    assert compare(changed(status="suspended"), BASE).widens == ("status",)


def test_the_signed_digest_names_the_version_and_the_terms_digest_does_not() -> None:
    assert version_digest(changed(version=2)) != version_digest(BASE)
    assert terms_digest(changed(version=2)) == terms_digest(BASE)
