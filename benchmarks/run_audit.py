"""The audit log's costs: appends inside ingest, verify over a large log, one student's accounting.

Usage: python -m benchmarks.run_audit [--entries N] [--records N] [sqlite|postgresql]

(a) ``ingest``: the generated Ed-Fi workload of ``--records`` records (1,000 by default) ingested
    with ``audit.record`` timed; reported as entries appended, the seconds spent in
    ``audit.record`` and its share of the ingest's time (the baseline: the same ingest, same run).
(b) ``verify``: a log of ``--entries`` entries (1,000,000 for the reported figure; ``make bench``
    runs 100,000) built with bulk inserts of properly sealed entries (mixed kinds; ``disclosure``
    entries for 1,000 students shaped by gateway/core/disclosure.py) and a maintained frontier,
    one signed head; ``audit.verify`` entries/s against the baseline of only streaming the rows.
(c) ``accounting``: when gateway.service.compliance.accounting.accounting_for exists, one student's
    accounting in that log against a plain indexed SELECT of the subject's rows.

One JSON line per part on stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from typing import Any

from sqlalchemy import insert, select, text

from benchmarks.run_pipeline import fresh_gateway, ingest_all, log, read_payloads, require_workload
from gateway.core.audit import GENESIS_HASH, AuditEntry, seal
from gateway.core.disclosure import DisclosureRecord
from gateway.core.merkle import TreeBuilder, leaf_of
from gateway.service.compliance import audit
from gateway.service.runtime import Runtime
from gateway.storage.tables import AuditEntryRow, AuditHead

STUDENTS = 1_000
BATCH = 10_000


def details_for(n: int) -> tuple[str, str, dict[str, Any]]:
    """Kind, subject and details of entry ``n``: a disclosure, a decision or an ingest, in turn."""
    student = f"stu-{n % STUDENTS:06d}"
    if n % 3 == 0:
        record = DisclosureRecord(
            disclosure_id=f"dlv-{n}",
            flow="plan.read",
            sources=("grand-bend-isd",),
            recipient="northside-food-bank",
            recipient_role="case-worker",
            actor="t-coord",
            purpose="care-coordination",
            legal_basis=("consent",),
            categories=("identity", "needs"),
            elements=("student.name", "needs"),
            record_count=2,
            payload_digest="sha256:" + f"{n:064x}"[-64:],
            redactions=(),
            agreements=("gbisd-northside-2026@1",),
            consent_ids=("consent-0002",),
            decision_ids=(f"dec-{n}",),
            policy_version="2026.1",
        )
        return "disclosure", student, record.to_details()
    if n % 3 == 1:
        return "decision", student, {"decisionId": f"dec-{n}", "effect": "permit", "basis": ["consent"]}
    return "ingest", f"msg-{n}", {"records": 1, "digest": "sha256:" + f"{n:064x}"[-64:]}


def build_log(rt: Runtime, total: int) -> None:
    """Append ``total`` sealed entries after the log's head, in bulk, and move the head."""
    with rt.sessions() as session:
        head = session.get(AuditHead, 1)
        seq, prev = (head.seq, head.hash) if head is not None else (0, GENESIS_HASH)
        rows = [(r,) for r in session.scalars(select(AuditEntryRow.hash).order_by(AuditEntryRow.seq))]
    tree = TreeBuilder()
    for (h,) in rows:
        tree.add(leaf_of(h))
    batch: list[dict[str, Any]] = []
    stamp = rt.now().isoformat()
    with rt.engine.begin() as connection:
        for n in range(total):
            seq += 1
            kind, subject, details = details_for(n)
            entry = seal(
                AuditEntry(
                    seq=seq,
                    recorded_at=stamp,
                    kind=kind,
                    actor="bench",
                    subject=subject,
                    details=details,
                    prev_hash=prev,
                )
            )
            tree.add(leaf_of(entry.hash))
            prev = entry.hash
            batch.append(
                {
                    "seq": seq,
                    "recorded_at": stamp,
                    "kind": kind,
                    "actor": "bench",
                    "subject": subject,
                    "details": details,
                    "prev_hash": entry.prev_hash,
                    "hash": entry.hash,
                }
            )
            if len(batch) == BATCH:
                connection.execute(insert(AuditEntryRow), batch)
                batch = []
        if batch:
            connection.execute(insert(AuditEntryRow), batch)
    with rt.sessions.begin() as session:
        head = session.get(AuditHead, 1)
        assert head is not None  # the demo world wrote entries
        head.seq, head.hash, head.frontier = seq, prev, tree.frontier().to_hex()
    audit.checkpoint(rt, reason="manual")


