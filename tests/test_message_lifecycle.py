"""A message never stays ``received``: every exception ends it ``failed`` with the exception's type
as its reason code (replayable, never a traceback), an oversized one is refused on itself every
time, and a run whose process died is found and replayed (gateway/service/exchange/message_state.py)."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import pytest
from flask.testing import FlaskClient

from gateway.core import batch_settle
from gateway.service.exchange import batch as batch_module
from gateway.service.exchange import ingest as ingest_module
from gateway.service.exchange import message_state
from gateway.service.exchange.inbound import Inbound
from gateway.service.exchange.ingest import ingest, record_oversized, replay, replay_where, stage
from gateway.service.exchange.messages import list_messages, show_message
from gateway.service.runtime import Runtime
from gateway.web import create_app
from tests.helpers import count_rows, demo_file

DISTRICT = "grand-bend-isd"
STUDENTS = demo_file("01").read_bytes()


class Boom(RuntimeError):
    """The injected fault; its message stands for PHI that must never be shown."""


SECRET = "Lisa Woods 2010-03-14"


def explode(*_args: object, **_kwargs: object) -> None:
    raise Boom(SECRET)


def send_students(rt: Runtime):  # type: ignore[no-untyped-def]
    return ingest(
        rt, Inbound(source_org=DISTRICT, format_name="edfi-json", payload=STUDENTS, entity="students")
    )


def stored(rt: Runtime, message_id: str) -> dict:
    return show_message(rt, message_id)


# -- a crash mid-processing: failed, its type as the reason code, replayable -------------------


@pytest.mark.parametrize(
    ("target", "name", "records_failed"),
    [
        # a pipeline step inside each batch: every record is isolated, each fails on its own
        pytest.param(batch_settle, "settle", 3, id="the batch's decisions (core, in the batch)"),
        pytest.param(batch_module, "_apply", 3, id="the batch's writes (in the batch)"),
        # outside the batches: the whole message stops
        pytest.param(ingest_module, "stream_payload", 0, id="parser (before any batch)"),
        pytest.param(ingest_module, "_run_stream", 0, id="batch loop"),
    ],
)
def test_a_crash_ends_the_message_failed_and_a_replay_after_the_fix_maps_it(
    rt, monkeypatch, target, name, records_failed
):
    monkeypatch.setattr(target, name, explode)
    crashed = send_students(rt)
    assert crashed.status == "failed"
    assert crashed.outcome["reasonCode"] == "Boom"
    assert crashed.outcome["failed"] == records_failed
    assert SECRET not in json.dumps(crashed.to_dict())
    shown = stored(rt, crashed.message_id)
    assert (shown["status"], shown["reasonCode"]) == ("failed", "Boom")
    assert all(r["reasonCode"] == "Boom" for r in shown["records"])
    monkeypatch.undo()
    replayed = replay(rt, crashed.message_id)
    assert (replayed.message_id, replayed.status, replayed.outcome["accepted"]) == (
        crashed.message_id,
        "mapped",
        3,
    )
    assert "reasonCode" not in replayed.outcome
    assert count_rows(rt, "messages") == 1


def test_a_crash_after_some_batches_keeps_what_landed_and_the_replay_completes(rt, monkeypatch):
    small = dataclasses.replace(rt, settings=dataclasses.replace(rt.settings, batch_size=1))
    real = ingest_module._run_and_tally
    calls = []

    def third_batch_dies(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(1)
        if len(calls) == 3:
            raise MemoryError  # no message: a type name is all there is
        return real(*args, **kwargs)

    monkeypatch.setattr(ingest_module, "_run_and_tally", third_batch_dies)
    crashed = send_students(small)
    assert (crashed.status, crashed.outcome["reasonCode"], crashed.outcome["accepted"]) == (
        "failed",
        "MemoryError",
        2,
    )
    assert count_rows(rt, "plans") == 2
    monkeypatch.undo()
    assert replay(small, crashed.message_id).outcome["accepted"] == 3
    assert count_rows(rt, "plans") == 3


def test_a_crash_is_logged_by_type_and_frames_never_by_its_message(rt, monkeypatch, caplog):
    monkeypatch.setattr(ingest_module, "stream_payload", explode)
    with caplog.at_level("ERROR"):
        send_students(rt)
    assert "Boom" in caplog.text
    assert SECRET not in caplog.text


def test_the_failure_is_audited_with_its_code(rt, monkeypatch):
    from gateway.service.compliance.audit import verify

    monkeypatch.setattr(ingest_module, "stream_payload", explode)
    send_students(rt)
    with rt.engine.connect() as connection:
        from sqlalchemy import text

        rows = connection.execute(text("SELECT details FROM audit_entries WHERE kind = 'exchange.failed'"))
        details = [d if isinstance(d, dict) else json.loads(d) for (d,) in rows]
    assert [d["code"] for d in details] == ["Boom"]
    assert verify(rt).ok


# -- over HTTP: the error shape (or an OperationOutcome), never a traceback -------------------


@pytest.fixture
def client(rt: Runtime) -> FlaskClient:
    return create_app({"TESTING": True}, runtime=rt).test_client()


@pytest.fixture
def auth(client: FlaskClient, rt: Runtime) -> dict[str, dict[str, str]]:
    credentials = json.loads((rt.settings.home / "demo-credentials.json").read_text("utf-8"))
    found = {}
    for org, secret in credentials.items():
        token = client.post("/oauth/token", data={"grant_type": "client_credentials", **secret})
        found[org] = {"Authorization": f"Bearer {token.get_json()['access_token']}"}
    return found


def test_over_http_a_crash_answers_the_error_shape_and_replays_after_the_fix(client, auth, monkeypatch):
    monkeypatch.setattr(ingest_module, "stream_payload", explode)
    url = "/api/v1/exchanges/edfi-json?entity=students"
    sent = client.post(url, data=STUDENTS, content_type="application/json", headers=auth[DISTRICT])
    assert sent.status_code == 500
    error = sent.get_json()["error"]
    keys = ["code", "issues", "message", "messageId", "requestId"]
    assert (error["code"], sorted(error)) == ("internal_error", keys)
    message_id = error["messageId"]
    again = client.post(f"/api/v1/messages/{message_id}/replay", headers=auth[DISTRICT])
    assert again.status_code == 500
    assert again.get_json()["error"]["messageId"] == message_id
    for body in (sent.get_data(as_text=True), again.get_data(as_text=True)):
        assert "Traceback" not in body
        assert SECRET not in body
    listed = client.get("/api/v1/messages?status=failed", headers=auth[DISTRICT]).get_json()["messages"]
    assert [(m["id"], m["reasonCode"]) for m in listed] == [(message_id, "Boom")]
    monkeypatch.undo()
    fixed = client.post(f"/api/v1/messages/{message_id}/replay", headers=auth[DISTRICT])
    assert (fixed.status_code, fixed.get_json()["status"]) == (200, "mapped")


def test_a_fhir_crash_answers_an_operation_outcome(client, auth, monkeypatch):
    monkeypatch.setattr(ingest_module, "stream_payload", explode)
    patients = demo_file("05").read_bytes()
    for accept, marker in (
        ("application/fhir+json", b'"OperationOutcome"'),
        ("application/fhir+xml", b"<OperationOutcome"),
    ):
        headers = {**auth["riverside-health"], "Accept": accept}
        answer = client.post("/fhir/r4", data=patients, content_type="application/fhir+json", headers=headers)
        assert answer.status_code == 500
        assert marker in answer.get_data()
        assert SECRET.encode() not in answer.get_data()


def test_an_unexpected_error_outside_ingest_is_an_operation_outcome_on_fhir_endpoints(
    client, auth, monkeypatch
):
    from gateway.web import fhir_api

    monkeypatch.setattr(fhir_api, "ingest", explode)
    answer = client.post(
        "/fhir/r4", data=b"{}", content_type="application/fhir+json", headers=auth["riverside-health"]
    )
    assert answer.status_code == 500
    assert answer.get_json()["resourceType"] == "OperationOutcome"


# -- oversized: refused on itself, every time -------------------------------------------------


def test_a_message_staged_while_oversized_is_refused_once_and_again_on_replay_without_a_new_message(rt):
    small = dataclasses.replace(rt, settings=dataclasses.replace(rt.settings, max_payload_bytes=50))
    first = send_students(small)
    assert (first.status, first.outcome["error"]["code"]) == ("rejected", "payload_too_large")
    assert stored(rt, first.message_id)["status"] == "rejected"
    again = replay(small, first.message_id)
    assert (again.message_id, again.status, again.outcome["error"]["code"]) == (
        first.message_id,
        "rejected",
        "payload_too_large",
    )
    assert count_rows(rt, "messages") == 1
    # under a raised limit the same stored message maps
    assert replay(rt, first.message_id).status == "mapped"
    assert count_rows(rt, "messages") == 1


def test_a_body_refused_unread_stays_refused_on_replay_without_a_new_message(rt):
    refused = record_oversized(rt, source_org=DISTRICT, format_name="edfi-json", size=50_000_000)
    again = replay(rt, refused.message_id)
    assert (again.message_id, again.status) == (refused.message_id, "rejected")
    assert again.outcome["error"] == refused.outcome["error"]
    assert count_rows(rt, "messages") == 1


# -- interrupted runs: found by the next command, replayed to completion ------------------------


def dead_pid() -> int:
    finished = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True
    )
    return int(finished.stdout)


def left_received(rt: Runtime, worker: dict) -> str:
    """A message whose processing was claimed by ``worker`` and never ended."""
    message_id = stage(
        rt, Inbound(source_org=DISTRICT, format_name="edfi-json", payload=STUDENTS, entity="students")
    )
    with rt.sessions.begin() as session:
        from gateway.storage import message_store

        message = message_store.get_message(session, message_id)
        assert message is not None
        message.outcome = {"processing": worker}
    return message_id


def test_a_run_whose_process_died_is_listed_failed_and_replays_to_completion(rt):
    import socket

    message_id = left_received(rt, {"host": socket.gethostname(), "pid": dead_pid(), "since": "then"})
    [listed] = list_messages(rt)
    assert (listed["id"], listed["status"], listed["reasonCode"]) == (message_id, "failed", "Interrupted")
    [replayed] = replay_where(rt, ("failed",))
    assert (replayed.message_id, replayed.status, replayed.outcome["accepted"]) == (message_id, "mapped", 3)
    assert count_rows(rt, "messages") == 1


def test_a_run_on_another_host_is_interrupted_only_once_it_is_stale(rt, clock):
    message_id = left_received(rt, {"host": "elsewhere", "pid": 1, "since": "then"})
    assert message_state.recover_interrupted(rt) == []
    assert list_messages(rt)[0]["status"] == "received"
    clock.advance(seconds=rt.settings.stale_after_seconds + 1)
    assert message_state.recover_interrupted(rt) == [message_id]
    assert stored(rt, message_id)["reasonCode"] == "Interrupted"


def test_a_live_run_is_left_alone(rt):
    import os
    import socket

    left_received(rt, {"host": socket.gethostname(), "pid": os.getpid(), "since": "now"})
    assert message_state.recover_interrupted(rt) == []


def test_replay_of_received_replays_the_interrupted_ones_only(rt):
    import socket

    dead = left_received(rt, {"host": socket.gethostname(), "pid": dead_pid(), "since": "then"})
    left_received(rt, {"host": "elsewhere", "pid": 1, "since": "now"})  # still running elsewhere
    assert [s.message_id for s in replay_where(rt, ("received",))] == [dead]
