"""Load a district-year end to end (``benchmarks.landing.district``): time, rate and peak memory.

Usage: python -m benchmarks.landing.run_district [--scale S] [--db sqlite|postgresql] [--profile FILE]

Every part is sent in order through ``ingest_file``, the path of ``spgw ingest``: the district's
students, enrolments, the year's attendance, grades and assessments as ``grand-bend-isd``
(Ed-Fi JSON), then the clinic's screenings as ``riverside-health`` (FHIR NDJSON). The whole load is
timed; the workload is generated beforehand in a child process (its memory is not counted). It
fails unless every record of every part is accepted. One JSON line per entity, then the total.
"""

from __future__ import annotations

import argparse
import cProfile
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from benchmarks.landing import district as districts
from benchmarks.landing.common import decision_fields, decision_timer, emit, log, require_landed, send
from benchmarks.run_pipeline import DATABASES, BenchmarkFailed, fresh_gateway, peak_rss_mb


def require_district(scale: float) -> districts.District:
    found = districts.load(scale)
    if found is None:
        log(f"generating the district-year at scale {scale:g}")
        command = [sys.executable, "-m", "benchmarks.landing.district", "--scale", str(scale)]
        subprocess.run(command, check=True, stdout=sys.stderr)
        found = districts.load(scale)
    if found is None:
        raise BenchmarkFailed(f"no district workload at scale {scale:g}")
    return found


def load_all(rt: Any, district: districts.District) -> dict[str, dict[str, float]]:
    folder = districts.folder_for(district.scale)
    by_entity: dict[str, dict[str, float]] = defaultdict(lambda: {"records": 0, "seconds": 0.0})
    done = 0
    for part in district.parts:
        started = time.perf_counter()
        path = folder / part.path
        summary = send(rt, source_org=part.source, format_name=part.format, path=path, entity=part.entity)
        seconds = time.perf_counter() - started
        require_landed(part.path, [summary], part.records, each_changes=False)
        kind = part.entity or "fhir-screenings"
        by_entity[kind]["records"] += part.records
        by_entity[kind]["seconds"] += seconds
        done += part.records
        progress = f"{done}/{district.records}, {peak_rss_mb():.0f} MB"
        log(f"  {part.path}: {part.records} in {seconds:.1f}s ({progress})")
    return by_entity


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0, help="1 = 10,000 students, ~1.69 M records")
    parser.add_argument("--db", choices=DATABASES, default="sqlite")
    parser.add_argument("--profile", type=Path)
    args = parser.parse_args(argv)
    district = require_district(args.scale)
    log(f"district-year at scale {args.scale:g}: {district.students} students, {district.records} records")
    with fresh_gateway(args.db) as rt:
        baseline = peak_rss_mb()
        profiler = cProfile.Profile() if args.profile else None
        with decision_timer() as spent:
            started = time.perf_counter()
            if profiler is not None:
                profiler.enable()
            by_entity = load_all(rt, district)
            if profiler is not None:
                profiler.disable()
            seconds = time.perf_counter() - started
    if profiler is not None:
        profiler.dump_stats(args.profile)
    for kind, figures in by_entity.items():
        emit(
            {
                "bench": f"district {kind}",
                "db": args.db,
                "records": int(figures["records"]),
                "seconds": round(figures["seconds"], 2),
                "records_per_second": round(figures["records"] / figures["seconds"], 1),
            }
        )
    emit(
        {
            "bench": "district-year",
            "db": args.db,
            "scale": args.scale,
            "students": district.students,
            "records": district.records,
            "sha256": district.sha256[:16],
            "seconds": round(seconds, 1),
            "records_per_second": round(district.records / seconds, 1),
            "peak_rss_mb": peak_rss_mb(),
            "baseline_rss_mb": baseline,
            **decision_fields(spent, seconds),
        }
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
