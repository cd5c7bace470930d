"""Witnesses through the outbox: each signed head is queued per witness with the checkpoint and
sent by ``spgw deliver``'s loop over real HTTP to a witness that checks the signature and the
consistency proof from the last head it acknowledged, as a transparency-log witness does."""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Iterator

import pytest
from flask import Flask, jsonify, request

from gateway.core.merkle import verify_consistency
from gateway.core.tree_head import from_dict
from gateway.service.administration.keys import audit_public_keys, verifies
from gateway.service.compliance import audit, witness
from gateway.storage import audit_store
from tests.helpers import send_demo
from tests.http_server import serve_wsgi


class Witness:
    """Keeps the newest head it accepted; refuses a bad signature or an inconsistent tree."""

    def __init__(self, rt) -> None:
        self.rt, self.accepted, self.refused, self.fail_next = rt, [], [], 0

    def app(self) -> Flask:
        app = Flask("witness")

        @app.post("/heads")
        def heads():
            if self.fail_next:
                self.fail_next -= 1
                return jsonify({"error": "later"}), 503
            doc = request.get_json()
            head = from_dict(doc["head"])
            public = audit_public_keys(self.rt.settings.home).get(head.key_id)
            if public is None or not verifies(public, head.body().encode(), head.signature):
                self.refused.append("signature")
                return jsonify({"error": "signature"}), 400
            proof = [base64.b64decode(p) for p in doc["consistency"]["proof"]]
            old = self.accepted[-1] if self.accepted else None
            old_size, old_root = (old.size, bytes.fromhex(old.root[7:])) if old else (0, b"")
            if doc["consistency"]["fromSize"] != old_size or not verify_consistency(
                old_size, head.size, old_root, bytes.fromhex(head.root[7:]), proof
            ):
                self.refused.append("consistency")
                return jsonify({"error": "consistency"}), 409
            self.accepted.append(head)
            return jsonify({"ok": True}), 200

        return app


@pytest.fixture
def witnessed(rt) -> Iterator[tuple[object, Witness]]:
    server_witness = Witness(rt)
    with serve_wsgi(server_witness.app()) as base:
        settings = dataclasses.replace(
            rt.settings, audit_witnesses=(("watcher", f"{base}/heads"),), checkpoint_every_entries=4
        )
        yield dataclasses.replace(rt, settings=settings), server_witness


def test_heads_reach_the_witness_with_consistency_proofs(witnessed):
    rt, seen = witnessed
    with rt.sessions() as session:
        before = {r.seq for r in audit_store_rows(session)}  # signed before a witness was configured
    for prefix in ("01", "02"):
        send_demo(rt, prefix)
    audit.checkpoint(rt, reason="manual")
    first = witness.deliver_heads(rt)
    assert first
    assert all(d["status"] == "sent" for d in first)
    for prefix in ("03", "04", "05"):
        send_demo(rt, prefix)
    audit.checkpoint(rt, reason="manual")
    assert all(d["status"] == "sent" for d in witness.deliver_heads(rt))
    assert not seen.refused
    assert len(seen.accepted) >= 2
    assert seen.accepted[-1] == dataclasses.replace(
        audit.latest(rt, sign=False), reason=seen.accepted[-1].reason
    )
    with rt.sessions() as session:
        rows = audit_store.witness_rows(session)
    assert rows
    assert {r.status for r in rows} == {"sent"}
    # Each head was queued in the transaction that stored it: one row per head, per witness.
    with rt.sessions() as session:
        stored = {r.seq for r in audit_store_rows(session)}
    assert {r.checkpoint_seq for r in rows} == stored - before


def test_a_witness_that_answers_later_is_retried_with_backoff(witnessed, clock):
    rt, seen = witnessed
    seen.fail_next = 1
    send_demo(rt, "01")
    audit.checkpoint(rt, reason="manual")
    assert [d["status"] for d in witness.deliver_heads(rt)] == ["queued"]
    assert witness.deliver_heads(rt) == []  # not due yet
    clock.advance(seconds=witness.backoff(1).total_seconds() + 1)
    assert [d["status"] for d in witness.deliver_heads(rt)] == ["sent"]
    assert len(seen.accepted) == 1


def audit_store_rows(session):
    return audit_store.checkpoints(session)
