"""Bulk and delta semantics of OneRoster bundles, and the ingest command."""

from __future__ import annotations

import json

from click.testing import CliRunner
from oneroster_helpers import (
    FIXTURES,
    SOURCE,
    elements_from,
    folder_files,
    plan_of,
    register_students,
    zip_files,
)

from gateway.cli import main
from gateway.service.compliance.audit import verify
from gateway.service.exchange.oneroster import ingest_oneroster
from gateway.service.exchange.retractions import known_source_ids

GRADEBOOK = FIXTURES / "v1p1-gradebook"


def _gradebook_with(**changes: str) -> bytes:
    files = folder_files(GRADEBOOK)
    files.update(changes)
    return zip_files(files)


def _enrollment_ids(rt, student: str) -> set[str]:
    return {e["provenance"]["sourceRecord"]["id"] for e in elements_from(plan_of(rt, student), "enrollments")}


def test_a_bulk_file_retracts_what_it_no_longer_contains(rt):
    register_students(rt, "900001", "900002")
    ingest_oneroster(rt, source_org=SOURCE, path_or_bytes=GRADEBOOK)
    assert _enrollment_ids(rt, "900002") == {"e-2"}
    enrollments = (
        (GRADEBOOK / "enrollments.csv").read_text().replace("e-2,,,k-bio-1,s-1,900002", "e-9,,,k-bio-1,s-1,9")
    )
    summary = ingest_oneroster(
        rt, source_org=SOURCE, path_or_bytes=_gradebook_with(**{"enrollments.csv": enrollments})
    )
    assert [(r.entity, r.records) for r in summary.retractions] == [("enrollments", 1)]
    assert _enrollment_ids(rt, "900002") == set()
    assert _enrollment_ids(rt, "900001") == {"e-1"}
    assert known_source_ids(rt, source_org=SOURCE, entity="enrollments") == {"e-1"}
    assert verify(rt).ok


def test_a_rejected_row_in_a_bulk_file_does_not_deactivate_its_record(rt):
    register_students(rt, "900001", "900002")
    ingest_oneroster(rt, source_org=SOURCE, path_or_bytes=GRADEBOOK)
    broken = (
        (GRADEBOOK / "enrollments.csv")
        .read_text()
        .replace("900002,student,,2025-08-18", "900002,student,,18/08/2025")
    )
    summary = ingest_oneroster(
        rt, source_org=SOURCE, path_or_bytes=_gradebook_with(**{"enrollments.csv": broken})
    )
    assert summary.outcome["rejected"] == 1
    assert summary.retractions == ()
    assert _enrollment_ids(rt, "900002") == {"e-2"}


def test_a_header_only_bulk_file_empties_its_entity(rt):
    register_students(rt, "900001", "900002")
    ingest_oneroster(rt, source_org=SOURCE, path_or_bytes=GRADEBOOK)
    header = (GRADEBOOK / "results.csv").read_text().splitlines()[0] + "\n"
    summary = ingest_oneroster(
        rt, source_org=SOURCE, path_or_bytes=_gradebook_with(**{"results.csv": header})
    )
    assert [(r.entity, r.records) for r in summary.retractions] == [("results", 2)]
    assert plan_of(rt, "900001")["strengths"] == []


def test_a_file_declared_absent_retracts_nothing(rt):
    register_students(rt, "900001", "900002")
    ingest_oneroster(rt, source_org=SOURCE, path_or_bytes=GRADEBOOK)
    manifest = (GRADEBOOK / "manifest.csv").read_text().replace("file.results,bulk", "file.results,absent")
    files = {k: v for k, v in folder_files(GRADEBOOK).items() if k != "results.csv"}
    summary = ingest_oneroster(
        rt, source_org=SOURCE, path_or_bytes=zip_files({**files, "manifest.csv": manifest})
    )
    assert summary.retractions == ()
    assert len(plan_of(rt, "900001")["strengths"]) == 1


