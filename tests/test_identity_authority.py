"""Who may register a student: the sending organization's identity authority (organizations.yaml
``identity_authority``), asked by the pipeline for every student record; by default the district
SIS (Ed-Fi) registers and everything else is held until a student or link names it."""

from __future__ import annotations

import json
import pathlib
import shutil
from typing import Any

import pytest
import yaml
from helpers import DISTRICT_IDS
from oneroster_helpers import SOURCE, plan_of, register_students

from gateway.artifacts import load_artifacts, load_world
from gateway.core.identity import IdentityAuthority, authority_issues, authority_of, resolve_student
from gateway.core.ids import student_id_for
from gateway.errors import ArtifactInvalid
from gateway.service.exchange.inbound import Inbound
from gateway.service.exchange.ingest import ingest
from gateway.service.exchange.oneroster import ingest_oneroster
from gateway.storage import organization_store

PROJECT_ROOT = pathlib.Path(__file__).resolve().parent.parent
CLEAN_11 = PROJECT_ROOT / "tests" / "fixtures" / "oneroster-clean" / "v1p1"
# The clean 1.1 bundle's student records: 3 student users, 4 student enrolments, 4 results and
# 1 parent naming student 700001 (a family-users record).
STUDENT_RECORDS = 3 + 4 + 4 + 1
CONTACTS = "https://grandbend.example.org/ns/contactUniqueId"
DISTRICT = {
    "id": "lakeview",
    "identifier_systems": {"student-id": DISTRICT_IDS, "contact-id": CONTACTS},
}
STUDENT = ((DISTRICT_IDS, "700001"),)

# -- the setting, as a pure rule -----------------------------------------------------------


@pytest.mark.parametrize(
    ("setting", "family", "identifiers", "refused"),
    [
        # no setting: the district SIS registers, as before the setting existed
        (None, "edfi-json", STUDENT, ""),
        (None, "oneroster", STUDENT, "lakeview's oneroster records may not register a student"),
        (None, "fhir-json", STUDENT, "lakeview's fhir records may not register a student"),
        # a OneRoster-only district
        ({"sources": ["oneroster"]}, "oneroster", STUDENT, ""),
        ({"sources": ["oneroster"]}, "edfi-json", STUDENT, "registers from: oneroster"),
        ({"sources": ["edfi", "oneroster"]}, "oneroster", STUDENT, ""),
        # nobody registers: every record waits for an explicit link
        ({"sources": []}, "edfi-json", STUDENT, "registers from: none"),
        # identifier systems narrow what a source registers under (keys resolved to URIs)
        ({"sources": ["oneroster"], "identifier_systems": ["student-id"]}, "oneroster", STUDENT, ""),
        (
            {"sources": ["oneroster"], "identifier_systems": ["contact-id"]},
            "oneroster",
            STUDENT,
            f"not [{DISTRICT_IDS}]",
        ),
    ],
)
def test_the_identity_authority_says_who_may_register(setting, family, identifiers, refused):
    org = {**DISTRICT, **({"identity_authority": setting} if setting is not None else {})}
    said = authority_of(org).refusal(family, identifiers)
    assert (refused in said) if refused else said == ""
    assert bool(said) == bool(refused)


@pytest.mark.parametrize(
    ("may_create", "refused", "created", "reason"),
    [
        (True, "", True, ""),
        (True, "lakeview's oneroster records may not register a student", False, "may not register"),
        (False, "", False, "send the student record first"),
        (False, "not authoritative", False, "send the student record first"),  # nothing to refuse
    ],
)
def test_a_refused_registration_holds_the_record_with_the_reason(may_create, refused, created, reason):
    outcome = resolve_student(STUDENT, {}, may_create=may_create, refused=refused)
    assert outcome.created is created
    assert (outcome.student_id is not None) is created
    assert reason in outcome.reason
    if not created:
        assert "or add an explicit link, then replay" in outcome.reason


def test_a_known_student_links_whatever_the_authority_says():
    sid = student_id_for(*STUDENT[0])
    outcome = resolve_student(STUDENT, {STUDENT[0]: sid}, may_create=True, refused="no")
    assert (outcome.student_id, outcome.created) == (sid, False)


def test_the_default_authority_is_the_district_sis():
    assert authority_of({"id": "x"}) == IdentityAuthority(organization="x", standards=frozenset({"edfi"}))


# -- the setting, validated with the organizations ------------------------------------------


def test_an_authority_naming_an_undeclared_system_is_reported():
    orgs = [{**DISTRICT, "identity_authority": {"sources": ["oneroster"], "identifier_systems": ["sis-id"]}}]
    (issue,) = authority_issues(orgs, "organizations.yaml")
    assert issue.path == "organizations.yaml: $.organizations[0].identity_authority.identifier_systems"
    assert "'sis-id'" in issue.message
    assert "contact-id, student-id" in issue.message


