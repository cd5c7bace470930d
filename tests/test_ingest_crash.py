"""Crash injection with a real process: ``spgw ingest`` of a bulk file is killed with SIGKILL after
its first batch committed. The message is left ``received`` by the dead process; the next command
(``spgw messages list``) finds it interrupted (``failed``, reason code ``Interrupted``), and
``spgw messages replay --status failed`` completes it: every record lands once, nothing is lost,
the audit chain verifies."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from gateway.service.compliance.audit import verify
from gateway.service.runtime import Runtime, Settings
from tests.helpers import count_rows

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
SPGW = (sys.executable, "-c", "from gateway.cli import main; main()")
BATCH = 1_000
STUDENTS = 15_000  # fifteen bulk batches: seconds of work to be killed in, after the first commits
TIMEOUT = 120.0


def students_file(path: Path) -> Path:
    rows = [
        {
            "studentUniqueId": f"9{i:06d}",
            "firstName": "Test",
            "lastSurname": f"Student{i}",
            "birthDate": "2010-01-01",
        }
        for i in range(STUDENTS)
    ]
    path.write_text(json.dumps(rows), "utf-8")
    return path


def environment(settings: Settings) -> dict[str, str]:
    return {
        **os.environ,
        "GATEWAY_HOME": str(settings.home),
        "GATEWAY_DATABASE_URL": settings.database_url,
        "SPGW_BULK_BATCH_SIZE": str(BATCH),
    }


def spgw(settings: Settings, *args: str) -> tuple[int, str]:
    done = subprocess.run(
        (*SPGW, *args), cwd=ROOT, env=environment(settings), capture_output=True, text=True, timeout=TIMEOUT
    )
    return done.returncode, done.stdout


def message_status(rt: Runtime) -> list[tuple[str, str]]:
    with rt.engine.connect() as connection:
        return [tuple(row) for row in connection.execute(text("SELECT id, status FROM messages"))]


def wait_for_first_batch(rt: Runtime, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        assert process.poll() is None, "the ingest ended before it could be killed: make the file larger"
        if count_rows(rt, "students") >= BATCH:
            return
        time.sleep(0.02)
    raise AssertionError("no batch committed in time")


def test_a_killed_ingest_is_found_interrupted_and_replayed_to_completion(
    rt: Runtime, settings: Settings, tmp_path
):
    source = students_file(tmp_path / "students.json")
    argv = (
        *SPGW,
        "ingest",
        "edfi-json",
        str(source),
        "--source",
        "grand-bend-isd",
        "--entity",
        "students",
        "--json",
    )
    process = subprocess.Popen(
        argv, cwd=ROOT, env=environment(settings), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_for_first_batch(rt, process)
        os.kill(process.pid, signal.SIGKILL)  # kill -9, by its own id
        assert process.wait(timeout=10) == -signal.SIGKILL
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
    [(message_id, status)] = message_status(rt)
    assert status == "received"  # what the dead process left
    assert BATCH <= count_rows(rt, "students") < STUDENTS

    code, output = spgw(settings, "messages", "list", "--json")
    assert code == 0
    [listed] = json.loads(output)
    assert (listed["id"], listed["status"], listed["reasonCode"]) == (message_id, "failed", "Interrupted")

    code, output = spgw(settings, "messages", "replay", "--status", "failed", "--json")
    assert code == 0, output
    [replayed] = json.loads(output)
    assert (replayed["messageId"], replayed["status"], replayed["accepted"]) == (
        message_id,
        "mapped",
        STUDENTS,
    )
    assert count_rows(rt, "students") == STUDENTS
    assert count_rows(rt, "plans") == STUDENTS
    assert count_rows(rt, "messages") == 1
    assert verify(rt).ok
