"""Who may sign a consent (issue 10): the student when of age (or alone for Part 2 data), or a
parent or legal guardian whom an education record (Ed-Fi contact association, OneRoster family
user) or an administrator links to the student. Checked at import and at every decision."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from sqlalchemy import text

from gateway.cli import main
from gateway.errors import InputInvalid, NotFound
from gateway.formats.oneroster_csv import read_bundle
from gateway.formats.records import SourceRecord
from gateway.service.exchange.inbound import Inbound
from gateway.service.exchange.ingest import ingest
from gateway.service.exchange.oneroster import ingest_oneroster
from gateway.service.exchange.retractions import retract_records
from gateway.service.identity.guardian_links import link_guardian, list_guardians
from gateway.service.policy import consents
from gateway.service.policy.explain import explain
from gateway.service.runtime import Runtime
from gateway.service.sources.edfi_sync import offered_by
from tests.agreement_helpers import agree
from tests.conftest import PROJECT_ROOT, Clock
from tests.helpers import DISTRICT_IDS, LISA, count_rows, send_demo
from tests.oneroster_helpers import zip_files

CLINIC, DISTRICT = "riverside-health", "grand-bend-isd"
CONTACTS = "https://grandbend.example.org/ns/contactUniqueId"
ROLE_CODE = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
LISA_ID, MARCUS_ID = "604822", "604834"
SAMPLE = PROJECT_ROOT / "consent_policies" / "samples" / "consents" / "consent-0001-riverside-to-gbisd.json"
SCREENING: dict[str, Any] = {
    "source": CLINIC,
    "recipient": DISTRICT,
    "categories": ["sdoh-screening"],
    "regimes": ["HIPAA"],
    "sensitivities": ["restricted"],
    "purpose": "care-coordination",
    "role": "coordinator",
    "actor": "ms-ortiz",
    "student_ref": LISA,
}


@pytest.fixture
def lisa(rt: Runtime) -> Runtime:
    """The demo world with Lisa's school record, clinic patient record and screening; no link yet."""
    for prefix in ("01", "05", "04"):
        send_demo(rt, prefix)
    return rt


# -- how the person gets linked ---------------------------------------------------------


def contact_association(rt: Runtime, person: str, relation: str, student: str = LISA_ID, **more: Any) -> None:
    body = {
        "studentReference": {"studentUniqueId": student},
        "contactReference": {"contactUniqueId": person},
        "relationDescriptor": f"uri://ed-fi.org/RelationDescriptor#{relation}",
        **more,
    }
    summary = ingest(
        rt,
        Inbound(
            source_org=DISTRICT,
            format_name="edfi-json",
            payload=json.dumps([body]).encode(),
            entity="studentContactAssociations",
        ),
    )
    assert summary.outcome["accepted"] == 1, summary.outcome


USERS_11 = (
    "sourcedId,status,dateLastModified,enabledUser,orgSourcedIds,role,username,userIds,givenName,"
    "familyName,middleName,identifier,email,sms,phone,agentSourcedIds,grades,password\n"
)
MANIFEST = "propertyName,value\nmanifest.version,1.0\noneroster.version,1.1\nfile.users,bulk\n"


def family_bundle(*rows: tuple[str, str, str]) -> bytes:
    """A OneRoster 1.1 bundle of family users: (sourcedId, role, agentSourcedIds)."""
    lines = [
        f'{sid},,,true,255901001,{role},{role}.{sid},,Sample,Family,,,,,,"{agents}",,'
        for sid, role, agents in rows
    ]
    return zip_files({"manifest.csv": MANIFEST, "users.csv": USERS_11 + "\n".join(lines) + "\n"})


def oneroster_family(rt: Runtime, person: str, role: str, students: str = LISA_ID) -> None:
    summary = ingest_oneroster(rt, source_org=DISTRICT, path_or_bytes=family_bundle((person, role, students)))
    assert summary.outcome["rejected"] == 0, summary.outcome


def administrator(rt: Runtime, person: str, relationship: str, student: str = LISA) -> None:
    link_guardian(
        rt, student_ref=student, system=CONTACTS, value=person, relationship=relationship, by="t-admin"
    )


