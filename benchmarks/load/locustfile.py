"""The users of the load test (run by benchmarks/load/run_load.py; not imported by the gateway).

Three kinds of call, by weight: a district posts an Ed-Fi exchange (its student roster, the same
bytes each time: the pipeline is idempotent, so each post is a full exchange that changes
nothing), a coordinator reads Lisa's Success Plan, and the food bank searches its referral Tasks.
Each user takes its tokens at start (client_secret_post, the demo credentials in LOAD_CREDENTIALS).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from urllib.parse import quote

from locust import HttpUser, between, task

DISTRICT, FOOD_BANK = "grand-bend-isd", "northside-food-bank"
LISA = quote("https://grandbend.example.org/ns/studentUniqueId|604822", safe="")
EXCHANGE = Path(os.environ.get("LOAD_EXCHANGE", "demo/exchanges/01-grand-bend-isd.edfi-json.students.json"))
READ = {"role": "coordinator", "purpose": "care-coordination", "actor": "load-coordinator"}
SEARCH = {"owner": f"Organization/{FOOD_BANK}", "status": "requested", "_count": "20"}


class Partner(HttpUser):
    wait_time = between(0.05, 0.2)

    def on_start(self) -> None:
        credentials = json.loads(Path(os.environ["LOAD_CREDENTIALS"]).read_text("utf-8"))
        self.district = self._token(credentials[DISTRICT])
        self.food_bank = self._token(credentials[FOOD_BANK])
        self.body = EXCHANGE.read_bytes()

    def _token(self, secret: dict[str, str]) -> dict[str, str]:
        form = {"grant_type": "client_credentials", **secret}
        answer = self.client.post("/oauth/token", data=form, name="/oauth/token")
        return {"Authorization": f"Bearer {answer.json()['access_token']}"}

    @task(2)
    def post_exchange(self) -> None:
        headers = {**self.district, "Content-Type": "application/json"}
        self.client.post(
            "/api/v1/exchanges/edfi-json?entity=students",
            data=self.body,
            headers=headers,
            name="/api/v1/exchanges/{format}",
        )

    @task(5)
    def read_plan(self) -> None:
        self.client.get(
            f"/api/v1/plans/{LISA}", params=READ, headers=self.district, name="/api/v1/plans/{student}"
        )

    @task(3)
    def search_tasks(self) -> None:
        self.client.get(
            "/fhir/r4/Task", params=SEARCH, headers=self.food_bank, name="/fhir/r4/Task?owner&status"
        )