def stream_only(rt: Runtime) -> int:
    with rt.engine.connect() as connection:
        result = connection.execution_options(yield_per=5000).execute(select(AuditEntryRow.__table__))
        return sum(1 for _ in result)


def part_verify(rt: Runtime, total: int, db: str) -> dict[str, Any]:
    started = time.perf_counter()
    build_log(rt, total)
    built = time.perf_counter() - started
    log(f"  built {total} entries in {built:.1f}s")
    started = time.perf_counter()
    streamed = stream_only(rt)
    stream_s = time.perf_counter() - started
    started = time.perf_counter()
    report = audit.verify(rt)
    verify_s = time.perf_counter() - started
    if not report.ok:
        raise SystemExit(f"the benchmark log does not verify: {report.breaks[:3]}")
    return {
        "bench": "audit-verify",
        "db": db,
        "records": report.entries,
        "seconds": round(verify_s, 3),
        "per_second": round(report.entries / verify_s),
        "note": f"entries/s; baseline streaming the rows: {streamed / stream_s:,.0f} rows/s",
        "entries": report.entries,
        "verify_seconds": round(verify_s, 3),
        "verify_entries_per_s": round(report.entries / verify_s),
        "baseline_stream_seconds": round(stream_s, 3),
        "baseline_stream_rows_per_s": round(streamed / stream_s),
        "build_seconds": round(built, 1),
    }


def part_ingest(rt: Runtime, records: int, db: str) -> dict[str, Any]:
    spent = [0.0, 0]
    real = audit.record

    def timed(session: Any, runtime: Runtime, drafts: list[audit.AuditDraft]) -> list[AuditEntry]:
        started = time.perf_counter()
        try:
            return real(session, runtime, drafts)
        finally:
            spent[0] += time.perf_counter() - started
            spent[1] += len(drafts)

    audit.record = timed  # type: ignore[assignment]  # every caller reaches it through the module
    try:
        payloads = read_payloads(require_workload(records))
        started = time.perf_counter()
        ingest_all(rt, payloads)
        total = time.perf_counter() - started
    finally:
        audit.record = real  # type: ignore[assignment]
    return {
        "bench": "audit-appends",
        "db": db,
        "records": records,
        "seconds": round(total, 3),
        "note": f"{spent[1]} entries, audit.record {spent[0]:.3f} s = {spent[0] / total:.2%} of ingest",
        "entries_appended": spent[1],
        "ingest_seconds": round(total, 3),
        "audit_record_seconds": round(spent[0], 3),
        "audit_share_of_ingest": round(spent[0] / total, 4),
        "entries_per_s_in_audit_record": round(spent[1] / spent[0]) if spent[0] else None,
    }


def accounting_query(rt: Runtime, student: str) -> dict[str, Any] | None:
    """One student's accounting against a plain indexed SELECT of the subject's rows (helper B
    provides gateway.service.compliance.accounting.accounting_for; skipped while it does not exist)."""
    try:
        from gateway.service.compliance import accounting
        from gateway.service.compliance.audit_access import OPERATOR_READER
    except ImportError:
        return None
    started = time.perf_counter()
    accounting.accounting_for(rt, OPERATOR_READER, student)
    took = time.perf_counter() - started
    started = time.perf_counter()
    with rt.engine.connect() as connection:
        rows = connection.execute(
            text("SELECT * FROM audit_entries WHERE subject = :s"), {"s": student}
        ).all()
    plain = time.perf_counter() - started
    return {
        "bench": "audit-accounting",
        "student": student,
        "records": len(rows),
        "seconds": round(took, 4),
        "note": f"one student's accounting vs an indexed SELECT of its rows: {plain:.4f} s",
        "accounting_seconds": round(took, 4),
        "baseline_select_seconds": round(plain, 4),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--records", type=int, default=1_000)
    parser.add_argument("db", nargs="?", default="sqlite", choices=("sqlite", "postgresql"))
    args = parser.parse_args(argv)
    with fresh_gateway(args.db) as rt:
        rt = replace(rt, settings=replace(rt.settings, checkpoint_every_entries=256))
        print(json.dumps(part_ingest(rt, args.records, args.db)), flush=True)
        print(json.dumps(part_verify(rt, args.entries, args.db)), flush=True)
        found = accounting_query(rt, "stu-000042")
        if found is not None:
            print(json.dumps({**found, "db": args.db}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
