"""The family's page as a service: codes in plain words (English and Spanish), the child's whole
record for a linked parent (Part 2 and an adult child left out), the same NotFound for any other
child, the family copy of the accounting, and consents granted and withdrawn with the person as
signer and actor, effective at once for the coordinator."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace
from typing import Any

import jsonschema
import pytest
import yaml

from gateway.core.people import FAMILY, GUARDIAN_SYSTEM
from gateway.errors import InputInvalid, NotFound
from gateway.service.policy import consents
from gateway.service.runtime import Runtime
from gateway.service.views import family_view
from gateway.service.views.family_view import Grant
from gateway.service.views.family_words import Words, words_for
from gateway.storage import audit_store, plan_store, student_store
from tests.conftest import PROJECT_ROOT, Clock
from tests.helpers import DISTRICT_IDS, LISA, coordinator_view, send_demo
from tests.pages_helpers import person

CLINIC, DISTRICT, FOOD_BANK = "riverside-health", "grand-bend-isd", "northside-food-bank"
SAMPLE_CONSENT = "consent-0001-riverside-to-gbisd"  # signed by Lisa's mother: screenings to the district
PLAIN = PROJECT_ROOT / "mappings" / "codes" / "plain-language.yaml"
TRANSLATIONS = PROJECT_ROOT / "gateway" / "web" / "translations"
SNOMED, LOINC = "http://snomed.info/sct", "http://loinc.org"
ATTENDANCE = "https://success-plan-gateway.org/codes/attendance"


@pytest.fixture
def lisa(rt: Runtime) -> Runtime:
    """Lisa's school records and attendance, clinic record and food screening, and her mother's
    link (08)."""
    for prefix in ("01", "02", "03", "05", "04", "08"):
        send_demo(rt, prefix)
    return rt


@pytest.fixture
def parent(lisa: Runtime) -> Any:
    return person(lisa, FAMILY, student_refs=[LISA])[0]


def audit_of(rt: Runtime, kind: str) -> list[tuple[str, dict[str, Any]]]:
    with rt.sessions() as session:
        return [(row.actor, dict(row.details)) for row in audit_store.audit_entries(session, kind, 1000, 0)]


# -- codes in words ------------------------------------------------------------------------

CODINGS = [
    # a need: SNOMED CT through the SDOH crosswalks
    (
        {"system": SNOMED, "code": "733423003", "display": "Food insecurity"},
        "en",
        "not always having enough food",
    ),
    ({"system": SNOMED, "code": "733423003"}, "es", "no tener siempre suficiente comida"),
    # a screening answer (LOINC answer list)
    ({"system": LOINC, "code": "LA19952-3", "display": "At risk"}, "en", "at risk"),
    ({"system": LOINC, "code": "LA19952-3", "display": "At risk"}, "es", "en riesgo"),
    # a screening question reads as its SDOH category
    (
        {"system": LOINC, "code": "88124-3", "display": "Food insecurity risk [HVS]"},
        "en",
        "not always having enough food",
    ),
    # an ICD-10 Z code
    ({"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "Z59.0"}, "es", "no tener hogar"),
    # the gateway's attendance rule
    ({"system": ATTENDANCE, "code": "chronic-absence"}, "en", "Missed 1 in 10 school days or more"),
    # unknown to the table: the sender's words
    ({"system": "urn:x", "code": "x1", "display": "Chess club"}, "es", "Chess club"),
    # an Ed-Fi descriptor's code value is words already
    ({"system": "uri://ed-fi.org/GradeLevelDescriptor", "code": "Ninth grade"}, "en", "Ninth grade"),
    # no words at all: nothing, never the code
    ({"system": "urn:x", "code": "x1"}, "en", ""),
]


@pytest.mark.parametrize(("coding", "lang", "words"), CODINGS)
def test_a_code_reads_as_words(rt: Runtime, coding: dict[str, str], lang: str, words: str) -> None:
    assert words_for(rt, lang).coding(coding) == words


# The crosswalks as the category lookup reads them (indexed once per Words): the first entry wins, a
# code matches as text only, a question of any instrument leads to its category.
CROSSWALKS = {
    "sdoh-category-need": {
        "food-insecurity": {"system": SNOMED, "code": "1"},
        "housing-instability": {"system": SNOMED, "code": "1"},
        "transportation-insecurity": {"system": SNOMED, "code": 2},
        "broken": "not a coding",
    },
    "screening-instruments": {
        "first": {"questions": {"q1": {"category": "food-insecurity"}}},
        "second": {"questions": {"q1": {"category": "housing-instability"}, "q2": {"category": "x"}}},
        "broken": "not an instrument",
    },
}


@pytest.mark.parametrize(
    ("coding", "category"),
    [
        ({"system": SNOMED, "code": "1"}, "food-insecurity"),
        ({"system": SNOMED, "code": "2"}, ""),
        ({"system": LOINC, "code": "q1"}, "food-insecurity"),
        ({"system": LOINC, "code": "q2"}, "x"),
        ({"system": LOINC, "code": "q3"}, ""),
        ({"system": "urn:x", "code": "q1"}, ""),
        ({}, ""),
    ],
)
def test_the_sdoh_category_of_a_coding(coding: dict[str, Any], category: str) -> None:
    words = Words(lang="en", codes=CROSSWALKS, organizations={}, schools={})
    assert [words.sdoh_category(coding), words.sdoh_category(coding)] == [category, category]


TERMS = [
    ("domain", "familyBasicNeeds", "es", "Familia y necesidades diarias (comida, vivienda, transporte)"),
    (
        "category",
        "sdoh-screening",
        "en",
        "answers to questions about everyday needs (food, housing, transportation)",
    ),
    ("purpose", "care-coordination", "es", "para coordinar el apoyo a su hijo o hija"),
    ("need-status", "active", "en", "still to be worked on"),
    ("referral-status", "in-progress", "es", "en curso"),
    ("consent-state", "revoked", "es", "retirado"),
    ("role", "case-worker", "en", "a case worker"),
    ("purpose", "no-such-purpose", "en", ""),
    ("domain", "academic", "fr", "School work"),  # a language the table lacks reads in English
]


@pytest.mark.parametrize(("kind", "code", "lang", "words"), TERMS)
def test_a_term_reads_as_words(rt: Runtime, kind: str, code: str, lang: str, words: str) -> None:
    assert words_for(rt, lang).term(kind, code) == words


@pytest.mark.parametrize(
    ("code", "value", "lang", "words"),
    [
        ({"system": ATTENDANCE, "code": "attendance-rate"}, 0.875, "en", "87.5%"),
        ({"system": ATTENDANCE, "code": "attendance-rate"}, 0.875, "es", "87,5\xa0%"),
        ({"system": ATTENDANCE, "code": "chronic-absence"}, True, "es", "sí"),
        ({"system": LOINC, "code": "88124-3"}, {"system": LOINC, "code": "LA19983-8"}, "en", "no risk found"),
        ({"system": "urn:x", "code": "x"}, 3, "en", "3"),
    ],
)
def test_a_value_reads_as_words(rt: Runtime, code: dict[str, str], value: Any, lang: str, words: str) -> None:
    assert words_for(rt, lang).value(code, value) == words


def test_every_plain_language_entry_has_every_shipped_language() -> None:
    shipped = {"en"} | {folder.name for folder in TRANSLATIONS.iterdir() if folder.is_dir()}
    entries = yaml.safe_load(PLAIN.read_text("utf-8"))["entries"]
    missing = [(e["from"], lang) for e in entries for lang in sorted(shipped) if not e["to"].get(lang)]
    assert missing == []


@pytest.mark.parametrize(
    ("entry", "valid"),
    [
        ({"from": "domain:academic", "to": {"en": "School work", "es": "Trabajo escolar"}}, True),
        ({"from": "domain:academic", "to": {"es": "Trabajo escolar"}}, False),  # English always
        ({"from": "academic", "to": {"en": "School work"}}, False),  # KIND:CODE
        ({"from": "domain:academic", "to": {"en": ""}}, False),
        ({"from": "attendance:x", "to": {"en": "x", "value": "ratio"}}, False),
    ],
)
def test_the_plain_language_table_is_checked_by_the_codes_meta_schema(
    entry: dict[str, Any], valid: bool
) -> None:
    schema = json.loads((PROJECT_ROOT / "schemas" / "meta" / "codes.schema.json").read_text("utf-8"))
    document = {"id": "plain-language", "source": "test", "entries": [entry]}
    errors = list(jsonschema.Draft202012Validator(schema).iter_errors(document))
    assert (errors == []) is valid


# -- the child's plan ----------------------------------------------------------------------


def test_a_linked_parent_reads_the_whole_plan_in_words(lisa: Runtime, parent: Any) -> None:
    plan = family_view.read_for_family(lisa, parent, LISA, lang="en")
    assert (plan.name, plan.birth_date, plan.grade) == ("Lisa M Woods", dt.date(2010, 3, 14), "Ninth grade")
    assert plan.school == "Grand Bend ISD"
    needs = {(i.what, i.status, i.source) for s in plan.sections for i in s.items if i.kind == "need"}
    # the clinic's screening too: a family's right of access is not a disclosure under the agreements
    assert needs == {
        ("not always having enough food", "still to be worked on", "Riverside Community Health Center"),
        ("Missed 1 in 10 school days or more", "still to be worked on", "Grand Bend ISD"),
    }
    screening = next(i for s in plan.sections for i in s.items if i.kind == "screening")
    assert (screening.what, screening.value) == ("not always having enough food", "at risk")


BARE_CODES = ["733423003", "LA19952-3", "88124-3", "sdoh-screening", "familyBasicNeeds", "riverside-health"]


@pytest.mark.parametrize("lang", ["en", "es"])
def test_no_bare_code_reaches_the_family(lisa: Runtime, parent: Any, lang: str) -> None:
    plan = family_view.read_for_family(lisa, parent, LISA, lang=lang)
    # A section's domain key is the page's anchor, never its text: leave it out of what is read.
    shown = repr(replace(plan, sections=tuple(replace(s, domain="") for s in plan.sections)))
    assert [code for code in BARE_CODES if code in shown] == []


def test_spanish_words(lisa: Runtime, parent: Any) -> None:
    plan = family_view.read_for_family(lisa, parent, LISA, lang="es")
    titles = [s.title for s in plan.sections]
    assert titles[4] == "Familia y necesidades diarias (comida, vivienda, transporte)"
    assert any(i.what == "no tener siempre suficiente comida" for s in plan.sections for i in s.items)


def test_another_child_and_an_unknown_one_answer_alike(lisa: Runtime, parent: Any) -> None:
    marcus = repo_student(lisa, "604834")
    answers = []
    for ref in (marcus, "stu-aaaaaaaaaaaaaaaaaaaaaaaaaa", f"{DISTRICT_IDS}|604822"):
        with pytest.raises(NotFound) as caught:
            family_view.read_for_family(lisa, parent, ref, lang="en")
        answers.append((caught.value.message, caught.value.issues))
    assert answers[0] == answers[1] == answers[2]


def repo_student(rt: Runtime, value: str) -> str:
    with rt.sessions() as session:
        found = student_store.links_for(session, [(DISTRICT_IDS, value)]).get((DISTRICT_IDS, value))
    assert found, "the demo's students file registers Marcus"
    return found


def test_a_removed_guardian_link_ends_the_access(lisa: Runtime, parent: Any) -> None:
    from sqlalchemy import delete

    from gateway.storage.tables import GuardianLinkRow

    with lisa.sessions.begin() as session:
        session.execute(delete(GuardianLinkRow).where(GuardianLinkRow.person_value == parent.id))
    with pytest.raises(NotFound):
        family_view.read_for_family(lisa, parent, LISA, lang="en")
    assert family_view.children_of(lisa, parent) == ()


def test_part2_records_are_never_shown(lisa: Runtime, parent: Any) -> None:
    with lisa.sessions.begin() as session:
        row = plan_store.get_plan(session, LISA)
        assert row is not None
        document = json.loads(json.dumps(row.document))
        need = json.loads(json.dumps(document["needs"][0]))
        need["id"], need["code"] = (
            "el-part2part2part2part2part2pa",
            {"system": "urn:x", "code": "x", "display": "SUD"},
        )
        need["labels"] = {"regime": "42CFRPart2", "sensitivity": "restricted", "category": "substance-use"}
        document["needs"].append(need)
        row.document = document
    plan = family_view.read_for_family(lisa, parent, LISA, lang="en")
    assert "SUD" not in repr(plan)
    (entry,) = [d for _, d in audit_of(lisa, "plan.read") if d.get("purpose") == "family-access"]
    assert "substance-use" not in entry["categories"]


def test_an_adult_child_s_rights_are_their_own(lisa: Runtime, parent: Any, clock: Clock) -> None:
    clock.now = dt.datetime(2028, 3, 14, 9, 0, tzinfo=dt.UTC)
    plan = family_view.read_for_family(lisa, parent, LISA, lang="en")
    assert (plan.adult, plan.sections, plan.name) == (True, (), "")
    (entry,) = [d for _, d in audit_of(lisa, "plan.read") if d.get("purpose") == "family-access"]
    assert (entry["outcome"], entry["elementsDisclosed"]) == ("eligible-student", 0)


def test_the_read_is_audited_as_family_access_with_ids_only(lisa: Runtime, parent: Any) -> None:
    family_view.read_for_family(lisa, parent, LISA, lang="en")
    (actor, entry), *_ = [
        (a, d) for a, d in audit_of(lisa, "plan.read") if d.get("purpose") == "family-access"
    ]
    assert actor == f"family/{parent.id}"
    assert entry["basis"] == ["ferpa:34 CFR 99.10", "hipaa:45 CFR 164.524"]
    assert "Lisa" not in json.dumps(entry)
    assert "Woods" not in json.dumps(entry)
    disclosed = [d for a, d in audit_of(lisa, "disclosure") if d["purpose"] == "family-access"]
    assert [d["recipient"] for d in disclosed] == ["family"]


def test_the_children_list_names_each_linked_child(lisa: Runtime, parent: Any) -> None:
    assert family_view.children_of(lisa, parent) == (family_view.Child(student_id=LISA, name="Lisa M Woods"),)
    ((actor, entry),) = audit_of(lisa, "family.children")
    assert (actor, entry["students"]) == (f"family/{parent.id}", [LISA])


# -- who saw the record --------------------------------------------------------------------


def test_the_family_copy_lists_only_what_the_law_does_not_exempt(lisa: Runtime, parent: Any) -> None:
    coordinator_view(lisa)  # the district reads: its own records (exempt) and the clinic's (listed)
    family_view.read_for_family(lisa, parent, LISA, lang="en")  # the family's own read (exempt)
    seen = family_view.who_saw(lisa, parent, LISA, lang="en")
    assert [(s.who, s.purpose, s.sources) for s in seen] == [
        (
            "Grand Bend ISD",
            "to coordinate support for your child",
            ("Grand Bend ISD", "Riverside Community Health Center"),
        )
    ]
    assert "answers to questions about everyday needs (food, housing, transportation)" in seen[0].kinds
    reads = [(a, d["query"]) for a, d in audit_of(lisa, "audit.read")]
    assert reads == [(f"family/{parent.id}", {"student": LISA, "family": True})]


def test_the_family_copy_counts_the_repeats_and_never_the_family_s_own_reads(
    lisa: Runtime, parent: Any
) -> None:
    for _ in range(3):
        coordinator_view(lisa)
        family_view.read_for_family(lisa, parent, LISA, lang="en")
    (seen,) = family_view.who_saw(lisa, parent, LISA, lang="es")
    assert (seen.count, seen.who, seen.first == seen.last) == (3, "Grand Bend ISD", True)
    assert seen.purpose == "para coordinar el apoyo a su hijo o hija"


def test_another_child_s_accounting_is_not_found(lisa: Runtime, parent: Any) -> None:
    with pytest.raises(NotFound):
        family_view.who_saw(lisa, parent, repo_student(lisa, "604834"), lang="en")


# -- consents ------------------------------------------------------------------------------


def grant(**changes: Any) -> Grant:
    terms: dict[str, Any] = {
        "grantor": CLINIC,
        "recipient": DISTRICT,
        "categories": ("sdoh-screening",),
        "purpose": "care-coordination",
        "until": dt.date(2027, 6, 30),
        **changes,
    }
    return Grant(**terms)


def test_the_family_sees_the_consents_a_parent_signed(lisa: Runtime, parent: Any) -> None:
    lines = family_view.consents_of(lisa, parent, LISA, lang="es")
    sample = next(line for line in lines if line.id == SAMPLE_CONSENT)
    assert (sample.grantor, sample.recipients, sample.state) == (
        "Riverside Community Health Center",
        ("Grand Bend ISD",),
        "vigente",
    )
    assert (sample.revocable, sample.permit) == (True, True)


def test_grant_then_withdraw_is_effective_at_once_and_audited(lisa: Runtime, parent: Any) -> None:
    assert coordinator_view(lisa).get("needs")
    family_view.withdraw_consent(lisa, parent, LISA, SAMPLE_CONSENT)
    assert not _sees_screening(lisa)

    granted = family_view.grant_consent(lisa, parent, LISA, grant())
    assert (granted.signer_role, granted.state, granted.grantor) == ("parent", "active", CLINIC)
    document = consents.export_consent(lisa, granted.id)
    (signer,) = [p for p in document["contained"] if p["resourceType"] == "RelatedPerson"]
    assert signer["identifier"][0] == {"system": GUARDIAN_SYSTEM, "value": parent.id}
    assert _sees_screening(lisa)

    withdrawn = family_view.withdraw_consent(lisa, parent, LISA, granted.id)
    assert withdrawn.state == "revoked"
    assert not _sees_screening(lisa)
    actors = {(kind, a) for kind in ("consent.recorded", "consent.revoked") for a, _ in audit_of(lisa, kind)}
    assert ("consent.recorded", f"family/{parent.id}") in actors
    assert ("consent.revoked", f"family/{parent.id}") in actors
    revoked = [d for a, d in audit_of(lisa, "consent.revoked") if a == f"family/{parent.id}"]
    assert {d["requestedBy"] for d in revoked} == {"parent"}


def _sees_screening(rt: Runtime) -> bool:
    return any(n["labels"]["category"] == "sdoh-screening" for n in coordinator_view(rt).get("needs", []))


def test_withdrawing_another_child_s_or_an_unknown_consent_is_not_found(lisa: Runtime, parent: Any) -> None:
    with pytest.raises(NotFound):
        family_view.withdraw_consent(lisa, parent, LISA, "consent-nope")
    with pytest.raises(NotFound):
        family_view.withdraw_consent(lisa, parent, repo_student(lisa, "604834"), SAMPLE_CONSENT)


GRANT_PROBLEMS = [
    ({"grantor": "acme"}, ["grantor"]),
    ({"recipient": CLINIC}, ["recipient"]),
    ({"categories": ()}, ["categories"]),
    ({"categories": ("substance-use",)}, ["categories"]),  # the minor's to consent to
    ({"purpose": "research"}, ["purpose"]),
    ({"until": dt.date(2026, 11, 23)}, ["until"]),  # today: not after it
    ({"until": dt.date(2030, 1, 1)}, ["until"]),  # more than three years on
    ({"grantor": "", "purpose": "", "categories": ()}, ["grantor", "categories", "purpose"]),
]


@pytest.mark.parametrize(("changes", "paths"), GRANT_PROBLEMS)
def test_a_grant_names_every_problem(
    lisa: Runtime, parent: Any, changes: dict[str, Any], paths: list[str]
) -> None:
    with pytest.raises(InputInvalid) as caught:
        family_view.grant_consent(lisa, parent, LISA, grant(**changes))
    assert [issue.path for issue in caught.value.issues] == paths


def test_organizations_read_as_their_names(rt: Runtime) -> None:
    words: Words = words_for(rt, "en")
    assert [words.organization(o) for o in (DISTRICT, FOOD_BANK, "acme")] == [
        "Grand Bend ISD",
        "Northside Food Bank",
        "",
    ]
