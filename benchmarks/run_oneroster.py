"""OneRoster CSV ingest end to end: a generated deterministic 1.1 bundle into a fresh gateway.

Usage: python -m benchmarks.run_oneroster [STUDENTS] [{sqlite,postgresql}] [--per-student N] [--no-results]

The bundle (built in memory, the same bytes every run) has STUDENTS student users (default
1,000), N class enrollments each (default 6) and, unless ``--no-results``, one gradebook result
per enrollment; orgs, a term, courses, classes, a category and line items as reference rows.
The students are registered first with Ed-Fi students payloads (not timed); then
``ingest_oneroster`` (parse, map, decide, identify, merge, audit, commit, bulk sync) is timed.
One JSON line goes to stdout, with records/s over the student records (users, enrollments,
results) and peak RSS of this process. Run it in its own process for a clean peak RSS.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
import zipfile
from typing import Any

from benchmarks.run_pipeline import DATABASES, fresh_gateway, log, peak_rss_mb
from gateway.service.runtime import Runtime

SOURCE = "grand-bend-isd"
CLASSES = 30
MANIFEST = "propertyName,value\nmanifest.version,1.0\noneroster.version,1.1\n" + "".join(
    f"file.{name},bulk\n"
    for name in ("orgs", "academicSessions", "courses", "classes", "users", "enrollments", "categories")
)


def student_id(i: int) -> str:
    return f"7{i:06d}"


def build_bundle(students: int, per_student: int, results: bool) -> bytes:
    gradebook = "bulk" if results else "absent"
    files = {
        "manifest.csv": MANIFEST + f"file.lineItems,{gradebook}\nfile.results,{gradebook}\n",
        "orgs.csv": "sourcedId,status,dateLastModified,name,type,identifier,parentSourcedId\n"
        "d,,,District,district,,\ns,,,School,school,,d\n",
        "academicSessions.csv": "sourcedId,status,dateLastModified,title,type,startDate,endDate,"
        "parentSourcedId,schoolYear\nt,,,Fall,semester,2025-08-18,2025-12-19,,2026\n",
        "courses.csv": "sourcedId,status,dateLastModified,schoolYearSourcedId,title,courseCode,grades,"
        "orgSourcedId\n" + "".join(f"c{k},,,,Course {k},C{k},09,s\n" for k in range(CLASSES)),
        "classes.csv": "sourcedId,status,dateLastModified,title,courseSourcedId,classType,schoolSourcedId,"
        "termSourcedIds\n" + "".join(f"k{k},,,Class {k},c{k},scheduled,s,t\n" for k in range(CLASSES)),
        "categories.csv": "sourcedId,status,dateLastModified,title\ncat,,,Quizzes\n",
        "lineItems.csv": "sourcedId,status,dateLastModified,title,assignDate,dueDate,classSourcedId,"
        "categorySourcedId,gradingPeriodSourcedId,resultValueMin,resultValueMax\n"
        + "".join(f"li{k},,,Quiz {k},2025-09-01,2025-09-05,k{k},cat,t,0,100\n" for k in range(CLASSES)),
        "users.csv": "sourcedId,status,dateLastModified,enabledUser,orgSourcedIds,role,username,givenName,"
        "familyName,grades\n"
        + "".join(f"{student_id(i)},,,true,s,student,u{i},Given,Family,09\n" for i in range(students)),
    }
    pairs = [(i, (i + j) % CLASSES) for i in range(students) for j in range(per_student)]
    files["enrollments.csv"] = (
        "sourcedId,status,dateLastModified,classSourcedId,schoolSourcedId,userSourcedId,role,beginDate,endDate\n"
        + "".join(f"e{i}-{k},,,k{k},s,{student_id(i)},student,2025-08-18,2025-12-19\n" for i, k in pairs)
    )
    if results:
        files["results.csv"] = (
            "sourcedId,status,dateLastModified,lineItemSourcedId,studentSourcedId,scoreStatus,score,scoreDate\n"
            + "".join(
                f"r{i}-{k},,,li{k},{student_id(i)},fully graded,{(i * 7 + k * 13) % 101},2025-09-06\n"
                for i, k in pairs
            )
        )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, body in sorted(files.items()):
            zf.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), body)
    return buffer.getvalue()


def register(rt: Runtime, students: int) -> None:
    for start in range(0, students, 5000):
        body = [
            {
                "studentUniqueId": student_id(i),
                "firstName": "G",
                "lastSurname": "F",
                "birthDate": "2010-01-01",
            }
            for i in range(start, min(start + 5000, students))
        ]
        from benchmarks.landing.common import send

        summary = send(
            rt,
            source_org=SOURCE,
            format_name="edfi-json",
            payload=json.dumps(body).encode(),
            entity="students",
        )
        if summary.outcome["accepted"] != len(body):
            raise AssertionError(f"registering students failed: {summary.reason}")


def ingest_oneroster() -> Any:
    """The OneRoster door by its path in the service subpackages, or its flat path before them."""
    from benchmarks.landing.common import service_module

    return service_module("exchange.oneroster").ingest_oneroster


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("students", type=int, nargs="?", default=1000)
    parser.add_argument("db", choices=DATABASES, nargs="?", default="sqlite")
    parser.add_argument("--per-student", type=int, default=6)
    parser.add_argument("--no-results", action="store_true")
    args = parser.parse_args(argv)
    payload = build_bundle(args.students, args.per_student, not args.no_results)
    student_records = args.students * (1 + args.per_student * (1 if args.no_results else 2))
    with fresh_gateway(args.db) as rt:
        log(f"registering {args.students} students")
        register(rt, args.students)
        log(f"ingesting a {len(payload)}-byte bundle ({student_records} student records)")
        started = time.perf_counter()
        summary = ingest_oneroster()(rt, source_org=SOURCE, path_or_bytes=payload)
        seconds = time.perf_counter() - started
    outcome = summary.outcome
    if outcome["accepted"] != student_records or outcome["rejected"] or outcome["held"] or outcome["failed"]:
        raise AssertionError(f"not a clean ingest: {summary.ingest.reason}")
    line = {
        "case": "oneroster-csv",
        "db": args.db,
        "students": args.students,
        "records": student_records,
        "ignored": outcome["ignored"],
        "bundle_bytes": len(payload),
        "seconds": round(seconds, 3),
        "records_per_s": round(student_records / seconds, 1),
        "peak_rss_mb": peak_rss_mb(),
    }
    print(json.dumps(line))
    return 0


if __name__ == "__main__":
    sys.exit(main())
