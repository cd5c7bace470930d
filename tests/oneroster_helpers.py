"""Builders shared by the OneRoster tests: zips from folders or from file texts, and the Ed-Fi
students payload that registers a bundle's students first (only Ed-Fi students register)."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

from helpers import DISTRICT_IDS

from gateway.core.ids import student_id_for
from gateway.service.exchange.inbound import Inbound
from gateway.service.exchange.ingest import IngestSummary, ingest
from gateway.service.runtime import Runtime
from gateway.storage import plan_store

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "oneroster"
SOURCE = "grand-bend-isd"


def zip_files(files: dict[str, str | bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, body in files.items():
            zf.writestr(name, body.encode() if isinstance(body, str) else body)
    return buffer.getvalue()


def folder_files(folder: Path) -> dict[str, str | bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.suffix == ".csv"}


def register_students(rt: Runtime, *ids: str) -> IngestSummary:
    body = [
        {"studentUniqueId": i, "firstName": "Test", "lastSurname": f"Student{i}", "birthDate": "2010-01-01"}
        for i in ids
    ]
    summary = ingest(
        rt,
        Inbound(
            source_org=SOURCE, format_name="edfi-json", payload=json.dumps(body).encode(), entity="students"
        ),
    )
    assert summary.outcome["accepted"] == len(ids)
    return summary


def plan_of(rt: Runtime, district_id: str) -> dict:
    with rt.sessions() as session:
        row = plan_store.get_plan(session, student_id_for(DISTRICT_IDS, district_id))
        assert row is not None
        return row.document


def elements_from(plan: dict, source_type: str) -> list[dict]:
    found = []
    slots = [plan["strengths"], plan["needs"], *(d["facts"] for d in plan["domains"].values())]
    for slot in slots:
        found.extend(e for e in slot if e["provenance"]["sourceRecord"]["type"] == source_type)
    return found
