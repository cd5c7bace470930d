"""The load test: 4 gunicorn workers on PostgreSQL under a bounded locust run, while 2 delivery
workers drain the outbox; loopback only.

Usage: python -m benchmarks.load.run_load [--users 20] [--seconds 30] [--workers 4]
       [--deliverers 2] [--referrals 60]

1. A fresh demo gateway on a new PostgreSQL schema (``BENCH_PG_URL``), Lisa's records (demo 01,
   02, 05, 08), a consent that covers referrals, and the food bank's endpoint pointed at the test
   agency (tests/agency_server.py: real HTTP on 127.0.0.1, it records every request).
2. ``--referrals`` referrals queued (distinct actors: distinct deliveries).
3. ``spgw serve --workers 4`` and two ``spgw deliver`` processes start; locust runs headless with
   ``--users`` users for ``--seconds`` (benchmarks/load/locustfile.py: exchange posts, plan reads,
   FHIR Task searches); the deliverers drain the outbox meanwhile.
4. Checks: no request failed; every referral reached the agency exactly once (requests received
   = referrals queued = distinct Idempotency-Keys: no double delivery across the two workers);
   nothing left queued or sending.

One JSON line on stdout (requests, requests/s, p50/p95 ms, errors, deliveries); progress on
stderr. Exits 1 when a check fails. ``run_load(...)`` is the same from Python.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from benchmarks.run_pipeline import fresh_gateway, log
from gateway.service.runtime import Runtime
from gateway.storage import ops_queries
from tests.agency_server import running_agency
from tests.referral_world import prepare, refer_lisa

ROOT = Path(__file__).resolve().parent.parent.parent
SPGW = (sys.executable, "-c", "from gateway.cli import main; main()")
LOCUSTFILE = Path(__file__).resolve().parent / "locustfile.py"
START_TIMEOUT = 60.0
DRAIN_TIMEOUT = 120.0


@dataclass(frozen=True, kw_only=True)
class LoadResult:
    users: int
    seconds: int
    workers: int
    deliverers: int
    requests: int
    errors: int
    per_second: float
    p50_ms: float
    p95_ms: float
    referrals: int
    agency_requests: int
    agency_keys: int
    left_pending: int
    drain_seconds: float

    @property
    def ok(self) -> bool:
        delivered_once = self.agency_requests == self.agency_keys == self.referrals
        return self.errors == 0 and delivered_once and self.left_pending == 0

    def to_dict(self) -> dict[str, Any]:
        # The note is what bench.py's table shows; the machine is shared, so the load goes with it.
        note = (
            f"{self.users} users {self.seconds} s, {self.workers} workers: p95 {self.p95_ms:.0f} ms, "
            f"{self.errors} errors; {self.agency_requests}/{self.referrals} delivered by {self.deliverers} "
            f"workers in {self.drain_seconds} s; load {' '.join(f'{x:.1f}' for x in os.getloadavg())}"
        )
        return {"bench": "load", "db": "postgresql", **self.__dict__, "ok": self.ok, "note": note}


def run_load(
    *, users: int = 20, seconds: int = 30, workers: int = 4, deliverers: int = 2, referrals: int = 60
) -> LoadResult:
    """The whole run; the caller decides what a failed check means (``LoadResult.ok``)."""
    with running_agency() as agency, fresh_gateway("postgresql") as rt, ExitStack() as stack:
        prepare(rt, agency.endpoint)
        for i in range(referrals):
            # A distinct reason code per referral: the same referral twice is queued once.
            refer_lisa(rt, actor=f"load-{i}", note_code=str(1_000_000 + i))
        log(f"   {referrals} referrals queued; serving with {workers} workers")
        env = _env(rt)
        url = stack.enter_context(_served(env, workers, rt.settings.home / "serve.err"))
        watch = DrainWatch(rt)
        for n in range(deliverers):
            stack.enter_context(
                _process((*SPGW, "deliver", "--limit", "5", "--interval", "0.2"), env, f"d{n}")
            )
        stats = _locust(env, url, users, seconds)
        drained = watch.wait()
        return LoadResult(
            users=users,
            seconds=seconds,
            workers=workers,
            deliverers=deliverers,
            **stats,
            referrals=referrals,
            agency_requests=len(agency.received),
            agency_keys=len({r.idempotency_key for r in agency.received}),
            left_pending=_pending(rt),
            drain_seconds=round(drained, 2),
        )


def _env(rt: Runtime) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SPGW_", "GATEWAY_", "PROMETHEUS_"))}
    return {
        **env,
        "SPGW_HOME": str(rt.settings.home),
        "SPGW_DATABASE_URL": rt.settings.database_url,
        "LOAD_CREDENTIALS": str(rt.settings.home / "demo-credentials.json"),
        "LOAD_EXCHANGE": str(ROOT / "demo" / "exchanges" / "01-grand-bend-isd.edfi-json.students.json"),
    }


@contextmanager
def _process(argv: tuple[str, ...], env: dict[str, str], name: str) -> Iterator[subprocess.Popen[bytes]]:
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=errors)
        try:
            yield process
        finally:
            os.kill(process.pid, signal.SIGTERM)  # by its own id: a graceful stop
            if process.wait(timeout=60) not in (0, -signal.SIGTERM, 128 + signal.SIGTERM):
                errors.seek(0)
                tail = errors.read()[-1500:].decode(errors="replace")
                log(f"   {name} ended with {process.returncode}: {tail}")


@contextmanager
def _served(env: dict[str, str], workers: int, stderr: Path) -> Iterator[str]:
    argv = (*SPGW, "serve", "--workers", str(workers), "--threads", "4", "--bind", "127.0.0.1:0")
    with stderr.open("w") as errors:
        process = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=errors)
    try:
        url = f"http://127.0.0.1:{_listening_port(process, stderr)}"
        _wait_ready(url)
        yield url
    finally:
        os.kill(process.pid, signal.SIGTERM)
        process.wait(timeout=60)


def _listening_port(process: subprocess.Popen[bytes], stderr: Path) -> int:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline and process.poll() is None:
        for line in stderr.read_text("utf-8").splitlines():
            if "Listening at: http://127.0.0.1:" in line:
                return int(line.split("127.0.0.1:", 1)[1].split(" ", 1)[0])
        time.sleep(0.1)
    raise RuntimeError(f"spgw serve did not start: {stderr.read_text('utf-8')[-2000:]}")


def _wait_ready(url: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{url}/ready", timeout=5).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    raise RuntimeError("spgw serve never became ready")


def _locust(env: dict[str, str], url: str, users: int, seconds: int) -> dict[str, Any]:
    argv = [
        *(sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--json", "--skip-log"),
        *("--users", str(users), "--spawn-rate", str(max(users // 2, 1)), "--run-time", f"{seconds}s"),
        *("--host", url, "--exit-code-on-error", "0"),
    ]
    log(f"   locust: {users} users for {seconds} s against {url}")
    done = subprocess.run(
        argv, env=env, cwd=ROOT, check=True, capture_output=True, text=True, timeout=seconds + 120
    )
    return summary(json.loads(done.stdout), seconds)


def summary(entries: list[dict[str, Any]], seconds: int) -> dict[str, Any]:
    """Totals over every request kind from locust's final stats (``--json``), token requests
    included; percentiles from the merged response-time histograms (locust rounds to 2 digits)."""
    times: dict[float, int] = {}
    for entry in entries:
        counts = f"{entry['num_requests']} requests, {entry['num_failures']} failed"
        log(f"   {entry['method']} {entry['name']}: {counts}")
        for ms, count in entry["response_times"].items():
            times[float(ms)] = times.get(float(ms), 0) + count
    requests_ = sum(e["num_requests"] for e in entries)
    return {
        "requests": requests_,
        "errors": sum(e["num_failures"] for e in entries),
        "per_second": round(requests_ / seconds, 1),
        "p50_ms": percentile(times, 0.50),
        "p95_ms": percentile(times, 0.95),
    }


def percentile(times: dict[float, int], share: float) -> float:
    total, seen = sum(times.values()), 0
    for ms in sorted(times):
        seen += times[ms]
        if seen >= share * total:
            return ms
    return 0.0


def _pending(rt: Runtime) -> int:
    with rt.sessions() as session:
        counts = dict(ops_queries.deliveries_by_status(session))
    return counts.get("queued", 0) + counts.get("sending", 0)


class DrainWatch:
    """Notes when the outbox first holds nothing to send, polling beside the load."""

    def __init__(self, rt: Runtime) -> None:
        self.rt, self.started, self.seconds = rt, time.monotonic(), -1.0
        self.thread = threading.Thread(target=self._watch, name="drain-watch", daemon=True)
        self.thread.start()

    def _watch(self) -> None:
        while time.monotonic() - self.started < DRAIN_TIMEOUT:
            if not _pending(self.rt):
                self.seconds = time.monotonic() - self.started
                return
            time.sleep(0.2)

    def wait(self) -> float:
        """Seconds to drain; -1 when it did not drain within DRAIN_TIMEOUT."""
        self.thread.join(timeout=max(DRAIN_TIMEOUT - (time.monotonic() - self.started), 0) + 1)
        return self.seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--deliverers", type=int, default=2)
    parser.add_argument("--referrals", type=int, default=60)
    args = parser.parse_args(argv)
    result = run_load(
        users=args.users,
        seconds=args.seconds,
        workers=args.workers,
        deliverers=args.deliverers,
        referrals=args.referrals,
    )
    print(json.dumps(result.to_dict()), flush=True)
    if not result.ok:
        log("!! load test failed its checks: errors, double or missing deliveries, or a pending outbox")
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
