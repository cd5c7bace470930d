"""One pipeline benchmark case: ingest a generated Ed-Fi workload into a fresh gateway.

Usage: python -m benchmarks.run_pipeline SIZE {sqlite,postgresql} [--profile FILE]

A fresh gateway home (temporary folder) and a fresh database (a SQLite file in that folder, or
a new PostgreSQL schema, dropped afterwards) are initialised with the demo world; then every
generated file is ingested as ``grand-bend-isd`` in order (students, enrollments, attendance)
and the whole loop is timed. One JSON line goes to stdout; progress goes to stderr.

Run each case in its own process (``benchmarks.bench`` does): peak RSS is per process.
The run fails loudly when a record was not accepted or the counts do not add up.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from sqlalchemy import create_engine, text

from benchmarks.generate import (
    FORMAT,
    OUT_ROOT,
    SOURCE,
    Workload,
    load_workload,
    workload_dir,
)
from gateway.service.runtime import Runtime, Settings

if TYPE_CHECKING:
    from gateway.service.exchange.ingest import IngestSummary
from gateway.storage import plan_store
from gateway.storage.db import normalise_url

PROJECT_ROOT = Path(__file__).resolve().parent.parent  # the checkout (benchmarks read its fixtures)

DATABASES = ("sqlite", "postgresql")
DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
# A fixed clock keeps policy decisions independent of the day the benchmark runs
# (the sample agreements are effective 2026-01-01 .. 2030-06-30).
FIXED_NOW = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)
COUNTS = ("accepted", "rejected", "held", "failed")


class BenchmarkFailed(AssertionError):
    """The run measured something other than a clean ingest."""


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def peak_rss_mb() -> float:
    # ru_maxrss is in KiB on Linux (bytes on macOS).
    scale = 1 / 1024 / 1024 if sys.platform == "darwin" else 1 / 1024
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale, 1)


def pg_base_url() -> str:
    return normalise_url(os.environ.get("BENCH_PG_URL", DEFAULT_PG_URL))


@contextmanager
def fresh_database(db: str, home: Path) -> Iterator[str]:
    """A database URL nobody else uses; a PostgreSQL schema is dropped afterwards."""
    if db == "sqlite":
        yield f"sqlite:///{home / 'gateway.db'}"
        return
    base = pg_base_url()
    schema = "bench_" + uuid.uuid4().hex[:12]
    admin = create_engine(base)
    try:
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        separator = "&" if "?" in base else "?"
        yield f"{base}{separator}options={quote(f'-csearch_path={schema}')}"
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@contextmanager
def fresh_gateway(db: str, batch_size: int | None = None) -> Iterator[Runtime]:
    """An initialised gateway with the demo world, on a fixed clock, in a temporary home."""
    with tempfile.TemporaryDirectory(prefix="spgw-bench-") as tmp:
        home = Path(tmp)
        with fresh_database(db, home) as url:
            settings = Settings(home=home / "home", database_url=url)
            if batch_size is not None:
                settings = replace(settings, batch_size=batch_size, bulk_batch_size=batch_size)
            rt, _ = _initialise()(settings, with_samples=True)
            try:
                yield replace(rt, clock=lambda: FIXED_NOW)
            finally:
                rt.engine.dispose()


def require_workload(size: int) -> Workload:
    """The generated workload; generated in a child process so it does not count in peak RSS."""
    workload = load_workload(size)
    if workload is None:
        log(f"generating the {size}-record workload under {workload_dir(size)}")
        subprocess.run(
            [sys.executable, "-m", "benchmarks.generate", str(size)], check=True, stdout=sys.stderr
        )
        workload = load_workload(size)
    if workload is None:
        raise BenchmarkFailed(f"no workload for {size} records under {OUT_ROOT}")
    return workload


@dataclass(frozen=True, kw_only=True)
class Payload:
    name: str
    entity: str
    records: int
    path: Path
    data: bytes  # empty in the bulk-file mode: the gateway reads the file itself


MODES = ("file", "http")


def read_payloads(workload: Workload, mode: str = "file") -> list[Payload]:
    folder = workload_dir(workload.records)
    return [
        Payload(
            name=f.path,
            entity=f.entity,
            records=f.records,
            path=folder / f.path,
            data=(folder / f.path).read_bytes() if mode == "http" else b"",
        )
        for f in workload.files
    ]


def _initialise() -> Any:
    """``setup.initialise`` by its path in the service subpackages, or its flat path before them."""
    from benchmarks.landing.common import service_module

    return service_module("administration.setup").initialise


def ingest_one(rt: Runtime, payload: Payload) -> IngestSummary:
    """``file``: the CLI's bulk path (staged as a payload file, streamed, bulk batches);
    ``http``: the bytes as a POST hands them over (kept in the row, HTTP batch size). Through
    ``landing.common.send``, so a ``--baseline-ref`` revision runs it with its own door."""
    from benchmarks.landing.common import send

    if not payload.data:
        return send(rt, source_org=SOURCE, format_name=FORMAT, path=payload.path, entity=payload.entity)
    return send(rt, source_org=SOURCE, format_name=FORMAT, payload=payload.data, entity=payload.entity)


def ingest_all(rt: Runtime, payloads: list[Payload]) -> list[IngestSummary]:
    summaries = []
    done, total = 0, sum(p.records for p in payloads)
    for payload in payloads:
        started = time.perf_counter()
        summary = ingest_one(rt, payload)
        done += payload.records
        log(
            f"  {payload.name}: {summary.status} {payload.records} records in "
            f"{time.perf_counter() - started:.1f}s ({done}/{total})"
        )
        summaries.append(summary)
    return summaries


def tally(summaries: list[IngestSummary]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for summary in summaries:
        counts.update({key: int(summary.outcome[key]) for key in COUNTS})
    return counts


def check(workload: Workload, summaries: list[IngestSummary], counts: Counter[str], plans: int) -> None:
    """Fail loudly: a benchmark that silently measures failures is worthless."""
    problems = [f"{counts[k]} {k}" for k in COUNTS[1:] if counts[k]]
    if counts["accepted"] != workload.records:
        problems.append(f"accepted {counts['accepted']} of {workload.records} records")
    if plans != workload.mix.students:
        problems.append(f"{plans} plans for {workload.mix.students} students")
    bad = [s for s in summaries if s.status != "mapped"]
    problems.extend(f"message {s.message_id}: {s.status}: {s.reason}" for s in bad[:5])
    if problems:
        raise BenchmarkFailed("pipeline benchmark is invalid: " + "; ".join(problems))


def count_plans(rt: Runtime) -> int:
    with rt.sessions() as session:
        return plan_store.count_plans(session)


def run_case(
    size: int, db: str, profile: Path | None = None, batch_size: int | None = None, mode: str = "file"
) -> dict[str, Any]:
    workload = require_workload(size)
    payloads = read_payloads(workload, mode)
    with fresh_gateway(db, batch_size) as rt:
        baseline = peak_rss_mb()
        log(f"pipeline {size} on {db}: {len(payloads)} files, {workload.mix}")
        profiler = cProfile.Profile() if profile else None
        started = time.perf_counter()
        if profiler is not None:
            profiler.enable()
        summaries = ingest_all(rt, payloads)
        if profiler is not None:
            profiler.disable()
        seconds = time.perf_counter() - started
        plans = count_plans(rt)
    if profiler is not None and profile is not None:
        profiler.dump_stats(profile)
        log(f"profile written to {profile}")
    counts = tally(summaries)
    check(workload, summaries, counts, plans)
    return {
        "bench": "pipeline",
        "db": db,
        "records": workload.records,
        "seconds": round(seconds, 3),
        "records_per_second": round(workload.records / seconds, 1),
        "peak_rss_mb": peak_rss_mb(),
        "baseline_rss_mb": baseline,
        "accepted": counts["accepted"],
        "rejected": counts["rejected"],
        "held": counts["held"],
        "failed": counts["failed"],
        "plans": plans,
        "students": workload.mix.students,
        "messages": len(summaries),
        "mode": mode,
        "batch_size": rt.settings.bulk_batch_size if mode == "file" else rt.settings.batch_size,
        "profiled": profiler is not None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("size", type=int, help="number of records (workload from benchmarks.generate)")
    parser.add_argument("db", choices=DATABASES)
    parser.add_argument("--profile", type=Path, help="write cProfile stats of the timed loop here")
    parser.add_argument(
        "--batch-size", type=int, help="override Settings.batch_size and bulk_batch_size (500 / 5000)"
    )
    parser.add_argument(
        "--mode", choices=MODES, default="file", help="file: spgw ingest's bulk path; http: bytes as POSTed"
    )
    args = parser.parse_args(argv)
    result = run_case(args.size, args.db, args.profile, args.batch_size, args.mode)
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
