"""Streaming ingest: bulk files are kept as files, streamed in batches, isolated per record,
replayable; ignored records are counted as such, not as problems."""

from __future__ import annotations

import dataclasses
import json

import pytest
from sqlalchemy import text

from gateway import formats
from gateway.core import batch as core_batch
from gateway.errors import InputInvalid, Issue
from gateway.formats.records import RecordProblem, record
from gateway.service.exchange import batch as pipeline_module
from gateway.service.exchange.inbound import Inbound
from gateway.service.exchange.ingest import ingest, replay
from gateway.service.exchange.payloads import file_for
from tests.helpers import count_rows, send_demo

ATTENDANCE = "uri://ed-fi.org/AttendanceEventCategoryDescriptor#"


def bulk(rt, batch=10, threshold=100):
    settings = dataclasses.replace(rt.settings, bulk_batch_size=batch, payload_file_threshold=threshold)
    return dataclasses.replace(rt, settings=settings)


def events(n, student="604822"):
    """n attendance events on consecutive days of one student (all 'In Attendance')."""
    return [
        {
            "studentReference": {"studentUniqueId": student},
            "schoolReference": {"schoolId": 255901001},
            "eventDate": f"2025-{9 + i // 28:02d}-{1 + i % 28:02d}",
            "attendanceEventCategoryDescriptor": ATTENDANCE + "In Attendance",
        }
        for i in range(n)
    ]


def message_row(rt, message_id):
    with rt.engine.connect() as c:
        return c.execute(
            text("SELECT payload, payload_file, size, status FROM messages WHERE id = :i"), {"i": message_id}
        ).one()


def inbound_batches(rt):
    with rt.engine.connect() as c:
        return c.execute(text("SELECT count(*) FROM audit_entries WHERE kind = 'exchange.inbound'")).scalar()


def test_a_bulk_file_is_kept_as_a_file_and_processed_in_batches(rt, tmp_path):
    send_demo(rt, "01")
    path = tmp_path / "attendance.json"
    path.write_bytes(json.dumps(events(45)).encode())
    before = inbound_batches(rt)
    progress = []
    summary = ingest(
        bulk(rt),
        Inbound(
            source_org="grand-bend-isd",
            format_name="edfi-json",
            path=path,
            entity="studentSchoolAttendanceEvents",
        ),
        progress=lambda done, total: progress.append((done, total)),
    )
    assert (summary.status, summary.outcome["accepted"]) == ("mapped", 45)
    payload, payload_file, size, _ = message_row(rt, summary.message_id)
    assert (bytes(payload), size) == (b"", path.stat().st_size)
    assert file_for(rt, payload_file).read_bytes() == path.read_bytes()
    assert inbound_batches(rt) - before == 5  # 45 records in batches of 10
    assert progress[-1] == (45, 45)
    assert [done for done, _ in progress] == sorted(done for done, _ in progress)


def test_a_bad_record_in_the_middle_of_a_bulk_file_is_isolated(rt, tmp_path, monkeypatch):
    send_demo(rt, "01")
    original = core_batch.apply_mapping

    def broken_for_one(mapping, data, context):
        if data.get("eventDate") == "2025-09-17":
            raise RuntimeError("simulated mapping bug")
        return original(mapping, data, context)

    monkeypatch.setattr(core_batch, "apply_mapping", broken_for_one)
    path = tmp_path / "attendance.json"
    path.write_bytes(json.dumps(events(40)).encode())
    summary = ingest(
        bulk(rt, batch=16),
        Inbound(
            source_org="grand-bend-isd",
            format_name="edfi-json",
            path=path,
            entity="studentSchoolAttendanceEvents",
        ),
    )
    assert (summary.status, summary.outcome["accepted"], summary.outcome["failed"]) == ("partial", 39, 1)
    assert [r["location"] for r in summary.outcome["records"]] == ["$[16]"]
    monkeypatch.setattr(core_batch, "apply_mapping", original)
    replayed = replay(bulk(rt, batch=16), summary.message_id)
    assert (replayed.status, replayed.outcome["accepted"]) == ("mapped", 40)


def test_replay_streams_a_file_stored_payload_and_changes_nothing(rt):
    send_demo(rt, "01")
    payload = json.dumps(events(30)).encode()
    big = bulk(rt)
    first = ingest(
        big,
        Inbound(
            source_org="grand-bend-isd",
            format_name="edfi-json",
            payload=payload,
            entity="studentSchoolAttendanceEvents",
            bulk=True,
        ),
    )
    assert message_row(rt, first.message_id).payload_file is not None
    again = replay(big, first.message_id)
    assert (again.status, again.outcome["accepted"], again.outcome["elementsChanged"]) == ("mapped", 30, 0)


def test_an_altered_payload_file_is_refused_on_replay(rt):
    send_demo(rt, "01")
    big = bulk(rt)
    first = ingest(
        big,
        Inbound(
            source_org="grand-bend-isd",
            format_name="edfi-json",
            payload=json.dumps(events(12)).encode(),
            entity="studentSchoolAttendanceEvents",
            bulk=True,
        ),
    )
    file_for(rt, message_row(rt, first.message_id).payload_file).write_bytes(b"[]")
    again = replay(big, first.message_id)
    assert again.status == "rejected"
    assert "does not match its digest" in again.reason


