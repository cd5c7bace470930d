"""Crash injection: the delivery worker runs as a real process against the real-HTTP test agency
and is killed with SIGKILL before its POST, while the agency holds the request, and after the
agency answered but before the answer was recorded. Another worker then takes the delivery over.
Each case checks what the agency and an auditor would see: every copy the agency got is the same
bytes with the same Idempotency-Key (only the bearer token differs), the agency holds the delivery
once, the delivery ends ``sent`` with exactly one ``disclosure.delivered`` entry, nothing is left
``sending``, and the audit chain verifies.

The killed worker's clock is held at the test clock's start; the restart (``spgw deliver --once``)
runs on real time, days later, so no test waits out a lease. ``test_takeover_time_after_a_kill``
measures the real time from a kill to the takeover with a 2 s lease (set TAKEOVER_LEASE_SECONDS
to measure another, e.g. the default 20)."""

from __future__ import annotations

import datetime as dt
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import IO, Any

import jwt
import pytest

from gateway.service.compliance import audit
from gateway.service.referrals.delivery_lease import lease_length
from gateway.service.referrals.delivery_worker import deliver_due
from gateway.service.runtime import Runtime, Settings, utc_now
from tests.agency_server import Agency
from tests.conftest import START
from tests.helpers import count_rows
from tests.referral_world import audit_entries, delivery, refer_lisa

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 60.0  # no subprocess may outlive a test by more than this
SPGW = (sys.executable, "-c", "from gateway.cli import main; main()")


