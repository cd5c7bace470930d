"""Education records that land, end to end, with the share of ingest spent in the policy decision.

Usage: python -m benchmarks.landing.run_education edfi-json SIZE [--db DB] [--profile FILE]
       python -m benchmarks.landing.run_education edfi-xml SIZE_MB [--db DB] [--profile FILE]
       python -m benchmarks.landing.run_education oneroster STUDENTS [--db DB] [--profile FILE]

- ``edfi-json SIZE``: the ``benchmarks.generate`` workload of SIZE records (students, enrolments,
  then attendance in day-then-student order), each file through ``ingest_file`` as
  ``spgw ingest edfi-json`` does (``benchmarks.run_pipeline``'s loop);
- ``edfi-xml SIZE_MB``: an ``InterchangeStudentAttendance`` of SIZE_MB MB (``benchmarks.run_edfi_xml``),
  its roster sent first (not timed), then ``ingest_file(format_name="edfi-xml")``;
- ``oneroster STUDENTS``: the ``benchmarks.run_oneroster`` bundle (users, 6 enrolments and 6
  results each), its students registered first (not timed), then ``ingest_oneroster``.

Each fails unless every record is accepted. One JSON line: records/s, peak RSS of the process,
and ``decide_share``: wall time inside ``enforcement.enforce`` over the timed ingest (bar < 5%).
"""

from __future__ import annotations

import argparse
import cProfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks import run_edfi_xml, run_oneroster
from benchmarks.landing.common import (
    DISTRICT,
    decision_fields,
    decision_timer,
    emit,
    log,
    require_landed,
    send,
    service_module,
)
from benchmarks.run_pipeline import (
    DATABASES,
    Payload,
    fresh_gateway,
    ingest_one,
    peak_rss_mb,
    read_payloads,
    require_workload,
)
from gateway.service.runtime import Runtime

ingest_oneroster = service_module("exchange.oneroster").ingest_oneroster


def timed_ingest(
    rt: Runtime, run: Callable[[], list[Any]], profile: Path | None
) -> tuple[list[Any], float, dict[str, Any]]:
    profiler = cProfile.Profile() if profile else None
    with decision_timer() as spent:
        started, cpu_started = time.perf_counter(), time.process_time()
        if profiler is not None:
            profiler.enable()
        summaries = run()
        if profiler is not None:
            profiler.disable()
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    if profiler is not None and profile is not None:
        profiler.dump_stats(profile)
        log(f"profile written to {profile}")
    # This process's CPU: steadier than the wall time on a shared machine.
    return summaries, seconds, {**decision_fields(spent, seconds), "main_cpu_seconds": round(cpu, 3)}


def line(bench: str, db: str, records: int, seconds: float, baseline: float, **extra: Any) -> dict[str, Any]:
    return {
        "bench": bench,
        "db": db,
        "records": records,
        "seconds": round(seconds, 3),
        "records_per_second": round(records / seconds, 1),
        "peak_rss_mb": peak_rss_mb(),
        "baseline_rss_mb": baseline,
        **extra,
    }


def each_landed(rt: Runtime, payloads: list[Payload]) -> list[Any]:
    """``spgw ingest`` file by file, stopping at the first file that did not land (a broken
    gateway would otherwise retry thousands of records one by one before the check)."""
    summaries = []
    for payload in payloads:
        summary = ingest_one(rt, payload)
        require_landed(payload.name, [summary], payload.records, each_changes=False)
        summaries.append(summary)
    return summaries


def edfi_json(size: int, db: str, profile: Path | None) -> dict[str, Any]:
    workload = require_workload(size)
    payloads = read_payloads(workload, "file")
    with fresh_gateway(db) as rt:
        baseline = peak_rss_mb()
        summaries, seconds, decided = timed_ingest(rt, lambda: each_landed(rt, payloads), profile)
    require_landed("edfi-json", summaries, workload.records, each_changes=False)
    return line("landing-edfi-json", db, workload.records, seconds, baseline, **decided)


def edfi_xml(size_mb: int, db: str, profile: Path | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="spgw-xml-") as tmp:
        path = Path(tmp) / "StudentAttendance.xml"
        events, students = run_edfi_xml.generate(path, size_mb)
        with fresh_gateway(db) as rt:
            run_edfi_xml.send_roster(rt, students)
            baseline = peak_rss_mb()
            summaries, seconds, decided = timed_ingest(
                rt,
                lambda: [send(rt, source_org=DISTRICT, format_name="edfi-xml", path=path)],
                profile,
            )
        size = path.stat().st_size
    require_landed("edfi-xml", summaries, events, each_changes=False)
    return line("landing-edfi-xml", db, events, seconds, baseline, bytes=size, students=students, **decided)


def oneroster(students: int, db: str, profile: Path | None) -> dict[str, Any]:
    per_student = 6
    payload = run_oneroster.build_bundle(students, per_student, True)
    records = students * (1 + 2 * per_student)  # users, enrolments, results
    with fresh_gateway(db) as rt:
        run_oneroster.register(rt, students)
        baseline = peak_rss_mb()
        summaries, seconds, decided = timed_ingest(
            rt, lambda: [ingest_oneroster(rt, source_org=DISTRICT, path_or_bytes=payload).ingest], profile
        )
    require_landed("oneroster", summaries, records, each_changes=False, ignored_ok=True)
    return line("landing-oneroster", db, records, seconds, baseline, bundle_bytes=len(payload), **decided)


KINDS = {"edfi-json": edfi_json, "edfi-xml": edfi_xml, "oneroster": oneroster}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("kind", choices=sorted(KINDS))
    parser.add_argument("size", type=int, help="records (edfi-json), MB (edfi-xml) or students (oneroster)")
    parser.add_argument("--db", choices=DATABASES, default="sqlite")
    parser.add_argument("--profile", type=Path)
    args = parser.parse_args(argv)
    emit(KINDS[args.kind](args.size, args.db, args.profile))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