LINKS: dict[str, Callable[[Runtime], None]] = {
    "none": lambda rt: None,
    "edfi mother 777822": lambda rt: contact_association(rt, "777822", "Mother"),
    "oneroster guardian 777830": lambda rt: oneroster_family(rt, "777830", "guardian"),
    "administrator father 777840": lambda rt: administrator(rt, "777840", "FTH"),
    "administrator guardian 777850": lambda rt: administrator(rt, "777850", "GUARD"),
    "edfi mother 777822 of marcus": lambda rt: contact_association(rt, "777822", "Mother", MARCUS_ID),
}


# -- the consent's signer ---------------------------------------------------------------


def related_person(person: str | None, *codes: str) -> dict[str, Any]:
    found: dict[str, Any] = {
        "resourceType": "RelatedPerson",
        "id": "signer",
        "patient": {"identifier": {"system": DISTRICT_IDS, "value": LISA_ID}},
    }
    if person is not None:
        found["identifier"] = [{"system": CONTACTS, "value": person}]
    if codes:
        found["relationship"] = [{"coding": [{"system": ROLE_CODE, "code": code} for code in codes]}]
    return found


def signed_by(performer: dict[str, Any], contained: list[dict[str, Any]] | None = None, **more: Any) -> dict:
    """The sample clinic consent (Lisa's screenings to the district), signed by ``performer``."""
    document = json.loads(SAMPLE.read_text("utf-8"))
    document.pop("contained", None)
    document = {**document, "id": "consent-signer", "performer": [performer], **more}
    if contained:
        document["contained"] = contained
    return document


def by_related(person: str | None, *codes: str) -> dict:
    return signed_by({"reference": "#signer"}, [related_person(person, *codes)])


PATIENT = {"reference": "Patient/rh-55810"}
SUBSTANCE_USE = [{"system": "https://success-plan-gateway.org/data-categories", "code": "substance-use"}]


def of_age() -> dict:
    # Lisa (born 2010-03-14) signs herself two weeks after her 18th birthday.
    document = signed_by(PATIENT, dateTime="2028-03-28T10:00:00Z")
    document["provision"] = {**document["provision"], "period": {"start": "2028-03-28", "end": "2030-06-30"}}
    return document


def part2_alone() -> dict:
    document = signed_by(PATIENT)
    document["provision"] = {**document["provision"], "class": SUBSTANCE_USE}
    return document


NOT_LINKED = "spgw students guardians link"
SIGNERS = [
    # (id, link made first, the consent, clock day, refused with or None)
    pytest.param("none", of_age, dt.date(2028, 4, 2), None, id="student of age"),
    pytest.param("none", lambda: signed_by(PATIENT), None, "under 18", id="student under 18, ordinary data"),
    pytest.param("none", part2_alone, None, None, id="Part 2: the minor alone"),
    pytest.param(
        "edfi mother 777822", lambda: by_related("777822", "MTH"), None, None, id="mother linked by Ed-Fi"
    ),
    pytest.param(
        "oneroster guardian 777830",
        lambda: by_related("777830", "GUARD"),
        None,
        None,
        id="guardian linked by OneRoster",
    ),
    pytest.param(
        "administrator father 777840",
        lambda: by_related("777840", "FTH"),
        None,
        None,
        id="father linked by administrator",
    ),
    pytest.param(
        "edfi mother 777822",
        lambda: signed_by({"type": "RelatedPerson", "identifier": {"system": CONTACTS, "value": "777822"}}),
        None,
        None,
        id="named by identifier only: the link's relationship stands",
    ),
    pytest.param(
        "administrator guardian 777850",
        lambda: by_related("777850", "GRMTH"),
        None,
        "GRMTH gives no authority",
        id="grandmother (linked as guardian, signs as grandmother)",
    ),
    pytest.param("none", lambda: by_related("777822", "MTH"), None, NOT_LINKED, id="parent not linked"),
    pytest.param(
        "edfi mother 777822",
        lambda: by_related("777822"),
        None,
        "states no relationship",
        id="no relationship",
    ),
    pytest.param(
        "edfi mother 777822", lambda: by_related(None, "MTH"), None, "no identifier", id="no identifier"
    ),
    pytest.param(
        "edfi mother 777822", lambda: by_related("777822", "XYZ"), None, "not in crosswalk", id="unknown code"
    ),
    pytest.param(
        "edfi mother 777822 of marcus",
        lambda: by_related("777822", "MTH"),
        None,
        NOT_LINKED,
        id="link for another student",
    ),
    pytest.param(
        "none",
        lambda: signed_by({"reference": "RelatedPerson/parent-604822"}),
        None,
        "contained (#id)",
        id="a RelatedPerson that cannot be read",
    ),
    pytest.param(
        "edfi mother 777822",
        lambda: by_related("777822", "MTH") | {"extension": [_claim("student")]},
        None,
        "signer-role extension",
        id="extension disagrees with the performer",
    ),
    pytest.param(
        "none",
        lambda: signed_by(PATIENT, extension=[_claim("parent")]),
        None,
        "signer-role extension",
        id="extension claims a parent for a Patient",
    ),
]


