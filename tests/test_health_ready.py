"""``/ready``: 200 when the database answers at the code's newest migration, the signing keys
load and the artifacts are loaded; otherwise 503 naming each check that failed. Its answers
match the OpenAPI schema the ops blueprint documents."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from sqlalchemy import create_engine, text

from gateway.service.administration.keys import AUDIT_KEY, TOKEN_KEY
from gateway.service.runtime import Runtime
from gateway.web import create_app
from gateway.web.ops_api import OPENAPI_PATHS, OPENAPI_SCHEMAS

# Routes whose answers this module checks against the document (see test_web_openapi).
CHECKED_ANSWERS = {("/ready", "get"): {200, 503}, ("/metrics", "get"): {200, 401, 403}}


def readiness_schema() -> Draft202012Validator:
    return Draft202012Validator(OPENAPI_SCHEMAS["Readiness"])


def ask(rt: Runtime) -> tuple[int, dict[str, Any]]:
    answer = create_app({"TESTING": True}, runtime=rt).test_client().get("/ready")
    body = answer.get_json()
    assert list(readiness_schema().iter_errors(body)) == []
    return answer.status_code, body


def test_ready(rt: Runtime) -> None:
    status, body = ask(rt)
    assert (status, body["status"], body["failed"]) == (200, "ready", [])
    assert body["checks"]["migrations"]["detail"].startswith("at head ")


def _database_gone(rt: Runtime) -> Runtime:
    engine = create_engine(f"sqlite:///{rt.settings.home / 'no-such-folder' / 'gateway.db'}")
    return dataclasses.replace(rt, engine=engine)


def _behind(rt: Runtime) -> Runtime:
    with rt.engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0001'"))
    return rt


def _no_audit_key(rt: Runtime) -> Runtime:
    (rt.settings.home / "keys" / AUDIT_KEY).unlink()
    return rt


def _unreadable_key(rt: Runtime) -> Runtime:
    (rt.settings.home / "keys" / TOKEN_KEY).write_text("not a key", encoding="utf-8")
    return rt


def _no_mappings(rt: Runtime) -> Runtime:
    return dataclasses.replace(rt, artifacts=dataclasses.replace(rt.artifacts, mappings={}))


# (what breaks, the checks that fail, a phrase of the failing check's detail)
BREAKAGES: list[tuple[Callable[[Runtime], Runtime], list[str], str]] = [
    (_database_gone, ["database", "migrations"], "does not answer"),
    (_behind, ["migrations"], "at revision 0001"),
    (_no_audit_key, ["keys"], "missing: audit"),
    (_unreadable_key, ["keys"], "cannot be read"),
    (_no_mappings, ["artifacts"], "0 mappings"),
]


@pytest.mark.parametrize(
    ("breaks", "failed", "detail"), BREAKAGES, ids=lambda x: getattr(x, "__name__", None)
)
def test_not_ready_names_what_failed(
    rt: Runtime, breaks: Callable[[Runtime], Runtime], failed: list[str], detail: str
) -> None:
    status, body = ask(breaks(rt))
    assert (status, body["status"], body["failed"]) == (503, "not-ready", failed)
    assert detail in body["checks"][failed[0]]["detail"]


def test_the_ops_routes_are_documented() -> None:
    assert set(OPENAPI_PATHS) == {path for path, _ in CHECKED_ANSWERS}
    for (path, method), statuses in CHECKED_ANSWERS.items():
        assert {int(s) for s in OPENAPI_PATHS[path][method]["responses"]} == statuses


def test_the_answers_match_the_served_document(rt: Runtime) -> None:
    from gateway.web.openapi import build_openapi
    from tests.test_web_openapi import schema_validator  # imported here: that module imports this one

    client = create_app({"TESTING": True}, runtime=rt).test_client()
    document = build_openapi()
    ready = client.get("/ready")
    assert list(schema_validator(document, "/ready", "get", 200).iter_errors(ready.get_json())) == []
    refused = client.get("/metrics")
    assert refused.status_code == 401
    assert list(schema_validator(document, "/metrics", "get", 401).iter_errors(refused.get_json())) == []
