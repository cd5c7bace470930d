"""Reading an Ed-Fi collection page by page.

- Offset paging (every ODS/API): ``offset`` / ``limit`` (at most 500); the first request asks
  ``totalCount=true`` and reads the ``Total-Count`` header, later ones do not (it costs a count).
- Cursor paging (ODS/API 7.3+): ``pageSize`` and ``pageToken``, following the ``Next-Page-Token``
  response header until there is none. It does not slow down on deep pages; ``totalCount`` is
  not allowed with it, and ``/deletes`` and ``/keyChanges`` do not offer it.

Each page keeps the exact bytes the server sent, so the caller can stage them unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import requests

from gateway.clients.edfi_errors import shape_error

MAX_PAGE_SIZE = 500
Fetch = Callable[[str, Mapping[str, Any]], requests.Response]


@dataclass(frozen=True, kw_only=True)
class Page:
    number: int  # 0-based
    items: tuple[dict[str, Any], ...]
    body: bytes
    total: int | None  # Total-Count, when the server told it


def _items(response: requests.Response, url: str) -> tuple[dict[str, Any], ...]:
    try:
        doc = response.json()
    except ValueError:
        doc = None
    if not isinstance(doc, list) or not all(isinstance(item, dict) for item in doc):
        raise shape_error(url, "a JSON array of resources", "check that the resource path is a collection")
    return tuple(doc)


def _total(response: requests.Response) -> int | None:
    value = response.headers.get("Total-Count")
    return int(value) if value is not None and value.strip().isdigit() else None


def offset_pages(
    fetch: Fetch, url: str, params: Mapping[str, Any], page_size: int = MAX_PAGE_SIZE
) -> Iterator[Page]:
    limit = max(1, min(page_size, MAX_PAGE_SIZE))
    offset, number, total = 0, 0, None
    while True:
        query = {**params, "offset": offset, "limit": limit}
        if number == 0:
            query["totalCount"] = "true"
        response = fetch(url, query)
        items = _items(response, url)
        if number == 0:
            total = _total(response)
        yield Page(number=number, items=items, body=response.content, total=total)
        number, offset = number + 1, offset + len(items)
        if not items or (offset >= total if total is not None else len(items) < limit):
            return


def cursor_pages(
    fetch: Fetch, url: str, params: Mapping[str, Any], page_size: int = MAX_PAGE_SIZE
) -> Iterator[Page]:
    size = max(1, min(page_size, MAX_PAGE_SIZE))
    token: str | None = None
    number = 0
    while True:
        query = {**params, "pageSize": size}
        if token:
            query["pageToken"] = token
        response = fetch(url, query)
        items = _items(response, url)
        yield Page(number=number, items=items, body=response.content, total=None)
        token = response.headers.get("Next-Page-Token")
        number += 1
        if not items or not token:
            return
