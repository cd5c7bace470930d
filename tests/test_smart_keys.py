"""SMART Backend Services keys: the administrator registers a partner's public JWK (CLI or API) or
its JWKS URL, and the partner gets tokens with private_key_jwt assertions (RS384, ES384) naming the
key by kid, over real HTTP. Unknown and removed kids are refused; a JWKS URL is fetched, cached,
fetched again for an unknown kid, at most once per interval."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from flask.testing import FlaskClient

from gateway.service.administration.partners import ASSERTION_TYPE, create_secret
from gateway.service.fhir.partner_keys import add_jwks_url, add_keys
from gateway.service.runtime import DEFAULT_PUBLIC_URL, Runtime
from gateway.web import create_app
from tests.helpers import count_rows
from tests.http_server import serve_wsgi

TOKEN_URL = f"{DEFAULT_PUBLIC_URL}/oauth/token"
GRANT = {"grant_type": "client_credentials", "client_assertion_type": ASSERTION_TYPE}


# -- keys and assertions --------------------------------------------------------------------


@dataclass(frozen=True)
class Signer:
    """A partner's private key, its algorithm and the kid it is registered under."""

    key: Any
    algorithm: str
    kid: str

    def public_jwk(self) -> dict[str, Any]:
        maker = jwt.algorithms.RSAAlgorithm if self.algorithm.startswith("RS") else jwt.algorithms.ECAlgorithm
        return {**maker.to_jwk(self.key.public_key(), as_dict=True), "kid": self.kid, "use": "sig"}

    def assertion(self, client_id: str, now: Any, **override: Any) -> str:
        claims = {
            "iss": client_id,
            "sub": client_id,
            "aud": TOKEN_URL,
            "exp": int(now.timestamp()) + 60,
            "jti": uuid.uuid4().hex,
            **override,
        }
        return jwt.encode(claims, self.key, algorithm=self.algorithm, headers={"kid": self.kid})


def rs384(kid: str = "rsa-1") -> Signer:
    return Signer(rsa.generate_private_key(public_exponent=65537, key_size=2048), "RS384", kid)


def es384(kid: str = "ec-1") -> Signer:
    return Signer(ec.generate_private_key(ec.SECP384R1()), "ES384", kid)


# Each request on its own connection, closed by the server once answered: none is left open
# when the served gateway stops.
CLOSE = {"Connection": "close"}


def token_answer(base_url: str, assertion: str, **form: str) -> requests.Response:
    data = {**GRANT, "client_assertion": assertion, **form}
    return requests.post(f"{base_url}/oauth/token", data=data, headers=CLOSE, timeout=10)


# -- the CLI --------------------------------------------------------------------------------


def jwk_file(tmp_path: Path, doc: dict[str, Any]) -> str:
    path = tmp_path / f"{uuid.uuid4().hex}.json"
    path.write_text(json.dumps(doc), "utf-8")
    return str(path)


@pytest.mark.parametrize("signer_of", [rs384, es384], ids=["RS384", "ES384"])
def test_a_jwk_registered_with_the_cli_gets_tokens(
    spgw: Callable[..., tuple[int, str]], tmp_path: Path, base_url: str, clock: Any, signer_of: Any
) -> None:
    signer = signer_of()
    code, output = spgw(
        "partners",
        "keys",
        "add",
        "riverside-health",
        "--jwk",
        jwk_file(tmp_path, signer.public_jwk()),
        "--json",
    )
    assert code == 0, output
    (key,) = json.loads(output)["keys"]
    assert (key["kid"], key["algorithm"], key["source"]) == (signer.kid, signer.algorithm, "jwk")
    answer = token_answer(base_url, signer.assertion(key["clientId"], clock.now))
    assert answer.status_code == 200, answer.text
    assert answer.json()["token_type"] == "Bearer"
    messages = requests.get(
        f"{base_url}/api/v1/messages",
        headers={"Authorization": f"Bearer {answer.json()['access_token']}", **CLOSE},
        timeout=10,
    )
    assert messages.status_code == 200


