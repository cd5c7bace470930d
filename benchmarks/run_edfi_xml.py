"""Ed-Fi XML interchange ingest, end to end: events per second and peak RSS by file size.

Usage: python -m benchmarks.run_edfi_xml SIZE_MB [--db sqlite|postgresql] [--profile FILE]

A deterministic ``InterchangeStudentAttendance`` of about SIZE_MB MB is generated (not timed)
in the shape of the DS 5.2 sample ``StudentSchoolAttendance.xml``: 180 school-day events per
student (one school year), students ``B000001``... at the schools ``benchmarks.generate``
assigns, categories cycling by the generator's weights. The students and their enrollments
are sent first as Ed-Fi JSON (not timed). Then ``spgw ingest edfi-xml FILE``'s path,
``ingest_file``, is timed: staging the file into the payload store, streaming XSD validation and
conversion, mapping, policy, identity, event storage, the attendance derivation, the index, the
audit and the commits. Peak RSS is that of this process; ``baseline_rss_mb`` is before the
timed ingest. Run each size in its own process (``benchmarks.bench`` does) to compare them.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.generate import CATEGORIES, DEFAULT_SEED, FIRST_DAY, SOURCE, associations, encode, school_of
from benchmarks.generate import school_days as generated_school_days
from benchmarks.generate import students as generated_students
from benchmarks.run_pipeline import BenchmarkFailed, fresh_gateway, log, peak_rss_mb

EVENTS_PER_STUDENT = 180
RECORD = """\t<StudentSchoolAttendanceEvent>
\t\t<AttendanceEvent>
\t\t\t<EventDate>{date}</EventDate>
\t\t\t<AttendanceEventCategory>{category}</AttendanceEventCategory>
\t\t\t<AttendanceEventReason>Reported by the school office</AttendanceEventReason>
\t\t\t<EventDuration>1</EventDuration>
\t\t</AttendanceEvent>
\t\t<StudentReference><StudentIdentity><StudentUniqueId>{student}</StudentUniqueId></StudentIdentity></StudentReference>
\t\t<SchoolReference><SchoolIdentity><SchoolId>{school}</SchoolId></SchoolIdentity></SchoolReference>
\t\t<SessionReference>
\t\t\t<SessionIdentity>
\t\t\t\t<SessionName>2025-2026 Fall Semester</SessionName>
\t\t\t\t<SchoolYear>2025-2026</SchoolYear>
\t\t\t\t<SchoolReference><SchoolIdentity><SchoolId>{school}</SchoolId></SchoolIdentity></SchoolReference>
\t\t\t</SessionIdentity>
\t\t</SessionReference>
\t</StudentSchoolAttendanceEvent>
"""
HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<InterchangeStudentAttendance xmlns="http://ed-fi.org/5.2.0">\n'
)
TAIL = "</InterchangeStudentAttendance>\n"


def generate(path: Path, size_mb: int, seed: int = DEFAULT_SEED) -> tuple[int, int]:
    """Write the interchange; (events, students). Day by day, then student, as a SIS exports."""
    rng = random.Random(seed)
    per_record = len(RECORD.format(date="2025-09-01", category=CATEGORIES[0][0], student="B000001", school=1))
    events = max(EVENTS_PER_STUDENT, size_mb * 1024 * 1024 // per_record)
    students = max(1, events // EVENTS_PER_STUDENT)
    descriptors = [c[0] for c in CATEGORIES]
    weights = [c[1] for c in CATEGORIES]
    days = generated_school_days(FIRST_DAY)
    written = 0
    with path.open("w", encoding="utf-8") as out:
        out.write(HEAD)
        while written < events:
            day = next(days)
            for number in range(1, students + 1):
                if written == events:
                    break
                out.write(
                    RECORD.format(
                        date=day.isoformat(),
                        category=rng.choices(descriptors, weights)[0],
                        student=f"B{number:06d}",
                        school=school_of(number),
                    )
                )
                written += 1
        out.write(TAIL)
    return events, students


def send(rt: Any, **inbound: Any) -> Any:
    """``landing.common.send``: the gateway's door at this revision or a ``--baseline-ref`` one."""
    from benchmarks.landing.common import send as through_the_door

    return through_the_door(rt, **inbound)


def send_roster(rt: Any, students: int) -> None:
    rng = random.Random(DEFAULT_SEED)
    for entity, records in (
        ("students", generated_students(students, rng)),
        ("studentSchoolAssociations", associations(students, rng)),
    ):
        summary = send(rt, source_org=SOURCE, format_name="edfi-json", payload=encode(records), entity=entity)
        if summary.status != "mapped":
            raise BenchmarkFailed(f"roster {entity}: {summary.status}: {summary.reason}")


def run_case(size_mb: int, db: str, profile: Path | None = None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="spgw-xml-") as tmp:
        path = Path(tmp) / "StudentAttendance.xml"
        events, students = generate(path, size_mb)
        size = path.stat().st_size
        log(f"edfi-xml {size / 1e6:.1f} MB: {events} events of {students} students on {db}")
        with fresh_gateway(db) as rt:
            send_roster(rt, students)
            baseline = peak_rss_mb()
            profiler = cProfile.Profile() if profile else None
            started = time.perf_counter()
            if profiler is not None:
                profiler.enable()
            summary = send(rt, source_org=SOURCE, format_name="edfi-xml", path=path)
            if profiler is not None:
                profiler.disable()
            seconds = time.perf_counter() - started
    if profiler is not None and profile is not None:
        profiler.dump_stats(profile)
    outcome = summary.outcome
    if (summary.status, outcome["accepted"]) != ("mapped", events):
        raise BenchmarkFailed(
            f"edfi-xml: {summary.status}, accepted {outcome['accepted']} of {events}: {summary.reason}"
        )
    return {
        "bench": "edfi-xml",
        "db": db,
        "records": events,
        "bytes": size,
        "students": students,
        "seconds": round(seconds, 3),
        "records_per_second": round(events / seconds, 1),
        "peak_rss_mb": peak_rss_mb(),
        "baseline_rss_mb": baseline,
        "accepted": outcome["accepted"],
        "elements_changed": outcome["elementsChanged"],
        "profiled": profiler is not None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("size_mb", type=int)
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--profile", type=Path)
    args = parser.parse_args(argv)
    print(json.dumps(run_case(args.size_mb, args.db, args.profile)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
