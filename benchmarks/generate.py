"""Deterministic Ed-Fi JSON workloads for the pipeline benchmark.

For N records the mix is what a district's SIS sends when a school year starts: one ``students``
record and one ``studentSchoolAssociations`` record per student, and the rest
``studentSchoolAttendanceEvents`` (about 30 per student). Attendance events are ordered by date,
then student, as a daily attendance feed delivers them, so every batch touches many plans.

Everything comes from a seeded ``random.Random``: the same N and seed give the same bytes.

Usage: python -m benchmarks.generate SIZE [--seed S] [--out DIR]
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import random
import sys
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
OUT_ROOT = Path(__file__).resolve().parent / "out"
GENERATOR_VERSION = 1
DEFAULT_SEED = 20261123
EVENTS_PER_STUDENT = 30
RECORDS_PER_FILE = 5_000
SOURCE = "grand-bend-isd"
FORMAT = "edfi-json"
ENTITIES = ("students", "studentSchoolAssociations", "studentSchoolAttendanceEvents")
SCHOOLS = (255901001, 255901002, 255901003, 255901004)
FIRST_DAY = dt.date(2025, 8, 20)

_GRADE = "uri://ed-fi.org/GradeLevelDescriptor#"
GRADES = tuple(
    _GRADE + g
    for g in (
        "Sixth grade",
        "Seventh grade",
        "Eighth grade",
        "Ninth grade",
        "Tenth grade",
        "Eleventh grade",
        "Twelfth grade",
    )
)
_ATTENDANCE = "uri://ed-fi.org/AttendanceEventCategoryDescriptor#"
# (descriptor, weight, reasons the SIS may add); the descriptors are those of
# mappings/codes/edfi-attendance-event-category.yaml.
CATEGORIES: tuple[tuple[str, int, tuple[str, ...]], ...] = (
    (_ATTENDANCE + "In Attendance", 70, ()),
    (_ATTENDANCE + "Excused Absence", 10, ("Illness", "Appointment", "Family event")),
    (_ATTENDANCE + "Unexcused Absence", 10, ()),
    (_ATTENDANCE + "Tardy", 7, ("Bus late", "")),
    (_ATTENDANCE + "Early departure", 3, ("Appointment",)),
)
FIRST_NAMES = [
    "Lisa",
    "Marcus",
    "Aiyana",
    "Noah",
    "Sofia",
    "Mateo",
    "Amara",
    "Liam",
    "Priya",
    "Diego",
    "Hana",
    "Elijah",
    "Zara",
    "Omar",
    "Chloe",
    "Kai",
    "Maya",
    "Andre",
    "Leila",
    "Tomas",
    "Nia",
    "Ethan",
    "Yuki",
    "Jonah",
    "Ines",
]
LAST_NAMES = [
    "Woods",
    "Reyes",
    "Castillo",
    "Nguyen",
    "Okafor",
    "Patel",
    "Johnson",
    "Kowalski",
    "Haddad",
    "Silva",
    "Kim",
    "Murphy",
    "Begay",
    "Schmidt",
    "Tanaka",
    "Rossi",
    "Mensah",
    "Ortiz",
    "Larsen",
    "Cohen",
]


@dataclass(frozen=True, kw_only=True)
class Mix:
    students: int
    associations: int
    events: int

    @property
    def total(self) -> int:
        return self.students + self.associations + self.events


@dataclass(frozen=True, kw_only=True)
class WorkloadFile:
    path: str  # relative to the workload folder
    entity: str
    records: int
    bytes: int


@dataclass(frozen=True, kw_only=True)
class Workload:
    records: int
    seed: int
    version: int
    mix: Mix
    files: tuple[WorkloadFile, ...]
    sha256: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> Workload:
        return cls(
            records=doc["records"],
            seed=doc["seed"],
            version=doc["version"],
            mix=Mix(**doc["mix"]),
            files=tuple(WorkloadFile(**f) for f in doc["files"]),
            sha256=doc["sha256"],
        )


def mix_for(total: int) -> Mix:
    """One student and one enrollment per ~32 records; the rest are attendance events."""
    if total < 3:
        raise ValueError("a workload needs at least 3 records (student, enrollment, event)")
    students = max(1, round(total / (EVENTS_PER_STUDENT + 2)))
    return Mix(students=students, associations=students, events=total - 2 * students)


def student_id(number: int) -> str:
    return f"B{number:06d}"


def school_days(first: dt.date) -> Iterator[dt.date]:
    day = first
    while True:
        if day.weekday() < 5:
            yield day
        day += dt.timedelta(days=1)


def students(count: int, rng: random.Random) -> list[dict[str, Any]]:
    found = []
    for n in range(1, count + 1):
        doc: dict[str, Any] = {
            "studentUniqueId": student_id(n),
            "firstName": rng.choice(FIRST_NAMES),
            "lastSurname": rng.choice(LAST_NAMES),
            "birthDate": _birth_date(rng).isoformat(),
        }
        if rng.random() < 0.3:
            doc["middleName"] = rng.choice("ABCDEFGHJKLMNPRST")
        found.append(doc)
    return found


def _birth_date(rng: random.Random) -> dt.date:
    return dt.date(2007, 9, 1) + dt.timedelta(days=rng.randrange(7 * 365))


def school_of(number: int) -> int:
    return SCHOOLS[number % len(SCHOOLS)]


def associations(count: int, rng: random.Random) -> list[dict[str, Any]]:
    return [
        {
            "studentReference": {"studentUniqueId": student_id(n)},
            "schoolReference": {"schoolId": school_of(n)},
            "entryDate": FIRST_DAY.isoformat(),
            "entryGradeLevelDescriptor": rng.choice(GRADES),
        }
        for n in range(1, count + 1)
    ]


def attendance_events(count: int, student_count: int, rng: random.Random) -> list[dict[str, Any]]:
    """Day-major: every student's event for day 1, then day 2, ... (a daily feed)."""
    descriptors = [c[0] for c in CATEGORIES]
    weights = [c[1] for c in CATEGORIES]
    reasons = {c[0]: c[2] for c in CATEGORIES}
    days = school_days(FIRST_DAY)
    found: list[dict[str, Any]] = []
    day = next(days)
    for k in range(count):
        n = k % student_count + 1
        if k and n == 1:
            day = next(days)
        descriptor = rng.choices(descriptors, weights)[0]
        doc: dict[str, Any] = {
            "studentReference": {"studentUniqueId": student_id(n)},
            "schoolReference": {"schoolId": school_of(n)},
            "eventDate": day.isoformat(),
            "attendanceEventCategoryDescriptor": descriptor,
        }
        reason = rng.choice(reasons[descriptor]) if reasons[descriptor] else ""
        if reason:
            doc["attendanceEventReason"] = reason
        found.append(doc)
    return found