def test_cli_lists_adds_to_a_key_set_and_removes(
    spgw: Callable[..., tuple[int, str]], tmp_path: Path, base_url: str, clock: Any
) -> None:
    first, second = rs384("k1"), es384("k2")
    _, output = spgw(
        "partners",
        "keys",
        "add",
        "riverside-health",
        "--jwk",
        jwk_file(tmp_path, first.public_jwk()),
        "--json",
    )
    client_id = json.loads(output)["keys"][0]["clientId"]
    code, output = spgw(
        "partners",
        "keys",
        "add",
        "riverside-health",
        "--jwk",
        jwk_file(tmp_path, second.public_jwk()),
        "--client-id",
        client_id,
    )
    assert code == 0, output
    code, output = spgw("partners", "keys", "list", "riverside-health", "--json")
    listed = json.loads(output)["keys"]
    assert [(k["kid"], k["clientId"]) for k in listed] == [("k1", client_id), ("k2", client_id)]
    assert all(k["thumbprint"] and "n" not in k and "x" not in k for k in listed)  # never the key itself
    assert token_answer(base_url, second.assertion(client_id, clock.now)).status_code == 200
    code, output = spgw("partners", "keys", "remove", "k2", "--org", "riverside-health")
    assert code == 0, output
    assert "removed k2" in output
    refused = token_answer(base_url, second.assertion(client_id, clock.now))
    assert (refused.status_code, refused.json()["error"]) == (401, "invalid_client")
    assert token_answer(base_url, first.assertion(client_id, clock.now)).status_code == 200
    code, output = spgw("partners", "keys", "list", "riverside-health")
    assert "k1" in output
    assert "k2" not in output


SHORT_RSA_N = jwt.algorithms.RSAAlgorithm.to_jwk(
    rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key(), as_dict=True
)["n"]


@pytest.mark.parametrize(
    ("change", "named"),
    [
        pytest.param({"d": "AAAA"}, "$.d", id="private-key"),
        pytest.param({"kid": None}, "$.kid", id="no-kid"),
        pytest.param({"kid": ""}, "$.kid", id="empty-kid"),
        pytest.param({"kty": "oct"}, "$.kty", id="symmetric"),
        pytest.param({"alg": "RS256"}, "$.alg", id="other-alg"),
        pytest.param({"use": "enc"}, "$.use", id="encryption-key"),
        pytest.param({"n": SHORT_RSA_N}, "$.n", id="short-rsa"),
        pytest.param({"e": "!!"}, "$", id="does-not-load"),
    ],
)
def test_cli_refuses_keys_it_cannot_trust(
    spgw: Callable[..., tuple[int, str]], tmp_path: Path, change: dict[str, Any], named: str
) -> None:
    doc = {k: v for k, v in {**rs384().public_jwk(), **change}.items() if v is not None}
    code, output = spgw("partners", "keys", "add", "riverside-health", "--jwk", jwk_file(tmp_path, doc))
    assert code == 2
    error = json.loads(output)["error"]
    assert named in [i["path"] for i in error["issues"]]


def test_a_private_key_is_refused_saying_what_to_do(
    spgw: Callable[..., tuple[int, str]], tmp_path: Path
) -> None:
    private = {**jwt.algorithms.ECAlgorithm.to_jwk(es384().key, as_dict=True), "kid": "oops"}
    code, output = spgw("partners", "keys", "add", "riverside-health", "--jwk", jwk_file(tmp_path, private))
    assert code == 2
    (issue,) = json.loads(output)["error"]["issues"]
    assert issue["path"] == "$.d"
    assert "private key" in issue["message"]
    assert "public" in issue["message"]


# -- at the token endpoint --------------------------------------------------------------------


@pytest.fixture
def key_set(rt: Runtime) -> tuple[str, Signer, Signer]:
    rsa_key, ec_key = rs384("rsa-a"), es384("ec-a")
    listing = add_keys(rt, "riverside-health", {"keys": [rsa_key.public_jwk(), ec_key.public_jwk()]})
    return listing.keys[0].client_id, rsa_key, ec_key


