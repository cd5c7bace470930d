"""The audit trail on a real database: every tampering a database-only attacker can do is found."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from gateway.cli import main
from gateway.service.compliance.audit import checkpoint, latest, verify
from tests.helpers import send_demo


@pytest.fixture
def busy_rt(rt):
    """A gateway with a few exchanges in its audit trail."""
    for prefix in ("01", "02", "03", "04", "05"):
        send_demo(rt, prefix)
    assert verify(rt).ok
    return rt


def sql(rt, statement: str, **params) -> None:
    with rt.engine.begin() as connection:
        connection.execute(text(statement), params)


def edit_details(rt):
    sql(rt, "UPDATE audit_entries SET actor = 'someone-else' WHERE seq = 3")


def delete_middle(rt):
    sql(rt, "DELETE FROM audit_entries WHERE seq = 3")


def swap_two(rt):
    sql(rt, "UPDATE audit_entries SET seq = -1 WHERE seq = 3")
    sql(rt, "UPDATE audit_entries SET seq = 3 WHERE seq = 4")
    sql(rt, "UPDATE audit_entries SET seq = 4 WHERE seq = -1")


def truncate_tail(rt):
    sql(rt, "DELETE FROM audit_entries WHERE seq > 3")
    sql(rt, "DELETE FROM audit_checkpoints WHERE seq > 3")
    sql(rt, "UPDATE audit_head SET seq = 3, hash = (SELECT hash FROM audit_entries WHERE seq = 3)")


def forge_checkpoint(rt):
    sql(
        rt,
        "UPDATE audit_checkpoints SET hash = :h WHERE seq = (SELECT max(seq) FROM audit_checkpoints)",
        h="sha256:" + "1" * 64,
    )


@pytest.mark.parametrize(
    ("tamper", "kind", "seq"),
    [
        pytest.param(edit_details, "edited", 3, id="edited entry"),
        pytest.param(delete_middle, "deleted", 3, id="deleted entry"),
        pytest.param(swap_two, "reordered", 3, id="reordered entries"),
        pytest.param(truncate_tail, "truncated", None, id="truncated log with its checkpoints"),
        pytest.param(forge_checkpoint, "forged-checkpoint", None, id="forged checkpoint row"),
    ],
)
def test_verify_finds_the_tampering(busy_rt, tamper, kind, seq):
    tamper(busy_rt)
    report = verify(busy_rt)
    assert not report.ok
    kinds = {(b.kind, b.seq) for b in report.breaks}
    assert any(k == kind and (seq is None or s == seq) for k, s in kinds), kinds


def test_appending_after_verify_keeps_the_chain_whole(busy_rt):
    send_demo(busy_rt, "06")
    report = verify(busy_rt)
    assert report.ok
    assert report.head_seq == report.entries


def test_checkpoint_is_signed_with_a_key_outside_the_database(busy_rt):
    assert checkpoint(busy_rt) is None  # the log has not moved since the last head
    head = latest(busy_rt)
    stored = json.loads((busy_rt.settings.home / "audit" / "checkpoint.json").read_text())
    assert (stored["size"], stored["hash"], stored["root"]) == (head.size, head.hash, head.root)
    assert (busy_rt.settings.home / "keys" / "audit-ed25519.pem").exists()
    with busy_rt.engine.connect() as c:
        tables = " ".join(str(v) for (v,) in c.execute(text("SELECT signature FROM audit_checkpoints")))
    assert "PRIVATE KEY" not in tables


@pytest.mark.parametrize("tampered", [False, True], ids=["intact", "tampered"])
def test_cli_audit_verify_exit_code(busy_rt, tampered, monkeypatch):
    if tampered:
        edit_details(busy_rt)
    monkeypatch.setenv("GATEWAY_DATABASE_URL", busy_rt.settings.database_url)
    result = CliRunner().invoke(main, ["--home", str(busy_rt.settings.home), "audit", "verify", "--json"])
    report = json.loads(result.output)
    assert report["ok"] is (not tampered)
    assert result.exit_code == (1 if tampered else 0)
