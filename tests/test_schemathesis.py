"""Schemathesis (4.x) against the gateway's own OpenAPI document, over real HTTP, as every partner
of the demo world: no answer may be a server error, and every answer must be documented (status
code, content type, body schema). Bounded and deterministic (derandomized, no example database),
so it runs in ``make test`` on SQLite and on PostgreSQL in well under a minute and a half.

Each generated case is sent once per partner: the same request means different things to the
district, the clinic and the food bank (their own messages, consents, agreements)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from gateway.web.openapi import build_openapi
from tests.served import Served, served_fixture  # noqa: F401  (the module's gateway)

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES = 12  # per operation; with the coverage phase's own cases about 2,000 requests in all


# Bodies of these types are sent as generated (text or bytes), as a partner's file would be.
schemathesis.serializer.alias(["application/fhir+ndjson", "application/x-ndjson"], "text/plain")
schemathesis.serializer.alias(["application/zip"], "application/octet-stream")


@pytest.fixture
def http(served: Served) -> Iterator[requests.Session]:
    """One connection pool per operation, closed before the server stops."""
    with requests.Session() as session:
        yield session


# The document /openapi.json serves (test_the_served_document_is_the_one_tested checks), loaded
# eagerly: one pytest test per operation, all against one demo world served for the module (the
# state they leave is part of the test). Schemathesis's lazy fixture loader does not run under
# pytest 9.
schema = schemathesis.openapi.from_dict(build_openapi())


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_every_answer_is_documented_and_none_is_a_server_error(
    case: schemathesis.Case, served: Served, http: requests.Session
) -> None:
    for headers in served.headers.values():
        case.call_and_validate(
            base_url=served.base_url, session=http, headers=headers, checks=CHECKS, timeout=30
        )


def test_the_served_document_is_the_one_tested(served: Served, http: requests.Session) -> None:
    assert http.get(f"{served.base_url}/openapi.json", timeout=10).json() == build_openapi()