@pytest.mark.parametrize(
    "how",
    [
        pytest.param("unknown-kid", id="unknown-kid"),
        pytest.param("no-kid", id="no-kid"),
        pytest.param("kid-of-another-client", id="kid-of-another-client"),
        pytest.param("wrong-algorithm-for-kid", id="wrong-algorithm"),
        pytest.param("signed-by-another-key", id="forged"),
    ],
)
def test_assertions_a_key_set_does_not_verify_are_refused(
    rt: Runtime, base_url: str, clock: Any, key_set: tuple[str, Signer, Signer], how: str
) -> None:
    client_id, rsa_key, _ = key_set
    if how == "unknown-kid":
        token = replace(rsa_key, kid="nobody").assertion(client_id, clock.now)
    elif how == "no-kid":
        claims = jwt.decode(rsa_key.assertion(client_id, clock.now), options={"verify_signature": False})
        token = jwt.encode(claims, rsa_key.key, algorithm="RS384")
    elif how == "kid-of-another-client":
        other = add_keys(rt, "grand-bend-isd", rs384("other").public_jwk()).keys[0].client_id
        token = replace(rsa_key, kid="other").assertion(other, clock.now)
    elif how == "wrong-algorithm-for-kid":
        token = replace(rsa_key, algorithm="RS256").assertion(client_id, clock.now)
    else:
        token = replace(rs384(), kid=rsa_key.kid).assertion(client_id, clock.now)
    answer = token_answer(base_url, token)
    assert answer.status_code == 401
    assert answer.json()["error"] == "invalid_client"
    assert answer.headers["Cache-Control"] == "no-store"


def test_both_keys_of_a_set_verify(base_url: str, clock: Any, key_set: tuple[str, Signer, Signer]) -> None:
    client_id, rsa_key, ec_key = key_set
    for signer in (rsa_key, ec_key):
        assert token_answer(base_url, signer.assertion(client_id, clock.now)).status_code == 200


def test_key_adds_and_removals_are_audited_by_kid_and_thumbprint(
    rt: Runtime, key_set: tuple[str, Signer, Signer]
) -> None:
    from gateway.service.fhir.partner_keys import remove_key

    client_id, rsa_key, _ = key_set
    remove_key(rt, rsa_key.kid)
    with rt.engine.connect() as connection:
        from sqlalchemy import text

        rows = connection.execute(
            text(
                "SELECT kind, subject, details FROM audit_entries "
                "WHERE kind LIKE 'partner_key.%' ORDER BY seq"
            )
        ).all()
    assert [(r.kind, r.subject) for r in rows] == [
        ("partner_key.added", client_id),
        ("partner_key.added", client_id),
        ("partner_key.removed", client_id),
    ]
    details = [r.details if isinstance(r.details, dict) else json.loads(r.details) for r in rows]
    assert {d["kid"] for d in details} == {"rsa-a", "ec-a"}
    assert all(set(d) == {"organizationId", "kid", "thumbprint", "source"} for d in details)
    assert rsa_key.public_jwk()["n"] not in json.dumps(details)


# -- a JWKS URL: fetched, cached, fetched again for an unknown kid, rate limited --------------


@dataclass
class JwksServer:
    url: str
    keys: list[dict[str, Any]] = field(default_factory=list)
    hits: int = 0


@pytest.fixture
def jwks_server() -> Iterator[JwksServer]:
    state = JwksServer(url="")

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        state.hits += 1
        body = json.dumps({"keys": state.keys}).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]

    with serve_wsgi(app) as base:
        state.url = f"{base}/jwks.json"
        yield state


