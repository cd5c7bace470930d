"""``spgw check`` and ``?dry_run=true``: a check answers what ingest would do and stores nothing.

Parity: for sample files of every format, the check's counts and reasons equal the outcome of
ingesting the same file right after (same database state, same partner). Non-storage: every
table's content (not only its row count) and every file under the gateway's home are the same
before and after a check; a partner's check over the API adds exactly one audit entry, of the
check, with the payload's digest and no student.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import SHARED_SAMPLES
from helpers import DEMO, DISTRICT_IDS, client_with_token, send_demo
from sqlalchemy import MetaData, select

from gateway.cli import main
from gateway.service.exchange.check import MAX_REASONS, OUTCOMES, CheckReport, check_file, check_payload
from gateway.service.exchange.exchanges import ONEROSTER_BUNDLES
from gateway.service.exchange.inbound import Inbound
from gateway.service.exchange.ingest import IngestSummary, ingest
from gateway.service.exchange.oneroster import ingest_oneroster

FIXTURES = Path(__file__).parent / "fixtures"
GRAVITY = SHARED_SAMPLES / "gravity"
AUDIT_TABLES = {"audit_entries", "audit_head", "audit_checkpoints", "checkpoint_witnesses"}


def snapshot(rt) -> dict[str, list[str]]:
    """Every row of every table, as text, sorted: a check must change none of them."""
    meta = MetaData()
    meta.reflect(rt.engine)
    with rt.engine.connect() as connection:
        return {
            name: sorted(repr(tuple(row)) for row in connection.execute(select(table)))
            for name, table in meta.tables.items()
        }


def with_settings(rt, **changes: int):
    return dataclasses.replace(rt, settings=dataclasses.replace(rt.settings, **changes))


def home_files(rt) -> dict[str, int]:
    return {str(p): p.stat().st_size for p in rt.settings.home.rglob("*") if p.is_file()}


def checked(rt, fmt: str, source: str, path: Path, entity: str | None = None) -> CheckReport:
    tables, files = snapshot(rt), home_files(rt)
    report = check_file(rt, source_org=source, format_name=fmt, path=path, entity=entity)
    assert snapshot(rt) == tables, "a check changed a table"
    assert home_files(rt) == files, "a check wrote a file"
    return report


def ingested(rt, fmt: str, source: str, path: Path, entity: str | None = None) -> IngestSummary:
    if fmt in ONEROSTER_BUNDLES:
        return ingest_oneroster(rt, source_org=source, path_or_bytes=path).ingest
    return ingest(rt, Inbound(source_org=source, format_name=fmt, path=path, entity=entity))


def reasons_of(records: list[dict[str, Any]]) -> dict[str, list[tuple[str, int]]]:
    """The check's reasons, computed from what ingest listed: first issue's message, first seen first."""
    found: dict[str, dict[str, int]] = {}
    for rec in records:
        issues = rec.get("issues") or []
        reason = f"{rec['reason']}: {issues[0]['message']}" if issues else rec["reason"]
        counts = found.setdefault(rec["status"], {})
        counts[reason] = counts.get(reason, 0) + 1
    return {status: list(counts.items())[:MAX_REASONS] for status, counts in found.items()}


def assert_same(report: CheckReport, summary: IngestSummary) -> None:
    outcome = summary.outcome
    assert report.counts == {status: outcome[status] for status in OUTCOMES}, summary.message_id
    shown = {s: [(r["reason"], r["count"]) for r in found] for s, found in report.reasons.items()}
    assert shown == reasons_of(outcome["records"])
    assert (report.error or {}).get("code") == (outcome.get("error") or {}).get("code")


def ndjson_of_gravity(tmp_path: Path) -> Path:
    path = tmp_path / "gravity.ndjson"
    lines = [json.dumps(json.loads(p.read_text(encoding="utf-8"))) for p in sorted(GRAVITY.glob("*.json"))]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# (format, source, file, entity): sample files of every format the gateway accepts, sent in this
# order to one gateway so later files meet the students and links earlier ones made.
SAMPLES = [
    ("edfi-json", "grand-bend-isd", DEMO / "01-grand-bend-isd.edfi-json.students.json", "students"),
    (
        "edfi-json",
        "grand-bend-isd",
        DEMO / "02-grand-bend-isd.edfi-json.studentSchoolAssociations.json",
        "studentSchoolAssociations",
    ),
    (
        "edfi-json",
        "grand-bend-isd",
        DEMO / "03-grand-bend-isd.edfi-json.studentSchoolAttendanceEvents.json",
        "studentSchoolAttendanceEvents",
    ),
    ("edfi-xml", "grand-bend-isd", FIXTURES / "edfi_xml" / "students.xml", None),
    ("edfi-xml", "grand-bend-isd", FIXTURES / "edfi_xml" / "enrollment.xml", None),
    ("edfi-xml", "grand-bend-isd", FIXTURES / "edfi_xml" / "attendance.xml", None),
    ("fhir-json", "riverside-health", DEMO / "04-riverside-health.fhir-json.screening.json", None),
    ("fhir-json", "riverside-health", DEMO / "05-riverside-health.fhir-json.patients.json", None),
    ("fhir-json", "riverside-health", DEMO / "04-riverside-health.fhir-json.screening.json", None),
    ("fhir-json", "riverside-health", DEMO / "06-riverside-health.fhir-json.malformed.json", None),
    ("fhir-json", "acme-clinic", DEMO / "07-acme-clinic.fhir-json.unknown-partner.json", None),
    ("fhir-json", "riverside-health", FIXTURES / "fhir" / "features.json", None),
    ("fhir-xml", "riverside-health", FIXTURES / "fhir" / "features.xml", None),
    ("fhir", "riverside-health", FIXTURES / "fhir" / "screening-hvs.json", None),
    ("oneroster-csv", "grand-bend-isd", FIXTURES / "oneroster" / "v1p1-gradebook", None),
    ("oneroster", "grand-bend-isd", FIXTURES / "oneroster" / "v1p2-delta", None),
]


def test_check_equals_ingest_on_sample_files_of_every_format(rt) -> None:
    formats = set()
    for fmt, source, path, entity in SAMPLES:
        report = checked(rt, fmt, source, path, entity)
        assert_same(report, ingested(rt, fmt, source, path, entity))
        formats.add(fmt)
    assert sum(1 for *_, p, _ in SAMPLES if p.exists()) == len(SAMPLES)
    assert {"edfi-json", "edfi-xml", "fhir-json", "fhir-xml", "oneroster-csv"} <= formats


@pytest.mark.skipif(not GRAVITY.is_dir(), reason=f"shared Gravity samples not found at {GRAVITY}")
@pytest.mark.parametrize("linked", [False, True], ids=["unlinked: held", "linked: lands"])
def test_check_equals_ingest_on_the_gravity_examples(rt, tmp_path, linked: bool) -> None:
    send_demo(rt, "01")
    if linked:
        patient = {
            "resourceType": "Patient",
            "id": "pat-53234",
            "identifier": [{"system": DISTRICT_IDS, "value": "604822"}],
        }
        ingest(
            rt,
            Inbound(
                source_org="riverside-health", format_name="fhir-json", payload=json.dumps(patient).encode()
            ),
        )
    for path in sorted(GRAVITY.glob("*.json")):
        report = checked(rt, "fhir-json", "riverside-health", path)
        assert report.counts["rejected"] == report.counts["failed"] == 0, path.name
        assert_same(report, ingested(rt, "fhir-json", "riverside-health", path))
    bulk = ndjson_of_gravity(tmp_path)
    assert_same(
        checked(rt, "fhir-ndjson", "riverside-health", bulk),
        ingested(rt, "fhir-ndjson", "riverside-health", bulk),
    )


def test_a_check_sees_what_its_earlier_batches_would_write(rt, tmp_path) -> None:
    """Students created by the first batch are known to the next, as in ingest (batch size 1)."""
    small = with_settings(rt, bulk_batch_size=1)
    students = json.loads((DEMO / "01-grand-bend-isd.edfi-json.students.json").read_text(encoding="utf-8"))
    report = checked(
        small, "edfi-json", "grand-bend-isd", DEMO / "01-grand-bend-isd.edfi-json.students.json", "students"
    )
    assert report.counts["accepted"] == len(students)
    assert report.students == len(students)


def test_the_first_five_distinct_reasons_per_outcome_with_counts(rt, tmp_path) -> None:
    unmapped = [
        {"resourceType": "Medication"},
        {"resourceType": "Medication"},
        {"resourceType": "Medication"},
        {"resourceType": "Specimen"},
        {"resourceType": "Account", "status": "active"},
        {"resourceType": "Basic", "code": {"text": "x"}},
        {"resourceType": "List", "status": "current", "mode": "working"},
        {
            "resourceType": "Flag",
            "status": "active",
            "code": {"text": "x"},
            "subject": {"reference": "Patient/p"},
        },
    ]
    path = tmp_path / "mixed.ndjson"
    path.write_text("\n".join(json.dumps({"id": f"r{i}", **r}) for i, r in enumerate(unmapped)) + "\n")
    report = checked(rt, "fhir-ndjson", "riverside-health", path)
    rejected = report.reasons["rejected"]
    assert report.counts["rejected"] == len(unmapped)
    assert len(rejected) == MAX_REASONS
    assert rejected[0]["count"] == 3
    assert "'Medication'" in rejected[0]["reason"]
    assert rejected[0]["firstLocation"] == "line 1"
    assert report.would_reject
    assert_same(report, ingested(rt, "fhir-ndjson", "riverside-health", path))


def test_a_payload_refused_whole_is_reported_with_its_error_and_stores_nothing(rt) -> None:
    tables = snapshot(rt)
    report = check_payload(rt, source_org="riverside-health", format_name="fhir-json", payload=b"{not json")
    assert snapshot(rt) == tables
    assert report.error is not None
    assert report.error["code"] == "input_invalid"
    assert report.would_reject
    assert report.counts["rejected"] == 1  # as ingest counts it: one rejected record at "$"
    unknown = check_payload(rt, source_org="riverside-health", format_name="no-such-format", payload=b"{}")
    assert unknown.error is not None
    assert unknown.error["code"] == "unsupported_format"


def test_an_oversized_payload_is_refused_by_the_same_limit(rt) -> None:
    small = with_settings(rt, max_payload_bytes=10)
    report = check_payload(
        small, source_org="riverside-health", format_name="fhir-json", payload=b"{" + b" " * 20 + b"}"
    )
    assert report.error is not None
    assert report.error["code"] == "payload_too_large"


# ---- the API: POST /api/v1/exchanges/{format}?dry_run=true ----


def test_a_dry_run_over_the_api_stores_nothing_but_one_audit_entry_of_the_check(rt) -> None:
    client, headers = client_with_token(rt, "riverside-health")
    body = (DEMO / "04-riverside-health.fhir-json.screening.json").read_bytes()
    before = snapshot(rt)
    answer = client.post(
        "/api/v1/exchanges/fhir-json?dry_run=true",
        data=body,
        headers={**headers, "Content-Type": "application/fhir+json"},
    )
    assert answer.status_code == 200, answer.get_json()
    report = answer.get_json()
    assert (report["dryRun"], report["held"], report["wouldReject"]) == (True, report["records"], False)
    after = snapshot(rt)
    changed = {name for name in before if before[name] != after[name]}
    assert changed <= AUDIT_TABLES
    assert "audit_entries" in changed
    (entry,) = set(after["audit_entries"]) - set(before["audit_entries"])
    assert "'exchange.check'" in entry
    assert report["payloadDigest"] in entry
    assert "student" not in entry.lower().replace("'students'", "")
    # the same body sent for real lands as the check said
    real = client.post(
        "/api/v1/exchanges/fhir-json", data=body, headers={**headers, "Content-Type": "application/fhir+json"}
    )
    assert real.get_json()["held"] == report["held"]


@pytest.mark.parametrize("value", ["maybe", "yes"])
def test_a_dry_run_value_that_is_not_a_boolean_is_refused_and_nothing_is_stored(rt, value: str) -> None:
    client, headers = client_with_token(rt, "riverside-health")
    before = snapshot(rt)
    answer = client.post(f"/api/v1/exchanges/fhir-json?dry_run={value}", data=b"{}", headers=headers)
    assert (answer.status_code, answer.get_json()["error"]["issues"][0]["path"]) == (400, "dry_run")
    assert snapshot(rt)["messages"] == before["messages"]


def test_a_dry_run_needs_the_same_token(rt) -> None:
    client, _ = client_with_token(rt, "riverside-health")
    assert client.post("/api/v1/exchanges/fhir-json?dry_run=true", data=b"{}").status_code == 401


# ---- the CLI: spgw check ----


@pytest.fixture
def spgw(rt, database_url: str, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("GATEWAY_DATABASE_URL", database_url)

    def run(*args: str) -> tuple[int, str]:
        result = CliRunner().invoke(main, ["--home", str(rt.settings.home), *args])
        return result.exit_code, result.output

    return run


def test_cli_check_prints_a_table_per_file_and_exits_0_when_nothing_would_be_rejected(rt, spgw) -> None:
    tables = snapshot(rt)
    screening = DEMO / "04-riverside-health.fhir-json.screening.json"
    code, output = spgw(
        "check",
        "fhir-json",
        str(screening),
        str(FIXTURES / "fhir" / "features.json"),
        "--source",
        "riverside-health",
    )
    assert code == 0, output
    lines = output.splitlines()
    assert lines[0].split() == ["file", "records", "land", "held", "ignored", "rejected", "failed"]
    assert lines[1].startswith(screening.name)
    assert any(line.strip().startswith("held x") and "no student is linked" in line for line in lines)
    assert lines[-1] == "nothing would be rejected (nothing was stored)"
    assert snapshot(rt) == tables


def test_cli_check_json_and_exit_1_when_a_record_would_be_rejected(rt, spgw) -> None:
    malformed = DEMO / "06-riverside-health.fhir-json.malformed.json"
    code, output = spgw("check", "fhir-json", str(malformed), "--source", "riverside-health", "--json")
    result = json.loads(output)
    assert (code, result["wouldReject"], result["files"][0]["file"]) == (1, True, malformed.name)
    assert result["files"][0]["reasons"]["rejected"][0]["count"] >= 1


def test_cli_check_refuses_a_folder_that_is_no_oneroster_bundle(rt, spgw, tmp_path) -> None:
    code, output = spgw("check", "fhir-json", str(tmp_path), "--source", "riverside-health")
    assert code == 2
    assert "only OneRoster bundles may be folders" in output
