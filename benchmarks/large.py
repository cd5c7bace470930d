"""``make bench-large``: the district-year, and memory flatness at 200k records (not in CI).

Usage: python -m benchmarks.large [--scale S] [--db sqlite|postgresql ...] [--no-memory]
       [--baseline-ref REV]

Cases, each in its own process (``benchmarks.bench``'s machinery):

- ``district-year``: one tenth of Louisville at scale 1 (10,000 students, ~1.69 M records of
  enrolment, attendance, grades, assessments and screenings, ``benchmarks.landing.district``),
  loaded end to end per database; time, rate and peak RSS;
- memory flatness, SQLite, each size in its own process (issue 14's bar: peak RSS within 20%):
  Ed-Fi JSON at 10k and 200k records (``run_education edfi-json``), and FHIR at 10k and 200k
  resources (``run_fhir``, 1,000 and 20,000 linked patients, no peers; 700 MB of NDJSON).

With ``--baseline-ref REV`` the district-year is also loaded at REV (a worktree under /tmp).
Results go to ``benchmarks/out/results-large.json`` (``make bench`` keeps ``results.json``).
"""

from __future__ import annotations

import argparse
import sys

from benchmarks.bench import (
    Case,
    Outcome,
    at_baseline,
    pg_unavailable,
    render,
    run_case,
    table_rows,
    write_results,
)
from benchmarks.generate import OUT_ROOT
from benchmarks.landing.report import comparison_rows, comparisons
from benchmarks.run_pipeline import DATABASES, log

RESULTS = OUT_ROOT / "results-large.json"


def cases(args: argparse.Namespace) -> tuple[list[Case], list[str]]:
    skipped: list[str] = []
    dbs = list(args.db)
    if "postgresql" in dbs and (reason := pg_unavailable()) is not None:
        skipped.append(f"PostgreSQL cases skipped: {reason}")
        dbs.remove("postgresql")
    found = []
    argv: tuple[str, ...]
    for db in dbs:
        argv = ("-m", "benchmarks.landing.run_district", "--scale", str(args.scale), "--db", db)
        district = Case(name=f"district-year x{args.scale:g} {db}", argv=argv)
        found.append(district)
        if args.baseline_ref:
            found.extend(at_baseline([district], args.baseline_ref))
    if args.memory:
        for size in ("10000", "200000"):
            argv = ("-m", "benchmarks.landing.run_education", "edfi-json", size)
            found.append(Case(name=f"landing edfi-json {int(size) // 1000}k sqlite", argv=argv))
        for patients in (1000, 20000):
            argv = ("-m", "benchmarks.landing.run_fhir", "--patients", str(patients), "--no-peers")
            found.append(Case(name=f"landing fhir {patients * 10 // 1000}k sqlite", argv=argv))
    return found, skipped


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0, help="1 = 10,000 students (~1.69 M records)")
    parser.add_argument("--db", choices=DATABASES, nargs="+", default=["sqlite"])
    parser.add_argument("--no-memory", dest="memory", action="store_false", help="skip the 10k/200k cases")
    parser.add_argument("--baseline-ref", metavar="REV", help="load the district-year at REV too")
    args = parser.parse_args(argv)
    planned, skipped = cases(args)
    for message in skipped:
        log(message)
    outcomes: list[Outcome] = []
    for case in planned:
        outcomes.append(run_case(case))
        write_results(outcomes, skipped, args, RESULTS)
    found = comparisons([line for o in outcomes for line in o.lines])
    print(render([*table_rows(outcomes), *comparison_rows(found)]))
    print(f"results: {RESULTS}")
    return 1 if any(o.error is not None for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