def test_a_jwks_url_is_fetched_cached_refreshed_and_rate_limited(
    rt: Runtime, base_url: str, clock: Any, jwks_server: JwksServer
) -> None:
    first, rotated, late = rs384("r1"), es384("r2"), es384("r3")
    jwks_server.keys = [first.public_jwk()]
    client_id = add_jwks_url(rt, "riverside-health", jwks_server.url).keys[0].client_id
    assert jwks_server.hits == 1  # fetched when registered
    # cached: the known kid is verified without a fetch
    for _ in range(2):
        assert token_answer(base_url, first.assertion(client_id, clock.now)).status_code == 200
    assert jwks_server.hits == 1
    # the partner rotates: an unknown kid fetches again (the interval since registration has passed)
    jwks_server.keys = [first.public_jwk(), rotated.public_jwk()]
    clock.advance(seconds=rt.settings.jwks_refresh_seconds + 1)
    assert token_answer(base_url, rotated.assertion(client_id, clock.now)).status_code == 200
    assert jwks_server.hits == 2
    # within the interval, unknown kids do not fetch again, however many are presented
    jwks_server.keys.append(late.public_jwk())
    for _ in range(3):
        refused = token_answer(base_url, late.assertion(client_id, clock.now))
        assert (refused.status_code, refused.json()["error"]) == (401, "invalid_client")
    assert jwks_server.hits == 2
    # after it, one fetch finds the new key
    clock.advance(seconds=rt.settings.jwks_refresh_seconds + 1)
    assert token_answer(base_url, late.assertion(client_id, clock.now)).status_code == 200
    assert jwks_server.hits == 3
    assert count_rows(rt, "partner_keys") == 3


def test_a_key_gone_from_the_jwks_url_is_refused_after_a_refresh(
    rt: Runtime, base_url: str, clock: Any, jwks_server: JwksServer
) -> None:
    old, new = rs384("old"), rs384("new")
    jwks_server.keys = [old.public_jwk()]
    client_id = add_jwks_url(rt, "riverside-health", jwks_server.url).keys[0].client_id
    jwks_server.keys = [new.public_jwk()]
    clock.advance(seconds=rt.settings.jwks_refresh_seconds + 1)
    assert token_answer(base_url, new.assertion(client_id, clock.now)).status_code == 200
    assert token_answer(base_url, old.assertion(client_id, clock.now)).status_code == 401


def test_a_removed_key_stays_removed_whatever_the_jwks_url_serves(
    rt: Runtime, base_url: str, clock: Any, jwks_server: JwksServer
) -> None:
    from gateway.service.fhir.partner_keys import remove_key

    key, other = rs384("kept-out"), rs384("other")
    jwks_server.keys = [key.public_jwk()]
    client_id = add_jwks_url(rt, "riverside-health", jwks_server.url).keys[0].client_id
    remove_key(rt, "kept-out", organization_id="riverside-health")
    jwks_server.keys = [key.public_jwk(), other.public_jwk()]
    clock.advance(seconds=rt.settings.jwks_refresh_seconds + 1)
    assert token_answer(base_url, other.assertion(client_id, clock.now)).status_code == 200  # refreshed
    assert token_answer(base_url, key.assertion(client_id, clock.now)).status_code == 401


@pytest.mark.parametrize(
    "url",
    [
        "http://gateway-partner.example.org/jwks.json",  # plain http off this host
        "ftp://127.0.0.1/jwks.json",
        "file:///etc/passwd",
        "https://user:pw@partner.example.org/jwks.json",
    ],
)
def test_jwks_urls_must_be_https_or_loopback(rt: Runtime, url: str) -> None:
    from gateway.errors import InputInvalid

    with pytest.raises(InputInvalid) as caught:
        add_jwks_url(rt, "riverside-health", url)
    assert [i.path for i in caught.value.issues] == ["jwks_url"]


def test_an_unreachable_jwks_url_is_refused_at_registration(rt: Runtime) -> None:
    from gateway.errors import UpstreamFailed

    with pytest.raises(UpstreamFailed):
        add_jwks_url(rt, "riverside-health", "http://127.0.0.1:9/jwks.json")


# -- the administrator API ------------------------------------------------------------------


