"""A kept directory import that a later import of its directory replaced can never land (it
would bring back what the newer snapshot changed): a replay ends it ``superseded``, a final
status with its reason, and a replay of statuses (a bare ``spgw messages replay``) leaves it
alone instead of failing it again on every run."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from gateway.cli import main
from gateway.errors import Conflict
from gateway.service.directory import directory_import as di
from gateway.service.directory.directory import service_count
from gateway.service.exchange.ingest import replay, replay_where
from gateway.service.exchange.messages import show_message
from gateway.service.runtime import Runtime
from gateway.storage import message_store
from gateway.storage.tables import AuditEntryRow
from tests.conftest import PROJECT_ROOT, Clock

FIXTURES = PROJECT_ROOT / "tests" / "fixtures" / "hsds"


def _kept_then_replaced(rt: Runtime, tmp_path: Path, clock: Clock) -> str:
    """An import with a rejected row (kept as a message), then a newer import of the directory."""
    services = json.loads((FIXTURES / "providence-3x.json").read_text())
    services[1]["status"] = "open"  # a status the gateway does not read: the service is rejected
    path = tmp_path / "pvd.json"
    path.write_text(json.dumps(services))
    message_id = di.import_path(rt, path, source="pvd").message_id
    clock.advance(minutes=5)
    di.import_path(rt, FIXTURES / "providence-3x.json", source="pvd")
    return message_id


def _explicit(rt: Runtime, message_id: str) -> str:
    with pytest.raises(Conflict, match="superseded by a later import of pvd"):
        di.replay(rt, message_id)
    return "conflict"


def _bare(rt: Runtime, message_id: str) -> str:
    [summary] = replay_where(rt)
    assert summary.message_id == message_id
    return summary.status


def _by_id(rt: Runtime, message_id: str) -> str:
    return replay(rt, message_id).status


WAYS: list[tuple[str, Callable[[Runtime, str], str], str]] = [
    ("spgw directory replay ID", _explicit, "conflict"),
    ("spgw messages replay (statuses)", _bare, "superseded"),
    ("spgw messages replay ID", _by_id, "superseded"),
]


@pytest.mark.parametrize(("way", "expected"), [w[1:] for w in WAYS], ids=[w[0] for w in WAYS])
def test_a_replaced_import_ends_superseded_and_a_bare_replay_leaves_it(
    bare_rt: Runtime, tmp_path: Path, clock: Clock, way: Callable[[Runtime, str], str], expected: str
) -> None:
    message_id = _kept_then_replaced(bare_rt, tmp_path, clock)
    before = show_message(bare_rt, message_id)
    assert way(bare_rt, message_id) == expected
    shown = show_message(bare_rt, message_id)
    assert (shown["status"], shown["reasonCode"]) == ("superseded", "Superseded")
    assert shown["reason"].startswith("superseded by a later import of pvd (")
    assert shown["records"] == before["records"]  # what its rows said stays readable
    assert replay_where(bare_rt) == []  # final: not picked up again
    assert service_count(bare_rt) == 4  # the newer snapshot, untouched


def test_a_message_failed_by_the_old_refusal_is_settled_by_the_next_bare_replay(
    bare_rt: Runtime, tmp_path: Path, clock: Clock
) -> None:
    message_id = _kept_then_replaced(bare_rt, tmp_path, clock)
    with bare_rt.sessions.begin() as session:  # what earlier versions left: failed (Conflict)
        row = message_store.get_message(session, message_id)
        assert row is not None
        row.status = "failed"
    assert [s.status for s in replay_where(bare_rt)] == ["superseded"]
    assert replay_where(bare_rt) == []


def test_superseding_is_audited_once_per_replay_without_the_directory_data(
    bare_rt: Runtime, tmp_path: Path, clock: Clock
) -> None:
    message_id = _kept_then_replaced(bare_rt, tmp_path, clock)
    replay_where(bare_rt)
    replay_where(bare_rt)
    with bare_rt.sessions() as session:
        details = session.scalars(
            select(AuditEntryRow.details).where(AuditEntryRow.kind == "exchange.superseded")
        ).all()
    assert [(d["messageId"], d["code"]) for d in details] == [(message_id, "Superseded")]


def test_a_message_no_later_import_replaced_stays_replayable(
    bare_rt: Runtime, tmp_path: Path, clock: Clock
) -> None:
    """Only a newer import supersedes: one as old as the kept message leaves it replayable."""
    services = json.loads((FIXTURES / "providence-3x.json").read_text())
    services[1]["status"] = "open"
    path = tmp_path / "pvd.json"
    path.write_text(json.dumps(services))
    message_id = di.import_path(bare_rt, path, source="pvd").message_id
    assert [s.status for s in replay_where(bare_rt)] == ["partial"]  # still rejected, not superseded
    assert show_message(bare_rt, message_id)["status"] == "partial"


def test_cli_bare_replay_says_superseded_once_then_nothing_to_replay(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GATEWAY_DATABASE_URL", database_url)

    def spgw(*args: str) -> tuple[int, str]:
        result = CliRunner().invoke(main, ["--home", str(tmp_path / "gw"), *args])
        return result.exit_code, result.output

    services = json.loads((FIXTURES / "providence-3x.json").read_text())
    services[1]["status"] = "open"
    (tmp_path / "pvd.json").write_text(json.dumps(services))
    assert spgw("init", "--json")[0] == 0
    code, output = spgw("directory", "import", str(tmp_path / "pvd.json"), "--source", "pvd")
    message_id = output.split("kept as message ")[1].split()[0]
    assert spgw("directory", "import", str(FIXTURES / "providence-3x.json"), "--source", "pvd")[0] == 0
    code, output = spgw("messages", "replay")
    assert (code, output.split(" ")[:3]) == (0, [f"{message_id}:", "superseded", "superseded"])
    assert spgw("messages", "replay") == (0, "nothing to replay\n")
