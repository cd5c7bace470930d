"""SQLite's log is checkpointed by a thread after commits, not inside them (storage.sqlite_checkpoints).

These run on SQLite whatever database the suite is given: the checkpointer exists only there.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from gateway.storage.db import checkpointer_of, make_engine
from gateway.storage.sqlite_checkpoints import SAFETY_PAGES, WalCheckpointer


def _until(condition: Any, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return bool(condition())


def _write(engine: Any, rows: int) -> None:
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE IF NOT EXISTS t (n INTEGER, body TEXT)"))
        connection.execute(
            text("INSERT INTO t VALUES (:n, :body)"), [{"n": n, "body": "x" * 500} for n in range(rows)]
        )


def _database(tmp_path: Path) -> Path:
    """A database file with a table and a row, its engine gone."""
    path = tmp_path / "gateway.db"
    engine = make_engine(f"sqlite:///{path}")
    _write(engine, 1)
    engine.dispose()
    return path


def _started(tmp_path: Path, **timing: float) -> WalCheckpointer:
    """A checkpointer of its own on a database file, woken once."""
    checkpointer = WalCheckpointer(str(_database(tmp_path)), **timing)
    checkpointer.notify()
    return checkpointer


def test_a_file_database_is_checkpointed_after_commits_by_a_thread_not_the_writer(tmp_path: Path) -> None:
    path = tmp_path / "gateway.db"
    engine = make_engine(f"sqlite:///{path}")
    try:
        checkpointer = checkpointer_of(engine)
        assert checkpointer is not None
        with engine.connect() as connection:
            raw = connection.connection.dbapi_connection
            assert raw is not None
            assert raw.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == SAFETY_PAGES
        _write(engine, 2000)  # about 250 pages: far below the writers' own mark
        assert _until(lambda: checkpointer.last is not None and checkpointer.last.log_frames > 0)
        last = checkpointer.last
        assert last is not None
        assert not last.busy
        assert last.checkpointed_frames == last.log_frames
        # In the database file itself: another process reading it without the log sees the rows.
        with sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True) as reader:
            assert reader.execute("SELECT count(*) FROM t").fetchone()[0] == 2000
    finally:
        engine.dispose()


def test_disposing_of_the_engine_stops_its_checkpointer(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'gateway.db'}")
    checkpointer = checkpointer_of(engine)
    assert checkpointer is not None
    _write(engine, 10)
    assert _until(checkpointer.running)
    engine.dispose()
    assert not checkpointer.running()


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("sqlite://", id="in memory, no name"),
        pytest.param("sqlite:///:memory:", id="in memory"),
    ],
)
def test_a_database_without_a_log_file_has_no_checkpointer(url: str) -> None:
    engine = make_engine(url)
    try:
        assert checkpointer_of(engine) is None
        _write(engine, 10)
    finally:
        engine.dispose()


def test_an_idle_checkpointer_ends_and_the_next_commit_starts_another(tmp_path: Path) -> None:
    checkpointer = _started(tmp_path, idle_seconds=0.2, pause_seconds=0.0)
    assert _until(lambda: checkpointer.last is not None)
    assert _until(lambda: not checkpointer.running(), seconds=5)
    checkpointer.last = None
    checkpointer.notify()
    assert checkpointer.running()
    assert _until(lambda: checkpointer.last is not None)
    checkpointer.close()
    assert not checkpointer.running()


def test_commits_in_quick_succession_share_a_checkpoint(tmp_path: Path) -> None:
    checkpointer = WalCheckpointer(str(_database(tmp_path)), pause_seconds=0.5)
    runs: list[int] = []
    real = checkpointer._checkpoint

    def counted(connection: sqlite3.Connection) -> None:
        runs.append(1)
        real(connection)

    checkpointer._checkpoint = counted  # type: ignore[method-assign]
    try:
        for _ in range(20):
            checkpointer.notify()
        assert _until(lambda: len(runs) >= 1)
        time.sleep(0.7)
        assert len(runs) == 1
    finally:
        checkpointer.close()


def test_a_failing_checkpoint_is_told_by_its_type_and_the_thread_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    not_a_database = tmp_path / "secret-student-604822.db"
    not_a_database.write_bytes(b"this is not a database file, and it is long enough to be read" * 20)
    checkpointer = WalCheckpointer(str(not_a_database), pause_seconds=0.0)
    with caplog.at_level(logging.WARNING, logger="gateway.storage.sqlite_checkpoints"):
        checkpointer.notify()
        assert _until(lambda: checkpointer.failures >= 1)
        assert checkpointer.running()
        checkpointer.notify()
        assert _until(lambda: checkpointer.failures >= 2)
    checkpointer.close()
    assert checkpointer.last is None
    messages = [record.getMessage() for record in caplog.records]
    assert messages
    assert all("DatabaseError" in m for m in messages)
    assert not any("604822" in m or "secret" in m for m in messages)


def test_many_threads_committing_start_one_checkpointer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[threading.Thread] = []

    class Counted(threading.Thread):
        def start(self) -> None:
            started.append(self)
            super().start()

    monkeypatch.setattr("gateway.storage.sqlite_checkpoints.threading.Thread", Counted)
    engine = make_engine(f"sqlite:///{tmp_path / 'gateway.db'}", connect_args={"timeout": 30})
    try:
        _write(engine, 1)
        workers = [threading.Thread(target=_write, args=(engine, 50)) for _ in range(8)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        checkpointers = [t for t in started if t.name == "sqlite-checkpointer"]
        assert len(checkpointers) == 1  # the idle time (2 s) is far longer than these commits take
        with engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM t")).scalar_one() == 401
    finally:
        engine.dispose()


def test_a_closed_checkpointer_stays_stopped_when_a_commit_starts_the_next_at_once(tmp_path: Path) -> None:
    checkpointer = _started(tmp_path, idle_seconds=30.0, pause_seconds=0.0)
    first = checkpointer._thread
    assert first is not None
    assert _until(lambda: checkpointer.last is not None)  # now waiting for the next commit
    checkpointer.close(timeout=0)  # told to stop, not yet gone
    checkpointer.notify()  # a commit at once: a new thread
    first.join(5)
    assert not first.is_alive()
    assert checkpointer.running()
    assert checkpointer._thread is not first
    checkpointer.close()
    assert not checkpointer.running()


def test_closing_does_not_wait_for_the_idle_time(tmp_path: Path) -> None:
    checkpointer = _started(tmp_path, idle_seconds=30.0, pause_seconds=0.0)
    assert _until(lambda: checkpointer.last is not None)
    started = time.monotonic()
    checkpointer.close()
    assert time.monotonic() - started < 2.0
    assert not checkpointer.running()