class Worker:
    """One worker process; its stdout lines are read as they come, so a test can wait for one."""

    def __init__(self, process: subprocess.Popen[str], stderr: Path) -> None:
        self.process, self.stderr = process, stderr
        self.lines: queue.Queue[str] = queue.Queue()
        self.reader = threading.Thread(target=self._read, args=(process.stdout,), daemon=True)
        self.reader.start()

    def _read(self, stream: IO[str] | None) -> None:
        for line in stream or ():
            self.lines.put(line.rstrip("\n"))

    def expect(self, wanted: str, timeout: float = TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                if self.lines.get(timeout=min(left, 0.5)) == wanted:
                    return
            except queue.Empty:
                if self.process.poll() is not None:
                    break
        raise AssertionError(f"the worker never printed {wanted!r}: {self.stderr.read_text()[-2000:]}")

    def kill(self) -> None:
        """kill -9, by this process's own id."""
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def summaries(self) -> list[dict[str, Any]]:
        """What the worker printed (JSON) once it has ended by itself."""
        code = self.process.wait(timeout=TIMEOUT)
        assert code == 0, self.stderr.read_text()[-2000:]
        self.reader.join(timeout=5)
        return list(json.loads(self._rest()))

    def _rest(self) -> str:
        lines = []
        while not self.lines.empty():
            lines.append(self.lines.get_nowait())
        return "\n".join(lines)


class Workers:
    """Starts worker processes on the test's gateway; kills any still running at teardown."""

    def __init__(self, settings: Settings, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.env = {
            **os.environ,
            "GATEWAY_HOME": str(settings.home),
            "GATEWAY_DATABASE_URL": settings.database_url,
            "GATEWAY_DELIVERY_LEASE_SECONDS": str(settings.delivery_lease_seconds),
        }
        self.started: list[Worker] = []

    def start(self, *args: str, lease: float | None = None) -> Worker:
        """``python -m tests.delivery_process ARGS`` (see that module for --now and --pause)."""
        return self._spawn((sys.executable, "-m", "tests.delivery_process", *args), lease)

    def spgw(self, *args: str) -> Worker:
        return self._spawn((*SPGW, *args), None)

    def _spawn(self, argv: tuple[str, ...], lease: float | None) -> Worker:
        env = {**self.env, **({"GATEWAY_DELIVERY_LEASE_SECONDS": str(lease)} if lease else {})}
        stderr = self.tmp_path / f"worker-{len(self.started)}.stderr"
        with stderr.open("w") as errors:
            process = subprocess.Popen(
                argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=errors, text=True
            )
        worker = Worker(process, stderr)
        self.started.append(worker)
        return worker

    def close(self) -> None:
        for worker in self.started:
            if worker.process.poll() is None:
                worker.kill()
            worker.reader.join(timeout=5)
            if worker.process.stdout is not None:
                worker.process.stdout.close()


@pytest.fixture
def workers(settings: Settings, tmp_path: Path) -> Iterator[Workers]:
    started = Workers(settings, tmp_path)
    yield started
    started.close()


def wait_until(condition: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.02)


def kill_at(point: str, agency: Agency, workers: Workers, key: str) -> None:
    """Start a worker with the clock at START and kill it at ``point``."""
    if point == "while-held":
        agency.hold()
        first = workers.start("--now", START.isoformat())
        agency.wait_for_requests(1)
        first.kill()
        agency.release()  # the agency keeps it and answers a connection nobody reads any more
        wait_until(lambda: key in agency.deliveries)
        return
    first = workers.start("--now", START.isoformat(), "--pause", point)
    first.expect(f"paused {point}")
    first.kill()


def assert_delivered_once(rt: Runtime, agency: Agency, delivery_id: str, copies: int) -> None:
    row = delivery(rt, delivery_id)
    assert len(agency.received) == copies
    assert {r.body for r in agency.received} == {row.body}  # byte for byte
    assert {r.idempotency_key for r in agency.received} == {row.idempotency_key} == {delivery_id}
    tokens = [r.headers["Authorization"].removeprefix("Bearer ") for r in agency.received]
    claims = [jwt.decode(t, options={"verify_signature": False}) for t in tokens]
    assert len({c["jti"] for c in claims}) == copies  # only the bearer differs per attempt
    assert {c["bodyDigest"] for c in claims} == {row.body_digest}
    assert list(agency.deliveries) == [delivery_id]  # one delivery after deduplication
    assert (row.status, row.lease_owner, row.lease_until) == ("sent", None, None)
    delivered = audit_entries(rt, "disclosure.delivered")
    assert [e["details"]["deliveryId"] for e in delivered] == [delivery_id]
    attempted = audit_entries(rt, "disclosure.attempted")
    assert {e["details"]["payloadDigest"] for e in attempted} == {row.body_digest}
    assert count_rows(rt, "deliveries WHERE status = 'sending'") == 0
    assert audit.verify(rt).ok


@pytest.mark.parametrize(
    ("point", "copies"),
    [
        pytest.param("before-post", 1, id="killed before the POST"),
        pytest.param("while-held", 2, id="killed while the agency holds the request"),
        pytest.param("after-answer", 2, id="killed after the answer, before recording it"),
    ],
)
def test_a_killed_worker_is_taken_over_with_the_same_body(
    rt: Runtime, agency: Agency, workers: Workers, point: str, copies: int
) -> None:
    queued = refer_lisa(rt)
    kill_at(point, agency, workers, queued.id)
    left = delivery(rt, queued.id)
    assert (left.status, left.attempts) == ("sending", 1)
    lease = lease_length(rt.settings)
    assert left.lease_until == START + lease
    assert deliver_due(rt, now=START + lease - dt.timedelta(seconds=1)) == []  # still leased
    assert utc_now() > START + lease  # the restart's real clock is past the lease
    [summary] = workers.spgw("deliver", "--once", "--json").summaries()
    assert (summary["id"], summary["status"], summary["attempts"]) == (queued.id, "sent", 2)
    assert_delivered_once(rt, agency, queued.id, copies)
    takeover = audit_entries(rt, "disclosure.attempted")[-1]["details"]["takeover"]
    assert takeover == {"previousOwner": left.lease_owner, "leaseLapsedAt": (START + lease).isoformat()}


def test_a_retry_while_the_agency_still_processes_the_first_copy_waits_for_it(
    rt: Runtime, agency: Agency, workers: Workers
) -> None:
    queued = refer_lisa(rt)
    agency.hold()
    first = workers.start("--now", START.isoformat())
    agency.wait_for_requests(1)
    first.kill()
    [later] = workers.spgw("deliver", "--once", "--json").summaries()  # the first copy is still held
    assert (later["status"], later["responseStatus"]) == ("queued", 409)
    agency.release()
    wait_until(lambda: queued.id in agency.deliveries)
    after_backoff = (utc_now() + dt.timedelta(hours=1)).isoformat()
    [summary] = workers.start("--now", after_backoff).summaries()
    assert (summary["status"], summary["attempts"]) == ("sent", 3)
    assert agency.answered.count(409) == 1
    assert_delivered_once(rt, agency, queued.id, copies=3)


def test_takeover_time_after_a_kill(rt: Runtime, agency: Agency, workers: Workers) -> None:
    """Real time: a worker held by the agency longer than its lease keeps it (heartbeat); killed,
    its delivery is taken over within one lease of its last renewal."""
    seconds = float(os.environ.get("TAKEOVER_LEASE_SECONDS", "2"))
    live = replace(rt, clock=utc_now, settings=replace(rt.settings, delivery_lease_seconds=seconds))
    queued = refer_lisa(rt)
    agency.hold()
    first = workers.start(lease=seconds)
    agency.wait_for_requests(1)
    until = time.monotonic() + min(1.5 * seconds, 3.5)  # below the agency client's read timeout
    while time.monotonic() < until:
        assert deliver_due(live) == []  # alive: its heartbeat keeps the lease
        time.sleep(0.1)
    first.kill()
    killed = time.monotonic()
    agency.release()
    while not (taken := deliver_due(live)):
        assert time.monotonic() - killed < seconds + 15, "never taken over"
        time.sleep(0.05)
    takeover = time.monotonic() - killed
    print(f"\ntakeover {takeover:.2f} s after kill -9 (lease {seconds:g} s)")
    assert [(s.id, s.status) for s in taken] == [(queued.id, "sent")]
    assert takeover <= seconds + 1.5
    assert_delivered_once(rt, agency, queued.id, copies=2)