def _claim(role: str) -> dict[str, str]:
    return {"url": "https://success-plan-gateway.org/fhir/StructureDefinition/signer-role", "valueCode": role}


@pytest.mark.parametrize(("link", "document", "day", "refused"), SIGNERS)
def test_signer_authority(
    lisa: Runtime,
    clock: Clock,
    link: str,
    document: Callable[[], dict],
    day: dt.date | None,
    refused: str | None,
) -> None:
    LINKS[link](lisa)
    # Only the case's consent speaks: the sample one (signed by Lisa's mother) is revoked.
    consents.revoke_consent(lisa, "consent-0001-riverside-to-gbisd", at=clock.now, by=CLINIC)
    if day is not None:
        clock.now = dt.datetime.combine(day, dt.time(12), tzinfo=dt.UTC)
    if refused is not None:
        with pytest.raises(InputInvalid) as caught:
            consents.import_consent(lisa, document(), recorded_by=CLINIC)
        assert [(i.path, refused in i.message) for i in caught.value.issues] == [("Consent.performer", True)]
        return
    doc = document()
    consents.import_consent(lisa, doc, recorded_by=CLINIC)
    request = SCREENING
    if doc["provision"]["class"] == SUBSTANCE_USE:
        request = {**SCREENING, "categories": ["substance-use"], "regimes": ["42CFRPart2"]}
        _let_district_receive_substance_use(lisa)
    answer = explain(lisa, **request)
    assert (answer["effect"], answer["basis"]) == ("permit", ["consent:consent-signer"]), answer["reasons"]


def _let_district_receive_substance_use(rt: Runtime) -> None:
    document = yaml.safe_load(
        (PROJECT_ROOT / "consent_policies/samples/agreements/gbisd-riverside-2026.yaml").read_text("utf-8")
    )
    document["schedule"][0]["receives"].append("substance-use")
    agree(rt, document, by=CLINIC)


# -- at decisions: a consent stored before its link counts once the link exists ----------


def test_the_sample_consent_counts_only_once_the_mother_is_linked(lisa: Runtime) -> None:
    # The demo world stored the sample consents before Lisa was known; her mother signed them.
    answer = explain(lisa, **SCREENING)
    assert answer["effect"] == "deny"
    assert any(NOT_LINKED in reason for reason in answer["reasons"]), answer["reasons"]
    send_demo(lisa, "08")  # the district's contact association: Lisa's mother, Mother
    assert explain(lisa, **SCREENING)["effect"] == "permit"


def test_a_deleted_association_takes_the_authority_with_it(lisa: Runtime) -> None:
    send_demo(lisa, "08")
    assert explain(lisa, **SCREENING)["effect"] == "permit"
    retract_records(
        lisa,
        source_org=DISTRICT,
        entity="studentContactAssociations",
        source_ids=["777822|604822"],
        reason="t",
    )
    assert (explain(lisa, **SCREENING)["effect"], list_guardians(lisa, LISA)) == ("deny", [])


