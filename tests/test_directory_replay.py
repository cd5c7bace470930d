"""Directory imports with rejected rows are kept like any rejected exchange (issue 16): a message
with a copy of what was read and the per-row reasons, shown by ``messages list``/``show``, and a
replay after a fix to the gateway lands the services those rows kept out, and only them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from gateway.cli import main
from gateway.errors import Conflict, NotFound
from gateway.formats import hsds_json
from gateway.service.directory import directory_import as di
from gateway.service.directory.directory import service_count
from gateway.service.exchange.messages import list_messages, show_message
from gateway.service.runtime import Runtime
from gateway.storage.tables import AuditEntryRow
from tests.conftest import PROJECT_ROOT, Clock

FIXTURES = PROJECT_ROOT / "tests" / "fixtures" / "hsds"


def _services_with_odd_status(tmp_path: Path) -> Path:
    """The 3.x fixture with one service whose status the gateway does not read (yet)."""
    services = json.loads((FIXTURES / "providence-3x.json").read_text())
    services[1]["status"] = "open"
    path = tmp_path / "pvd.json"
    path.write_text(json.dumps(services))
    return path


def _fix_the_reader(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fix a replay waits for: the gateway learns to read the status "open"."""
    monkeypatch.setattr(hsds_json, "STATUSES", (*hsds_json.STATUSES, "open"))


def test_an_import_with_rejected_rows_is_a_message_with_its_reasons(bare_rt: Runtime, tmp_path: Path) -> None:
    report = di.import_path(bare_rt, _services_with_odd_status(tmp_path), source="pvd")
    assert (report.added, report.rejected) == (3, 1)
    [listed] = list_messages(bare_rt, source="pvd")
    assert listed["id"] == report.message_id
    assert (listed["format"], listed["status"], listed["entity"]) == (di.FORMAT, "partial", "json")
    assert listed["counts"] == {"accepted": 3, "rejected": 1, "held": 0, "failed": 0, "ignored": 0}
    shown = show_message(bare_rt, report.message_id)
    assert [(r["location"], r["status"]) for r in shown["records"]] == [("pvd.json $[1].status", "rejected")]
    assert "status must be one of" in shown["records"][0]["reason"]
    assert not di.import_path(bare_rt, FIXTURES / "providence-3x.json", source="pvd").message_id  # clean


def test_a_replay_after_the_fix_lands_the_rejected_service(
    bare_rt: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    report = di.import_path(bare_rt, _services_with_odd_status(tmp_path), source="pvd")
    (tmp_path / "pvd.json").unlink()  # the replay reads the gateway's copy, not the file
    assert service_count(bare_rt) == 3
    _fix_the_reader(monkeypatch)
    again = di.replay(bare_rt, report.message_id)
    assert (again.added, again.changed, again.removed, again.rejected) == (1, 0, 0, 0)
    assert service_count(bare_rt) == 4
    shown = show_message(bare_rt, report.message_id)
    assert (shown["status"], shown["counts"]["accepted"], shown["records"]) == ("mapped", 4, [])
    assert shown["attempts"] == 2
    with bare_rt.sessions() as session:
        details = session.scalars(
            select(AuditEntryRow.details).where(AuditEntryRow.kind == "directory.imported")
        ).all()
    assert [d.get("messageId") or d.get("replayOf") for d in details] == [report.message_id] * 2


def test_a_replay_without_the_fix_lands_nothing_and_keeps_the_reasons(
    bare_rt: Runtime, tmp_path: Path
) -> None:
    report = di.import_path(bare_rt, _services_with_odd_status(tmp_path), source="pvd")
    again = di.replay(bare_rt, report.message_id)
    assert (again.added, again.changed, again.removed, again.rejected) == (0, 0, 0, 1)
    shown = show_message(bare_rt, report.message_id)
    assert (shown["status"], shown["counts"]["accepted"], shown["counts"]["rejected"]) == ("partial", 3, 1)
    assert service_count(bare_rt) == 3


def test_a_folder_is_kept_as_a_zip_and_replays(bare_rt: Runtime, tmp_path: Path) -> None:
    folder = tmp_path / "providence-1x"
    shutil.copytree(FIXTURES / "providence-1x", folder)
    report = di.import_path(bare_rt, folder, source="pvd")
    assert report.rejected == 2
    assert report.message_id
    shutil.rmtree(folder)
    again = di.replay(bare_rt, report.message_id)  # the same rows, read from the zipped copy
    assert sorted(p.where for p in again.problems if p.severity == "rejected") == [
        "services.csv row 5",
        "services_at_location.csv row 6",
    ]
    assert show_message(bare_rt, report.message_id)["entity"] == "tabular"


def test_a_later_import_of_the_directory_refuses_the_replay(
    bare_rt: Runtime, tmp_path: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    report = di.import_path(bare_rt, _services_with_odd_status(tmp_path), source="pvd")
    clock.advance(minutes=5)
    _fix_the_reader(monkeypatch)
    di.import_path(bare_rt, FIXTURES / "providence-3x.json", source="pvd")  # a newer snapshot
    with pytest.raises(Conflict, match="superseded by a later import of pvd"):
        di.replay(bare_rt, report.message_id)
    assert show_message(bare_rt, report.message_id)["status"] == "superseded"  # final, never replayed


def test_only_a_directory_message_replays_here(bare_rt: Runtime) -> None:
    with pytest.raises(NotFound):
        di.replay(bare_rt, "no-such-message")


def test_cli_import_names_the_message_messages_lists_it_and_replay_exits_3_while_rejected(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GATEWAY_DATABASE_URL", database_url)

    def spgw(*args: str) -> tuple[int, str]:
        result = CliRunner().invoke(main, ["--home", str(tmp_path / "gw"), *args])
        return result.exit_code, result.output

    assert spgw("init", "--json")[0] == 0
    code, output = spgw("directory", "import", str(_services_with_odd_status(tmp_path)), "--source", "pvd")
    assert code == 3, output
    message_id = output.split("kept as message ")[1].split()[0]
    code, output = spgw("messages", "list", "--json")
    assert [(m["id"], m["status"]) for m in json.loads(output)] == [(message_id, "partial")]
    code, output = spgw("directory", "replay", message_id, "--json")
    assert code == 3, output
    assert json.loads(output)["messageId"] == message_id


def test_messages_replay_reruns_a_directory_import_through_its_own_road(
    bare_rt: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gateway.service.exchange.ingest import replay_where

    report = di.import_path(bare_rt, _services_with_odd_status(tmp_path), source="pvd")
    [unfixed] = replay_where(bare_rt, ("partial",))  # not the partner pipeline: its reasons stay
    assert unfixed.message_id == report.message_id
    shown = show_message(bare_rt, report.message_id)
    assert shown["status"] == "partial"
    assert "status must be one of" in shown["records"][0]["reason"]
    _fix_the_reader(monkeypatch)
    replay_where(bare_rt, ("partial",))
    assert service_count(bare_rt) == 4
    assert show_message(bare_rt, report.message_id)["status"] == "mapped"
