"""A batch's keys looked up in the database: ``storage.dialect.one_of`` finds what ``IN`` finds, on
both databases (one array parameter on PostgreSQL); a FHIR batch looks each of its resources up
once; on PostgreSQL the documents are compressed with lz4 where the server has it (0018); a plan
reads back as the text written (JSON, not JSONB, on PostgreSQL: 0019)."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import insert, select, text

from gateway.core.plan_texts import encode_plan
from gateway.service.exchange.inbound import Inbound
from gateway.service.exchange.ingest import ingest
from gateway.storage import fhir_bulk, plan_store, student_store
from gateway.storage.dialect import one_of
from gateway.storage.fhir_bulk import TOKENS

ROOT = Path(__file__).resolve().parent.parent
PATIENT_SAMPLE = json.loads((ROOT / "tests" / "samples" / "fhir" / "patient.json").read_text())
# Values an array literal or an IN list must carry as they are.
NOW = dt.datetime(2026, 12, 7, 12, 0, tzinfo=dt.UTC)
AWKWARD = ["a,b", "{brace}", 'quote "q"', "back\\slash", "NULL", "é ü 中", "", " space "]


def _stored_ids(rt: Any, where: Any) -> set[str]:
    with rt.sessions() as session:
        return set(session.scalars(select(TOKENS.c.id).where(TOKENS.c.resource_type == "Keyed", where)))


@pytest.mark.parametrize("count", [0, 1, 7, 500])
def test_one_of_finds_what_in_finds(rt: Any, count: int) -> None:
    rows = [
        {"resource_type": "Keyed", "param": "p", "value": "v", "id": f"{AWKWARD[n % 8]}{n}"}
        for n in range(40)
    ]
    with rt.sessions.begin() as session:
        session.execute(insert(TOKENS), rows)
    # every other stored id, and as many that are stored nowhere
    wanted = [f"{AWKWARD[n % 8]}{n}" for n in range(0, 40, 2)][:count] + [
        f"missing-{n}" for n in range(count)
    ]
    with rt.sessions() as session:
        found = _stored_ids(rt, one_of(session, TOKENS.c.id, wanted))
    assert found == set(wanted) & {row["id"] for row in rows}
    assert len(found) == min(count, 20)
    assert found == _stored_ids(rt, TOKENS.c.id.in_(wanted))


def test_one_of_is_one_array_parameter_on_postgresql(rt: Any) -> None:
    with rt.sessions() as session:
        condition = one_of(session, TOKENS.c.id, ["a", "b", "c"])
        sql = str(select(TOKENS.c.id).where(condition).compile(dialect=session.get_bind().dialect))
    if rt.engine.dialect.name == "postgresql":
        assert "= ANY (" in sql
        assert sql.count("%(") == 1
    else:
        assert " IN (" in sql


def test_a_fhir_batch_looks_each_resource_up_once(rt: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    looked_up: Counter[tuple[str, str]] = Counter()
    real = fhir_bulk.stored

    def counting(session: Any, keys: Any) -> Any:
        keys = list(keys)
        looked_up.update(keys)
        return real(session, keys)

    monkeypatch.setattr(fhir_bulk, "stored", counting)
    patient = PATIENT_SAMPLE["record"]
    lines = [orjson.dumps({**patient, "id": f"once-{n}"}) for n in range(12)]
    inbound = Inbound(
        source_org=PATIENT_SAMPLE["partner"]["id"], format_name="fhir-ndjson", payload=b"\n".join(lines)
    )
    summary = ingest(rt, inbound)
    served = [r for r in summary.outcome["records"] if r["status"] in ("accepted", "held")]
    assert len(served) == 12
    assert {key for key in looked_up if key[1].startswith("once-")} == {
        ("Patient", f"once-{n}") for n in range(12)
    }
    assert max(looked_up.values()) == 1


DOCUMENTS = ("plans", "fhir_resources", "fhir_resource_versions")


def test_documents_are_compressed_with_lz4_where_postgresql_has_it(rt: Any) -> None:
    if rt.engine.dialect.name != "postgresql":
        pytest.skip("TOAST compression is PostgreSQL's")
    with rt.engine.connect() as connection:
        has_lz4 = connection.execute(
            text("SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'")
        ).scalar()
        methods = dict(
            connection.execute(
                text(
                    "SELECT c.relname, a.attcompression FROM pg_attribute a"
                    " JOIN pg_class c ON c.oid = a.attrelid"
                    " WHERE a.attname = 'document' AND c.relname = ANY(:tables)"
                ),
                {"tables": list(DOCUMENTS)},
            ).all()
        )
    assert set(methods) == set(DOCUMENTS)
    assert set(methods.values()) == ({"l"} if has_lz4 else {""})


def test_a_plan_reads_back_as_the_text_written(rt: Any) -> None:
    """Plans are JSON text on both databases (0019): the batch reads back the very text it wrote,
    keys in the order written, where JSONB would have reordered and respaced it."""
    document = {"planId": "p", "student": {"zeta": 1, "alpha": [True, None, 2.5]}, "b": 'é\t"q"'}
    written = encode_plan(document)
    with rt.sessions.begin() as session:
        student_store.insert_students(session, ["text-1"], NOW)
        plan_store.save_plans(session, {"text-1": document}, {}, NOW)
    with rt.sessions() as session:
        stored = plan_store.stored_plans(session, ["text-1"])
    assert stored["text-1"].text == written
    assert stored["text-1"].version == 1
    if rt.engine.dialect.name == "postgresql":
        with rt.engine.connect() as connection:
            kind = connection.execute(
                text(
                    "SELECT data_type FROM information_schema.columns"
                    " WHERE table_name = 'plans' AND column_name = 'document'"
                )
            ).scalar()
        assert kind == "json"
