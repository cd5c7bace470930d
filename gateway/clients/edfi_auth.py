"""OAuth 2.0 client credentials for an Ed-Fi ODS/API (two-legged, HTTP Basic).

``POST {urls.oauth}`` with ``Authorization: Basic base64(key:secret)`` and
``grant_type=client_credentials`` answers ``{"access_token", "expires_in", "token_type"}``.
The token is fetched lazily, renewed shortly before ``expires_in`` runs out, and dropped when a
call is answered 401 (the server revoked it or its clock disagrees), so the next call re-authenticates.
The secret is never logged, printed or put in an error.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from gateway.clients.edfi_errors import refused, shape_error
from gateway.clients.edfi_http import Transport

DEFAULT_LIFETIME = 1800  # seconds, the ODS/API default when a server omits expires_in
MAX_EARLY_RENEWAL = 60.0


@dataclass(frozen=True, kw_only=True)
class ClientCredentials:
    client_id: str
    client_secret: str = field(repr=False)


@dataclass(frozen=True, kw_only=True)
class _Token:
    value: str
    renew_at: float


class TokenSource:
    def __init__(
        self,
        transport: Transport,
        token_url: str,
        credentials: ClientCredentials,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.transport = transport
        self.token_url = token_url
        self.credentials = credentials
        self.clock = clock
        self.fetched = 0  # how many tokens were requested (tests and summaries read it)
        self._token: _Token | None = None

    def header(self) -> dict[str, str]:
        if self._token is None or self.clock() >= self._token.renew_at:
            self._token = self._fetch()
        return {"Authorization": f"Bearer {self._token.value}"}

    def invalidate(self) -> None:
        self._token = None

    def _fetch(self) -> _Token:
        started = self.clock()
        response = self.transport.send(
            "POST",
            self.token_url,
            data={"grant_type": "client_credentials"},
            auth=(self.credentials.client_id, self.credentials.client_secret),
            headers={"Accept": "application/json"},
        )
        self.fetched += 1
        if response.status_code != 200:
            raise refused("POST", self.token_url, response)
        try:
            doc = response.json()
            value = str(doc["access_token"])
            lifetime = float(doc.get("expires_in") or DEFAULT_LIFETIME)
        except (ValueError, KeyError, TypeError):
            raise shape_error(
                self.token_url,
                "an OAuth token response",
                "check that the discovery document's urls.oauth points at the token endpoint",
            ) from None
        # Renew a little early (a tenth of the lifetime, at most a minute) so a token never
        # expires between our check and the server's.
        return _Token(value=value, renew_at=started + lifetime - min(lifetime / 10, MAX_EARLY_RENEWAL))
