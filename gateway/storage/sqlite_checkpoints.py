"""SQLite's write-ahead log copied back into the database file by a thread of its own.

In WAL mode the connection whose commit takes the log past ``wal_autocheckpoint`` pages copies
the log into the database file and syncs it, inside that commit: the ingest waits for it (with
checkpoints left out, an Ed-Fi JSON ingest of 10,000 records ran 1.18-1.23 s against 1.33-1.35 s,
measured in benchmarks/README.md). Here each commit only wakes a checkpointer thread with a
connection of its own, which runs a PASSIVE checkpoint (it never waits for or blocks a writer or a
reader) while the writer goes on; ``sqlite3`` lets go of the interpreter while SQLite copies and
syncs, so the copy runs on another core.

Durability is SQLite's own: a commit is in the log, and a checkpoint only moves it. The writers
keep an automatic checkpoint at a high mark (``SAFETY_PAGES``), so the log stays bounded should
the thread fall behind or fail. An idle thread ends by itself; the next commit starts another.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from dataclasses import dataclass

log = logging.getLogger(__name__)

# Pages (4 KiB) a writer lets the log grow to before it checkpoints itself. Well above one bulk
# batch (about 12,000 pages for 5,000 FHIR resources), so that the writer's own checkpoint is
# only the safety net, never the rule.
SAFETY_PAGES = 50_000
IDLE_SECONDS = 2.0  # a thread woken by no commit for this long ends (a process may hold many engines)
PAUSE_SECONDS = 0.05  # commits in quick succession share one checkpoint


@dataclass(frozen=True)
class CheckpointResult:
    """What ``PRAGMA wal_checkpoint(PASSIVE)`` answered: whether it was kept from finishing,
    the frames in the log and the frames of it now in the database file."""

    busy: bool
    log_frames: int
    checkpointed_frames: int


class WalCheckpointer:
    """Checkpoints one database file's log after commits (``notify``), in a thread."""

    def __init__(
        self, path: str, *, idle_seconds: float = IDLE_SECONDS, pause_seconds: float = PAUSE_SECONDS
    ) -> None:
        self.path = path
        self.idle_seconds = idle_seconds
        self.pause_seconds = pause_seconds
        self.last: CheckpointResult | None = None
        self.failures = 0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def notify(self) -> None:
        """A commit happened: checkpoint soon (starts the thread when none runs)."""
        self._wake.set()
        thread = self._thread
        if thread is not None and thread.is_alive():
            return
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            # Each thread has its own stop: one told to stop (``close``) stays stopped even if
            # a commit starts the next at once.
            self._stop = threading.Event()
            self._thread = threading.Thread(
                target=self._run, args=(self._stop,), name="sqlite-checkpointer", daemon=True
            )
            self._thread.start()

    def close(self, timeout: float = 5.0) -> None:
        """Stop the thread (it finishes a checkpoint under way)."""
        with self._lock:
            thread, self._thread = self._thread, None
            self._stop.set()
            self._wake.set()  # out of its wait at once
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def running(self) -> bool:
        thread = self._thread
        return thread is not None and thread.is_alive()

    def _run(self, stop: threading.Event) -> None:
        connection: sqlite3.Connection | None = None
        try:
            while not stop.is_set():
                if not self._wake.wait(self.idle_seconds):
                    if self._ended_idle():
                        return
                    continue
                # The commit that woke this thread is still being written (the engine tells of a
                # commit before it runs), and commits close behind it share the checkpoint.
                if stop.wait(self.pause_seconds):
                    return
                self._wake.clear()
                connection = connection or self._connect()
                if connection is not None:
                    self._checkpoint(connection)
        finally:
            if connection is not None:
                connection.close()

    def _ended_idle(self) -> bool:
        """Ends this thread unless a commit woke it meanwhile (then ``notify`` saw it alive)."""
        with self._lock:
            if self._wake.is_set():
                return False
            if self._thread is threading.current_thread():
                self._thread = None
            return True

    def _connect(self) -> sqlite3.Connection | None:
        try:
            return sqlite3.connect(self.path, timeout=10.0, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            self._failed(exc)
            return None

    def _checkpoint(self, connection: sqlite3.Connection) -> None:
        try:
            row = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.Error as exc:
            self._failed(exc)
            return
        if row is not None:
            self.last = CheckpointResult(
                busy=bool(row[0]), log_frames=int(row[1]), checkpointed_frames=int(row[2])
            )

    def _failed(self, exc: sqlite3.Error) -> None:
        # The writers' own automatic checkpoint still bounds the log; the next commit tries again.
        self.failures += 1
        log.warning("background checkpoint of the SQLite log failed (%s)", type(exc).__name__)
