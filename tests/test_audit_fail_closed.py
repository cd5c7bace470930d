"""Fail closed: when the audit entry cannot be written, the exchange does not happen. The failure
is the database's own (a trigger that refuses every INSERT into audit_entries), not a mock."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient
from sqlalchemy import text

from gateway.errors import AuditUnavailable
from gateway.service.referrals.delivery_worker import deliver_due
from gateway.web import create_app
from tests.helpers import LISA, count_rows, send_demo
from tests.referral_world import refer_lisa

SQLITE_TRIGGER = (
    "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_entries "
    "BEGIN SELECT RAISE(ABORT, 'audit refused'); END"
)
PG_FUNCTION = (
    "CREATE FUNCTION refuse_audit() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'audit refused'; END $$ "
    "LANGUAGE plpgsql"
)
PG_TRIGGER = (
    "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_entries FOR EACH ROW EXECUTE FUNCTION refuse_audit()"
)


def refuse_audit_writes(rt) -> None:
    with rt.engine.begin() as connection:
        if rt.engine.dialect.name == "sqlite":
            connection.execute(text(SQLITE_TRIGGER))
        else:
            connection.execute(text(PG_FUNCTION))
            connection.execute(text(PG_TRIGGER))


def plan_rows(rt) -> list[tuple]:
    with rt.engine.connect() as connection:
        return [tuple(r) for r in connection.execute(text("SELECT * FROM plans ORDER BY 1"))]


def test_ingest_changes_no_plan_and_keeps_the_message_failed(rt):
    send_demo(rt, "01")
    before, entries = plan_rows(rt), count_rows(rt, "audit_entries")
    refuse_audit_writes(rt)
    sent = send_demo(rt, "02")
    summary = sent.to_dict()
    assert (summary["status"], summary["accepted"], summary["elementsChanged"]) == ("failed", 0, 0)
    assert "replayed" in summary["reason"]
    assert "audit refused" not in str(summary)
    assert plan_rows(rt) == before
    assert count_rows(rt, "audit_entries") == entries
    # by its id: the test clock stands still, so both messages share received_at and an ORDER BY on it
    # left their order to the database (PostgreSQL returned the failed one first once)
    with rt.engine.connect() as connection:
        query = text("SELECT status FROM messages WHERE id = :m")
        states = [r[0] for r in connection.execute(query, {"m": sent.message_id})]
    assert states[-1] == "failed"  # kept, replayable, not lost


@pytest.fixture
def client(rt) -> FlaskClient:
    return create_app({"TESTING": True}, runtime=rt).test_client()


def test_a_plan_read_answers_no_data(rt, client):
    import json

    send_demo(rt, "01")
    secret = json.loads((rt.settings.home / "demo-credentials.json").read_text("utf-8"))["grand-bend-isd"]
    token = client.post("/oauth/token", data={"grant_type": "client_credentials", **secret}).get_json()
    refuse_audit_writes(rt)
    answer = client.get(
        f"/api/v1/plans/{LISA}",
        query_string={"actor": "t-coord", "role": "coordinator", "purpose": "care-coordination"},
        headers={"Authorization": f"Bearer {token['access_token']}"},
    )
    assert answer.status_code == 503
    body = answer.get_json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == "audit_unavailable"
    assert "audit refused" not in json.dumps(body)
    assert "Lisa" not in answer.get_data(as_text=True)


def test_a_referral_delivery_sends_nothing(rt, agency):
    refer_lisa(rt)
    refuse_audit_writes(rt)
    with pytest.raises(AuditUnavailable):
        deliver_due(rt)
    assert agency.received == []
    with rt.engine.connect() as connection:
        assert connection.execute(text("SELECT status FROM deliveries")).scalar_one() == "queued"