def chunks(items: list[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def encode(items: list[dict[str, Any]]) -> bytes:
    # One record a line keeps the files readable and diffable.
    lines = ",\n".join(json.dumps(i, separators=(",", ":")) for i in items)
    return f"[\n{lines}\n]\n".encode()


def workload_dir(total: int, out_root: Path = OUT_ROOT) -> Path:
    return out_root / f"edfi-{total}"


def generate(total: int, out_root: Path = OUT_ROOT, seed: int = DEFAULT_SEED) -> Workload:
    """Write the workload's files and manifest.json; return the manifest."""
    mix = mix_for(total)
    rng = random.Random(seed)
    by_entity = {
        "students": students(mix.students, rng),
        "studentSchoolAssociations": associations(mix.associations, rng),
        "studentSchoolAttendanceEvents": attendance_events(mix.events, mix.students, rng),
    }
    folder = workload_dir(total, out_root)
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.json"):
        stale.unlink()
    files, hasher = [], hashlib.sha256()
    for order, entity in enumerate(ENTITIES, start=1):
        for part, items in enumerate(chunks(by_entity[entity], RECORDS_PER_FILE), start=1):
            data = encode(items)
            name = f"{order:02d}-{part:03d}-{SOURCE}.{FORMAT}.{entity}.json"
            (folder / name).write_bytes(data)
            hasher.update(data)
            files.append(WorkloadFile(path=name, entity=entity, records=len(items), bytes=len(data)))
    workload = Workload(
        records=total,
        seed=seed,
        version=GENERATOR_VERSION,
        mix=mix,
        files=tuple(files),
        sha256=hasher.hexdigest(),
    )
    (folder / "manifest.json").write_text(json.dumps(workload.to_dict(), indent=1), encoding="utf-8")
    return workload


def load_workload(total: int, out_root: Path = OUT_ROOT, seed: int = DEFAULT_SEED) -> Workload | None:
    """The manifest of an already generated workload, or None when it is missing or stale."""
    manifest = workload_dir(total, out_root) / "manifest.json"
    if not manifest.exists():
        return None
    workload = Workload.from_dict(json.loads(manifest.read_text("utf-8")))
    folder = manifest.parent
    fresh = (
        workload.seed == seed
        and workload.version == GENERATOR_VERSION
        and all((folder / f.path).is_file() for f in workload.files)
    )
    return workload if fresh else None


def ensure_workload(total: int, out_root: Path = OUT_ROOT, seed: int = DEFAULT_SEED) -> Workload:
    return load_workload(total, out_root, seed) or generate(total, out_root, seed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("size", type=int, help="number of records")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--out", type=Path, default=OUT_ROOT, help="output root (default benchmarks/out)")
    args = parser.parse_args(argv)
    workload = generate(args.size, args.out, args.seed)
    summary = {
        "folder": str(workload_dir(args.size, args.out)),
        "records": workload.records,
        "mix": asdict(workload.mix),
        "files": len(workload.files),
        "bytes": sum(f.bytes for f in workload.files),
        "sha256": workload.sha256,
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
