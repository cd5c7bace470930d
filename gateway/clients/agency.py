"""Outbound HTTP to a community agency: POST one delivery, tell what came of it.

The client knows HTTP and nothing of policy or storage: the caller hands it the endpoint, the
body bytes and the headers, and gets back the status code or why there is none. It never
raises for network trouble, and nothing it reports quotes the body (bodies hold PHI).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

import requests

# Connect, then read. Short, because a sender holds a claimed delivery while it waits: together
# below the default delivery lease (20 s), whose heartbeat covers slower answers.
DEFAULT_TIMEOUT = (3.0, 5.0)
# Answers that say "later" rather than "no" (RFC 9110 408, RFC 8470 425, RFC 6585 429), and 409:
# the agency is still processing an earlier request with the same Idempotency-Key (IETF
# draft-ietf-httpapi-idempotency-key-header); once that one is done, a retry gets its answer.
RETRYABLE_CLIENT_ERRORS = frozenset({408, 409, 425, 429})


@dataclass(frozen=True, kw_only=True)
class AgencyAnswer:
    """What one POST came to: a status code, or the network problem that prevented one."""

    status: int | None
    problem: str = ""

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def retryable(self) -> bool:
        """Worth trying again later: no answer, a server error, or an explicit 'later'."""
        if self.status is None:
            return True
        return self.status >= 500 or self.status in RETRYABLE_CLIENT_ERRORS


def endpoint_problem(endpoint: object) -> str | None:
    """Why ``endpoint`` cannot be posted to, or None."""
    if not isinstance(endpoint, str) or not endpoint:
        return "no delivery endpoint is registered"
    parts = urlsplit(endpoint)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        return "the registered delivery endpoint is not an http(s) URL"
    return None


def post_delivery(
    http: requests.Session,
    endpoint: str,
    body: bytes,
    headers: dict[str, str],
    timeout: tuple[float, float] = DEFAULT_TIMEOUT,
) -> AgencyAnswer:
    try:
        # Redirects are not followed: a POST must not be re-sent somewhere nobody registered.
        response = http.post(
            endpoint,
            data=body,
            headers={"Content-Type": "application/json", **headers},
            timeout=timeout,
            allow_redirects=False,
        )
    except requests.Timeout:
        return AgencyAnswer(status=None, problem="the agency did not answer in time")
    except requests.ConnectionError:
        return AgencyAnswer(status=None, problem="could not connect to the agency endpoint")
    except requests.RequestException as exc:
        return AgencyAnswer(status=None, problem=f"request failed ({type(exc).__name__})")
    response.close()
    return AgencyAnswer(status=response.status_code)
