"""Signed tree heads against someone with the database: every tampering, checked against heads kept
elsewhere (a witness's copy, appended ``spgw audit checkpoint`` outputs), on the real database."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import text

from gateway.cli import main
from gateway.core.audit import AuditEntry, seal
from gateway.core.tree_head import parse_kept
from gateway.service.administration.keys import SigningKey
from gateway.service.compliance import audit
from gateway.storage import audit_store
from tests.helpers import send_demo


@pytest.fixture
def logged(rt):
    """A gateway with a few exchanges, its newest head kept elsewhere (as a signed note)."""
    for prefix in ("01", "02", "03", "04", "05"):
        send_demo(rt, prefix)
    head = audit.latest(rt)
    kept = parse_kept(audit.note_of(rt, head))
    assert kept[0].size == head.size > 6
    assert audit.verify(rt, kept).ok
    return rt, kept


def sql(rt, statement: str, **params) -> None:
    with rt.engine.begin() as connection:
        connection.execute(text(statement), params)


def entries(rt) -> list[AuditEntry]:
    with rt.sessions() as session:
        return list(audit_store.stream_entries(session))


def checkpoint_file(rt) -> Path:
    return rt.settings.home / "audit" / "checkpoint.json"


def edit_field(rt):
    sql(rt, "UPDATE audit_entries SET actor = 'someone-else' WHERE seq = 3")


def edit_prev_hash(rt):
    sql(rt, "UPDATE audit_entries SET prev_hash = :h WHERE seq = 3", h="sha256:" + "2" * 64)


def delete_entry(rt):
    sql(rt, "DELETE FROM audit_entries WHERE seq = 3")


def swap_two(rt):
    sql(rt, "UPDATE audit_entries SET seq = -1 WHERE seq = 3")
    sql(rt, "UPDATE audit_entries SET seq = 3 WHERE seq = 4")
    sql(rt, "UPDATE audit_entries SET seq = 4 WHERE seq = -1")


def _cut_to(rt, size: int) -> None:
    sql(rt, "DELETE FROM audit_entries WHERE seq > :n", n=size)
    sql(rt, "DELETE FROM audit_checkpoints WHERE seq > :n", n=size)
    sql(rt, "UPDATE audit_head SET seq = :n, hash = (SELECT hash FROM audit_entries WHERE seq = :n)", n=size)


def truncate_tail(rt):
    _cut_to(rt, 3)  # the checkpoint file still names the old head


def rollback(rt):
    """The database and the checkpoint file restored together to the state at an older head."""
    with rt.sessions() as session:
        rows = audit_store_rows(session)
        old = audit_store.head_of(rows[len(rows) // 2])
    _cut_to(rt, old.size)
    checkpoint_file(rt).write_text(json.dumps(old.to_dict()), encoding="utf-8")


def fork(rt):
    """Entries 3.. rewritten as a valid chain (hashes recomputed), their heads and file removed."""
    chain = entries(rt)
    prev = chain[1].hash
    for entry in chain[2:]:
        changed = seal(dataclasses.replace(entry, actor="someone-else", prev_hash=prev, hash=""))
        sql(
            rt,
            "UPDATE audit_entries SET actor = :a, prev_hash = :p, hash = :h WHERE seq = :s",
            a=changed.actor,
            p=changed.prev_hash,
            h=changed.hash,
            s=changed.seq,
        )
        prev = changed.hash
    sql(rt, "DELETE FROM audit_checkpoints WHERE seq >= 3")
    sql(rt, "UPDATE audit_head SET hash = :h, frontier = NULL", h=prev)
    checkpoint_file(rt).unlink()


def append_after_head(rt):
    last = entries(rt)[-1]
    extra = seal(dataclasses.replace(last, seq=last.seq + 1, prev_hash=last.hash, hash="", kind="forged"))
    sql(
        rt,
        "INSERT INTO audit_entries (seq, recorded_at, kind, actor, subject, details, prev_hash, hash) "
        "VALUES (:s, :r, :k, :a, :u, :d, :p, :h)",
        s=extra.seq,
        r=extra.recorded_at,
        k=extra.kind,
        a=extra.actor,
        u=extra.subject,
        d=json.dumps(dict(extra.details)),
        p=extra.prev_hash,
        h=extra.hash,
    )
    sql(rt, "UPDATE audit_head SET seq = :s, hash = :h, frontier = NULL", s=extra.seq, h=extra.hash)


def delete_checkpoints(rt):
    sql(rt, "DELETE FROM audit_checkpoints")


def wrong_key(rt):
    with rt.sessions() as session:
        head = audit_store.head_of(audit_store.latest_head(session))
    other = SigningKey(key_id="ed25519:" + "e" * 16, private=Ed25519PrivateKey.generate())
    forged = dataclasses.replace(head, key_id=other.key_id, signature=other.sign(head.body().encode()))
    sql(
        rt,
        "UPDATE audit_checkpoints SET key_id = :k, signature = :s WHERE seq = :n",
        k=forged.key_id,
        s=forged.signature,
        n=head.size,
    )


def wrong_key_same_id(rt):
    """Signed by another key under the gateway's own key id."""
    with rt.sessions() as session:
        head = audit_store.head_of(audit_store.latest_head(session))
    other = SigningKey(key_id=head.key_id, private=Ed25519PrivateKey.generate())
    sql(
        rt,
        "UPDATE audit_checkpoints SET signature = :s WHERE seq = :n",
        s=other.sign(head.body().encode()),
        n=head.size,
    )