def test_a_delta_file_applies_tobedeleted_and_maps_active_rows(rt):
    register_students(rt, "900001", "900002")
    ingest_oneroster(rt, source_org=SOURCE, path_or_bytes=GRADEBOOK)
    summary = ingest_oneroster(rt, source_org=SOURCE, path_or_bytes=FIXTURES / "v1p2-delta")
    assert summary.version == "1.2"
    assert [(r.entity, r.records) for r in summary.retractions] == [("enrollments", 1)]
    assert _enrollment_ids(rt, "900001") == {"e-4"}  # e-1 deleted, e-4 added
    assert _enrollment_ids(rt, "900002") == {"e-2"}  # a delta leaves the rest alone
    grades = [e["value"]["code"] for e in elements_from(plan_of(rt, "900001"), "users")]
    assert grades == ["11"]  # the delta's active user row updated the rostered grade
    outcome = summary.outcome
    assert (outcome["rejected"], outcome["held"]) == (0, 0)


def test_an_inactive_delta_row_deactivates_like_tobedeleted(rt):
    register_students(rt, "900001", "900002")
    ingest_oneroster(rt, source_org=SOURCE, path_or_bytes=GRADEBOOK)
    files = folder_files(FIXTURES / "v1p2-delta")
    files["enrollments.csv"] = files["enrollments.csv"].replace(b"e-1,tobedeleted", b"e-1,inactive")
    summary = ingest_oneroster(rt, source_org=SOURCE, path_or_bytes=zip_files(files))
    assert [(r.entity, r.records) for r in summary.retractions] == [("enrollments", 1)]


def test_spgw_ingest_oneroster_takes_a_folder_or_a_zip(rt, settings, tmp_path):
    register_students(rt, "900001", "900002")
    runner = CliRunner()
    env = {"GATEWAY_HOME": str(settings.home), "GATEWAY_DATABASE_URL": settings.database_url}
    folder = runner.invoke(
        main, ["ingest", "oneroster", str(GRADEBOOK), "--source", SOURCE, "--json"], env=env
    )
    assert folder.exit_code == 0, folder.output
    body = json.loads(folder.output)
    assert body["accepted"] == 6
    assert body["messages"][0]["oneroster"]["version"] == "1.1"
    bundle = tmp_path / "bundle.zip"
    bundle.write_bytes(zip_files(folder_files(GRADEBOOK)))
    again = runner.invoke(
        main, ["ingest", "oneroster-csv", str(bundle), "--source", SOURCE, "--json"], env=env
    )
    assert again.exit_code == 0, again.output
    assert json.loads(again.output)["messages"][0]["elementsChanged"] == 0


def test_spgw_ingest_refuses_a_folder_for_other_formats(rt, settings):
    env = {"GATEWAY_HOME": str(settings.home), "GATEWAY_DATABASE_URL": settings.database_url}
    result = CliRunner().invoke(main, ["ingest", "edfi-json", str(GRADEBOOK), "--source", SOURCE], env=env)
    assert result.exit_code != 0
    assert "only OneRoster bundles may be folders" in result.output


def test_a_bundle_posted_over_http_applies_its_manifest_like_the_cli(rt):
    from test_web_api import bearer_headers

    from gateway.web.app import create_app

    register_students(rt, "900001", "900002")
    client = create_app({"TESTING": True}, runtime=rt).test_client()
    headers = {**bearer_headers(client, rt)[SOURCE], "Content-Type": "application/zip"}
    first = client.post(
        "/api/v1/exchanges/oneroster-csv", data=zip_files(folder_files(GRADEBOOK)), headers=headers
    )
    assert first.status_code == 200, first.get_json()
    enrollments = (
        (GRADEBOOK / "enrollments.csv").read_text().replace("e-2,,,k-bio-1,s-1,900002", "e-9,,,k-bio-1,s-1,9")
    )
    second = client.post(
        "/api/v1/exchanges/oneroster-csv",
        data=_gradebook_with(**{"enrollments.csv": enrollments}),
        headers=headers,
    )
    assert second.status_code in (200, 202), second.get_json()
    assert _enrollment_ids(rt, "900002") == set()
    assert known_source_ids(rt, source_org=SOURCE, entity="enrollments") == {"e-1"}
