"""``/metrics`` in the Prometheus text format, and the request histogram behind it.

Two sources, chosen so that several gunicorn workers report one truth:

- the gateway's work (exchanges by format and status, decisions by effect, the outbox, the audit
  log's unsigned tail) is read from the database at scrape time (gateway.service.administration.metrics): the
  same figures from every worker, CLI ingests and ``spgw deliver`` included;
- requests (count and latency by method, route template and status) exist only in the process
  that served them. Under ``spgw serve`` with gunicorn, prometheus_client's multiprocess mode
  (``PROMETHEUS_MULTIPROC_DIR``, set by the serve command before the first import) keeps each
  worker's values in a file of that folder, and a scrape of any worker sums them all.

The page is not public: it needs an administrator or compliance bearer token, or the
``metrics_token`` setting. It holds counts and durations only, no identifier.
"""

from __future__ import annotations

import hmac
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import cast

from flask import Flask, Response, current_app, request
from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from werkzeug.wrappers import Response as WerkzeugResponse

from gateway.errors import AccessDenied
from gateway.service.administration.metrics import DecisionTally, WorkFigures, work_figures
from gateway.service.administration.partners import AUDITED_ROLES, verify_access_token
from gateway.service.runtime import Runtime
from gateway.web.auth import current_runtime
from gateway.web.request_log import elapsed_seconds, route_template

METRICS_KEY = "spgw.metrics"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Seconds: a plan read answers in milliseconds, a bulk exchange may take tens of seconds.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


@dataclass(frozen=True, kw_only=True)
class AppMetrics:
    registry: CollectorRegistry
    latency: Histogram
    decisions: DecisionTally


def register_metrics(app: Flask) -> None:
    registry = CollectorRegistry(auto_describe=True)
    latency = Histogram(
        "spgw_http_request_duration_seconds",
        "Time to answer a request, by method, route template and status (its _count is the request count).",
        ["method", "route", "status"],
        buckets=BUCKETS,
        registry=registry,
    )
    app.extensions[METRICS_KEY] = AppMetrics(registry=registry, latency=latency, decisions=DecisionTally())
    app.after_request(_observe)


def _metrics() -> AppMetrics:
    return cast(AppMetrics, current_app.extensions[METRICS_KEY])


def _observe(response: WerkzeugResponse) -> WerkzeugResponse:
    labels = (request.method, route_template(), str(response.status_code))
    _metrics().latency.labels(*labels).observe(elapsed_seconds())
    return response


def metrics_page() -> Response:
    """The view: who may read it is checked first; then one text page."""
    rt = current_runtime()
    _authorise(rt, request.headers.get("Authorization", ""))
    started = time.perf_counter()
    work = WorkCollector(rt, _metrics().decisions, started)
    body = generate_latest(_request_registry()) + generate_latest(_one_off(work))
    return Response(body, status=200, content_type=CONTENT_TYPE)


def _authorise(rt: Runtime, header: str) -> None:
    scheme, _, token = header.partition(" ")
    token = token.strip() if scheme.lower() == "bearer" else ""
    configured = rt.settings.metrics_token
    if configured and token and hmac.compare_digest(token.encode(), configured.encode()):
        return
    principal = verify_access_token(rt, token)  # 401 for no, an expired or a forged token
    if principal.role not in AUDITED_ROLES:
        raise AccessDenied("access denied")


def _request_registry() -> CollectorRegistry:
    folder = os.environ.get(MULTIPROC_ENV)
    if not folder:
        return _metrics().registry
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=folder)  # type: ignore[no-untyped-call]  # every worker's files, summed
    return registry


def _one_off(collector: Collector) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return registry


class WorkCollector(Collector):
    """The database's figures as metric families, read once per scrape."""

    def __init__(self, rt: Runtime, tally: DecisionTally, started: float) -> None:
        self.rt, self.tally, self.started = rt, tally, started

    def collect(self) -> Iterator[Metric]:
        figures = work_figures(self.rt, self.tally)
        if figures is None:
            yield _gauge("spgw_database_up", "1 when the database answered this scrape.", 0)
            return
        yield _gauge("spgw_database_up", "1 when the database answered this scrape.", 1)
        yield from work_families(figures)
        seconds = time.perf_counter() - self.started
        yield _gauge("spgw_scrape_database_seconds", "Time the database reads of this scrape took.", seconds)


def work_families(f: WorkFigures) -> Iterator[Metric]:
    stored = GaugeMetricFamily(
        "spgw_exchanges",
        "Exchanges in the message store by format and current status.",
        labels=["format", "status"],
    )
    received: dict[str, int] = {}
    for fmt, status, count in f.messages:
        stored.add_metric([fmt, status], count)
        received[fmt] = received.get(fmt, 0) + count
    yield stored
    total = CounterMetricFamily(
        "spgw_exchanges_received",
        "Exchanges ever stored, by format (messages are never deleted).",
        labels=["format"],
    )
    for fmt, count in sorted(received.items()):
        total.add_metric([fmt], count)
    yield total
    decisions = CounterMetricFamily(
        "spgw_policy_decisions", "Policy decisions written to the audit log, by effect.", labels=["effect"]
    )
    for effect, count in f.decisions:
        decisions.add_metric([effect], count)
    yield decisions
    yield from _outbox_families(f)
    yield from _audit_families(f)


def _outbox_families(f: WorkFigures) -> Iterator[Metric]:
    by_status = GaugeMetricFamily(
        "spgw_outbox_deliveries", "Deliveries in the outbox by status.", labels=["status"]
    )
    for status, count in f.deliveries:
        by_status.add_metric([status], count)
    yield by_status
    yield _gauge("spgw_outbox_depth", "Deliveries waiting to be sent (queued or being sent).", f.outbox_depth)
    yield _gauge(
        "spgw_outbox_oldest_pending_age_seconds",
        "Age of the oldest delivery still waiting to be sent; 0 when none waits.",
        f.outbox_oldest_age_seconds,
    )


def _audit_families(f: WorkFigures) -> Iterator[Metric]:
    yield CounterMetricFamily("spgw_audit_entries", "Entries in the audit log.", value=f.audit_entries)
    yield _gauge(
        "spgw_audit_unsigned_entries",
        "Audit entries not yet covered by a signed tree head.",
        f.audit_unsigned_entries,
    )
    yield _gauge(
        "spgw_audit_unsigned_age_seconds",
        "How long the oldest audit entry not covered by a signed tree head has waited; 0 when none.",
        f.audit_unsigned_age_seconds,
    )
    if f.audit_head_age_seconds is not None:
        yield _gauge(
            "spgw_audit_tree_head_age_seconds",
            "Time since the newest signed tree head.",
            f.audit_head_age_seconds,
        )
    yield _gauge(
        "spgw_audit_witness_copies_waiting",
        "Signed tree heads queued for a witness and not yet delivered.",
        f.witness_copies_waiting,
    )


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)
