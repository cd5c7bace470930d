"""Fetching a partner's JWKS (its public signing keys) from the URL it registered.

Only ``https`` URLs are fetched, or plain ``http`` to this host's loopback (a partner's test
setup); redirects are not followed (a redirect could lead anywhere), the answer is read up to
``MAX_BYTES`` and must be a JSON object with a ``keys`` array.
"""

from __future__ import annotations

import ipaddress
import json
from typing import Any
from urllib.parse import urlsplit

import requests

from gateway.errors import InputInvalid, Issue, UpstreamFailed

TIMEOUT_SECONDS = 5.0
MAX_BYTES = 256 * 1024


def check_jwks_url(url: str, path: str = "jwks_url") -> None:
    parts = urlsplit(url)
    usable = parts.scheme == "https" or (parts.scheme == "http" and _loopback(parts.hostname or ""))
    if not usable or not parts.hostname or parts.username or parts.password:
        raise InputInvalid(
            "a JWKS URL must be https (or http to this host's loopback, for tests)",
            [Issue(path=path, message="give the https URL the partner publishes its JWKS at")],
        )


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def fetch_jwks(url: str, timeout: float = TIMEOUT_SECONDS) -> list[dict[str, Any]]:
    """The ``keys`` of the JWKS at ``url``; UpstreamFailed (naming the URL, not the body) otherwise."""
    check_jwks_url(url)
    try:
        with requests.get(url, timeout=timeout, allow_redirects=False, stream=True) as answer:
            if answer.status_code != 200:
                raise _failed(url, f"answered HTTP {answer.status_code}")
            body = answer.raw.read(MAX_BYTES + 1, decode_content=True)
    except requests.RequestException as exc:
        raise _failed(url, f"could not be reached ({type(exc).__name__})") from exc
    if len(body) > MAX_BYTES:
        raise _failed(url, f"answered more than {MAX_BYTES} bytes")
    try:
        document = json.loads(body)
    except ValueError as exc:
        raise _failed(url, "did not answer JSON") from exc
    keys = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(keys, list) or not all(isinstance(k, dict) for k in keys):
        raise _failed(url, "did not answer a JWKS (an object with a keys array)")
    return keys


def _failed(url: str, what: str) -> UpstreamFailed:
    return UpstreamFailed(
        "the partner's JWKS URL could not be read",
        [Issue(path="jwks_url", message=f"{url} {what}; check the URL and that it serves the JWKS")],
    )
