"""A community agency for tests: a real HTTP server (Flask under waitress, in a daemon thread,
on a free port) that records every request it receives and answers as scripted.

It deduplicates by ``Idempotency-Key`` as a real agency would (IETF
draft-ietf-httpapi-idempotency-key-header): the first request with a key is processed (answered
with the next scripted status) and kept when that status is 2xx; a repeat of a kept key with the
same bytes is answered with the same 2xx again (``Idempotent-Replayed: true``) and not kept twice;
a repeat while the first is still being processed is answered 409, a repeat with other bytes 422.
It can hold its answers (``hold``/``release``) to play an agency that is slow to answer."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from flask import Flask, Response, jsonify, request

from tests.http_server import serve_wsgi

HOLD_LIMIT = 30.0  # a held answer goes out after this many seconds even if never released


@dataclass(frozen=True, kw_only=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    json: Any

    @property
    def idempotency_key(self) -> str | None:
        return self.headers.get("Idempotency-Key")


class Agency:
    """Answers the scripted statuses in order, then ``default``; remembers what it got."""

    def __init__(self) -> None:
        self.received: list[Received] = []  # every request, repeats included, in arrival order
        self.deliveries: dict[str, Received] = {}  # what it holds after deduplication, by key
        self.answered: list[int] = []  # the status of each answer, in the order they were given
        self.script: list[int] = []
        self.default = 200
        self.base_url = ""
        self._lock = threading.Lock()
        self._processing: set[str] = set()
        self._open = threading.Event()
        self._open.set()

    @property
    def endpoint(self) -> str:
        return f"{self.base_url}/referrals"

    def answer(self, *statuses: int) -> None:
        with self._lock:
            self.script.extend(statuses)

    def hold(self) -> None:
        """Keep every answer from now on until ``release`` (at most HOLD_LIMIT seconds)."""
        self._open.clear()

    def release(self) -> None:
        self._open.set()

    def wait_for_requests(self, count: int, timeout: float = 20.0) -> None:
        """Return once ``count`` requests have arrived; fail the test after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while len(self.received) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"the agency got {len(self.received)} requests, not {count}")
            time.sleep(0.02)

    def _next_status(self) -> int:
        with self._lock:
            return self.script.pop(0) if self.script else self.default

    def _receive(self, got: Received) -> int | None:
        """The answer to a repeat (None: a first request, to be processed)."""
        key = got.idempotency_key
        with self._lock:
            self.received.append(got)
            if key is None:
                return 400
            kept = self.deliveries.get(key)
            if kept is not None:
                return 200 if kept.body == got.body else 422
            if key in self._processing:
                return 409
            self._processing.add(key)
            return None

    def _process(self, got: Received) -> int:
        self._open.wait(timeout=HOLD_LIMIT)
        status = self._next_status()
        with self._lock:
            key = str(got.idempotency_key)
            self._processing.discard(key)
            if status < 300:
                self.deliveries[key] = got  # kept before answering: the answer may never arrive
        return status

    def app(self) -> Flask:
        app = Flask("test-agency")

        @app.post("/referrals")
        def referrals() -> tuple[Response, int]:
            got = Received(
                path=request.path,
                headers=dict(request.headers),
                body=request.get_data(),
                json=request.get_json(silent=True),
            )
            repeat = self._receive(got)
            status = self._process(got) if repeat is None else repeat
            with self._lock:
                self.answered.append(status)
            response = jsonify({"received": status < 300})
            if repeat is not None and status < 300:
                response.headers["Idempotent-Replayed"] = "true"
            return response, status

        return app


@contextmanager
def running_agency() -> Iterator[Agency]:
    agency = Agency()
    with serve_wsgi(agency.app(), threads=4) as url:
        agency.base_url = url
        try:
            yield agency
        finally:
            agency.release()  # no held request may keep a worker thread from stopping


def closed_port_url() -> str:
    """A URL on which nothing listens (the port was free a moment ago): connection refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/referrals"
