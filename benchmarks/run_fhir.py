"""The FHIR benchmark: the shared 20,000-resource workload, measured on the same bytes.

Usage: python -m benchmarks.run_fhir [--resources N] [--rounds R] [--db {sqlite,postgresql}]

The workload is built by ``../shared/bench/make_fhir_workload.py`` from ``../shared/samples/gravity``
(the same bytes other FHIR stacks are measured on); without ``../shared`` the run is skipped.
Measured, one JSON line each:

- ``fhir-gateway``: the gateway end to end, ingesting the NDJSON as ``riverside-health`` in chunks
  under the payload limit (fresh gateway and database). Most resources are rejected (no mapping)
  or held (no linked student): that is expected; the counts per status are reported.
- ``fhir-parse-json``: stdlib ``json.loads`` per line; ``fhir-parse-orjson`` when orjson is importable;
  ``fhir-parse-strict``: the gateway's own strict loader (duplicate keys refused).
- ``fhir-validate``: ``fhir.resources`` R4B ``model_validate`` on already parsed resources.

Micro-benchmarks report the median of R rounds. Peak RSS is the whole process so far; the
gateway case runs first and its payloads are cut from the file one at a time, so its figure is
not inflated by the micro-benchmarks (which hold all the lines in memory).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from benchmarks.run_pipeline import (
    DATABASES,
    BenchmarkFailed,
    fresh_gateway,
    log,
    peak_rss_mb,
)
from gateway.service.exchange.inbound import Inbound
from gateway.service.exchange.ingest import IngestSummary, ingest
from gateway.service.runtime import Runtime

PROJECT_ROOT = Path(__file__).resolve().parent.parent  # the checkout (benchmarks read its fixtures)

SHARED = PROJECT_ROOT.parent / "shared"
MAKE_WORKLOAD = SHARED / "bench" / "make_fhir_workload.py"
GRAVITY = SHARED / "samples" / "gravity"
OUT_ROOT = Path(__file__).resolve().parent / "out"
SOURCE = "riverside-health"
FORMAT = "fhir-json"
DEFAULT_RESOURCES = 20_000
STATUSES = ("accepted", "rejected", "held", "failed")


def emit(line: dict[str, Any]) -> None:
    print(json.dumps(line), flush=True)


def missing_shared() -> str | None:
    for needed in (MAKE_WORKLOAD, GRAVITY):
        if not needed.exists():
            return f"{needed} is absent; the FHIR benchmark needs ../shared next to the project"
    return None


def build_workload(resources: int) -> tuple[Path, dict[str, Any]]:
    """The NDJSON workload and its mix (built once, then reused: the script is deterministic)."""
    path = OUT_ROOT / f"fhir-{resources}.ndjson"
    info_path = path.with_suffix(".json")
    if not (path.exists() and info_path.exists()):
        OUT_ROOT.mkdir(parents=True, exist_ok=True)
        log(f"building {path.name} from {GRAVITY}")
        done = subprocess.run(
            [sys.executable, str(MAKE_WORKLOAD), str(GRAVITY), str(path), str(resources)],
            check=True,
            capture_output=True,
            text=True,
        )
        info_path.write_text(done.stdout, encoding="utf-8")
    return path, json.loads(info_path.read_text("utf-8"))


def read_lines(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        for line in handle:
            if line.strip():
                yield line.rstrip(b"\r\n")


def chunks(lines: Iterable[bytes], limit: int) -> Iterator[list[bytes]]:
    """Whole NDJSON lines, grouped so each payload stays under ``limit`` (the gateway's limit)."""
    batch: list[bytes] = []
    size = 0
    for line in lines:
        if batch and size + len(line) + 1 > limit:
            yield batch
            batch, size = [], 0
        batch.append(line)
        size += len(line) + 1
    if batch:
        yield batch


def ingest_chunk(rt: Runtime, number: int, lines: list[bytes]) -> tuple[IngestSummary, float]:
    payload = b"\n".join(lines) + b"\n"
    started = time.perf_counter()
    summary = ingest(
        rt,
        Inbound(
            source_org=SOURCE, format_name=FORMAT, payload=payload, content_type="application/fhir+ndjson"
        ),
    )
    seconds = time.perf_counter() - started
    outcome = {k: summary.outcome[k] for k in STATUSES}
    log(f"  payload {number}: {len(lines)} resources, {summary.status} {outcome} in {seconds:.1f}s")
    return summary, seconds


def gateway_case(path: Path, db: str, profile: Path | None) -> dict[str, Any]:
    """Payloads are cut from the file one at a time, outside the timed calls, to keep RSS honest."""
    summaries: list[IngestSummary] = []
    seconds = 0.0
    profiler = cProfile.Profile() if profile else None
    with fresh_gateway(db) as rt:
        baseline = peak_rss_mb()
        log(f"fhir gateway on {db}: payloads under {rt.settings.max_payload_bytes} bytes")
        for number, lines in enumerate(chunks(read_lines(path), rt.settings.max_payload_bytes), start=1):
            if profiler is not None:
                profiler.enable()
            summary, took = ingest_chunk(rt, number, lines)
            if profiler is not None:
                profiler.disable()
            summaries.append(summary)
            seconds += took
    if profiler is not None and profile is not None:
        profiler.dump_stats(profile)
        log(f"profile written to {profile}")
    counts: Counter[str] = Counter()
    for summary in summaries:
        counts.update({k: int(summary.outcome[k]) for k in STATUSES})
    total = sum(counts.values())
    return {
        "bench": "fhir-gateway",
        "db": db,
        "records": total,
        "seconds": round(seconds, 3),
        "records_per_second": round(total / seconds, 1),
        "peak_rss_mb": peak_rss_mb(),
        "baseline_rss_mb": baseline,
        **{k: counts[k] for k in STATUSES},
        "messages": len(summaries),
        "message_statuses": dict(Counter(s.status for s in summaries)),
        "profiled": profiler is not None,
    }


def median_seconds(work: Callable[[], object], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def micro(name: str, count: int, seconds: float, rounds: int) -> dict[str, Any]:
    return {
        "bench": name,
        "db": None,
        "records": count,
        "seconds": round(seconds, 3),
        "records_per_second": round(count / seconds, 1),
        "peak_rss_mb": peak_rss_mb(),
        "rounds": rounds,
    }


def parsers() -> dict[str, Callable[[bytes], Any]]:
    from gateway.formats.records import load_json

    found: dict[str, Callable[[bytes], Any]] = {"fhir-parse-json": json.loads}
    try:
        import orjson
    except ImportError:
        log("orjson is not installed: its parse rate is not measured")
    else:
        found["fhir-parse-orjson"] = orjson.loads
    found["fhir-parse-strict"] = load_json
    return found


def parse_all(loads: Callable[[bytes], Any], lines: list[bytes]) -> Callable[[], object]:
    return lambda: [loads(line) for line in lines]


def parse_cases(lines: list[bytes], rounds: int) -> Iterator[dict[str, Any]]:
    for name, loads in parsers().items():
        log(f"{name}: {rounds} rounds")
        seconds = median_seconds(parse_all(loads, lines), rounds)
        yield micro(name, len(lines), seconds, rounds)


def validate_case(lines: list[bytes], rounds: int) -> dict[str, Any]:
    from fhir.resources.R4B import get_fhir_model_class

    docs = [json.loads(line) for line in lines]
    models = {t: get_fhir_model_class(t) for t in {d["resourceType"] for d in docs}}
    log(f"fhir-validate (R4B model_validate): {rounds} rounds")

    def validate_all() -> None:
        for doc in docs:
            models[doc["resourceType"]].model_validate(doc)

    validate_all()  # warm-up: pydantic builds validators lazily on first use
    return micro("fhir-validate", len(docs), median_seconds(validate_all, rounds), rounds)


def run(resources: int, rounds: int, db: str, profile: Path | None) -> Iterator[dict[str, Any]]:
    path, info = build_workload(resources)
    log(f"workload {path.name}: {info.get('bytes', 0) / 1e6:.1f} MB, mix {info.get('mix')}")
    gateway = gateway_case(path, db, profile)
    if gateway["records"] != resources:
        raise BenchmarkFailed(f"outcomes of {gateway['records']} resources, expected {resources}")
    yield {**gateway, "bytes": info.get("bytes"), "sha256": info.get("sha256")}
    lines = list(read_lines(path))
    yield from parse_cases(lines, rounds)
    yield validate_case(lines, rounds)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--resources", type=int, default=DEFAULT_RESOURCES)
    parser.add_argument("--rounds", type=int, default=3, help="rounds of each micro-benchmark (median)")
    parser.add_argument("--db", choices=DATABASES, default="sqlite")
    parser.add_argument("--profile", type=Path, help="write cProfile stats of the gateway case here")
    args = parser.parse_args(argv)
    reason = missing_shared()
    if reason is not None:
        log(f"skipping the FHIR benchmark: {reason}")
        emit({"bench": "fhir", "skipped": reason})
        return 0
    for line in run(args.resources, args.rounds, args.db, args.profile):
        emit(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
