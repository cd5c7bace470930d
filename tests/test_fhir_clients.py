"""The FHIR server as integration engineers meet it: the two Python FHIR clients people use,
unmodified, over real HTTP, each partner authenticated with ``private_key_jwt`` using a key an
administrator registered through the CLI.

- fhirpy 2.x as the clinic (ES384): metadata, create without id, conditional create twice (one
  resource), read, vread, search with paging, a stale ``If-Match`` refused;
- fhirclient 4.x as the food bank (RS384), an agency with no FHIR server of its own: it finds the
  token URL in the CapabilityStatement and sends its signed assertion there itself, polls for its
  Tasks, reads the ServiceRequest, and moves the Task from requested to accepted to completed
  with a Procedure; the plan shows the support delivered.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner
from fhirclient import client as fhirclient_client
from fhirclient.models.bundle import Bundle as FcBundle
from fhirclient.models.fhirreference import FHIRReference
from fhirclient.models.servicerequest import ServiceRequest as FcServiceRequest
from fhirclient.models.task import Task as FcTask
from fhirclient.models.task import TaskOutput
from fhirpy import SyncFHIRClient
from fhirpy.base.exceptions import MultipleResourcesFound

from gateway.cli import main
from gateway.service.runtime import Runtime
from gateway.web import auth, create_app
from tests.http_server import serve_wsgi
from tests.referral_world import FOOD_BANK, prepare, refer_lisa
from tests.test_fhir_api import PATIENT
from tests.test_fhir_server import _referral_support
from tests.test_smart_keys import Signer, es384, rs384

CLINIC = "riverside-health"
MRN = "https://riverside-health.example.org/mrn"


@dataclasses.dataclass(frozen=True)
class Gateway:
    base: str
    rt: Runtime

    @property
    def fhir(self) -> str:
        return f"{self.base}/fhir/r4"

    @property
    def token_url(self) -> str:
        return f"{self.base}/oauth/token"


def assertion(signer: Signer, client_id: str, gateway: Gateway, clock: Any) -> str:
    """Signed for the served gateway's token URL, valid long enough for a whole client session."""
    return signer.assertion(client_id, clock.now, aud=gateway.token_url, exp=int(clock.now.timestamp()) + 240)


@pytest.fixture
def gateway(rt: Runtime) -> Iterator[Gateway]:
    """The demo world (Lisa's records from the district and the clinic) served over real HTTP, its
    public URL the served one, so the CapabilityStatement's token URL is where clients go."""
    prepare(rt, "http://127.0.0.1:9/no-endpoint")
    app = create_app(runtime=rt)
    with serve_wsgi(app, threads=4) as base:
        served = dataclasses.replace(rt, settings=dataclasses.replace(rt.settings, public_base_url=base))
        app.extensions[auth.RUNTIME_KEY] = served
        yield Gateway(base=base, rt=served)


@pytest.fixture
def register(
    rt: Runtime, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Callable[[str, Signer], str]:
    """``spgw partners keys add ORG --jwk FILE``, as an administrator runs it: the client id."""
    monkeypatch.setenv("GATEWAY_DATABASE_URL", database_url)

    def add(org: str, signer: Signer) -> str:
        path = tmp_path / f"{signer.kid}.jwk.json"
        path.write_text(json.dumps(signer.public_jwk()), "utf-8")
        command = [
            "--home",
            str(rt.settings.home),
            "partners",
            "keys",
            "add",
            org,
            "--jwk",
            str(path),
            "--json",
        ]
        result = CliRunner().invoke(main, command)
        assert result.exit_code == 0, result.output
        return str(json.loads(result.output)["keys"][0]["clientId"])

    return add


def fhirpy_clinic(
    gateway: Gateway, client_id: str, signer: Signer, clock: Any, **headers: str
) -> SyncFHIRClient:
    token = requests.post(
        gateway.token_url,
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": signer.assertion(
                client_id, clock.now, aud=gateway.token_url, exp=int(clock.now.timestamp()) + 240
            ),
            "scope": "system/Patient.cruds system/Observation.crs",
        },
        timeout=10,
    )
    assert token.status_code == 200, token.text
    return SyncFHIRClient(
        gateway.fhir, authorization=f"Bearer {token.json()['access_token']}", extra_headers=headers or None
    )


