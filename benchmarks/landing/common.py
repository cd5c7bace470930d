"""What every landing case shares: the roster sent first, the decision timer, the landing check."""

from __future__ import annotations

import importlib
import json
import random
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from benchmarks.generate import DEFAULT_SEED, associations, encode, students
from benchmarks.run_pipeline import BenchmarkFailed
from gateway.service.runtime import Runtime

DISTRICT = "grand-bend-isd"
CLINIC = "riverside-health"
ROSTER_CHUNK = 5000
NOT_LANDED = ("rejected", "held", "failed", "ignored")


def emit(line: dict[str, Any]) -> None:
    print(json.dumps(line), flush=True)


def send(
    rt: Runtime,
    *,
    source_org: str,
    format_name: str,
    payload: bytes = b"",
    path: Path | None = None,
    entity: str | None = None,
) -> Any:
    """One inbound exchange through the gateway's door, as ``spgw ingest`` (a file) or a POST (bytes)
    sends it: ``ingest(rt, Inbound(...))`` where the one door exists, else the older ``ingest`` /
    ``ingest_file`` keywords (revisions up to d459db6, measured with ``--baseline-ref``)."""
    try:
        Inbound = service_module("exchange.inbound").Inbound  # noqa: N806 (a class)
    except ModuleNotFoundError:
        before = service_module("exchange.ingest")

        # The older signatures: type-checked against this checkout's gateway, which has the one door.
        if path is not None:
            return before.ingest_file(  # type: ignore[attr-defined]
                rt, source_org=source_org, format_name=format_name, path=path, entity=entity
            )
        return before.ingest(  # type: ignore[call-arg]
            rt, source_org=source_org, format_name=format_name, payload=payload, entity=entity
        )
    ingest = service_module("exchange.ingest").ingest
    inbound = Inbound(
        source_org=source_org, format_name=format_name, payload=payload, path=path, entity=entity
    )
    return ingest(rt, inbound)


def register_students(rt: Runtime, count: int) -> None:
    """Students B000001.. and their school enrolments, sent by the district (not timed)."""
    rng = random.Random(DEFAULT_SEED)
    for entity, records in (
        ("students", students(count, rng)),
        ("studentSchoolAssociations", associations(count, rng)),
    ):
        for start in range(0, count, ROSTER_CHUNK):
            chunk = records[start : start + ROSTER_CHUNK]
            summary = send(
                rt, source_org=DISTRICT, format_name="edfi-json", payload=encode(chunk), entity=entity
            )
            if summary.status != "mapped" or summary.outcome["accepted"] != len(chunk):
                raise BenchmarkFailed(f"roster {entity}: {summary.status}: {summary.reason}")


def require_landed(
    case: str,
    summaries: list[Any],
    records: int,
    students: int | None = None,
    each_changes: bool = True,
    ignored_ok: bool = False,
) -> dict[str, int]:
    """Fail loudly unless every record was accepted (and, with ``each_changes``, changed at least one
    plan element: attendance events change a derived summary, not one element each): a benchmark
    that measured rejections would measure the cheap path. ``summaries`` have an ``outcome`` dict."""
    totals = {key: sum(int(s.outcome.get(key, 0)) for s in summaries) for key in ("accepted", *NOT_LANDED)}
    totals["elementsChanged"] = sum(int(s.outcome.get("elementsChanged", 0)) for s in summaries)
    refused = [k for k in NOT_LANDED if not (ignored_ok and k == "ignored")]
    problems = [f"{totals[k]} {k}" for k in refused if totals[k]]
    if totals["accepted"] != records:
        problems.append(f"accepted {totals['accepted']} of {records}")
    if each_changes and totals["elementsChanged"] < records:
        problems.append(f"only {totals['elementsChanged']} plan elements changed for {records} records")
    listed = [r for s in summaries for r in s.outcome.get("records", []) if r.get("status") in refused]
    problems.extend(f"{r.get('location')}: {r.get('status')}: {r.get('reason')}" for r in listed[:3])
    problems.extend(
        f"message status {s.status}" for s in summaries if getattr(s, "status", "mapped") != "mapped"
    )
    if students is not None:
        touched = max((int(s.outcome.get("students", 0)) for s in summaries), default=0)
        if touched != students:
            problems.append(f"{touched} students' plans changed, expected {students}")
    if problems:
        raise BenchmarkFailed(f"{case} did not land: " + "; ".join(problems))
    return totals


def service_module(name: str) -> Any:
    """A service module by its path in the subpackages (``exchange.ingest``), or by its older flat
    path (``ingest``) at revisions before them, so ``--baseline-ref`` runs the same runner."""
    try:
        return importlib.import_module(f"gateway.service.{name}")
    except ModuleNotFoundError:
        return importlib.import_module(f"gateway.service.{name.rsplit('.', 1)[-1]}")


@contextmanager
def decision_timer() -> Iterator[dict[str, float]]:
    """Wall time inside the policy decision: ``enforcement.enforce``, which every enforcement point
    (the inbound decision among them) calls. A timer, not cProfile: profiling would inflate the
    many small calls around it and so flatter the share."""
    enforcement = service_module("policy.enforcement")
    original = enforcement.enforce
    spent = {"seconds": 0.0, "calls": 0}

    def enforce(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter_ns()
        try:
            return original(*args, **kwargs)
        finally:
            spent["seconds"] += (time.perf_counter_ns() - started) / 1e9
            spent["calls"] += 1

    enforcement.enforce = enforce
    try:
        yield spent
    finally:
        enforcement.enforce = original


def decision_fields(spent: dict[str, float], seconds: float) -> dict[str, Any]:
    if not spent["calls"]:
        log("!! the policy decision was never called through enforcement.enforce: share unknown")
        return {"decide_seconds": None, "decide_share": None, "decide_calls": 0}
    return {
        "decide_seconds": round(spent["seconds"], 4),
        "decide_share": round(spent["seconds"] / seconds, 5),
        "decide_calls": int(spent["calls"]),
    }


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
