"""A read client for an Ed-Fi ODS/API (5.x-7.x), on ``requests``.

The base URL's discovery document comes first: it names the resources' base
(``urls.dataManagementApi``), the token endpoint (``urls.oauth``) and, when the server keeps a
change log, the change-queries base (``urls.changeQueries``). Nothing else is assumed about
paths. Year-specific instances (5.x/6.x ``apiMode``) put the school year after the data and
change-query bases. Errors are ``UpstreamFailed`` that say what, where and what to do.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import requests

from gateway.clients.edfi_auth import ClientCredentials, TokenSource
from gateway.clients.edfi_errors import refused, shape_error, where
from gateway.clients.edfi_http import RetryPolicy, Transport
from gateway.clients.edfi_paging import MAX_PAGE_SIZE, Page, cursor_pages, offset_pages
from gateway.errors import Issue, UpstreamFailed

PAGING_MODES = ("auto", "offset", "cursor")
CURSOR_SINCE = (7, 3)
_DISCOVERY_REMEDY = (
    "--base-url must be the ODS/API root that serves the discovery document (e.g. https://host/api)"
)


@dataclass(frozen=True, kw_only=True)
class Discovery:
    version: str
    api_mode: str
    data_models: tuple[tuple[str, str], ...]
    data_management_url: str
    oauth_url: str
    change_queries_url: str | None

    @property
    def year_specific(self) -> bool:
        return re.sub(r"[^a-z]", "", self.api_mode.lower()) in {"yearspecific", "instanceyearspecific"}

    @property
    def offers_cursor_paging(self) -> bool:
        numbers = tuple(int(n) for n in re.findall(r"\d+", self.version)[:2])
        return numbers >= CURSOR_SINCE


@dataclass(frozen=True, kw_only=True)
class ChangeVersions:
    oldest: int
    newest: int


@dataclass(frozen=True, kw_only=True)
class ChangeWindow:
    """Change versions ``low..high``, both inclusive."""

    low: int
    high: int

    def params(self) -> dict[str, int]:
        return {"minChangeVersion": self.low, "maxChangeVersion": self.high}


def parse_discovery(doc: Any, url: str) -> Discovery:
    urls = doc.get("urls") if isinstance(doc, dict) else None
    if not isinstance(urls, dict) or not urls.get("dataManagementApi") or not urls.get("oauth"):
        raise shape_error(
            url, "an Ed-Fi discovery document with urls.dataManagementApi and urls.oauth", _DISCOVERY_REMEDY
        )
    models = doc.get("dataModels") if isinstance(doc.get("dataModels"), list) else []
    return Discovery(
        version=str(doc.get("version") or ""),
        api_mode=str(doc.get("apiMode") or ""),
        data_models=tuple((str(m.get("name")), str(m.get("version"))) for m in models if isinstance(m, dict)),
        data_management_url=str(urls["dataManagementApi"]).rstrip("/"),
        oauth_url=str(urls["oauth"]),
        change_queries_url=str(urls["changeQueries"]).rstrip("/") if urls.get("changeQueries") else None,
    )


def parse_change_versions(doc: Any, url: str) -> ChangeVersions:
    # Before ODS/API 6.0 the keys were PascalCase (NewestChangeVersion): compare without case.
    keys = {str(k).lower(): v for k, v in doc.items()} if isinstance(doc, dict) else {}
    try:
        return ChangeVersions(
            oldest=int(keys["oldestchangeversion"]), newest=int(keys["newestchangeversion"])
        )
    except (KeyError, TypeError, ValueError):
        raise shape_error(
            url,
            "oldest and newest change versions",
            "check that urls.changeQueries is the change-queries base",
        ) from None


class EdFiClient:
    def __init__(
        self,
        base_url: str,
        credentials: ClientCredentials,
        *,
        http: requests.Session | None = None,
        retry: RetryPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
        page_size: int = MAX_PAGE_SIZE,
        paging: str = "auto",
        school_year: int | None = None,
    ) -> None:
        if paging not in PAGING_MODES:
            raise ValueError(f"paging must be one of {PAGING_MODES}")
        self.base_url = base_url.rstrip("/")
        self.credentials = credentials
        self.transport = Transport(http or requests.Session(), retry or RetryPolicy())
        self.clock = clock
        self.page_size = page_size
        self.paging = paging
        self.school_year = school_year
        self._discovery: Discovery | None = None
        self._tokens: TokenSource | None = None
        # The status of the last refused GET, so a caller can tell "not allowed / not offered"
        # (403, 404) from a failing server without reading the error's words.
        self.last_refusal: int | None = None

    def close(self) -> None:
        self.transport.http.close()

    def __enter__(self) -> EdFiClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- discovery and authorised GETs ---------------------------------------------------------

    def discover(self) -> Discovery:
        if self._discovery is None:
            url = self.base_url + "/"
            response = self.transport.send("GET", url, headers={"Accept": "application/json"})
            if response.status_code != 200:
                raise refused("GET", url, response)
            self._discovery = parse_discovery(_json(response, url), url)
            self._check_year(self._discovery)
            self._tokens = TokenSource(
                self.transport, self._discovery.oauth_url, self.credentials, self.clock
            )
        return self._discovery

    def _check_year(self, discovery: Discovery) -> None:
        if discovery.year_specific and self.school_year is None:
            location = where("GET", self.base_url + "/")
            raise UpstreamFailed(
                f"this ODS/API is year-specific (apiMode {discovery.api_mode!r}): the school year is needed",
                [
                    Issue(
                        path=location,
                        message="what to do: name the school year to pull (e.g. --school-year 2026)",
                    )
                ],
            )

    @property
    def tokens_fetched(self) -> int:
        return self._tokens.fetched if self._tokens else 0

    def get(self, url: str, params: Mapping[str, Any] | None = None) -> requests.Response:
        """An authorised GET: one re-authentication when the token is refused (401)."""
        self.discover()
        assert self._tokens is not None
        response = self._authorised_get(url, params)
        if response.status_code == 401:
            response.close()
            self._tokens.invalidate()
            response = self._authorised_get(url, params)
        if response.status_code != 200:
            self.last_refusal = response.status_code
            raise refused("GET", url, response)
        return response

    def _authorised_get(self, url: str, params: Mapping[str, Any] | None) -> requests.Response:
        assert self._tokens is not None
        headers = {"Accept": "application/json", **self._tokens.header()}
        return self.transport.send("GET", url, params=params, headers=headers)

    # -- URLs ----------------------------------------------------------------------------------

    def _year(self, base: str) -> str:
        return f"{base}/{self.school_year}" if self.discover().year_specific else base

    def resource_url(self, resource: str) -> str:
        # "students" is an Ed-Fi core resource; an extension names its namespace ("tpdm/candidates").
        path = resource if "/" in resource else f"ed-fi/{resource}"
        return f"{self._year(self.discover().data_management_url)}/{path}"

    # -- change queries and collections -------------------------------------------------------

    def available_change_versions(self) -> ChangeVersions | None:
        """The server's change log bounds, or None when it offers no change queries."""
        base = self.discover().change_queries_url
        if base is None:
            return None
        url = f"{self._year(base)}/availableChangeVersions"
        return parse_change_versions(_json(self.get(url), url), url)

    def uses_cursor_paging(self) -> bool:
        if self.paging == "auto":
            return self.discover().offers_cursor_paging
        return self.paging == "cursor"

    def pages(self, resource: str, window: ChangeWindow | None = None) -> Iterator[Page]:
        """The resource's current items (changed within ``window`` when given), a page at a time."""
        params = window.params() if window else {}
        read = cursor_pages if self.uses_cursor_paging() else offset_pages
        return read(self.get, self.resource_url(resource), params, self.page_size)

    def deletes(self, resource: str, window: ChangeWindow) -> Iterator[Page]:
        return offset_pages(
            self.get, self.resource_url(resource) + "/deletes", window.params(), self.page_size
        )

    def key_changes(self, resource: str, window: ChangeWindow) -> Iterator[Page]:
        url = self.resource_url(resource) + "/keyChanges"
        return offset_pages(self.get, url, window.params(), self.page_size)


def _json(response: requests.Response, url: str) -> Any:
    try:
        return response.json()
    except ValueError:
        raise shape_error(url, "JSON", _DISCOVERY_REMEDY) from None
