"""The token endpoint (client_secret_basic, client_secret_post, private_key_jwt) and the bearer
check in front of /api/v1."""

from __future__ import annotations

import base64
import datetime as dt
import json
import threading
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask.testing import FlaskClient

from gateway.errors import InputInvalid
from gateway.service.administration.partners import ASSERTION_TYPE, register_public_key
from gateway.service.runtime import DEFAULT_PUBLIC_URL, Runtime, Settings
from gateway.storage import organization_store
from gateway.web import create_app
from tests.helpers import count_rows

TOKEN_URL = f"{DEFAULT_PUBLIC_URL}/oauth/token"  # the configured public token URL
HOST_URL = "http://localhost/oauth/token"  # what the test client's Host header would give
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
    # An override of None leaves the claim out.
    return jwt.encode({k: v for k, v in claims.items() if v is not None}, key, algorithm="EdDSA")


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
    assert again.get_json()["error"] == "invalid_client"


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
    assert wrong.get_json()["error"] == "invalid_client"
    assert set(wrong.get_json()) == {"error", "error_description"}  # RFC 6749 5.2
    assert wrong.headers["WWW-Authenticate"].startswith("Basic")
    assert wrong.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    ("form", "error", "named"),
    [
        pytest.param({}, "invalid_request", "grant_type", id="missing-grant"),
        pytest.param({"grant_type": "password"}, "unsupported_grant_type", "grant_type", id="wrong-grant"),
        pytest.param(
            {**GRANT, "client_assertion_type": "urn:other", "client_assertion": "x"},
            "invalid_request",
            "client_assertion_type",
            id="wrong-assertion-type",
        ),
    ],
)
def test_token_request_errors_name_the_field(
    client: FlaskClient, secret: dict[str, str], form: dict[str, str], error: str, named: str
) -> None:
    response = client.post("/oauth/token", data=form, headers=basic(**secret))
    assert response.status_code == 400
    body = response.get_json()
    assert body["error"] == error
    assert f"{named}: " in body["error_description"]


def test_two_client_authentication_methods_are_refused(client: FlaskClient, secret: dict[str, str]) -> None:
    response = client.post("/oauth/token", data={**GRANT, **secret}, headers=basic(**secret))
    assert response.status_code == 400
    body = response.get_json()
    assert body["error"] == "invalid_request"
    assert "client_secret_basic: " in body["error_description"]
    assert "client_secret_post: " in body["error_description"]


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


# -- the assertion's audience is the configured public URL, never the Host header ----------


def with_public_url(rt: Runtime, url: str) -> FlaskClient:
    configured = replace(rt, settings=replace(rt.settings, public_base_url=url))
    return create_app({"TESTING": True}, runtime=configured).test_client()


@pytest.mark.parametrize(
    ("host", "audience"),
    [
        pytest.param("localhost", HOST_URL, id="test-client-host"),
        pytest.param("attacker.example", "http://attacker.example/oauth/token", id="foreign-host"),
        pytest.param("127.0.0.1:8080", "https://127.0.0.1:8080/oauth/token", id="other-scheme"),
        pytest.param("127.0.0.1:8080", "http://127.0.0.1:8080/oauth/token/", id="trailing-slash"),
    ],
)
def test_assertion_for_the_host_header_url_is_refused(
    client: FlaskClient, key_client: tuple[str, Ed25519PrivateKey], clock: Any, host: str, audience: str
) -> None:
    token = assertion(*key_client, clock.now, aud=audience)
    response = client.post("/oauth/token", data=assertion_form(token), headers={"Host": host})
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_client"


def test_assertion_for_the_configured_url_is_accepted_whatever_the_host(
    client: FlaskClient, key_client: tuple[str, Ed25519PrivateKey], clock: Any
) -> None:
    token = assertion(*key_client, clock.now, aud=TOKEN_URL)
    response = client.post(
        "/oauth/token", data=assertion_form(token), headers={"Host": "proxy.internal:9000"}
    )
    assert response.status_code == 200


def test_a_configured_public_url_sets_the_audience(
    rt: Runtime, key_client: tuple[str, Ed25519PrivateKey], clock: Any
) -> None:
    client = with_public_url(rt, "https://gateway.example.org/spgw/")
    default_audience = client.post("/oauth/token", data=assertion_form(assertion(*key_client, clock.now)))
    assert default_audience.status_code == 401
    token = assertion(*key_client, clock.now, aud="https://gateway.example.org/spgw/oauth/token")
    assert client.post("/oauth/token", data=assertion_form(token)).status_code == 200


