"""FHIR parse + validate rates on the shared 20,000-resource workload, option by option, same bytes.

Usage: python -m benchmarks.run_fhir_parse [--resources N] [--rounds R] [--end-to-end {sqlite,postgresql}]

One JSON line per case (median of R rounds, resources per second):

- ``orjson``: ``orjson.loads`` per line (the floor: parsing only);
- ``model-validate``: ``fhir.resources`` R4B ``model_validate`` on already parsed dicts (the
  reference validator as usually called);
- ``model-validate-json``: ``model_validate_json`` on the received line bytes (pydantic-core
  parses the JSON in Rust; no dict is built first);
- ``gateway-stream-w1`` / ``gateway-stream-w2``: the gateway's ``fhir-ndjson`` stream parser over the
  file (strict parse with duplicate-key proof, resourceType and R5 checks, model validation of
  the received bytes, attachment / reference / Gravity checks, records with digests, derived
  records), in this process (1) and with 2 validation worker processes (2);
- ``end-to-end`` (with ``--end-to-end DB``): ``ingest_file`` of the whole NDJSON file through the
  pipeline (stage, parse, validate, map, decide, identify, merge, audit, commit) on a fresh
  gateway, once; the per-status counts say how many resources were mapped, held or rejected.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from fhir.resources.R4B import get_fhir_model_class

from benchmarks.run_fhir import build_workload, missing_shared
from benchmarks.run_pipeline import fresh_gateway, log
from gateway.formats import fhir_ndjson
from gateway.formats.records import SourceRecord
from gateway.service.exchange.inbound import Inbound
from gateway.service.exchange.ingest import ingest

SOURCE = "riverside-health"


def timed(rounds: int, work: Callable[[], int]) -> tuple[float, int]:
    rates, count = [], 0
    for _ in range(rounds):
        started = time.perf_counter()
        count = work()
        rates.append(count / (time.perf_counter() - started))
    return statistics.median(rates), count


def emit(case: str, rate: float, count: int, **extra: Any) -> None:
    print(json.dumps({"case": case, "resources": count, "per_second": round(rate), **extra}), flush=True)


def micro_cases(path: Path, rounds: int) -> None:
    lines = [line.rstrip(b"\n") for line in path.open("rb") if line.strip()]
    docs = [orjson.loads(line) for line in lines]
    models = [get_fhir_model_class(d["resourceType"]) for d in docs]
    emit("orjson", *timed(rounds, lambda: len([orjson.loads(line) for line in lines])))
    emit(
        "model-validate",
        *timed(rounds, lambda: len([m.model_validate(d) for m, d in zip(models, docs, strict=True)])),
    )
    emit(
        "model-validate-json",
        *timed(rounds, lambda: len([m.model_validate_json(b) for m, b in zip(models, lines, strict=True)])),
    )


def stream_case(path: Path, rounds: int, workers: int, resources: int) -> None:
    """Rates are of received resources (lines); ``items`` also counts the derived records."""
    os.environ[fhir_ndjson.WORKERS_ENV] = str(workers)
    kinds: Counter[str] = Counter()

    def run() -> int:
        kinds.clear()
        with path.open("rb") as stream:
            for item in fhir_ndjson.iter_ndjson(stream):
                kinds["records" if isinstance(item, SourceRecord) else "problems"] += 1
        return resources

    if workers > 1:
        run()  # start the worker pool outside the timed rounds (it lives as long as the process)
    emit(f"gateway-stream-w{workers}", *timed(rounds, run), **kinds)


def end_to_end(path: Path, db: str, workers: int, resources: int) -> None:
    os.environ[fhir_ndjson.WORKERS_ENV] = str(workers)
    with fresh_gateway(db) as rt:
        started = time.perf_counter()
        summary = ingest(rt, Inbound(source_org=SOURCE, format_name="fhir-ndjson", path=path))
        seconds = time.perf_counter() - started
    outcome = {k: summary.outcome[k] for k in ("accepted", "rejected", "held", "failed", "ignored")}
    # outcomes count records, derived ones included; the rate is of received resources
    emit(f"end-to-end-{db}-w{workers}", resources / seconds, resources, seconds=round(seconds, 1), **outcome)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resources", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--end-to-end", choices=("sqlite", "postgresql"))
    args = parser.parse_args(argv)
    missing = missing_shared()
    if missing:
        log(f"skipped: {missing}")
        return 0
    path, info = build_workload(args.resources)
    log(f"workload {path.name}: {info['resources']} resources, {info['bytes']} bytes")
    micro_cases(path, args.rounds)
    for workers in (1, 2):
        stream_case(path, args.rounds, workers, info["resources"])
    if args.end_to_end:
        for workers in (1, 2):
            end_to_end(path, args.end_to_end, workers, info["resources"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
