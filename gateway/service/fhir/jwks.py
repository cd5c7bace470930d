"""Finding the key a client assertion was signed with: by client id and ``kid``, among the keys
the administrator registered and those fetched from the partner's JWKS URL.

An unknown ``kid`` of a client with a JWKS URL fetches the URL again (the partner may have
rotated its keys), but at most once per ``Settings.jwks_refresh_seconds`` per client, whichever
worker asks: the right to fetch is one conditional update of ``partner_jwks.fetched_at``, so a
caller presenting made-up kids cannot make the gateway hammer the partner. A failed fetch keeps
the cached keys and counts as the interval's fetch.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from gateway.clients.jwks import fetch_jwks
from gateway.errors import UpstreamFailed
from gateway.service.fhir.jwk_check import CheckedKey, usable_keys, verification_key
from gateway.service.runtime import Runtime
from gateway.storage import partner_keys as store

log = logging.getLogger(__name__)


def assertion_key(rt: Runtime, client_id: str, kid: str) -> tuple[Any, list[str]] | None:
    """The public key and its one algorithm, or None when no usable key has this kid."""
    found, has_url = _stored(rt, client_id, kid)
    if found is None and has_url and refresh(rt, client_id):
        found, _ = _stored(rt, client_id, kid)
    if found is None:
        return None
    jwk, algorithm = found
    return verification_key(jwk, algorithm), [algorithm]


def _stored(rt: Runtime, client_id: str, kid: str) -> tuple[tuple[dict[str, Any], str] | None, bool]:
    """The stored key (JWK, algorithm) if any, and whether the client has a JWKS URL."""
    with rt.sessions() as session:
        row = store.active_key(session, client_id, kid)
        has_url = store.jwks_of(session, client_id) is not None
        if row is None or not row.algorithm:
            return None, has_url
        return (dict(row.jwk), row.algorithm), has_url


def refresh(rt: Runtime, client_id: str, *, force: bool = False) -> bool:
    """Fetch the client's JWKS URL again when the interval allows (``force``: now); True when
    fresh keys were stored."""
    now = rt.now()
    not_before = now if force else now - dt.timedelta(seconds=rt.settings.jwks_refresh_seconds)
    with rt.sessions.begin() as session:
        if not store.claim_refresh(session, client_id, now, not_before):
            return False
        jwks = store.jwks_of(session, client_id)
        url = jwks.url if jwks is not None else ""
    try:
        keys = usable_keys(fetch_jwks(url))
    except UpstreamFailed as exc:
        log.warning("JWKS refresh of %s failed: %s", client_id, exc.issues[0].message if exc.issues else exc)
        return False
    store_fetched(rt, client_id, keys, now)
    return True


def store_fetched(rt: Runtime, client_id: str, keys: list[CheckedKey], now: dt.datetime) -> None:
    with rt.sessions.begin() as session:
        jwks = store.jwks_of(session, client_id)
        if jwks is not None:
            store.replace_url_keys(session, jwks, [(k.kid, k.jwk, k.algorithm) for k in keys], now)
