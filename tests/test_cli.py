"""The ``spgw`` command line, driven as a user would."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from gateway.cli import main
from tests.helpers import DISTRICT_IDS, demo_file


@pytest.fixture
def spgw(tmp_path, database_url, monkeypatch):
    """Run ``spgw`` against a fresh gateway home and the test database."""
    monkeypatch.setenv("GATEWAY_DATABASE_URL", database_url)
    home = tmp_path / "gw"

    def run(*args: str) -> tuple[int, str]:
        result = CliRunner().invoke(main, ["--home", str(home), *args])
        return result.exit_code, result.output

    return run


@pytest.fixture
def initialised(spgw):
    code, output = spgw("init", "--with-samples", "--json")
    assert code == 0, output
    return spgw


def test_init_creates_database_keys_and_demo_world(spgw, tmp_path):
    code, output = spgw("init", "--with-samples", "--json")
    report = json.loads(output)
    assert code == 0
    assert report["organizations"] == ["grand-bend-isd", "riverside-health", "northside-food-bank"]
    assert (tmp_path / "gw" / "keys" / "audit-ed25519.pem").exists()
    again_code, _ = spgw("init", "--json")
    assert again_code == 0  # init is safe to run again (migrates, keeps keys)


def test_commands_before_init_say_what_to_do(spgw):
    code, output = spgw("messages", "list")
    assert code != 0
    assert "spgw init" in output


def test_ingest_json_reports_counts_and_messages(initialised):
    code, output = initialised(
        "ingest", "edfi-json", str(demo_file("01")), "--source", "grand-bend-isd", "--json"
    )
    result = json.loads(output)
    assert code == 0
    assert (result["accepted"], result["rejected"]) == (3, 0)
    assert result["messages"][0]["status"] == "mapped"


def test_ingest_with_rejections_exits_non_zero_and_names_the_record(initialised):
    initialised("ingest", "edfi-json", str(demo_file("01")), "--source", "grand-bend-isd", "--json")
    code, output = initialised(
        "ingest", "edfi-json", str(demo_file("02")), "--source", "grand-bend-isd", "--json"
    )
    result = json.loads(output)
    assert code == 3
    assert result["rejected"] == 1
    assert result["messages"][0]["records"][0]["location"] == "$[2]"


def test_plan_show_by_linked_identifier(initialised):
    initialised("ingest", "edfi-json", str(demo_file("01")), "--source", "grand-bend-isd", "--json")
    code, output = initialised(
        "plan",
        "show",
        f"{DISTRICT_IDS}|604822",
        "--as",
        "grand-bend-isd",
        "--role",
        "coordinator",
        "--purpose",
        "care-coordination",
        "--json",
    )
    assert code == 0, output
    view = json.loads(output)
    assert view["plan"]["student"]["name"]["family"] == "Woods"
    assert view["disclosure"]["decisionIds"]


def test_plan_show_denied_looks_like_not_found(initialised):
    initialised("ingest", "edfi-json", str(demo_file("01")), "--source", "grand-bend-isd", "--json")
    _, denied = initialised(
        "plan",
        "show",
        f"{DISTRICT_IDS}|604822",
        "--as",
        "northside-food-bank",
        "--role",
        "case-worker",
        "--purpose",
        "research",
    )
    _, missing = initialised(
        "plan",
        "show",
        "stu-" + "a" * 26,
        "--as",
        "northside-food-bank",
        "--role",
        "case-worker",
        "--purpose",
        "research",
    )
    assert json.loads(denied)["error"]["code"] == json.loads(missing)["error"]["code"] == "not_found"


def test_messages_list_and_replay_held(initialised):
    initialised("ingest", "edfi-json", str(demo_file("01")), "--source", "grand-bend-isd", "--json")
    initialised("ingest", "fhir-json", str(demo_file("04")), "--source", "riverside-health", "--json")
    _, listed = initialised("messages", "list", "--status", "held", "--json")
    [held] = json.loads(listed)
    initialised("ingest", "fhir-json", str(demo_file("05")), "--source", "riverside-health", "--json")
    code, replayed = initialised("messages", "replay", "--status", "held", "--json")
    assert code == 0
    assert [(r["messageId"], r["status"]) for r in json.loads(replayed)] == [(held["id"], "mapped")]


def test_partner_credentials_are_shown_once(initialised):
    code, output = initialised("partners", "credentials", "riverside-health")
    issued = json.loads(output)
    assert code == 0
    assert issued["client_id"].startswith("riverside-health.")
    assert len(issued["client_secret"]) >= 32


def test_demo_runs_end_to_end(spgw, tmp_path):
    code, output = spgw("demo", "--home", str(tmp_path / "demo"))
    assert code == 0, output
    assert "Audit chain: verified" in output
    assert "held 1" in output
    assert "Food insecurity" in output


def test_plan_export_carries_obligations_and_keeps_to_the_field_set(initialised, tmp_path):
    initialised("ingest", "edfi-json", str(demo_file("01")), "--source", "grand-bend-isd", "--json")
    # Lisa's mother, who signed the referral consent, linked by the district's contact association.
    initialised("ingest", "edfi-json", str(demo_file("08")), "--source", "grand-bend-isd", "--json")
    initialised("ingest", "fhir-json", str(demo_file("05")), "--source", "riverside-health", "--json")
    code, output = initialised(
        "plan",
        "export",
        f"{DISTRICT_IDS}|604822",
        "--as",
        "northside-food-bank",
        "--role",
        "case-worker",
        "--purpose",
        "referral-fulfillment",
    )
    assert code == 0, output
    view = json.loads(output)
    kinds = {o["type"] for o in view["disclosure"]["obligations"]}
    assert {"retain-until", "no-redisclosure"} <= kinds
    assert "birthDate" not in view["plan"]["student"]  # outside the agreement's field set


def test_administrator_credentials_are_issued_with_their_role(initialised):
    code, output = initialised("partners", "credentials", "grand-bend-isd", "--role", "administrator")
    assert code == 0, output
    assert json.loads(output)["role"] == "administrator"
    code, output = initialised("partners", "credentials", "grand-bend-isd", "--role", "root")
    assert code != 0
    assert "administrator" in output  # the allowed values are named