def test_http_payloads_stay_in_the_row_under_the_http_limit(rt):
    small_limit = dataclasses.replace(rt, settings=dataclasses.replace(rt.settings, max_payload_bytes=50))
    payload = json.dumps(events(3)).encode()
    summary = ingest(
        small_limit,
        Inbound(
            source_org="grand-bend-isd",
            format_name="edfi-json",
            payload=payload,
            entity="studentSchoolAttendanceEvents",
        ),
    )
    # The staged message itself is refused (no second message), with its payload kept in the row.
    assert (summary.status, summary.outcome["error"]["code"]) == ("rejected", "payload_too_large")
    row = message_row(rt, summary.message_id)
    assert (row.status, row.payload, row.payload_file) == ("rejected", payload, None)
    again = replay(small_limit, summary.message_id)
    assert (again.message_id, again.status) == (summary.message_id, "rejected")
    assert count_rows(rt, "messages") == 1


def test_a_bulk_file_over_the_bulk_limit_is_refused_before_staging(rt, tmp_path):
    limited = dataclasses.replace(rt, settings=dataclasses.replace(rt.settings, max_bulk_payload_bytes=10))
    path = tmp_path / "big.json"
    path.write_bytes(json.dumps(events(3)).encode())
    with pytest.raises(InputInvalid, match="bulk limit"):
        ingest(limited, Inbound(source_org="grand-bend-isd", format_name="edfi-json", path=path, entity="x"))
    assert count_rows(rt, "messages") == 0
    assert [p.name for p in (rt.settings.home / "payloads").iterdir()] == []


@pytest.fixture
def lazy_format(monkeypatch):
    """A stream format that notes how many records it had yielded each time a batch ran."""
    yielded: list[int] = []
    seen_by_batches: list[int] = []

    def parse(stream, entity):
        for number, line in enumerate(stream, start=1):
            if not line.strip():
                continue
            if line.startswith(b"!"):
                yield RecordProblem(
                    location=f"line {number}", issues=(Issue(path=f"line {number}", message="bad"),)
                )
                continue
            yielded.append(number)
            yield record("studentSchoolAttendanceEvents", f"line {number}", json.loads(line))

    monkeypatch.setitem(formats.STREAMS, "test-ndjson", parse)
    monkeypatch.setitem(formats.MAPPING_FORMATS, "test-ndjson", "edfi-json")
    original = pipeline_module.run_batch

    def counting(session, rt, exchange, records, policy):
        seen_by_batches.append(len(yielded))
        return original(session, rt, exchange, records, policy)

    monkeypatch.setattr("gateway.service.exchange.ingest.run_batch", counting)
    return seen_by_batches


def test_records_are_processed_while_the_stream_is_still_being_read(rt, tmp_path, lazy_format):
    send_demo(rt, "01")
    lazy_format.clear()
    lines = [json.dumps(e) for e in events(25)]
    lines.insert(12, "!not a record")
    path = tmp_path / "events.ndjson"
    path.write_bytes("\n".join(lines).encode())
    summary = ingest(bulk(rt), Inbound(source_org="grand-bend-isd", format_name="test-ndjson", path=path))
    assert (summary.outcome["accepted"], summary.outcome["rejected"]) == (25, 1)
    assert summary.outcome["records"][0]["location"] == "line 13"
    # Each batch ran once its ten records were read, not after the whole file was.
    assert lazy_format == [10, 20, 25]


# -- ignored records -------------------------------------------------------------------

QUESTIONNAIRE = {"resourceType": "Questionnaire", "id": "hunger-vital-sign", "status": "active"}


def test_a_deliberately_unmapped_record_is_ignored_with_its_reason(rt):
    summary = ingest(
        rt,
        Inbound(
            source_org="riverside-health", format_name="fhir-json", payload=json.dumps(QUESTIONNAIRE).encode()
        ),
    )
    assert summary.status == "ignored"
    assert (summary.outcome["ignored"], summary.outcome["rejected"]) == (1, 0)
    [entry] = summary.outcome["records"]
    assert entry["status"] == "ignored"
    assert "defines a form" in entry["reason"]


def test_ignored_records_beside_accepted_ones_leave_the_message_mapped(rt):
    send_demo(rt, "01")
    patients = json.loads(send_demo_bytes("05"))
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": QUESTIONNAIRE}, *bundle_entries(patients)],
    }
    summary = ingest(
        rt,
        Inbound(source_org="riverside-health", format_name="fhir-json", payload=json.dumps(bundle).encode()),
    )
    assert summary.status == "mapped"
    assert summary.outcome["ignored"] == 1
    assert summary.outcome["accepted"] >= 1


@pytest.mark.parametrize(
    ("table", "status"),
    [
        ({"fhir-json|Questionnaire": "definitions are not mapped"}, "ignored"),
        ({}, "rejected"),
    ],
)
def test_the_ignored_table_decides_between_ignored_and_rejected(rt, table, status):
    artifacts = dataclasses.replace(rt.artifacts, codes={**rt.artifacts.codes, "ignored-records": table})
    summary = ingest(
        dataclasses.replace(rt, artifacts=artifacts),
        Inbound(
            source_org="riverside-health", format_name="fhir-json", payload=json.dumps(QUESTIONNAIRE).encode()
        ),
    )
    assert summary.status == status


def send_demo_bytes(prefix):
    from tests.helpers import demo_file

    return demo_file(prefix).read_bytes()


def bundle_entries(doc):
    if doc.get("resourceType") == "Bundle":
        return doc["entry"]
    return [{"resource": doc}]
