"""A community agency for tests: a real HTTP server (Flask under waitress, in a daemon thread,
on a free port) that records every request it receives and answers as scripted."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from flask import Flask, Response, jsonify, request
from waitress.server import create_server


@dataclass(frozen=True, kw_only=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    json: Any


class Agency:
    """Answers the scripted statuses in order, then ``default``; remembers what it got."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.script: list[int] = []
        self.default = 200
        self.base_url = ""
        self._lock = threading.Lock()

    @property
    def endpoint(self) -> str:
        return f"{self.base_url}/referrals"

    def answer(self, *statuses: int) -> None:
        with self._lock:
            self.script.extend(statuses)

    def _next_status(self) -> int:
        with self._lock:
            return self.script.pop(0) if self.script else self.default

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
            with self._lock:
                self.received.append(got)
            status = self._next_status()
            return jsonify({"received": status < 300}), status

        return app


@contextmanager
def running_agency() -> Iterator[Agency]:
    agency = Agency()
    server: Any = create_server(agency.app(), host="127.0.0.1", port=0, threads=4)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    agency.base_url = f"http://127.0.0.1:{server.effective_port}"
    try:
        yield agency
    finally:
        server.close()
        server.task_dispatcher.shutdown()  # close() leaves the worker threads running
        thread.join(timeout=5)


def closed_port_url() -> str:
    """A URL on which nothing listens (the port was free a moment ago): connection refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/referrals"