def test_the_public_url_comes_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GATEWAY_PUBLIC_URL", raising=False)
    assert Settings.from_env(tmp_path).token_url == "http://127.0.0.1:8080/oauth/token"
    monkeypatch.setenv("GATEWAY_PUBLIC_URL", "https://gateway.example.org")
    assert Settings.from_env(tmp_path).token_url == "https://gateway.example.org/oauth/token"


@pytest.mark.parametrize(
    "url", ["gateway.example.org", "ftp://gateway.example.org", "https://", "https://g.example.org/?x=1"]
)
def test_a_public_url_that_is_not_absolute_http_is_refused(tmp_path: Path, url: str) -> None:
    with pytest.raises(InputInvalid) as caught:
        Settings(home=tmp_path, database_url="sqlite://", public_base_url=url)
    assert [i.path for i in caught.value.issues] == ["GATEWAY_PUBLIC_URL"]


# -- exp at most five minutes out, jti required and never reused ----------------------------


@pytest.mark.parametrize(
    ("override", "status"),
    [
        pytest.param({"exp": 300}, 200, id="exp-exactly-5-min"),
        pytest.param({"exp": 360}, 401, id="exp-6-min"),
        pytest.param({"exp": 86400}, 401, id="exp-a-day"),
        pytest.param({"exp": -1}, 401, id="exp-passed"),
        pytest.param({"jti": None}, 401, id="missing-jti"),
        pytest.param({"jti": ""}, 401, id="empty-jti"),
        pytest.param({"jti": 12345}, 401, id="numeric-jti"),
        pytest.param({"jti": "j" * 1000}, 200, id="long-jti"),
    ],
)
def test_assertion_lifetime_and_jti(
    client: FlaskClient,
    key_client: tuple[str, Ed25519PrivateKey],
    clock: Any,
    override: dict[str, Any],
    status: int,
) -> None:
    claims = dict(override)
    if "exp" in claims:
        claims["exp"] = int(clock.now.timestamp()) + claims["exp"]
    token = assertion(*key_client, clock.now, **claims)
    response = client.post("/oauth/token", data=assertion_form(token))
    assert response.status_code == status
    if status == 200:  # and never twice
        assert client.post("/oauth/token", data=assertion_form(token)).status_code == 401


def test_a_jti_is_scoped_to_its_client(
    client: FlaskClient, rt: Runtime, key_client: tuple[str, Ed25519PrivateKey], clock: Any
) -> None:
    key = Ed25519PrivateKey.generate()
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    other = register_public_key(rt, "grand-bend-isd", pem.decode())
    first = assertion(*key_client, clock.now, jti="shared")
    second = assertion(other, key, clock.now, jti="shared")
    assert client.post("/oauth/token", data=assertion_form(first)).status_code == 200
    assert client.post("/oauth/token", data=assertion_form(second)).status_code == 200


def test_used_jtis_are_kept_until_they_expire_then_purged(
    client: FlaskClient, rt: Runtime, key_client: tuple[str, Ed25519PrivateKey], clock: Any
) -> None:
    used = assertion(*key_client, clock.now, exp=int(clock.now.timestamp()) + 120)
    assert client.post("/oauth/token", data=assertion_form(used)).status_code == 200
    clock.advance(seconds=119)
    assert client.post("/oauth/token", data=assertion_form(used)).status_code == 401  # still remembered
    assert count_rows(rt, "used_assertions") == 1
    clock.advance(seconds=2)
    fresh = assertion(*key_client, clock.now)
    assert client.post("/oauth/token", data=assertion_form(fresh)).status_code == 200
    assert count_rows(rt, "used_assertions") == 1  # the expired one is gone, the fresh one kept


def test_two_sessions_remembering_one_jti_at_once_see_one_replay(rt: Runtime, clock: Any) -> None:
    expires = clock.now + dt.timedelta(minutes=1)
    outcome: list[bool] = []

    def second() -> None:
        with rt.sessions.begin() as session:
            outcome.append(organization_store.remember_assertion(session, "c:race", expires, clock.now))

    with rt.sessions.begin() as session:
        assert organization_store.remember_assertion(session, "c:race", expires, clock.now)
        racer = threading.Thread(target=second)
        racer.start()
        time.sleep(0.5)  # the second writer is now waiting on this transaction
    racer.join(timeout=15)
    assert outcome == [False]
    assert count_rows(rt, "used_assertions") == 1