EDFI_RELATIONS = [
    # (relation, legalGuardian, authority linked or None)
    ("Mother", None, "parent"),
    ("Father", False, "parent"),
    ("Parent", None, "parent"),
    ("CourtAppointedGuardian", None, "guardian"),
    ("Grandmother", True, "guardian"),
    ("Grandmother", None, None),
    ("Father, step", None, None),
    ("Foster parent", False, None),
    ("Friend", None, None),
]


@pytest.mark.parametrize(("relation", "legal", "authority"), EDFI_RELATIONS)
def test_which_ed_fi_relations_link(
    lisa: Runtime, relation: str, legal: bool | None, authority: str | None
) -> None:
    extra = {} if legal is None else {"legalGuardian": legal}
    contact_association(lisa, "777860", relation, **extra)
    assert [link.authority for link in list_guardians(lisa, LISA)] == ([authority] if authority else [])


def test_a_changed_association_replaces_its_link(lisa: Runtime) -> None:
    contact_association(lisa, "777860", "Grandmother", legalGuardian=True)
    contact_association(lisa, "777860", "Grandmother", legalGuardian=False)
    assert list_guardians(lisa, LISA) == []


def test_a_oneroster_family_user_links_each_named_student_and_loses_what_it_stops_naming(
    lisa: Runtime,
) -> None:
    ingest_oneroster(
        lisa, source_org=DISTRICT, path_or_bytes=family_bundle(("777870", "parent", f"{LISA_ID},{MARCUS_ID}"))
    )
    marcus = f"{DISTRICT_IDS}|{MARCUS_ID}"
    assert [len(list_guardians(lisa, s)) for s in (LISA, marcus)] == [1, 1]
    ingest_oneroster(lisa, source_org=DISTRICT, path_or_bytes=family_bundle(("777870", "parent", MARCUS_ID)))
    assert [len(list_guardians(lisa, s)) for s in (LISA, marcus)] == [0, 1]
    ingest_oneroster(
        lisa, source_org=DISTRICT, path_or_bytes=family_bundle(("777871", "relative", MARCUS_ID))
    )
    assert [len(list_guardians(lisa, s)) for s in (LISA, marcus)] == [0, 0]  # absent from the bulk file


# -- the administrator --------------------------------------------------------------------


def test_an_administrator_link_is_audited_with_ids_and_codes_only(lisa: Runtime) -> None:
    administrator(lisa, "777840", "FTH")
    administrator(lisa, "777840", "FTH")  # the same link again changes nothing
    with lisa.engine.connect() as connection:
        rows = connection.execute(text("SELECT details FROM audit_entries WHERE kind = 'guardian.linked'"))
        details = [r[0] if isinstance(r[0], dict) else json.loads(r[0]) for r in rows]
    assert len(details) == 1
    assert (details[0]["relationship"], details[0]["authority"], details[0]["source"]) == (
        "FTH",
        "parent",
        "administrator",
    )
    assert "777840" not in json.dumps(details)
    assert count_rows(lisa, "guardian_links") == 1


@pytest.mark.parametrize(
    ("changes", "error", "named"),
    [
        pytest.param({"relationship": "GRMTH"}, InputInvalid, "relationship", id="a grandmother"),
        pytest.param({"relationship": "nonsense"}, InputInvalid, "relationship", id="not a RoleCode"),
        pytest.param({"value": " "}, InputInvalid, "value", id="no identifier"),
        pytest.param({"student_ref": f"{DISTRICT_IDS}|999999"}, NotFound, None, id="unknown student"),
    ],
)
def test_an_administrator_link_needs_a_parent_or_guardian_and_a_known_student(
    lisa: Runtime, changes: dict[str, str], error: type[Exception], named: str | None
) -> None:
    terms = {
        "student_ref": LISA,
        "system": CONTACTS,
        "value": "777840",
        "relationship": "MTH",
        "by": "t-admin",
    }
    with pytest.raises(error) as caught:
        link_guardian(lisa, **{**terms, **changes})
    if named is not None:
        assert named in [i.path for i in caught.value.issues]  # type: ignore[attr-defined]


