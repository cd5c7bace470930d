"""HTTP with back-off for an Ed-Fi ODS/API: retries 429 and 5xx (and dropped connections) a
bounded number of times, honouring ``Retry-After``.

Sleep and jitter are injected, so tests run the whole retry path deterministically and without
waiting; production uses ``time.sleep`` and ``random.random``.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import requests

from gateway.clients.edfi_errors import network_error, refused

RETRYABLE = frozenset({429, 500, 502, 503, 504})
DEFAULT_TIMEOUT = (5.0, 60.0)  # connect, read: a 500-record page can take a while to render


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0
    # A server may ask for a longer pause than our own back-off would take; honour it up to this.
    max_retry_after: float = 300.0
    sleep: Callable[[float], None] = field(default=time.sleep)
    jitter: Callable[[], float] = field(default=random.random)  # in [0, 1)
    wall_clock: Callable[[], float] = field(default=time.time)

    def delay(self, attempt: int, retry_after: str | None) -> float:
        """Seconds to wait before attempt ``attempt + 1``."""
        asked = self._retry_after_seconds(retry_after)
        if asked is not None:
            return min(asked, self.max_retry_after)
        backoff = self.base_delay * 2.0 ** (attempt - 1)
        return min(backoff + self.jitter() * self.base_delay, self.max_delay)

    def _retry_after_seconds(self, value: str | None) -> float | None:
        if not value:
            return None
        text = value.strip()
        if text.isdigit():
            return float(text)
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        return max(0.0, when.timestamp() - self.wall_clock())


class Transport:
    """One ``requests.Session`` and a retry policy; answers anything but a retryable failure."""

    def __init__(
        self,
        http: requests.Session,
        retry: RetryPolicy,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
    ) -> None:
        self.http = http
        self.retry = retry
        self.timeout = timeout

    def send(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        data: Mapping[str, str] | None = None,
        auth: tuple[str, str] | None = None,
    ) -> requests.Response:
        for attempt in range(1, self.retry.attempts + 1):
            last = attempt == self.retry.attempts
            try:
                response = self.http.request(
                    method,
                    url,
                    params=params,
                    headers=dict(headers or {}),
                    data=data,
                    auth=auth,
                    timeout=self.timeout,
                    allow_redirects=False,
                )
            except (requests.ConnectionError, requests.Timeout) as exc:
                if last:
                    raise network_error(method, url, type(exc).__name__, attempt) from None
                self.retry.sleep(self.retry.delay(attempt, None))
                continue
            if response.status_code not in RETRYABLE:
                return response
            if last:
                raise refused(method, url, response, attempt)
            response.close()  # let its connection go before waiting
            self.retry.sleep(self.retry.delay(attempt, response.headers.get("Retry-After")))
        raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover
