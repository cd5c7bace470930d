"""``/metrics``: who may read it, and that its figures are the database's (exchanges, decisions,
outbox, audit lag) and the requests' (by route template, never a concrete path). Also the
request log: one JSON line per request with its id, echoed in the header and error bodies."""

from __future__ import annotations

import dataclasses
import json
import logging
from collections import Counter
from typing import Any
from urllib.parse import quote

import pytest
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select, text

from gateway.service.compliance import audit
from gateway.service.runtime import Runtime
from gateway.storage.tables import AuditEntryRow
from gateway.web import create_app
from gateway.web.request_log import JsonFormatter
from tests.conftest import Clock
from tests.helpers import DISTRICT_IDS, client_with_token, send_demo
from tests.referral_world import prepare, refer_lisa

LISA_REF = quote(f"{DISTRICT_IDS}|604822", safe="")
SECRET = "metrics-scraper-token"
COORDINATOR = {"role": "coordinator", "purpose": "care-coordination", "actor": "ms-ortiz"}


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def samples(page: str) -> Samples:
    found: Samples = {}
    for family in text_string_to_metric_families(page):
        for s in family.samples:
            found[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return found


def value(found: Samples, name: str, **labels: str) -> float | None:
    return found.get((name, tuple(sorted(labels.items()))))


def scrape(client: FlaskClient, token: str = SECRET) -> Samples:
    answer = client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert answer.mimetype == "text/plain"
    return samples(answer.get_data(as_text=True))


@pytest.fixture
def scraped_rt(rt: Runtime) -> Runtime:
    return dataclasses.replace(rt, settings=dataclasses.replace(rt.settings, metrics_token=SECRET))


@pytest.fixture
def client(scraped_rt: Runtime) -> FlaskClient:
    return create_app({"TESTING": True}, runtime=scraped_rt).test_client()


# -- who may read it -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "status"),
    [
        ("administrator", 200),
        ("compliance", 200),
        ("partner", 403),
    ],
)
def test_only_administrators_compliance_or_the_metrics_token(rt: Runtime, role: str, status: int) -> None:
    client, headers = client_with_token(rt, "grand-bend-isd", role=role)
    assert client.get("/metrics", headers=headers).status_code == status


@pytest.mark.parametrize("header", [None, "Bearer wrong-token", "Basic bWV0cmljczp4"])
def test_no_valid_token_is_refused(client: FlaskClient, header: str | None) -> None:
    answer = client.get("/metrics", headers={"Authorization": header} if header else {})
    assert answer.status_code == 401
    assert answer.get_json()["error"]["code"] == "authentication_failed"


def test_the_metrics_token_is_off_when_not_set(rt: Runtime) -> None:
    client = create_app({"TESTING": True}, runtime=rt).test_client()
    assert client.get("/metrics", headers={"Authorization": "Bearer "}).status_code == 401


# -- the database's figures ---------------------------------------------------------------------


def stored_messages(rt: Runtime) -> Counter[tuple[str, str]]:
    with rt.engine.connect() as connection:
        rows = connection.execute(text("SELECT format, status FROM messages")).all()
    return Counter((f, s) for f, s in rows)


def audited_decisions(rt: Runtime) -> Counter[str]:
    with rt.sessions() as session:
        details = session.scalars(select(AuditEntryRow.details).where(AuditEntryRow.kind == "decision"))
        return Counter(d["effect"] for d in details)


def test_exchanges_by_format_and_status_are_the_message_stores(rt: Runtime, client: FlaskClient) -> None:
    for prefix in ("01", "05", "02"):
        send_demo(rt, prefix)
    found = scrape(client)
    stored = stored_messages(rt)
    assert len(stored) >= 2
    for (fmt, status), count in stored.items():
        assert value(found, "spgw_exchanges", format=fmt, status=status) == count
    for fmt in {f for f, _ in stored}:
        total = sum(n for (f, _), n in stored.items() if f == fmt)
        assert value(found, "spgw_exchanges_received_total", format=fmt) == total


def test_decisions_by_effect_follow_the_audit_log_between_scrapes(rt: Runtime, client: FlaskClient) -> None:
    send_demo(rt, "01")
    first = scrape(client)
    for effect, count in audited_decisions(rt).items():
        assert value(first, "spgw_policy_decisions_total", effect=effect) == count
    # More decisions (a permitted and a denied read) after the first scrape: counted on top.
    client_, headers = client_with_token(rt, "grand-bend-isd")
    client_.get(f"/api/v1/plans/{LISA_REF}", query_string=COORDINATOR, headers=headers)
    client_.get(
        f"/api/v1/plans/{LISA_REF}", query_string={**COORDINATOR, "purpose": "marketing"}, headers=headers
    )
    second = scrape(client)
    decided = audited_decisions(rt)
    assert sum(decided.values()) > sum(v for (n, _), v in first.items() if n == "spgw_policy_decisions_total")
    for effect, count in decided.items():
        assert value(second, "spgw_policy_decisions_total", effect=effect) == count


def test_outbox_depth_and_age_of_the_oldest_pending(rt: Runtime, client: FlaskClient, clock: Clock) -> None:
    assert value(scrape(client), "spgw_outbox_depth") == 0
    prepare(rt, "http://127.0.0.1:9/referrals")
    refer_lisa(rt)
    clock.advance(seconds=90)
    refer_lisa(rt, actor="mr-chen", note_code="733423003")
    found = scrape(client)
    assert value(found, "spgw_outbox_depth") == 2
    assert value(found, "spgw_outbox_deliveries", status="queued") == 2
    assert value(found, "spgw_outbox_oldest_pending_age_seconds") == 90


def test_audit_lag_counts_what_no_signed_head_covers(rt: Runtime, clock: Clock) -> None:
    slow = dataclasses.replace(
        rt, settings=dataclasses.replace(rt.settings, metrics_token=SECRET, checkpoint_every_entries=10_000)
    )
    client = create_app({"TESTING": True}, runtime=slow).test_client()
    send_demo(slow, "01")
    audit.checkpoint(slow, reason="manual")  # a head now, by the test's clock
    before = scrape(client)
    assert value(before, "spgw_audit_unsigned_entries") == 0
    send_demo(slow, "02")
    clock.advance(seconds=30)
    after = scrape(client)
    appended = (value(after, "spgw_audit_entries_total") or 0) - (
        value(before, "spgw_audit_entries_total") or 0
    )
    assert appended > 0
    assert value(after, "spgw_audit_unsigned_entries") == appended
    assert value(after, "spgw_audit_unsigned_age_seconds") == 30
    assert value(after, "spgw_audit_tree_head_age_seconds") == 30


def test_a_database_that_does_not_answer_is_reported_not_raised(scraped_rt: Runtime) -> None:
    scraped_rt.engine.dispose()
    broken = dataclasses.replace(scraped_rt, sessions=_unreachable_sessions(scraped_rt))
    found = scrape(create_app({"TESTING": True}, runtime=broken).test_client())
    assert value(found, "spgw_database_up") == 0
    assert value(found, "spgw_outbox_depth") is None


def _unreachable_sessions(rt: Runtime) -> Any:
    from sqlalchemy import create_engine
    from sqlalchemy.orm import sessionmaker

    return sessionmaker(create_engine(f"sqlite:///{rt.settings.home / 'absent' / 'x.db'}"))


# -- requests ------------------------------------------------------------------------------------


def test_requests_by_route_template_never_the_concrete_path(rt: Runtime, client: FlaskClient) -> None:
    reader, headers = client_with_token(rt, "grand-bend-isd")
    send_demo(rt, "01")
    read = reader.get(f"/api/v1/plans/{LISA_REF}", query_string=COORDINATOR, headers=headers)
    assert read.status_code == 200
    page = reader.get("/metrics", headers={"Authorization": f"Bearer {_admin_token(rt)}"})
    found = samples(page.get_data(as_text=True))
    route = "/api/v1/plans/<path:student>"
    assert (
        value(found, "spgw_http_request_duration_seconds_count", method="GET", route=route, status="200") == 1
    )
    assert "604822" not in page.get_data(as_text=True)


def _admin_token(rt: Runtime) -> str:
    _, headers = client_with_token(rt, "grand-bend-isd", role="administrator")
    return headers["Authorization"].split(" ", 1)[1]


# -- the request log and request ids ----------------------------------------------------------


def request_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    formatter = JsonFormatter()
    return [json.loads(formatter.format(r)) for r in caplog.records if r.name == "gateway.request"]


def test_one_json_line_per_request_with_the_route_template(
    rt: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    reader, headers = client_with_token(rt, "grand-bend-isd")
    caplog.set_level(logging.INFO, logger="gateway.request")
    answer = reader.get(f"/api/v1/plans/{LISA_REF}", query_string=COORDINATOR, headers=headers)
    [line] = request_lines(caplog)
    assert line["route"] == "/api/v1/plans/<path:student>"
    assert (line["method"], line["status"]) == ("GET", answer.status_code)
    assert line["requestId"] == answer.headers["X-Request-Id"]
    assert isinstance(line["durationMs"], float)
    text_ = json.dumps(line)
    assert "604822" not in text_  # no id from the path
    assert "care-coordination" not in text_  # no query string


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("req-7f3a9c", True),
        ("01HZX3K9Q6M2V8D5T0RBN4W7YE", True),
        ("Root=1-65f0a1b2-abcdef0123456789abcdef01", True),
        ("has spaces", False),
        ("x" * 129, False),
        ('quote"d', False),
        ("", False),
    ],
)
def test_a_sane_incoming_request_id_is_kept_else_one_is_made(
    client: FlaskClient, caplog: pytest.LogCaptureFixture, given: str, kept: bool
) -> None:
    caplog.set_level(logging.INFO, logger="gateway.request")
    answer = client.get("/no-such-route", headers={"X-Request-Id": given})
    echoed = answer.headers["X-Request-Id"]
    assert (echoed == given) is kept
    assert answer.get_json()["error"]["requestId"] == echoed
    [line] = request_lines(caplog)
    assert (line["requestId"], line["route"], line["status"]) == (echoed, "(no route)", 404)


def test_each_request_gets_its_own_id(client: FlaskClient) -> None:
    ids = {client.get("/ready").headers["X-Request-Id"] for _ in range(3)}
    assert len(ids) == 3
