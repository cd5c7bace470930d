"""A OneRoster 1.1 / 1.2 REST client on ``requests``: OAuth2 client credentials, limit/offset
paging with ``X-Total-Count``, bounded back-off on 429 and 5xx.

- Token: ``POST`` the token URL with HTTP Basic client credentials and
  ``grant_type=client_credentials`` (+ ``scope``); renewed shortly before ``expires_in`` runs out,
  and once more when a request answers 401 anyway (clock skew, server-side revocation).
- Paths: 1.1 ``/ims/oneroster/v1p1/{collection}``; 1.2 rostering
  ``/ims/oneroster/rostering/v1p2/{collection}`` and gradebook ``/ims/oneroster/gradebook/v1p2/...``.
- Errors are summarised as ``UpstreamFailed`` with the status and the ``imsx_codeMajor`` /
  ``imsx_CodeMinor`` of the body when present, never the body itself.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import requests

from gateway.errors import Issue, UpstreamFailed

VERSIONS: tuple[str, ...] = ("1.1", "1.2")
GRADEBOOK: frozenset[str] = frozenset({"lineItems", "results", "categories"})
SCOPES = {
    "1.1": "https://purl.imsglobal.org/spec/or/v1p1/scope/roster.readonly",
    "1.2": "https://purl.imsglobal.org/spec/or/v1p2/scope/roster-core.readonly "
    "https://purl.imsglobal.org/spec/or/v1p2/scope/gradebook.readonly",
}
RETRIED = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True, kw_only=True)
class Page:
    collection: str
    offset: int
    body: bytes  # the response as received: it is staged as the message payload
    count: int
    total: int | None


def collection_path(version: str, collection: str) -> str:
    if version == "1.1":
        return f"/ims/oneroster/v1p1/{collection}"
    service = "gradebook" if collection in GRADEBOOK else "rostering"
    return f"/ims/oneroster/{service}/v1p2/{collection}"


class OneRosterClient:
    def __init__(
        self,
        *,
        base_url: str,
        client_id: str,
        client_secret: str,
        version: str = "1.2",
        token_url: str | None = None,
        scope: str | None = None,
        session: requests.Session | None = None,
        max_retries: int = 4,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        timeout: float = 30.0,
    ) -> None:
        if version not in VERSIONS:
            raise ValueError(f"OneRoster version must be one of {', '.join(VERSIONS)}")
        self.base_url = base_url.rstrip("/")
        self.version = version
        self.token_url = token_url or f"{self.base_url}/oauth/token"
        self.scope = scope if scope is not None else SCOPES[version]
        self.credentials = (client_id, client_secret)
        self.session = session or requests.Session()
        self.max_retries, self.sleep, self.clock, self.timeout = max_retries, sleep, clock, timeout
        self._token: str | None = None
        self._expires_at = 0.0

    # -- pages -------------------------------------------------------------------------------

    def pages(self, collection: str, *, page_size: int = 100) -> Iterator[Page]:
        offset = 0
        url = self.base_url + collection_path(self.version, collection)
        while True:
            response = self._get(url, {"limit": str(page_size), "offset": str(offset)})
            count = _count(response.content, collection, url)
            total = _total(response)
            yield Page(collection=collection, offset=offset, body=response.content, count=count, total=total)
            offset += count
            if count == 0 or (total is not None and offset >= total) or (total is None and count < page_size):
                return

    def _get(self, url: str, params: dict[str, str]) -> requests.Response:
        reauthorised = False
        attempt = 0
        while True:
            response = self._send(url, params)
            if response.status_code == 401 and not reauthorised:
                reauthorised, self._token = True, None
                continue
            if response.status_code in RETRIED and attempt < self.max_retries:
                self.sleep(_delay(attempt, response.headers.get("Retry-After")))
                attempt += 1
                continue
            if response.status_code != 200:
                raise _failure(url, response)
            return response

    def _send(self, url: str, params: dict[str, str]) -> requests.Response:
        headers = {"Authorization": f"Bearer {self._access_token()}", "Accept": "application/json"}
        try:
            return self.session.get(url, params=params, headers=headers, timeout=self.timeout)
        except requests.RequestException as exc:
            raise UpstreamFailed(
                "the OneRoster service cannot be reached",
                [Issue(path=url, message=f"{type(exc).__name__}; check --base-url and the network")],
            ) from exc

    # -- token -------------------------------------------------------------------------------

    def _access_token(self) -> str:
        if self._token is None or self.clock() >= self._expires_at:
            self._fetch_token()
        assert self._token is not None
        return self._token

    def _fetch_token(self) -> None:
        data = {"grant_type": "client_credentials", **({"scope": self.scope} if self.scope else {})}
        for attempt in range(self.max_retries + 1):
            try:
                response = self.session.post(
                    self.token_url, data=data, auth=self.credentials, timeout=self.timeout
                )
            except requests.RequestException as exc:
                raise UpstreamFailed(
                    "the OneRoster token endpoint cannot be reached",
                    [Issue(path=self.token_url, message=type(exc).__name__)],
                ) from exc
            if response.status_code in RETRIED and attempt < self.max_retries:
                self.sleep(_delay(attempt, response.headers.get("Retry-After")))
                continue
            break
        if response.status_code != 200:
            raise _failure(self.token_url, response, "check --client-id and the secret")
        body = _json(response.content, self.token_url)
        token, lifetime = body.get("access_token"), body.get("expires_in", 3600)
        if not isinstance(token, str) or not isinstance(lifetime, int | float):
            raise UpstreamFailed(
                "the OneRoster token endpoint answered without a usable token",
                [Issue(path=self.token_url, message="expected access_token and expires_in")],
            )
        # Renew before expiry: a tenth of the lifetime early, at most a minute.
        self._token, self._expires_at = token, self.clock() + lifetime - min(60.0, lifetime / 10)


def _delay(attempt: int, retry_after: str | None) -> float:
    if retry_after is not None and retry_after.strip().isdigit():
        return min(float(retry_after), 60.0)
    return float(min(0.5 * 2.0**attempt, 30.0))


def _total(response: requests.Response) -> int | None:
    value = response.headers.get("X-Total-Count", "").strip()
    return int(value) if value.isdigit() else None


def _json(content: bytes, url: str) -> dict[str, Any]:
    try:
        body = json.loads(content)
    except ValueError as exc:
        raise UpstreamFailed(
            "the OneRoster service answered with something that is not JSON",
            [Issue(path=url, message="expected a JSON object")],
        ) from exc
    if not isinstance(body, dict):
        raise UpstreamFailed(
            "the OneRoster service answered with an unexpected shape",
            [Issue(path=url, message="expected a JSON object")],
        )
    return body


def _count(content: bytes, collection: str, url: str) -> int:
    body = _json(content, url)
    items = next((v for v in body.values() if isinstance(v, list)), None)
    if items is None:
        raise UpstreamFailed(
            "the OneRoster service answered without a collection",
            [Issue(path=url, message=f'expected {{"{collection}": [...]}}')],
        )
    return len(items)


def _failure(url: str, response: requests.Response, hint: str = "") -> UpstreamFailed:
    status = response.status_code
    detail = f"HTTP {status}"
    try:
        body = response.json()
    except ValueError:
        body = None
    info = body.get("imsx_StatusInfo", body) if isinstance(body, dict) else None
    if isinstance(info, dict) and info.get("imsx_codeMajor"):
        minor = info.get("imsx_CodeMinor")
        minor_text = minor if isinstance(minor, str) else json.dumps(minor, sort_keys=True)[:200]
        detail += f", imsx_codeMajor {info['imsx_codeMajor']}" + (
            f", imsx_CodeMinor {minor_text}" if minor else ""
        )
    message = detail + (f"; {hint}" if hint else "")
    return UpstreamFailed(
        f"the OneRoster service refused a request (HTTP {status})", [Issue(path=url, message=message)]
    )