def admin_client(rt: Runtime, role: str = "administrator") -> tuple[FlaskClient, dict[str, str]]:
    client = create_app({"TESTING": True}, runtime=rt).test_client()
    issued = create_secret(rt, "grand-bend-isd", role=role)
    form = {
        "grant_type": "client_credentials",
        "client_id": issued.client_id,
        "client_secret": issued.client_secret,
    }
    token = client.post("/oauth/token", data=form).get_json()["access_token"]
    return client, {"Authorization": f"Bearer {token}"}


KEYS = "/api/v1/partners/riverside-health/keys"


def test_the_administrator_api_adds_lists_and_removes_keys(rt: Runtime, clock: Any) -> None:
    client, headers = admin_client(rt)
    signer = es384("api-1")
    added = client.post(KEYS, json={"jwk": signer.public_jwk()}, headers=headers)
    assert added.status_code == 201, added.get_json()
    client_id = added.get_json()["keys"][0]["clientId"]
    assert added.get_json()["keys"][0]["addedBy"].startswith("grand-bend-isd.")
    form = {**GRANT, "client_assertion": signer.assertion(client_id, clock.now)}
    assert client.post("/oauth/token", data=form).status_code == 200
    listed = client.get(KEYS, headers=headers).get_json()
    assert [k["kid"] for k in listed["keys"]] == ["api-1"]
    assert client.delete(f"{KEYS}/api-1", headers=headers).status_code == 200
    form = {**GRANT, "client_assertion": signer.assertion(client_id, clock.now)}
    assert client.post("/oauth/token", data=form).get_json()["error"] == "invalid_client"
    assert client.delete(f"{KEYS}/api-1", headers=headers).status_code == 404


@pytest.mark.parametrize(
    ("body", "status", "named"),
    [
        pytest.param({}, 400, "body", id="no-key"),
        pytest.param({"jwk": {}, "jwksUrl": "https://x.example.org"}, 400, "body", id="two-sources"),
        pytest.param({"jwk": {"kty": "RSA"}, "extra": 1}, 400, "extra", id="unknown-field"),
        pytest.param({"jwksUrl": "http://partner.example.org/jwks"}, 400, "jwks_url", id="plain-http"),
        pytest.param({"jwk": "not-an-object"}, 400, "$", id="not-a-jwk"),
        pytest.param({"jwks": {"keys": []}}, 400, "$.keys", id="empty-jwks"),
        pytest.param(
            {"jwk": {"kty": "RSA"}, "clientId": "nobody.jwt.0000"}, 400, "$.kid", id="bad-key-first"
        ),
    ],
)
def test_the_administrator_api_names_what_is_wrong(
    rt: Runtime, body: dict[str, Any], status: int, named: str
) -> None:
    client, headers = admin_client(rt)
    answer = client.post(KEYS, json=body, headers=headers)
    assert answer.status_code == status
    assert named in [i["path"] for i in answer.get_json()["error"]["issues"]]


def test_the_same_kid_twice_for_one_client_is_a_conflict(rt: Runtime) -> None:
    client, headers = admin_client(rt)
    signer = rs384("dup")
    client_id = client.post(KEYS, json={"jwk": signer.public_jwk()}, headers=headers).get_json()["keys"][0][
        "clientId"
    ]
    again = client.post(KEYS, json={"jwk": rs384("dup").public_jwk(), "clientId": client_id}, headers=headers)
    assert again.status_code == 409


@pytest.mark.parametrize("role", ["partner", "compliance"])
def test_only_administrators_manage_keys(rt: Runtime, role: str) -> None:
    client, headers = admin_client(rt, role=role)
    assert client.get(KEYS, headers=headers).status_code == 403
    assert client.post(KEYS, json={"jwk": rs384().public_jwk()}, headers=headers).status_code == 403
    assert client.get(KEYS).status_code == 401


def test_an_unknown_organization_is_404(rt: Runtime) -> None:
    client, headers = admin_client(rt)
    assert client.get("/api/v1/partners/nobody/keys", headers=headers).status_code == 404
    assert (
        client.post(
            "/api/v1/partners/nobody/keys", json={"jwk": rs384().public_jwk()}, headers=headers
        ).status_code
        == 404
    )
