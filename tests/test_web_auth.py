"""The token endpoint (client_secret_basic, client_secret_post, private_key_jwt) and the bearer
check in front of /api/v1."""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask.testing import FlaskClient

from gateway.service.partners import ASSERTION_TYPE, register_public_key
from gateway.service.runtime import Runtime
from gateway.web import create_app

TOKEN_URL = "http://localhost/oauth/token"  # the test client's base URL + the endpoint
GRANT = {"grant_type": "client_credentials"}


@pytest.fixture
def client(rt: Runtime) -> FlaskClient:
    return create_app({"TESTING": True}, runtime=rt).test_client()


@pytest.fixture
def secret(rt: Runtime) -> dict[str, str]:
    credentials: dict[str, dict[str, str]] = json.loads(
        (rt.settings.home / "demo-credentials.json").read_text("utf-8")
    )
    return credentials["riverside-health"]


@pytest.fixture
def key_client(rt: Runtime) -> tuple[str, Ed25519PrivateKey]:
    """A client id registered for private_key_jwt, and its private key."""
    key = Ed25519PrivateKey.generate()
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return register_public_key(rt, "riverside-health", pem.decode()), key


def assertion(client_id: str, key: Ed25519PrivateKey, now: dt.datetime, **override: Any) -> str:
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": TOKEN_URL,
        "exp": int(now.timestamp()) + 60,
        "jti": uuid.uuid4().hex,
        **override,
    }
    return jwt.encode(claims, key, algorithm="EdDSA")


def assertion_form(token: str) -> dict[str, str]:
    return {**GRANT, "client_assertion_type": ASSERTION_TYPE, "client_assertion": token}


def basic(client_id: str, client_secret: str) -> dict[str, str]:
    raw = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


def test_token_by_client_secret_basic(client: FlaskClient, secret: dict[str, str]) -> None:
    response = client.post("/oauth/token", data=GRANT, headers=basic(**secret))
    assert response.status_code == 200
    body = response.get_json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 300
    assert response.headers["Cache-Control"] == "no-store"


def test_token_by_client_secret_post(client: FlaskClient, secret: dict[str, str]) -> None:
    response = client.post("/oauth/token", data={**GRANT, **secret})
    assert response.status_code == 200
    assert response.get_json()["access_token"]


def test_token_by_private_key_jwt(
    client: FlaskClient, key_client: tuple[str, Ed25519PrivateKey], clock: Any
) -> None:
    client_id, key = key_client
    response = client.post("/oauth/token", data=assertion_form(assertion(client_id, key, clock.now)))
    assert response.status_code == 200
    token = response.get_json()["access_token"]
    verified = client.get("/api/v1/messages", headers={"Authorization": f"Bearer {token}"})
    assert verified.status_code == 200


def test_replayed_assertion_is_refused(
    client: FlaskClient, key_client: tuple[str, Ed25519PrivateKey], clock: Any
) -> None:
    form = assertion_form(assertion(*key_client, clock.now))
    assert client.post("/oauth/token", data=form).status_code == 200
    again = client.post("/oauth/token", data=form)
    assert again.status_code == 401
    assert again.get_json()["error"]["code"] == "authentication_failed"


@pytest.mark.parametrize(
    "override",
    [
        pytest.param({"aud": "https://elsewhere.example.org/oauth/token"}, id="wrong-audience"),
        pytest.param({"exp": 0}, id="expired"),
        pytest.param({"sub": "someone-else"}, id="sub-differs-from-iss"),
    ],
)
def test_bad_assertion_is_refused(
    client: FlaskClient, key_client: tuple[str, Ed25519PrivateKey], clock: Any, override: dict[str, Any]
) -> None:
    response = client.post("/oauth/token", data=assertion_form(assertion(*key_client, clock.now, **override)))
    assert response.status_code == 401


def test_assertion_signed_by_another_key_is_refused(
    client: FlaskClient, key_client: tuple[str, Ed25519PrivateKey], clock: Any
) -> None:
    client_id, _ = key_client
    forged = assertion(client_id, Ed25519PrivateKey.generate(), clock.now)
    assert client.post("/oauth/token", data=assertion_form(forged)).status_code == 401


def test_wrong_secret_answers_like_unknown_client(client: FlaskClient, secret: dict[str, str]) -> None:
    wrong = client.post("/oauth/token", data=GRANT, headers=basic(secret["client_id"], "not-the-secret"))
    unknown = client.post("/oauth/token", data=GRANT, headers=basic("nobody.0000", "not-the-secret"))
    nothing = client.post("/oauth/token", data=GRANT)
    assert wrong.status_code == unknown.status_code == nothing.status_code == 401
    assert wrong.get_json() == unknown.get_json() == nothing.get_json()
    assert wrong.get_json()["error"]["code"] == "authentication_failed"
    assert wrong.headers["WWW-Authenticate"].startswith("Basic")


@pytest.mark.parametrize(
    ("form", "named"),
    [
        pytest.param({}, "grant_type", id="missing-grant"),
        pytest.param({"grant_type": "password"}, "grant_type", id="wrong-grant"),
        pytest.param(
            {**GRANT, "client_assertion_type": "urn:other", "client_assertion": "x"},
            "client_assertion_type",
            id="wrong-assertion-type",
        ),
    ],
)
def test_token_request_errors_name_the_field(
    client: FlaskClient, secret: dict[str, str], form: dict[str, str], named: str
) -> None:
    response = client.post("/oauth/token", data=form, headers=basic(**secret))
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "input_invalid"
    assert [i["path"] for i in error["issues"]] == [named]


def test_two_client_authentication_methods_are_refused(client: FlaskClient, secret: dict[str, str]) -> None:
    response = client.post("/oauth/token", data={**GRANT, **secret}, headers=basic(**secret))
    assert response.status_code == 400
    paths = {i["path"] for i in response.get_json()["error"]["issues"]}
    assert paths == {"client_secret_basic", "client_secret_post"}


def token_for(client: FlaskClient, secret: dict[str, str]) -> str:
    token: str = client.post("/oauth/token", data={**GRANT, **secret}).get_json()["access_token"]
    return token


@pytest.mark.parametrize(
    ("authorization", "challenge"),
    [
        pytest.param(None, 'Bearer realm="spgw"', id="no-header"),
        pytest.param("Bearer not-a-jwt", 'Bearer realm="spgw", error="invalid_token"', id="garbage"),
        pytest.param("Basic Zm9vOmJhcg==", 'Bearer realm="spgw"', id="wrong-scheme"),
        pytest.param("Bearer ", 'Bearer realm="spgw", error="invalid_token"', id="empty-bearer"),
    ],
)
def test_api_without_a_valid_token_is_401(
    client: FlaskClient, authorization: str | None, challenge: str
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = client.get("/api/v1/messages", headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == challenge
    assert response.get_json()["error"]["code"] == "authentication_failed"


def test_expired_token_is_401(client: FlaskClient, secret: dict[str, str], clock: Any) -> None:
    headers = {"Authorization": f"Bearer {token_for(client, secret)}"}
    assert client.get("/api/v1/messages", headers=headers).status_code == 200
    clock.advance(seconds=301)
    response = client.get("/api/v1/messages", headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_token_of_another_gateway_is_401(client: FlaskClient, clock: Any) -> None:
    claims = {"iss": "spgw", "sub": "x", "org": "riverside-health", "exp": int(clock.now.timestamp()) + 60}
    forged = jwt.encode(claims, Ed25519PrivateKey.generate(), algorithm="EdDSA")
    response = client.get("/api/v1/messages", headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401
