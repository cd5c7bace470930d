"""An HSDS 3.x API client on ``requests`` (``schema/openapi.json``): pages of ``GET /services``
(``page``, ``per_page``, ``full``, ``modified_after``) and ``GET /services/{id}``.

A list item without ``service_at_locations`` is a minimal service (the API's default shape for
lists on some servers): it is fetched again whole from ``/services/{id}``. Paging stops at
``total_pages`` or ``last_page``, on an empty page, or at ``MAX_PAGES`` (a server that never
says it is done). Failures are ``UpstreamFailed`` naming the URL and the HTTP status, never the
body."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import requests

from gateway.errors import Issue, UpstreamFailed

MAX_PAGES = 10_000
PER_PAGE = 100


@dataclass(frozen=True, kw_only=True)
class Page:
    number: int
    services: list[dict[str, Any]]
    last: bool


class HsdsClient:
    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 30.0,
        per_page: int = PER_PAGE,
        session: requests.Session | None = None,
    ) -> None:
        base = base_url.rstrip("/")
        self.base_url = base[: -len("/services")] if base.endswith("/services") else base
        self.timeout, self.per_page = timeout, per_page
        self.session = session or requests.Session()

    def services(self, modified_after: str = "") -> Iterator[Page]:
        """Every page of services (modified after the watermark, when one is given)."""
        params: dict[str, str] = {"per_page": str(self.per_page), "full": "true"}
        if modified_after:
            params["modified_after"] = modified_after
        for number in range(1, MAX_PAGES + 1):
            body = self._get("/services", {**params, "page": str(number)})
            items = body.get("contents")
            if not isinstance(items, list):
                raise _shape(f"{self.base_url}/services", 'expected a page: {"contents": [...], ...}')
            yield Page(
                number=number, services=[self._whole(s) for s in items], last=_last(body, number, items)
            )
            if _last(body, number, items):
                return
        raise _shape(
            f"{self.base_url}/services", f"more than {MAX_PAGES} pages; the server never said it was done"
        )

    def service(self, service_id: str) -> dict[str, Any]:
        return self._get(f"/services/{quote(service_id, safe='')}", {})

    def _whole(self, item: Any) -> Any:
        if isinstance(item, dict) and "service_at_locations" not in item and item.get("id"):
            return self.service(str(item["id"]))
        return item

    def _get(self, path: str, params: dict[str, str]) -> dict[str, Any]:
        url = self.base_url + path
        try:
            response = self.session.get(url, params=params, timeout=self.timeout)
        except requests.RequestException as exc:
            raise UpstreamFailed(
                "the HSDS API could not be reached",
                [Issue(path=url, message=f"{type(exc).__name__}; check the URL and that the server is up")],
            ) from None
        if response.status_code != 200:
            raise UpstreamFailed(
                f"the HSDS API refused a request (HTTP {response.status_code})",
                [
                    Issue(
                        path=url,
                        message=f"HTTP {response.status_code}; check the URL (the API root, e.g. .../api)",
                    )
                ],
            )
        try:
            body = response.json()
        except ValueError:
            raise _shape(url, "expected JSON") from None
        if not isinstance(body, dict):
            raise _shape(url, "expected a JSON object")
        return body


def _last(body: dict[str, Any], number: int, items: list[Any]) -> bool:
    if not items or body.get("last_page") is True or body.get("empty") is True:
        return True
    total = body.get("total_pages")
    return isinstance(total, int) and number >= total


def _shape(url: str, message: str) -> UpstreamFailed:
    return UpstreamFailed(
        "the HSDS API answered with an unexpected shape", [Issue(path=url, message=message)]
    )
