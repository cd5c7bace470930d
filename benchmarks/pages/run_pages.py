"""Page render times for a student with five years of records (issue 15: under 300 ms).

Usage: python -m benchmarks.pages.run_pages {sqlite,postgresql} [--requests N] [--warmup N]
       [--database-url URL] [--target-ms MS] [--profile DIR]

A fresh gateway with the demo world receives the demo exchanges and then five years of Lisa's
records (benchmarks/pages/records.py) through the gateway's own ingest. Three people are added
(a compliance officer, a coordinator at the district, Lisa's parent), each signed in through the
people service. Then, server side with Flask's test client (no network, no browser: what the
gateway itself costs), each of these is asked for N times after a warm-up, every answer checked:

- baseline: the JSON plan read of the same student through the API (``GET /api/v1/plans/{id}``,
  the district's bearer token, as a coordinator for care coordination), the work every page
  builds on;
- the coordinator's plan page ``/students/{id}``, the family page ``/family/{id}`` and the
  compliance dashboard ``/compliance``.

One JSON line per target on stdout (median, p95 and max in ms), progress on stderr. PostgreSQL is
``--database-url``, else GATEWAY_TEST_DATABASE_URL, else BENCH_PG_URL's server (a schema of the
run's own, dropped afterwards). The run fails (exit 1) when an answer is not a 200 or a record was
not accepted; a page slower than the target is reported (``within_target``: false), not failed,
as timings on a shared machine are not a verdict on the code.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.pages import records
from benchmarks.run_pipeline import DATABASES, BenchmarkFailed, fresh_gateway, log
from gateway.core.ids import student_id_for
from gateway.core.people import COMPLIANCE, COORDINATOR, FAMILY
from gateway.service.administration.partners import create_secret
from gateway.service.exchange.inbound import Inbound
from gateway.service.exchange.ingest import ingest
from gateway.service.identity.people import add_person, sign_in
from gateway.service.runtime import Runtime
from gateway.web import create_app

PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent
DEMO = PROJECT_ROOT / "demo" / "exchanges"
DEMO_ORDER = ("01", "02", "03", "05", "04", "08")  # the patient before its screening: no replay
DISTRICT_IDS = "https://grandbend.example.org/ns/studentUniqueId"
LISA = student_id_for(DISTRICT_IDS, records.STUDENT)
SESSION_COOKIE = "spgw_session"
TARGET_MS = 300.0
PASSWORD = "bench-password-" + "x" * 8  # the accounts live only in the run's own database


@dataclass(frozen=True, kw_only=True)
class Target:
    name: str
    path: str
    client: Any  # a Flask test client, signed in or carrying a token
    headers: dict[str, str]
    query: dict[str, str]


def load(rt: Runtime) -> int:
    """The demo exchanges, then the five years; returns how many generated records landed."""
    for prefix in DEMO_ORDER:
        path = next(DEMO.glob(f"{prefix}-*.json"))
        head, fmt, entity = path.stem.split(".")[:3]
        source = head.split("-", 1)[1]
        ingest(rt, Inbound(source_org=source, format_name=fmt, payload=path.read_bytes(), entity=entity))
    landed = 0
    for payload in records.payloads():
        summary = ingest(
            rt,
            Inbound(
                source_org=payload.source,
                format_name=payload.format,
                payload=payload.body,
                entity=payload.entity,
            ),
        )
        accepted = summary.outcome.get("accepted", 0)
        if accepted != payload.records:
            reason = f"{accepted} of {payload.records} accepted ({summary.reason})"
            raise BenchmarkFailed(f"{payload.entity}: {reason}")
        landed += accepted
    return landed


def signed_in_client(app: Any, rt: Runtime, role: str, **kw: Any) -> Any:
    email = f"bench-{role}@example.org"
    add_person(rt, email=email, role=role, password=PASSWORD, **kw)
    client = app.test_client()
    client.set_cookie(SESSION_COOKIE, sign_in(rt, email=email, password=PASSWORD).token)
    return client


def api_client(app: Any, rt: Runtime) -> tuple[Any, dict[str, str]]:
    client = app.test_client()
    secret = create_secret(rt, records.DISTRICT, role="partner")
    answer = client.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": secret.client_id,
            "client_secret": secret.client_secret,
        },
    )
    if answer.status_code != 200:
        raise BenchmarkFailed(f"no token for the district: {answer.status_code}")
    return client, {"Authorization": f"Bearer {answer.get_json()['access_token']}"}


def targets(rt: Runtime) -> list[Target]:
    app = create_app({"TESTING": True}, runtime=rt)
    api, token = api_client(app, rt)
    coordinator = signed_in_client(app, rt, COORDINATOR, organization=records.DISTRICT)
    family = signed_in_client(app, rt, FAMILY, student_refs=(LISA,))
    compliance = signed_in_client(app, rt, COMPLIANCE)
    reader = {"actor": "bench-coordinator", "role": "coordinator", "purpose": "care-coordination"}
    return [
        Target(name="plan-json", path=f"/api/v1/plans/{LISA}", client=api, headers=token, query=reader),
        Target(name="coordinator-plan", path=f"/students/{LISA}", client=coordinator, headers={}, query={}),
        Target(name="family-page", path=f"/family/{LISA}", client=family, headers={}, query={}),
        Target(name="compliance-dashboard", path="/compliance", client=compliance, headers={}, query={}),
    ]


def ask(target: Target) -> tuple[float, int]:
    """One request: (seconds, bytes); anything but a 200 fails the run."""
    started = time.perf_counter()
    answer = target.client.get(target.path, headers=target.headers, query_string=target.query)
    body = answer.get_data()
    seconds = time.perf_counter() - started
    if answer.status_code != 200:
        raise BenchmarkFailed(f"{target.name}: {answer.status_code} for {target.path}: {body[:300]!r}")
    return seconds, len(body)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def measure(target: Target, requests: int, warmup: int, profile: Path | None = None) -> dict[str, Any]:
    for _ in range(warmup):
        ask(target)
    timings, size = [], 0
    profiler = cProfile.Profile() if profile else None
    for _ in range(requests):
        if profiler:
            profiler.enable()
        seconds, size = ask(target)
        if profiler:
            profiler.disable()
        timings.append(seconds * 1000)
    if profiler and profile:
        profile.mkdir(parents=True, exist_ok=True)
        profiler.dump_stats(profile / f"{target.name}.prof")
    return {
        "requests": requests,
        "seconds": round(sum(timings) / 1000, 3),
        "per_second": round(requests / (sum(timings) / 1000), 1),
        "p50_ms": round(statistics.median(timings), 1),
        "p95_ms": round(percentile(timings, 0.95), 1),
        "max_ms": round(max(timings), 1),
        "bytes": size,
    }


def plan_elements(target: Target) -> int:
    """How many elements the coordinator's JSON plan holds (what the pages have to show)."""
    plan = target.client.get(target.path, headers=target.headers, query_string=target.query).get_json()
    found = 0

    def walk(node: Any) -> None:
        nonlocal found
        if isinstance(node, dict):
            found += 1 if "provenance" in node else 0
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(plan)
    return found


