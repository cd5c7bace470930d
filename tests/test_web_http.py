"""One trip over real HTTP: the app under waitress, a partner with ``requests``."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote

import requests

from gateway.service.runtime import Runtime

EXCHANGES = Path(__file__).resolve().parent.parent / "demo" / "exchanges"
LISA_REF = quote("https://grandbend.example.org/ns/studentUniqueId|604822", safe="")


def test_token_exchange_and_plan_read_over_http(base_url: str, rt: Runtime) -> None:
    secret = json.loads((rt.settings.home / "demo-credentials.json").read_text("utf-8"))["grand-bend-isd"]
    with requests.Session() as http:
        token = http.post(
            f"{base_url}/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(secret["client_id"], secret["client_secret"]),
            timeout=10,
        )
        assert token.status_code == 200
        http.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
        sent = http.post(
            f"{base_url}/api/v1/exchanges/edfi-json",
            params={"entity": "students"},
            data=next(EXCHANGES.glob("*.students.json")).read_bytes(),
            headers={"Content-Type": "application/json"},
            timeout=30,
        )
        assert (sent.status_code, sent.json()["status"]) == (200, "mapped")
        plan = http.get(
            f"{base_url}/api/v1/plans/{LISA_REF}",
            params={"actor": "ms-ortiz", "role": "coordinator", "purpose": "care-coordination"},
            timeout=10,
        )
        assert plan.status_code == 200
        assert plan.json()["plan"]["student"]["identifiers"]
        unknown = http.get(f"{base_url}/no/such/route", timeout=10)
        assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "not_found")
