"""FHIR that lands, end to end, beside its peers on the same bytes in the same process.

Usage: python -m benchmarks.landing.run_fhir [--patients N] [--db sqlite|postgresql] [--rounds R]
       [--no-peers] [--profile FILE] [--workers N]

The workload (``benchmarks.landing.fhir_workload``): N patients (default 1,000) linked to district
students, 9 Gravity screening Observations each, 10 N resources. The district's students and
enrolments are sent first (not timed). Timed: ``ingest_file`` of the NDJSON as ``riverside-health``,
the path of ``spgw ingest fhir-ndjson FILE``: stage, parse, validate, map, decide, link, merge,
audit, commit. It fails unless every resource is accepted and changed a plan. Then, on the same
bytes (median of R rounds, after the gateway so its peak RSS is its own):

- ``orjson``: ``orjson.loads`` of every line (parsing only);
- ``model-validate``: ``fhir.resources`` R4B ``model_validate`` of every parsed resource, one process.

Each peer line carries ``gateway_ratio``: the gateway's rate over the peer's (issue 14's bar is
>= 2.0 against ``model-validate``).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.landing import fhir_workload
from benchmarks.landing.common import (
    CLINIC,
    decision_fields,
    decision_timer,
    emit,
    log,
    register_students,
    require_landed,
    send,
)
from benchmarks.run_pipeline import DATABASES, fresh_gateway, peak_rss_mb

OUT = Path(__file__).resolve().parent.parent / "out" / "landing"


def workload(patients: int) -> fhir_workload.FhirWorkload:
    """Built once per size and kept (deterministic: the manifest's sha256 says which bytes)."""
    path = OUT / f"fhir-{patients}.ndjson"
    manifest = path.with_suffix(".json")
    if path.exists() and manifest.exists():
        doc = json.loads(manifest.read_text("utf-8"))
        return fhir_workload.FhirWorkload(**{**doc, "path": path})
    log(f"building {path.name}")
    built = fhir_workload.write(patients, path)
    manifest.write_text(json.dumps({**built.__dict__, "path": str(path)}), encoding="utf-8")
    return built


def gateway_case(work: fhir_workload.FhirWorkload, db: str, profile: Path | None) -> dict[str, Any]:
    with fresh_gateway(db) as rt:
        register_students(rt, work.patients)
        baseline = peak_rss_mb()
        profiler = cProfile.Profile() if profile else None
        with decision_timer() as spent:
            started, cpu_started = time.perf_counter(), time.process_time()
            if profiler is not None:
                profiler.enable()
            summary = send(rt, source_org=CLINIC, format_name="fhir-ndjson", path=work.path)
            if profiler is not None:
                profiler.disable()
            seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    if profiler is not None and profile is not None:
        profiler.dump_stats(profile)
        log(f"profile written to {profile}")
    totals = require_landed("fhir landing", [summary], work.resources, students=work.patients)
    return {
        "bench": "fhir-landing",
        "db": db,
        "records": work.resources,
        "patients": work.patients,
        "bytes": work.bytes,
        "sha256": work.sha256[:16],
        "seconds": round(seconds, 3),
        "records_per_second": round(work.resources / seconds, 1),
        "us_per_record": round(seconds / work.resources * 1e6),
        # This process's CPU alone (the validation pool's is not in it): steadier than the wall
        # time on a shared machine, and the serial part the pool cannot take over.
        "main_cpu_us_per_record": round(cpu / work.resources * 1e6),
        "peak_rss_mb": peak_rss_mb(),
        "baseline_rss_mb": baseline,
        "accepted": totals["accepted"],
        "elements_changed": totals["elementsChanged"],
        "workers": os.environ.get("GATEWAY_FHIR_WORKERS", "default"),
        "profiled": profiler is not None,
        **decision_fields(spent, seconds),
    }


def timed(rounds: int, work: Callable[[], int]) -> tuple[float, float]:
    """(median rate, median seconds) over ``rounds``."""
    times = []
    count = 0
    for _ in range(rounds):
        started = time.perf_counter()
        count = work()
        times.append(time.perf_counter() - started)
    seconds = statistics.median(times)
    return count / seconds, seconds


def peer_cases(work: fhir_workload.FhirWorkload, rounds: int, gateway_rate: float) -> list[dict[str, Any]]:
    import orjson
    from fhir.resources.R4B import get_fhir_model_class

    lines = [line.rstrip(b"\n") for line in work.path.open("rb") if line.strip()]
    docs = [orjson.loads(line) for line in lines]
    models = [get_fhir_model_class(d["resourceType"]) for d in docs]
    for model, doc in list(zip(models, docs, strict=True))[:50]:  # warm-up: pydantic builds lazily
        model.model_validate(doc)
    found = []
    cases: dict[str, Callable[[], int]] = {
        "orjson": lambda: len([orjson.loads(line) for line in lines]),
        "model-validate": lambda: len([m.model_validate(d) for m, d in zip(models, docs, strict=True)]),
    }
    for peer, run in cases.items():
        rate, seconds = timed(rounds, run)
        found.append(
            {
                "bench": f"fhir-landing-peer-{peer}",
                "records": work.resources,
                "seconds": round(seconds, 3),
                "records_per_second": round(rate, 1),
                "us_per_record": round(seconds / work.resources * 1e6),
                "rounds": rounds,
                "gateway_ratio": round(gateway_rate / rate, 3),
            }
        )
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--patients", type=int, default=1000)
    parser.add_argument("--db", choices=DATABASES, default="sqlite")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-peers", dest="peers", action="store_false")
    parser.add_argument("--profile", type=Path, help="cProfile stats of the timed ingest")
    parser.add_argument("--workers", type=int, help="GATEWAY_FHIR_WORKERS (default: the gateway's)")
    args = parser.parse_args(argv)
    missing = fhir_workload.missing_gravity()
    if missing:
        emit({"bench": "fhir-landing", "db": args.db, "skipped": missing})
        return 0
    if args.workers is not None:
        os.environ["GATEWAY_FHIR_WORKERS"] = str(args.workers)
    work = workload(args.patients)
    log(f"fhir landing: {work.resources} resources ({work.bytes / 1e6:.1f} MB) on {args.db}")
    line = gateway_case(work, args.db, args.profile)
    emit(line)
    if args.peers:
        for peer in peer_cases(work, args.rounds, line["records_per_second"]):
            emit({**peer, "db": args.db})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