def run(args: argparse.Namespace, emit: Callable[[dict[str, Any]], None]) -> None:
    db, target_ms = args.db, args.target_ms
    with fresh_gateway(db) as rt:
        started = time.perf_counter()
        landed = load(rt)
        log(f"{landed} generated records landed in {time.perf_counter() - started:.1f} s")
        found = targets(rt)
        elements = plan_elements(found[0])
        baseline = None
        for target in found:
            result = measure(target, args.requests, args.warmup, args.profile)
            baseline = baseline or result
            within = result["p95_ms"] < target_ms
            line = {
                "bench": f"page-{target.name}",
                "db": db,
                "path": target.path.replace(LISA, "{student}"),
                "records": landed,
                "plan_elements": elements,
                **result,
                "baseline_p50_ms": baseline["p50_ms"],
                "target_ms": target_ms,
                "within_target": within,
                "note": (
                    f"p50 {result['p50_ms']} ms, p95 {result['p95_ms']} ms, max {result['max_ms']} ms "
                    f"(plan JSON p50 {baseline['p50_ms']} ms; target p95 < {target_ms:.0f} ms"
                    f"{'' if within else ': MISSED'})"
                ),
            }
            emit(line)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("db", choices=DATABASES)
    parser.add_argument("--requests", type=int, default=50, help="timed requests per page (default 50)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed requests first (default 3)")
    parser.add_argument("--database-url", help="the PostgreSQL server (default GATEWAY_TEST_DATABASE_URL)")
    parser.add_argument("--target-ms", type=float, default=TARGET_MS)
    parser.add_argument("--profile", type=Path, help="cProfile each page's timed requests into DIR/NAME.prof")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    server = args.database_url or os.environ.get("GATEWAY_TEST_DATABASE_URL")
    if args.db == "postgresql" and server:
        os.environ["BENCH_PG_URL"] = server  # fresh_gateway makes its schema on this server
    try:
        run(args, lambda line: print(json.dumps(line), flush=True))
    except BenchmarkFailed as exc:
        log(f"FAILED: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
