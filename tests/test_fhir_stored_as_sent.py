"""A FHIR resource parsed in the parser process crosses back as its text (``core.fhir_text``), and
the server stores it from that text: the same document the tree would give, without decoding it
in the process that stores it, unless the server must change it (a reference rewritten, a
version compared)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import pickle
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import select

from gateway.core import batch as core_batch
from gateway.core import fhir_text
from gateway.core.fhir_search import relative_references
from gateway.core.fhir_text import ResourceText, owner_of, resource_text
from gateway.formats import stream_worker
from gateway.formats.records import SourceRecord, record
from gateway.service.exchange.inbound import Inbound
from gateway.service.exchange.ingest import ingest
from gateway.service.exchange.outcomes import RecordOutcome
from gateway.service.fhir import fhir_served
from gateway.storage import fhir_bulk, fhir_store
from gateway.storage.fhir_bulk import RESOURCES
from gateway.storage.fhir_store import ResourceLabels

NOW = dt.datetime(2026, 12, 8, 9, 30, tzinfo=dt.UTC)
META = {"versionId": "1", "lastUpdated": "2026-12-08T09:30:00.000Z"}
SAMPLES = sorted((Path(__file__).parent / "samples" / "fhir").glob("*.json"))
PARTNER = json.loads(SAMPLES[0].read_text())["partner"]
LABELS = ResourceLabels(source_org="clinic", category="health", regime="hipaa", sensitivity="normal")
OBSERVATION = {
    "resourceType": "Observation",
    "id": "obs-1",
    "meta": {
        "profile": [
            "http://hl7.org/fhir/us/sdoh-clinicalcare/StructureDefinition/SDOHCC-ObservationScreeningResponse"
        ]
    },
    "status": "final",
    "code": {"coding": [{"system": "http://loinc.org", "code": "88122-7"}]},
    "subject": {"reference": "Patient/pat-1"},
    "valueCodeableConcept": {"text": "Often true — «pas de pain»"},
}


@pytest.mark.parametrize(
    "resource",
    [
        pytest.param(OBSERVATION, id="with its own meta"),
        pytest.param({k: v for k, v in OBSERVATION.items() if k != "meta"}, id="without meta"),
        pytest.param({"resourceType": "Patient", "id": "p"}, id="type and id alone"),
        pytest.param({"id": "p", "active": True, "resourceType": "Patient"}, id="type and id last"),
        pytest.param({"resourceType": "Patient", "id": "p", "meta": {}}, id="an empty meta"),
    ],
)
def test_the_stored_text_is_the_resource_with_the_servers_meta(resource: dict[str, Any]) -> None:
    text = resource_text(resource)
    assert text is not None
    assert orjson.loads(text.stored(META)) == {**resource, "meta": META}
    assert text.data() == resource


@pytest.mark.parametrize(
    "resource",
    [
        pytest.param({"resourceType": "Patient"}, id="no id"),
        pytest.param({"resourceType": "Patient", "id": ""}, id="an empty id"),
        pytest.param({"resourceType": "Patient", "id": 7}, id="an id that is not text"),
        pytest.param({"id": "p"}, id="no type"),
        pytest.param({"resourceType": "Patient", "id": "p", "meta": "v1"}, id="a meta that is not an object"),
        pytest.param({"resourceType": "Patient", "id": "p", "meta": None}, id="a null meta"),
        pytest.param(
            {"resourceType": "Patient", "id": "p", "multipleBirthInteger": 2**70}, id="beyond 64 bits"
        ),
    ],
)
def test_a_resource_the_text_cannot_hold_is_stored_from_its_tree(resource: dict[str, Any]) -> None:
    assert resource_text(resource) is None


@pytest.mark.parametrize(
    "resource",
    [
        pytest.param(OBSERVATION, id="a subject"),
        pytest.param({"resourceType": "Patient", "id": "p"}, id="none"),
        pytest.param(
            {
                "resourceType": "Observation",
                "id": "o",
                "meta": {"extension": [{"url": "x", "valueReference": {"reference": "Device/d-1"}}]},
                "performer": [{"reference": "Organization/org-1"}, {"reference": "Organization/org-1"}],
                "note": [{"text": '"reference":"Patient/quoted"'}],
            },
            id="one in meta, one twice, one only quoted",
        ),
    ],
)
def test_the_references_read_off_the_text_are_the_resources(resource: dict[str, Any]) -> None:
    text = resource_text(resource)
    assert text is not None
    assert text.references() == relative_references(resource)


@pytest.mark.parametrize(
    ("resource", "owner"),
    [
        pytest.param({"resourceType": "Task", "owner": {"reference": "Organization/food-bank"}}, "food-bank"),
        pytest.param(
            {
                "resourceType": "ServiceRequest",
                "performer": [{"reference": "Practitioner/x"}, {"reference": "Organization/o"}],
            },
            "o",
            id="a performer among others",
        ),
        pytest.param(
            {"resourceType": "Task", "owner": {"reference": "Practitioner/x"}}, None, id="not an org"
        ),
        pytest.param({"resourceType": "Observation", "performer": [{"reference": "Organization/o"}]}, None),
    ],
)
def test_the_owner_is_read_with_the_text(resource: dict[str, Any], owner: str | None) -> None:
    assert owner_of(resource) == owner
    text = resource_text({**resource, "id": "r"})
    assert text is not None
    assert text.owner == owner


def _mapped_there(resource: dict[str, Any], location: str = "line 1") -> SourceRecord:
    """A record as the parser process makes it: mapped there, with its text."""
    rec = record(resource["resourceType"], location, resource)
    premapped = core_batch.Premapped(mapping="m@1", result=None, text=resource_text(resource))  # type: ignore[arg-type]
    return dataclasses.replace(rec, premapped=premapped)


def _sent(resource: dict[str, Any], location: str = "line 1") -> SourceRecord:
    """That record as this process receives it, through the pipe."""
    received: SourceRecord = pickle.loads(pickle.dumps(_mapped_there(resource, location)))
    return received


def test_a_record_with_its_text_crosses_without_its_tree() -> None:
    sent = _mapped_there(OBSERVATION)
    back = pickle.loads(pickle.dumps(sent))
    assert "data" not in vars(back)
    assert b"88122-7" not in pickle.dumps(back.premapped.result)  # only the text carries the values
    assert back == sent  # decoded where read: the same record
    assert "data" in vars(back)
    assert back.data == OBSERVATION
    assert back.digest == sent.digest
    with pytest.raises(AttributeError):
        back.no_such_attribute  # noqa: B018


def test_a_record_without_a_text_crosses_with_its_tree() -> None:
    plain = record("Observation", "line 1", OBSERVATION)
    back = pickle.loads(pickle.dumps(plain))
    assert vars(back)["data"] == OBSERVATION
    assert back == plain


def _decodes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The ids whose tree is decoded from their text in this process."""
    decoded: list[str] = []
    real = ResourceText.data

    def counting(self: ResourceText) -> dict[str, Any]:
        decoded.append(self.id)
        return real(self)

    monkeypatch.setattr(fhir_text.ResourceText, "data", counting)
    return decoded


