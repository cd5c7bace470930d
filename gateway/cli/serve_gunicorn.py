"""The gunicorn application behind ``spgw serve --server gunicorn``; imported only once the
multiprocess metrics folder is set (see gateway.cli.serve)."""

from __future__ import annotations

import logging
from typing import Any

from gunicorn.app.base import BaseApplication
from gunicorn.arbiter import Arbiter
from gunicorn.glogging import Logger
from gunicorn.workers.base import Worker
from prometheus_client import multiprocess

from gateway.cli.serve import Serving, gunicorn_options
from gateway.service.compliance.audit import checkpoint
from gateway.service.runtime import Runtime, Settings, open_runtime
from gateway.web import create_app
from gateway.web.auth import RUNTIME_KEY
from gateway.web.request_log import JsonFormatter

log = logging.getLogger(__name__)


class GatewayServer(BaseApplication):  # type: ignore[misc]  # gunicorn is untyped
    def __init__(self, settings: Settings, plan: Serving) -> None:
        self.settings, self.plan = settings, plan
        super().__init__()

    def load_config(self) -> None:
        options = {
            **gunicorn_options(self.plan),
            "logger_class": JsonLogger,
            "worker_exit": _worker_exit,
            "child_exit": _child_exit,
        }
        for key, value in options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        # Called in each worker after the fork (preload_app is off): its own engine and pool.
        return create_app(runtime=open_runtime(self.settings))


class JsonLogger(Logger):  # type: ignore[misc]
    """gunicorn's own messages (boot, worker start and exit) as JSON lines too."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for handler in self.error_log.handlers:
            handler.setFormatter(JsonFormatter())


def _worker_exit(server: Arbiter, worker: Worker) -> None:
    """A stopping worker signs the newest audit head and closes its pool."""
    extensions = getattr(getattr(worker, "wsgi", None), "extensions", None)
    if not extensions or RUNTIME_KEY not in extensions:
        return  # the worker stopped before its app was loaded
    rt: Runtime = extensions[RUNTIME_KEY]
    try:
        checkpoint(rt, reason="shutdown")
    except Exception:  # the worker is going anyway; the next writer signs what is due
        log.exception("worker %s could not sign the audit head at exit", worker.pid)
    finally:
        rt.engine.dispose()


def _child_exit(server: Arbiter, worker: Worker) -> None:
    # Its request counters stay in the folder (summed into every scrape); live gauges would go.
    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]
