"""Small helpers shared by tests: sending the demo payloads, reading plans, raw SQL peeks."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import text

from gateway.core.ids import student_id_for
from gateway.service.administration.partners import create_secret
from gateway.service.exchange.inbound import Inbound
from gateway.service.exchange.ingest import IngestSummary, ingest
from gateway.service.runtime import Runtime
from gateway.service.views.plans import ReadRequest, read_plan

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEMO = PROJECT_ROOT / "demo" / "exchanges"
DISTRICT_IDS = "https://grandbend.example.org/ns/studentUniqueId"
LISA = student_id_for(DISTRICT_IDS, "604822")


# Every error body carries its request's own id; answers compared for sameness leave it out.
REQUEST_ID = re.compile(r',"requestId":"[^"]*"')


def sans_request_id(body: str) -> str:
    return REQUEST_ID.sub("", body)


def error_sans_request_id(doc: dict) -> dict:
    return {**doc, "error": {k: v for k, v in doc["error"].items() if k != "requestId"}}


def demo_file(prefix: str) -> Path:
    return next(DEMO.glob(f"{prefix}-*.json"))


def send_demo(rt: Runtime, prefix: str) -> IngestSummary:
    """Send demo file ``NN-SOURCE.FORMAT.ENTITY.json`` as its source."""
    path = demo_file(prefix)
    head, fmt, entity = path.stem.split(".")[:3]
    return ingest(
        rt,
        Inbound(source_org=head.split("-", 1)[1], format_name=fmt, payload=path.read_bytes(), entity=entity),
    )


def coordinator_view(rt: Runtime, student: str = LISA) -> dict:
    request = ReadRequest(
        student_id=student,
        organization_id="grand-bend-isd",
        actor="t-coord",
        role="coordinator",
        purpose="care-coordination",
    )
    return read_plan(rt, request).plan


def count_rows(rt: Runtime, table: str) -> int:
    with rt.engine.connect() as connection:
        return int(connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())


def partner_headers(base_url: str, rt: Runtime) -> dict[str, dict[str, str]]:
    """Bearer headers of every demo partner, each token taken over real HTTP (client_secret_post)."""
    credentials = json.loads((rt.settings.home / "demo-credentials.json").read_text("utf-8"))
    found = {}
    for org, secret in credentials.items():
        answer = requests.post(
            f"{base_url}/oauth/token", data={"grant_type": "client_credentials", **secret}, timeout=10
        )
        answer.raise_for_status()
        found[org] = {"Authorization": f"Bearer {answer.json()['access_token']}"}
    return found


def client_with_token(rt: Runtime, org: str, role: str = "partner") -> tuple[Any, dict[str, str]]:
    """A test client of the app and the Authorization header of a new credential of ``org``."""
    from gateway.web import create_app

    client = create_app({"TESTING": True}, runtime=rt).test_client()
    secret = create_secret(rt, org, role=role)
    token = client.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": secret.client_id,
            "client_secret": secret.client_secret,
        },
    ).get_json()
    return client, {"Authorization": f"Bearer {token['access_token']}"}
