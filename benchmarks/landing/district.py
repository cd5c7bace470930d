"""A district-year, generated deterministically: the ``bench-large`` workload.

Usage: python -m benchmarks.landing.district [--scale S]   (writes the workload, prints its manifest)

At scale 1 (one tenth of Louisville): 10,000 students, and for each of them one enrolment, 150
school days of attendance (day-major, as a daily feed delivers them), 12 course grades (6 courses,
2 grading periods) and 4 assessments (2 tests, fall and spring, with score and performance
levels); the clinic screens one student in ten (a linked Patient and 9 Gravity Observations,
``benchmarks.landing.fhir_workload``). About 1.69 M records. ``--scale 0.05`` is 500 students.
Ed-Fi files hold 5,000 records each (as ``benchmarks.generate``); ``random.Random`` is seeded and
no clock is read, so a scale always gives the same bytes (``manifest.json`` keeps their sha256).
Records are written as they are generated: the generator never holds the year in memory.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from itertools import islice
from pathlib import Path
from typing import Any

from benchmarks.generate import (
    CATEGORIES,
    FIRST_DAY,
    RECORDS_PER_FILE,
    associations,
    school_days,
    school_of,
    student_id,
    students,
)
from benchmarks.landing import fhir_workload

OUT = Path(__file__).resolve().parent.parent / "out"
SEED = 20261207
VERSION = 1
STUDENTS_AT_SCALE_1 = 10_000
SCHOOL_DAYS = 150
COURSES = ("ALG-1", "ENG-9", "BIO-1", "HIST-9", "SPAN-1", "ART-1")
PERIODS = (("First Six Weeks", "2025-10-01"), ("Second Six Weeks", "2025-11-14"))
ASSESSMENTS = (
    ("uri://district.example.org/Assessment", "READING-MAP"),
    ("uri://district.example.org/Assessment", "MATH-MAP"),
)
WINDOWS = ("2025-09-15T15:00:00Z", "2026-01-20T15:00:00Z")
LEVELS = ("Advanced", "Proficient", "Basic", "Below Basic")
SCREENED_EVERY = 10  # the clinic screens one student in ten
GRADE_TYPE = "uri://ed-fi.org/GradeTypeDescriptor#Grading Period"
METHOD = "uri://ed-fi.org/AssessmentReportingMethodDescriptor#"


@dataclass(frozen=True, kw_only=True)
class Part:
    path: str
    source: str
    format: str
    entity: str | None
    records: int


@dataclass(frozen=True, kw_only=True)
class District:
    scale: float
    students: int
    patients: int
    records: int
    sha256: str
    parts: tuple[Part, ...]

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> District:
        return cls(**{**doc, "parts": tuple(Part(**p) for p in doc["parts"])})


def folder_for(scale: float) -> Path:
    return OUT / f"district-{scale:g}"


def attendance(count: int, rng: random.Random) -> Iterator[dict[str, Any]]:
    descriptors = [c[0] for c in CATEGORIES]
    weights = [c[1] for c in CATEGORIES]
    days = school_days(FIRST_DAY)
    for _ in range(SCHOOL_DAYS):
        day = next(days).isoformat()
        for n in range(1, count + 1):
            yield {
                "studentReference": {"studentUniqueId": student_id(n)},
                "schoolReference": {"schoolId": school_of(n)},
                "eventDate": day,
                "attendanceEventCategoryDescriptor": rng.choices(descriptors, weights)[0],
            }


def grades(count: int, rng: random.Random) -> Iterator[dict[str, Any]]:
    for period, as_of in PERIODS:
        for n in range(1, count + 1):
            for course in COURSES:
                school = school_of(n)
                yield {
                    "studentSectionAssociationReference": {
                        "beginDate": FIRST_DAY.isoformat(),
                        "localCourseCode": course,
                        "schoolId": school,
                        "schoolYear": 2026,
                        "sectionIdentifier": f"{school}-{course}-{n % 7}",
                        "sessionName": "2025-2026 Fall Semester",
                        "studentUniqueId": student_id(n),
                    },
                    "gradingPeriodReference": {
                        "gradingPeriodDescriptor": f"uri://ed-fi.org/GradingPeriodDescriptor#{period}",
                        "gradingPeriodName": f"2025-2026 {period}",
                        "schoolId": school,
                        "schoolYear": 2026,
                    },
                    "gradeTypeDescriptor": GRADE_TYPE,
                    "numericGradeEarned": float(min(100, max(40, round(rng.gauss(82, 10))))),
                    "currentGradeAsOfDate": as_of,
                }


def assessments(count: int, rng: random.Random) -> Iterator[dict[str, Any]]:
    for window, administered in enumerate(WINDOWS):
        for n in range(1, count + 1):
            for namespace, test in ASSESSMENTS:
                level = rng.choices(LEVELS, (15, 45, 28, 12))[0]
                yield {
                    "studentReference": {"studentUniqueId": student_id(n)},
                    "reportedSchoolReference": {"schoolId": school_of(n)},
                    "assessmentReference": {"assessmentIdentifier": test, "namespace": namespace},
                    "schoolYearTypeReference": {"schoolYear": 2026},
                    "studentAssessmentIdentifier": f"{test}-{window}-{student_id(n)}",
                    "administrationDate": administered,
                    "scoreResults": [
                        {
                            "assessmentReportingMethodDescriptor": METHOD + "Scale score",
                            "result": str(rng.randrange(150, 260)),
                            "resultDatatypeTypeDescriptor": "uri://ed-fi.org/ResultDatatypeTypeDescriptor#Integer",
                        }
                    ],
                    "performanceLevels": [
                        {
                            "assessmentReportingMethodDescriptor": METHOD + "Proficiency level",
                            "performanceLevelDescriptor": f"uri://ed-fi.org/PerformanceLevelDescriptor#{level}",
                        }
                    ],
                }


def _write_json_parts(
    folder: Path, order: int, entity: str, records: Iterator[dict[str, Any]], hasher: Any
) -> list[Part]:
    parts = []
    number = 0
    while chunk := list(islice(records, RECORDS_PER_FILE)):
        number += 1
        name = f"{order:02d}-{number:04d}.edfi-json.{entity}.json"
        lines = ",\n".join(json.dumps(r, separators=(",", ":")) for r in chunk)
        data = f"[\n{lines}\n]\n".encode()
        (folder / name).write_bytes(data)
        hasher.update(data)
        parts.append(
            Part(path=name, source="grand-bend-isd", format="edfi-json", entity=entity, records=len(chunk))
        )
    return parts


def _screened(count: int) -> list[int]:
    return list(range(1, count + 1, SCREENED_EVERY))


def _write_fhir(folder: Path, screened: list[int], hasher: Any) -> Part:
    """The clinic's export: every screened student's Patient, then their Observations."""
    t = fhir_workload._Templates()
    rng = random.Random(SEED)
    name = "90-riverside-health.fhir-ndjson"
    count = 0
    with (folder / name).open("wb") as out:
        docs = [fhir_workload.patient(t, n, rng) for n in screened]
        for n in screened:
            docs.extend(fhir_workload.observations(t, n, rng))
        for doc in docs:
            line = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"
            out.write(line)
            hasher.update(line)
            count += 1
    return Part(path=name, source="riverside-health", format="fhir-ndjson", entity=None, records=count)


def generate(scale: float) -> District:
    count = max(1, round(STUDENTS_AT_SCALE_1 * scale))
    folder = folder_for(scale)
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*"):
        stale.unlink()
    rng = random.Random(SEED)
    hasher = hashlib.sha256()
    parts: list[Part] = []
    sources = (
        ("students", iter(students(count, rng))),
        ("studentSchoolAssociations", iter(associations(count, rng))),
        ("studentSchoolAttendanceEvents", attendance(count, rng)),
        ("grades", grades(count, rng)),
        ("studentAssessments", assessments(count, rng)),
    )
    for order, (entity, records) in enumerate(sources, start=1):
        parts.extend(_write_json_parts(folder, order, entity, records, hasher))
    screened = _screened(count)
    parts.append(_write_fhir(folder, screened, hasher))
    district = District(
        scale=scale,
        students=count,
        patients=len(screened),
        records=sum(p.records for p in parts),
        sha256=hasher.hexdigest(),
        parts=tuple(parts),
    )
    (folder / "manifest.json").write_text(
        json.dumps({**asdict(district), "version": VERSION}), encoding="utf-8"
    )
    return district


def load(scale: float) -> District | None:
    manifest = folder_for(scale) / "manifest.json"
    if not manifest.exists():
        return None
    doc = json.loads(manifest.read_text("utf-8"))
    if doc.pop("version", None) != VERSION:
        return None
    district = District.from_dict(doc)
    folder = manifest.parent
    return district if all((folder / p.path).is_file() for p in district.parts) else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0)
    args = parser.parse_args(argv)
    district = generate(args.scale)
    print(json.dumps({k: v for k, v in asdict(district).items() if k != "parts"}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
