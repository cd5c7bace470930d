"""Denial timing: a plan read denied for a known student against one for an unknown student.

Usage: python -m benchmarks.run_denials [--reads N]

A temporary SQLite gateway with the demo world and the demo exchanges (Lisa's plan holds district
and clinic elements). The food bank reads as a case worker for research, which no agreement
allows: for Lisa (known, every element decided and denied) and for an identifier no one has
sent (unknown). Reads alternate, one ``read_plan`` at a time, each timed with
``time.perf_counter_ns`` after a warm-up; the medians of ``--reads`` each (200 by default) and
their ratio are printed as one JSON line. The bar: the ratio within 20% of 1, so that response
time does not tell whether a student exists.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from gateway.errors import NotFound
from gateway.service.administration.setup import initialise
from gateway.service.exchange.inbound import Inbound
from gateway.service.exchange.ingest import ingest
from gateway.service.runtime import Runtime, Settings
from gateway.service.views.plans import ReadRequest, read_plan

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEMO = PROJECT_ROOT / "demo" / "exchanges"
KNOWN = "https://grandbend.example.org/ns/studentUniqueId|604822"
UNKNOWN = "https://grandbend.example.org/ns/studentUniqueId|999999"
READER = ReadRequest(
    student_id="",
    organization_id="northside-food-bank",
    actor="bench",
    role="case-worker",
    purpose="research",
)


def load_demo(rt: Runtime) -> None:
    for path in sorted(DEMO.glob("0[1-5]-*.json")):
        head, fmt, entity = path.stem.split(".")[:3]
        ingest(
            rt,
            Inbound(
                source_org=head.split("-", 1)[1], format_name=fmt, payload=path.read_bytes(), entity=entity
            ),
        )


def denied_ns(rt: Runtime, ref: str) -> int:
    started = time.perf_counter_ns()
    try:
        read_plan(rt, READER, student_ref=ref)
    except NotFound:
        return time.perf_counter_ns() - started
    raise SystemExit(f"the read of {ref} was not denied: the benchmark measures denials")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reads", type=int, default=200)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        settings = Settings(
            home=home, database_url=f"sqlite:///{home / 'gateway.db'}", artifacts_root=PROJECT_ROOT
        )
        rt, _ = initialise(settings, with_samples=True)
        load_demo(rt)
        for _ in range(20):  # warm-up: caches, the SQLite page cache, the audit key
            denied_ns(rt, KNOWN), denied_ns(rt, UNKNOWN)
        known, unknown = [], []
        for _ in range(args.reads):
            known.append(denied_ns(rt, KNOWN))
            unknown.append(denied_ns(rt, UNKNOWN))
        rt.engine.dispose()
    known_ms, unknown_ms = statistics.median(known) / 1e6, statistics.median(unknown) / 1e6
    line = {
        "case": "denial-timing",
        "database": "sqlite",
        "reads_each": args.reads,
        "known_median_ms": round(known_ms, 3),
        "unknown_median_ms": round(unknown_ms, 3),
        "ratio_known_to_unknown": round(known_ms / unknown_ms, 3),
        "within_20_percent": abs(known_ms / unknown_ms - 1) <= 0.20,
    }
    print(json.dumps(line), flush=True)
    print(
        f"denials: known {known_ms:.2f} ms, unknown {unknown_ms:.2f} ms (median of {args.reads})",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