def test_fhirpy_as_a_clinic(gateway: Gateway, register: Callable[[str, Signer], str], clock: Any) -> None:
    signer = es384("clinic-ec-1")
    client_id = register(CLINIC, signer)
    fhir = fhirpy_clinic(gateway, client_id, signer, clock)

    statement = fhir.execute("metadata", method="get")
    assert (statement["resourceType"], statement["fhirVersion"]) == ("CapabilityStatement", "4.0.1")

    # create without an id: the server assigns one
    patient = fhir.resource("Patient", **{k: v for k, v in PATIENT.items() if k != "id"})
    patient.create()
    assert patient.id
    assert patient["meta"]["versionId"] == "1"

    # conditional create, twice: one resource
    sibling = {
        **{k: v for k, v in PATIENT.items() if k != "id"},
        "identifier": [{"system": MRN, "value": "MRN-70001"}],
        "name": [{"family": "Woods", "given": ["Sam"]}],
    }
    search = fhir.resources("Patient").search(identifier=f"{MRN}|MRN-70001")
    first, created_first = search.get_or_create(fhir.resource("Patient", **sibling))
    again, created_again = search.get_or_create(fhir.resource("Patient", **sibling))
    assert (created_first, created_again) == (True, False)
    assert first.id == again.id
    assert search.count() == 1

    # read and vread
    read = fhir.reference("Patient", patient.id).to_resource()
    assert read["birthDate"] == PATIENT["birthDate"]
    version = fhir.execute(f"Patient/{patient.id}/_history/1", method="get")
    assert version["meta"]["versionId"] == "1"

    # search with paging: five screenings, two a page, all of them
    for day in range(1, 6):
        observation = {
            "resourceType": "Observation",
            "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "88124-3"}]},
            "subject": {"reference": f"Patient/{patient.id}"},
            "effectiveDateTime": f"2026-10-0{day}",
            "valueCodeableConcept": {"coding": [{"system": "http://loinc.org", "code": "LA19952-3"}]},
        }
        fhir.resource("Observation", **observation).create()
    found = fhir.resources("Observation").search(patient=patient.id).limit(2).fetch_all()
    assert len(found) == 5
    assert len({o.id for o in found}) == 5

    # an update, then the same update against the version it replaced: refused
    read["gender"] = "female"
    read.save()
    assert read["meta"]["versionId"] == "2"
    stale = fhirpy_clinic(gateway, client_id, signer, clock, **{"If-Match": 'W/"1"'})
    outdated = stale.resource("Patient", **{**read.serialize(), "birthDate": "2010-03-15"})
    with pytest.raises(MultipleResourcesFound):  # fhirpy's name for a 412
        outdated.save()
    assert fhir.reference("Patient", patient.id).to_resource()["birthDate"] == PATIENT["birthDate"]


def test_fhirclient_as_an_agency_without_a_fhir_server(
    gateway: Gateway, register: Callable[[str, Signer], str], clock: Any
) -> None:
    referral = refer_lisa(gateway.rt)
    signer = rs384("pantry-rsa-1")
    client_id = register(FOOD_BANK, signer)
    settings = {
        "app_id": client_id,
        "api_base": gateway.fhir,
        "jwt_token": signer.assertion(
            client_id, clock.now, aud=gateway.token_url, exp=int(clock.now.timestamp()) + 240
        ),
        "scope": "system/Task.rus system/ServiceRequest.rs",
    }
    smart = fhirclient_client.FHIRClient(settings=settings, save_func=lambda state: None)
    smart.wants_patient = False
    assert smart.prepare() is False  # the CapabilityStatement read; no token yet
    smart.authorize()  # to the token URL the CapabilityStatement names, with the signed assertion
    assert smart.ready
    server = smart.server

    search = FcTask.where(struct={"owner": f"Organization/{FOOD_BANK}", "status": "requested"})
    bundles: list[FcBundle] = list(search.perform_iter(server))
    tasks = [e.resource for b in bundles for e in b.entry or []]
    assert [t.identifier[0].value for t in tasks] == [referral.id]
    task = tasks[0]
    asked = FcServiceRequest.read(task.focus.reference.split("/")[1], server)
    assert asked.performer[0].reference == f"Organization/{FOOD_BANK}"

    task.status = "accepted"
    task.update(server)
    task = FcTask.read(task.id, server)
    assert task.status == "accepted"
    assert _referral_support(gateway.rt, referral.id)["referralStatus"] == "accepted"

    output = TaskOutput(
        {
            "type": {"text": "resulting activity"},
            "valueReference": {
                "reference": "Procedure/pantry-enrollment",
                "display": "Food pantry enrollment",
            },
        }
    )
    task.status = "completed"
    task.output = [output]
    task.update(server)
    support = _referral_support(gateway.rt, referral.id)
    assert (support["referralStatus"], support["outcome"]) == ("completed", "Food pantry enrollment")
    remaining = FcTask.where(struct={"owner": f"Organization/{FOOD_BANK}", "status": "requested"})
    assert [e for b in remaining.perform_iter(server) for e in b.entry or []] == []
    assert isinstance(task.focus, FHIRReference)