@pytest.fixture
def policy_root(tmp_path: pathlib.Path) -> pathlib.Path:
    for folder in ("schemas", "mappings", "consent_policies"):
        shutil.copytree(PROJECT_ROOT / folder, tmp_path / folder)
    return tmp_path


def _with_authority(root: pathlib.Path, setting: Any) -> pathlib.Path:
    path = root / "consent_policies" / "samples" / "organizations.yaml"
    doc = yaml.safe_load(path.read_text("utf-8"))
    doc["organizations"][0]["identity_authority"] = setting
    path.write_text(yaml.safe_dump(doc, sort_keys=False), "utf-8")
    return root / "consent_policies" / "samples"


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ({"sources": ["sis"]}, "'sis' is not one of"),
        ({"identifier_systems": ["student-id"]}, "'sources' is a required property"),
        ({"sources": ["oneroster"], "identifier_systems": ["state-id"]}, "'state-id' is not one of"),
    ],
)
def test_a_bad_authority_stops_the_policy_world_from_loading(policy_root, setting, message):
    vocabulary = load_artifacts(PROJECT_ROOT).vocabulary
    with pytest.raises(ArtifactInvalid) as caught:
        load_world(_with_authority(policy_root, setting), vocabulary, policy_root)
    found = [(i.path, i.message) for i in caught.value.issues]
    assert any("organizations.yaml" in p and message in m for p, m in found), found


def test_the_sample_world_loads_with_its_authority():
    vocabulary = load_artifacts(PROJECT_ROOT).vocabulary
    world = load_world(PROJECT_ROOT / "consent_policies" / "samples", vocabulary, PROJECT_ROOT)
    district = next(o for o in world.organizations if o["id"] == SOURCE)
    assert authority_of(district).standards == frozenset({"edfi"})


# -- the pipeline asks it -------------------------------------------------------------------


def _declare(rt, setting: dict[str, Any] | None) -> None:
    with rt.sessions.begin() as session:
        doc = dict(next(o for o in organization_store.organization_docs(session) if o["id"] == SOURCE))
        doc.pop("identity_authority", None)
        organization_store.upsert_organization(
            session, {**doc, **({"identity_authority": setting} if setting else {})}, rt.now()
        )


def test_a_oneroster_only_district_declared_authority_registers_its_users(rt):
    _declare(rt, {"sources": ["oneroster"], "identifier_systems": ["student-id"]})
    summary = ingest_oneroster(rt, source_org=SOURCE, path_or_bytes=CLEAN_11)
    assert summary.ingest.status == "mapped", summary.to_dict()
    assert (summary.outcome["accepted"], summary.outcome["held"]) == (STUDENT_RECORDS, 0)
    plan = plan_of(rt, "700001")  # the id an Ed-Fi record of the same student would give
    assert plan["student"]["id"] == student_id_for(DISTRICT_IDS, "700001")


@pytest.mark.parametrize(
    ("setting", "reason"),
    [
        (None, "grand-bend-isd's oneroster records may not register a student"),
        ({"sources": ["edfi"]}, "registers from: edfi"),
        (
            {"sources": ["oneroster"], "identifier_systems": ["contact-id"]},
            "only under its listed identifier",
        ),
    ],
)
def test_a_district_not_declared_authority_gets_its_users_held_with_the_reason(rt, setting, reason):
    _declare(rt, setting)
    summary = ingest_oneroster(rt, source_org=SOURCE, path_or_bytes=CLEAN_11)
    assert (summary.outcome["accepted"], summary.outcome["held"]) == (0, STUDENT_RECORDS)
    held = {r["location"]: r["reason"] for r in summary.outcome["records"] if r["status"] == "held"}
    students = ["users.csv line 2", "users.csv line 3", "users.csv line 4"]
    assert [reason in held[s] for s in students] == [True] * 3, held
    others = [why for where, why in held.items() if where not in students]
    assert len(others) == STUDENT_RECORDS - 3
    assert not any(reason in why for why in others)  # they could never register: the usual reason


def test_with_oneroster_the_authority_an_ed_fi_student_record_no_longer_registers(rt):
    _declare(rt, {"sources": ["oneroster"]})
    body = [{"studentUniqueId": "700001", "firstName": "T", "lastSurname": "S", "birthDate": "2013-03-14"}]
    held = ingest(
        rt,
        Inbound(
            source_org=SOURCE, format_name="edfi-json", payload=json.dumps(body).encode(), entity="students"
        ),
    )
    assert (held.outcome["accepted"], held.outcome["held"]) == (0, 1)
    assert "grand-bend-isd's edfi records may not register" in held.outcome["records"][0]["reason"]
    _declare(rt, None)  # back to the default: the Ed-Fi record registers, OneRoster links to it
    register_students(rt, "700001")
    summary = ingest_oneroster(rt, source_org=SOURCE, path_or_bytes=CLEAN_11)
    assert summary.outcome["accepted"] == 1 + 2 + 2 + 1  # 700001's user, enrolments, results, parent