@pytest.mark.parametrize(
    ("tamper", "kind", "seq"),
    [
        pytest.param(edit_field, "edited", 3, id="edit a field"),
        pytest.param(edit_prev_hash, "edited", 3, id="edit a previous-hash field"),
        pytest.param(delete_entry, "deleted", 3, id="delete an entry"),
        pytest.param(swap_two, "reordered", 3, id="swap two entries"),
        pytest.param(truncate_tail, "truncated", None, id="truncate the tail with its checkpoints"),
        pytest.param(rollback, "rollback", None, id="restore an older database and checkpoint file"),
        pytest.param(fork, "fork", None, id="fork: a rewritten valid chain"),
        pytest.param(delete_checkpoints, "deleted-checkpoint", None, id="delete the checkpoints"),
        pytest.param(wrong_key, "forged-checkpoint", None, id="a checkpoint signed by an unknown key"),
        pytest.param(wrong_key_same_id, "forged-checkpoint", None, id="a checkpoint signed by the wrong key"),
    ],
)
def test_verify_against_kept_heads_finds_the_tampering(logged, tamper, kind, seq):
    rt, kept = logged
    tamper(rt)
    report = audit.verify(rt, kept)
    assert not report.ok
    found = {(b.kind, b.seq) for b in report.breaks}
    assert any(k == kind and (seq is None or s == seq) for k, s in found), found


def test_appending_after_the_last_head_is_reported_unsigned(logged):
    rt, kept = logged
    append_after_head(rt)
    report = audit.verify(rt, kept)
    assert report.ok  # nothing signed was broken, but the new entry is vouched for by nothing yet
    assert [(w.kind, w.seq) for w in report.warnings] == [("unsigned", kept[0].size + 1)]
    assert f"entries {kept[0].size + 1} are after the last signed head" in report.warnings[0].message


def test_a_kept_head_larger_than_a_log_restored_with_its_file_is_a_rollback_not_ok(logged):
    rt, kept = logged
    rollback(rt)
    assert audit.verify(rt).ok  # alone, the restored state is consistent with itself
    assert {b.kind for b in audit.verify(rt, kept).breaks} == {"rollback"}


def test_cli_checkpoint_outputs_appended_then_verify_against(logged, monkeypatch, tmp_path):
    rt, _ = logged
    monkeypatch.setenv("GATEWAY_DATABASE_URL", rt.settings.database_url)
    home = ["--home", str(rt.settings.home)]
    kept = tmp_path / "heads.txt"
    note = CliRunner().invoke(main, [*home, "audit", "checkpoint", "--note"])
    send_demo(rt, "06")
    as_json = CliRunner().invoke(main, [*home, "audit", "checkpoint", "--json"])
    assert note.exit_code == as_json.exit_code == 0, note.output + as_json.output
    assert note.output.startswith("student-privacy-gateway/audit\n")
    assert "\n\n\u2014 ed25519:" in note.output
    kept.write_text(note.output + as_json.output, encoding="utf-8")
    assert len(parse_kept(kept.read_text("utf-8"))) == 2
    ok = CliRunner().invoke(main, [*home, "audit", "verify", "--against", str(kept), "--json"])
    assert ok.exit_code == 0, ok.output
    truncate_tail(rt)
    bad = CliRunner().invoke(main, [*home, "audit", "verify", "--against", str(kept)])
    assert bad.exit_code == 1
    assert "truncated" in bad.output


def test_rotated_key_old_heads_still_verify(logged):
    rt, kept = logged
    old, new = audit.rotate_key(rt, "cli-user")
    assert old != new
    send_demo(rt, "06")
    head = audit.latest(rt)
    assert head.key_id == new
    report = audit.verify(rt, kept)
    assert report.ok, report.breaks
    with rt.sessions() as session:
        keys = [r.key_id for r in audit_store_rows(session)]
    assert old in keys
    assert new in keys
    assert keys[-1] == new
    assert any(
        e.kind == "audit.key-rotated" and e.details == {"oldKeyId": old, "newKeyId": new} for e in entries(rt)
    )
    # Without the retired public key the old heads are forged.
    for path in (rt.settings.home / "keys" / "audit-retired").glob("*.pub"):
        path.unlink()
    assert "forged-checkpoint" in {b.kind for b in audit.verify(rt).breaks}


def audit_store_rows(session):
    return audit_store.checkpoints(session)