def _landed(rec: SourceRecord, tokens: tuple[tuple[str, str], ...] | None = (("code", "88122-7"),)) -> Any:
    return fhir_served.Landed(
        record=rec,
        outcome=RecordOutcome(location=rec.location, status="accepted", student_id="stu-1"),
        element_labels=(),
        mapping_labels={},
        tokens=tokens,
        references=(("Patient", "pat-1"),),  # read where parsed, as the pipeline does
    )


def _serve(rt: Any, *landed: Any) -> None:
    sender = fhir_served.Sender(source_org="clinic", message_id="msg-1", resource_id=None)
    with rt.sessions.begin() as session:
        fhir_served.serve(session, sender, list(landed), NOW)


def _documents(rt: Any) -> dict[str, dict[str, Any]]:
    with rt.sessions() as session:
        return {row.id: row.document for row in session.execute(select(RESOURCES.c.id, RESOURCES.c.document))}


def test_a_new_resource_is_stored_from_its_text_as_its_tree_would_be(rt, monkeypatch):
    decoded = _decodes(monkeypatch)
    as_tree = {**OBSERVATION, "id": "obs-tree"}
    _serve(rt, _landed(_sent(OBSERVATION)), _landed(record("Observation", "line 2", as_tree)))
    stored = _documents(rt)
    assert decoded == []
    assert stored["obs-1"] == {**OBSERVATION, "meta": {**OBSERVATION["meta"], **META}}
    assert {**stored["obs-1"], "id": "obs-tree"} == stored["obs-tree"]


def test_the_text_is_decoded_where_the_server_must_compare_or_rewrite(rt, monkeypatch):
    decoded = _decodes(monkeypatch)
    changed = {**OBSERVATION, "status": "amended"}
    # the same resource twice in one batch: the second is compared with the first
    _serve(rt, _landed(_sent(OBSERVATION)), _landed(_sent(changed, "line 2")))
    assert decoded == ["obs-1", "obs-1"]
    with rt.sessions() as session:
        history = [
            (v.version_id, v.document["status"]) for v in fhir_store.versions(session, "Observation", "obs-1")
        ]
    assert sorted(history) == [(1, "final"), (2, "amended")]
    decoded.clear()
    _serve(rt, _landed(_sent(changed)))  # sent again: compared with the stored version, no new one
    assert decoded == ["obs-1"]
    assert _documents(rt)["obs-1"]["meta"]["versionId"] == "2"


def test_a_reference_the_server_rewrites_is_stored_rewritten(rt, monkeypatch):
    decoded = _decodes(monkeypatch)
    monkeypatch.setattr(fhir_served, "_server_references", lambda *_: {"Patient/pat-1": "Patient/srv-9"})
    _serve(rt, _landed(_sent(OBSERVATION)))
    assert decoded == ["obs-1"]
    assert _documents(rt)["obs-1"]["subject"] == {"reference": "Patient/srv-9"}


def test_a_text_under_another_id_than_its_write_is_stored_under_the_writes(rt):
    text = resource_text(OBSERVATION)
    with rt.sessions.begin() as session:
        write = fhir_bulk.ResourceWrite(
            resource_type="Observation",
            resource_id="derived-1",
            document=text,
            labels=LABELS,
            tokens=(),  # type: ignore[arg-type]
        )
        fhir_bulk.write_many(session, [write], {}, NOW)
    assert _documents(rt)["derived-1"] == {
        **OBSERVATION,
        "id": "derived-1",
        "meta": {**OBSERVATION["meta"], **META},
    }


def test_a_file_parsed_in_the_parser_process_is_stored_as_sent(rt, tmp_path, monkeypatch):
    monkeypatch.setattr(stream_worker, "MIN_BYTES", 1)
    monkeypatch.setattr(stream_worker, "HEAD_LINES", {})
    monkeypatch.setenv(stream_worker.WORKER_ENV, "1")
    decoded = _decodes(monkeypatch)
    resources = [json.loads(path.read_text())["record"] for path in SAMPLES]
    resources = [r for r in resources if r["resourceType"] in ("Patient", "Observation", "Condition", "Goal")]
    path = tmp_path / "resources.ndjson"
    path.write_bytes(b"\n".join(orjson.dumps(r) for r in resources) + b"\n")
    summary = ingest(rt, Inbound(source_org=PARTNER["id"], format_name="fhir-ndjson", path=path))
    landed = {r["location"] for r in summary.outcome["records"] if r["status"] in ("accepted", "held")}
    assert landed
    stored = _documents(rt)
    for line, resource in enumerate(resources, start=1):
        if f"line {line}" not in landed:
            continue
        document = stored[resource["id"]]
        assert document["meta"]["versionId"] == "1"
        meta = {**resource.get("meta", {}), "versionId": "1", "lastUpdated": document["meta"]["lastUpdated"]}
        assert document == {**resource, "meta": meta}
    assert decoded == []
    # The same file again: each resource is compared with its stored version (decoded for it),
    # and none becomes a new version.
    ingest(rt, Inbound(source_org=PARTNER["id"], format_name="fhir-ndjson", path=path))
    assert decoded
    assert _documents(rt) == stored