def test_cli_links_and_lists(lisa: Runtime, database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_DATABASE_URL", database_url)

    def spgw(*args: str) -> tuple[int, str]:
        result = CliRunner().invoke(main, ["--home", str(lisa.settings.home), *args])
        return result.exit_code, result.output

    code, output = spgw(
        "students", "guardians", "link", LISA, "--system", CONTACTS, "--value", "777840",
        "--relationship", "GUARD", "--by", "t-admin", "--json",
    )  # fmt: skip
    assert (code, json.loads(output)["authority"]) == (0, "guardian"), output
    code, output = spgw("students", "guardians", "list", LISA)
    assert (code, "guardian (GUARD)" in output, "administrator t-admin" in output) == (0, True, True)
    code, output = spgw(
        "students", "guardians", "link", LISA, "--system", CONTACTS, "--value", "777841",
        "--relationship", "FRND", "--by", "t-admin",
    )  # fmt: skip
    assert (code != 0, "relationship" in output) == (True, True)


def test_a_recorded_consent_names_the_parent_it_needs(lisa: Runtime) -> None:
    terms: dict[str, Any] = {
        "student_ref": LISA,
        "grantor": DISTRICT,
        "recipients": ["northside-food-bank"],
        "categories": ["identity"],
        "purposes": ["referral-fulfillment"],
        "signer_role": "parent",
        "signed_at": dt.date(2026, 11, 1),
        "expires": dt.date(2027, 10, 31),
        "recorded_by": DISTRICT,
    }
    with pytest.raises(InputInvalid) as caught:
        consents.record_consent(lisa, **terms)
    assert [i.path for i in caught.value.issues] == ["signerIdentifier"]
    administrator(lisa, "777840", "FTH")
    summary = consents.record_consent(lisa, **terms, signer_identifier=(CONTACTS, "777840"))
    document = consents.export_consent(lisa, summary.id)
    assert document["contained"][0]["relationship"][0]["coding"][0]["code"] == "PRN"


@pytest.mark.parametrize(
    ("data_models", "asked"),
    [
        pytest.param((("Ed-Fi", "5.0.0"),), ["studentContactAssociations"], id="DS 5: contacts"),
        pytest.param((("Ed-Fi", "4.0.0"),), ["studentParentAssociations"], id="DS 4: parents"),
        pytest.param(
            (("TPDM", "1.1.0"),), ["studentContactAssociations", "studentParentAssociations"], id="unknown"
        ),
    ],
)
def test_a_default_ed_fi_pull_asks_for_the_family_resource_of_the_servers_data_standard(
    data_models: tuple[tuple[str, str], ...], asked: list[str]
) -> None:
    names = ["students", "studentContactAssociations", "studentParentAssociations"]
    assert offered_by(names, data_models) == ["students", *asked]


# -- OneRoster family users as records ------------------------------------------------------


def _entities(payload: bytes) -> list[tuple[str, str, str]]:
    _, items = read_bundle(payload)
    return [
        (item.entity, item.data.get("role", ""), item.data.get("_agentSourcedId", ""))
        for item in items
        if isinstance(item, SourceRecord)
    ]


def test_a_1_1_family_user_is_one_record_per_student_and_one_naming_none_is_not_family() -> None:
    payload = family_bundle(("777001", "parent", "604822,604834"), ("777002", "relative", "604822"))
    payload_none = family_bundle(("777003", "guardian", ""))
    assert _entities(payload) == [
        ("family-users", "parent", "604822"),
        ("family-users", "parent", "604834"),
        ("family-users", "relative", "604822"),
    ]
    assert _entities(payload_none) == [("nonstudent-users", "guardian", "")]


def test_a_1_2_family_role_comes_from_roles_csv() -> None:
    folder = PROJECT_ROOT / "tests" / "fixtures" / "oneroster" / "v1p2-delta"
    files = {p.name: p.read_text("utf-8") for p in folder.glob("*.csv")}
    files["users.csv"] += "777001,active,2025-10-01T08:00:00Z,true,g1,,Gi,Guardian,,,,,,900001,,,,,,,s-1,\n"
    files["roles.csv"] += "ro-9,active,2025-10-01T08:00:00Z,777001,primary,guardian,,,s-1,\n"
    assert ("family-users", "guardian", "900001") in _entities(zip_files(files))
