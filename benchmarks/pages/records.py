"""Five years of one student's records, as the district and the clinic would send them.

The student is the demo world's Lisa (district id 604822, clinic patient rh-55810): the demo
exchanges make her, link her mother and carry the consent that lets the district's coordinator
see the clinic's screenings, so every page has something of every kind to show. On top of that,
for the school years 2022-23 .. 2026-27 (August 2022 to the benchmark's fixed day in November 2026):

- the district (Ed-Fi JSON): an attendance event for every school day (about 180 a year, mostly
  "In Attendance"), six courses graded each of four grading periods, four assessments a year;
- the clinic (FHIR R4 JSON bundles): Hunger Vital Sign, housing and transportation screenings
  each autumn and spring, a goal and two completed services (referral outcomes) a year.

Seeded ``random.Random``: the same seed gives the same bytes.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from benchmarks.generate import CATEGORIES

DISTRICT, CLINIC = "grand-bend-isd", "riverside-health"
STUDENT, PATIENT = "604822", "rh-55810"
SCHOOL = 255901001
FIRST_YEAR = 2022  # the school year that starts in August 2022 (Ed-Fi schoolYear 2023)
YEARS = 5
LAST_DAY = dt.date(2026, 11, 20)  # the last school day before the benchmark's fixed clock
SEED = 20261123
COURSES = ("ALG-1", "ENG-9", "BIO-1", "HIST-US", "ART-2", "PE-1")
PERIODS = ("First Nine Weeks", "Second Nine Weeks", "Third Nine Weeks", "Fourth Nine Weeks")
GRADE_LEVELS = ("Eighth grade", "Ninth grade", "Tenth grade", "Eleventh grade", "Twelfth grade")
SDOHCC = "http://hl7.org/fhir/us/sdoh-clinicalcare/CodeSystem/SDOHCC-CodeSystemTemporaryCodes"
US_CORE = "http://hl7.org/fhir/us/core/CodeSystem/us-core-category"
SNOMED = "http://snomed.info/sct"
# (LOINC question, category, an answer at risk, an answer not at risk)
SCREENINGS = (
    ("88124-3", "food-insecurity", "LA19952-3", "LA19983-8"),
    ("71802-3", "housing-instability", "LA31994-9", "LA31993-1"),
    ("93030-5", "transportation-insecurity", "LA33-6", "LA32-8"),
)
SERVICES = (
    ("food-insecurity", "467771000124109", "Assistance with application for food pantry program"),
    ("housing-instability", "385767005", "Housing assistance"),
    ("transportation-insecurity", "1255688001", "Transportation assistance"),
)


@dataclass(frozen=True, kw_only=True)
class Payload:
    source: str
    format: str
    entity: str
    records: int
    body: bytes


def payloads(seed: int = SEED) -> list[Payload]:
    """Everything to ingest after the demo exchanges, in order."""
    rng = random.Random(seed)
    district = [
        _edfi("studentSchoolAttendanceEvents", attendance(rng)),
        _edfi("grades", grades(rng)),
        _edfi("studentAssessments", assessments(rng)),
    ]
    clinic = [
        _fhir("screening", screenings(rng)),
        _fhir("goal", goals()),
        _fhir("procedure", services(rng)),
    ]
    return district + clinic


def _edfi(entity: str, records: list[dict[str, Any]]) -> Payload:
    body = json.dumps(records, separators=(",", ":")).encode()
    return Payload(source=DISTRICT, format="edfi-json", entity=entity, records=len(records), body=body)


def _fhir(entity: str, resources: list[dict[str, Any]]) -> Payload:
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in resources]}
    body = json.dumps(bundle, separators=(",", ":")).encode()
    return Payload(source=CLINIC, format="fhir-json", entity=entity, records=len(resources), body=body)


def school_years() -> Iterator[tuple[int, dt.date, dt.date]]:
    """(Ed-Fi schoolYear, first day, last day) of each year, the last one cut at LAST_DAY."""
    for k in range(YEARS):
        start = FIRST_YEAR + k
        first, last = dt.date(start, 8, 22), min(dt.date(start + 1, 5, 29), LAST_DAY)
        if first <= LAST_DAY:
            yield start + 1, first, last


def _weekdays(first: dt.date, last: dt.date) -> Iterator[dt.date]:
    day = first
    while day <= last:
        if day.weekday() < 5:
            yield day
        day += dt.timedelta(days=1)


def attendance(rng: random.Random) -> list[dict[str, Any]]:
    descriptors, weights = [c[0] for c in CATEGORIES], [c[1] for c in CATEGORIES]
    reasons = {c[0]: c[2] for c in CATEGORIES}
    found = []
    for _, first, last in school_years():
        for day in _weekdays(first, last):
            descriptor = rng.choices(descriptors, weights)[0]
            doc: dict[str, Any] = {
                "studentReference": {"studentUniqueId": STUDENT},
                "schoolReference": {"schoolId": SCHOOL},
                "eventDate": day.isoformat(),
                "attendanceEventCategoryDescriptor": descriptor,
            }
            reason = rng.choice(reasons[descriptor]) if reasons[descriptor] else ""
            if reason:
                doc["attendanceEventReason"] = reason
            found.append(doc)
    return found


def _letter(score: float) -> str:
    return "A" if score >= 90 else "B" if score >= 80 else "C" if score >= 70 else "D" if score >= 60 else "F"


def grades(rng: random.Random) -> list[dict[str, Any]]:
    found = []
    for year, first, last in school_years():
        session = f"{year - 1}-{year} School Year"
        span = (last - first) / len(PERIODS)
        for course in COURSES:
            section = f"{SCHOOL}{year}{course}"
            for k, period in enumerate(PERIODS):
                as_of = first + span * (k + 1)
                if as_of > last:
                    break
                score = round(rng.uniform(55, 99), 1)
                found.append(
                    {
                        "gradingPeriodReference": {
                            "gradingPeriodDescriptor": f"uri://ed-fi.org/GradingPeriodDescriptor#{period}",
                            "gradingPeriodName": f"{year - 1}-{year} {period}",
                            "schoolId": SCHOOL,
                            "schoolYear": year,
                        },
                        "studentSectionAssociationReference": {
                            "beginDate": first.isoformat(),
                            "localCourseCode": course,
                            "schoolId": SCHOOL,
                            "schoolYear": year,
                            "sectionIdentifier": section,
                            "sessionName": session,
                            "studentUniqueId": STUDENT,
                        },
                        "gradeTypeDescriptor": "uri://ed-fi.org/GradeTypeDescriptor#Grading Period",
                        "numericGradeEarned": score,
                        "letterGradeEarned": _letter(score),
                        "currentGradeAsOfDate": as_of.isoformat(),
                    }
                )
    return found


PERFORMANCE = ("Advanced", "Proficient", "Basic", "Below Basic")


def assessments(rng: random.Random) -> list[dict[str, Any]]:
    found = []
    for k, (year, first, last) in enumerate(school_years()):
        for n, subject in enumerate(("Reading", "Mathematics", "Science", "Writing")):
            day = first + dt.timedelta(days=30 + 45 * n)
            if day > last:
                continue
            found.append(
                {
                    "studentReference": {"studentUniqueId": STUDENT},
                    "reportedSchoolReference": {"schoolId": SCHOOL},
                    "assessmentReference": {
                        "assessmentIdentifier": f"STATE-{subject.upper()}-{year}",
                        "namespace": "uri://grandbend.example.org/Assessment",
                    },
                    "schoolYearTypeReference": {"schoolYear": year},
                    "studentAssessmentIdentifier": f"{STUDENT}-{year}-{subject}",
                    "administrationDate": f"{day.isoformat()}T15:00:00Z",
                    "whenAssessedGradeLevelDescriptor": f"uri://ed-fi.org/GradeLevelDescriptor#{GRADE_LEVELS[k]}",
                    "scoreResults": [
                        {
                            "assessmentReportingMethodDescriptor": (
                                "uri://ed-fi.org/AssessmentReportingMethodDescriptor#Scale score"
                            ),
                            "result": str(rng.randrange(1400, 1900)),
                            "resultDatatypeTypeDescriptor": "uri://ed-fi.org/ResultDatatypeTypeDescriptor#Integer",
                        }
                    ],
                    "performanceLevels": [
                        {
                            "assessmentReportingMethodDescriptor": (
                                "uri://ed-fi.org/AssessmentReportingMethodDescriptor#Proficiency level"
                            ),
                            "performanceLevelDescriptor": (
                                f"uri://ed-fi.org/PerformanceLevelDescriptor#{rng.choice(PERFORMANCE)}"
                            ),
                            "performanceLevelIndicatorName": subject,
                        }
                    ],
                    "studentObjectiveAssessments": [],
                }
            )
    return found


def _screening_days() -> Iterator[dt.date]:
    for _, first, last in school_years():
        for day in (first + dt.timedelta(days=25), first + dt.timedelta(days=200)):
            if day <= last:
                yield day


def screenings(rng: random.Random) -> list[dict[str, Any]]:
    found = []
    for day in _screening_days():
        for question, category, risk, no_risk in SCREENINGS:
            answer = risk if rng.random() < 0.3 else no_risk
            found.append(
                {
                    "resourceType": "Observation",
                    "id": f"bench-{question}-{day.isoformat()}",
                    "status": "final",
                    "category": [
                        {
                            "coding": [
                                {
                                    "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                    "code": "survey",
                                }
                            ]
                        },
                        {"coding": [{"system": US_CORE, "code": "sdoh"}]},
                        {"coding": [{"system": SDOHCC, "code": category}]},
                    ],
                    "code": {"coding": [{"system": "http://loinc.org", "code": question}]},
                    "subject": {"reference": f"Patient/{PATIENT}"},
                    "effectiveDateTime": f"{day.isoformat()}T15:20:00Z",
                    "valueCodeableConcept": {"coding": [{"system": "http://loinc.org", "code": answer}]},
                }
            )
    return found


def goals() -> list[dict[str, Any]]:
    found = []
    for year, first, _ in school_years():
        found.append(
            {
                "resourceType": "Goal",
                "id": f"bench-goal-{year}",
                "lifecycleStatus": "completed" if year < FIRST_YEAR + YEARS else "active",
                "category": [{"coding": [{"system": SDOHCC, "code": "food-insecurity"}]}],
                "description": {
                    "coding": [{"system": SNOMED, "code": "1078229009", "display": "Food security"}],
                    "text": "Enough food every week",
                },
                "subject": {"reference": f"Patient/{PATIENT}"},
                "startDate": (first + dt.timedelta(days=30)).isoformat(),
            }
        )
    return found


def services(rng: random.Random) -> list[dict[str, Any]]:
    found = []
    for year, first, _ in school_years():
        for n in range(2):
            category, code, display = rng.choice(SERVICES)
            day = first + dt.timedelta(days=40 + 90 * n)
            found.append(
                {
                    "resourceType": "Procedure",
                    "id": f"bench-service-{year}-{n}",
                    "status": "completed",
                    "category": {"coding": [{"system": SDOHCC, "code": category}]},
                    "code": {"coding": [{"system": SNOMED, "code": code, "display": display}]},
                    "subject": {"reference": f"Patient/{PATIENT}"},
                    "performedDateTime": day.isoformat(),
                    "outcome": {"text": "Service received"},
                }
            )
    return found
