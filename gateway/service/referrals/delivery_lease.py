"""Leases on claimed deliveries: how long they last, how a live sender keeps them, when they lapse.

The worker claims deliveries in one short transaction and marks each ``sending`` with a lease:
``lease_owner`` (a token naming this one claim) and ``lease_until`` (claim time + the lease).
While it sends, ``heartbeat`` renews ``lease_until`` every quarter lease for every row the claim
still holds, in its own short transactions, so a slow agency (or a long batch) never lets a live
sender's lease lapse. A sender killed before, during or after its POST renews nothing: its lease
lapses at most one lease after its last renewal, and the next claim takes the delivery over.

The lease is at most ``MAX_LEASE`` (default 20 s, ``GATEWAY_DELIVERY_LEASE_SECONDS``): with the
worker's 5 s poll, a crashed sender's delivery is taken over within 25 s of its last renewal. The
agency client's timeouts (3 s to connect, 5 s per read) are shorter than the default lease, so a
POST also ends before the lease would even if every renewal failed; a shorter lease (tests) or a
server that trickles its answer is covered by the heartbeat. A takeover after a live sender lost
its lease (a stall longer than the lease) sends the same body with the same key again, which the
agency deduplicates; only one ``disclosure.delivered`` is ever recorded.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import secrets
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from gateway.errors import InputInvalid, Issue
from gateway.service.runtime import Runtime, Settings
from gateway.storage import delivery_store
from gateway.storage.db import StorageError

MAX_LEASE = dt.timedelta(seconds=30)
BEATS_PER_LEASE = 4
Clock = Callable[[], dt.datetime]

log = logging.getLogger(__name__)


def lease_length(settings: Settings) -> dt.timedelta:
    """The configured lease, checked: a longer one would leave a crashed sender's deliveries
    waiting longer than the outbox promises."""
    lease = dt.timedelta(seconds=settings.delivery_lease_seconds)
    if not dt.timedelta(0) < lease <= MAX_LEASE:
        raise InputInvalid(
            "the delivery lease must be more than 0 and at most 30 seconds",
            [Issue(path="GATEWAY_DELIVERY_LEASE_SECONDS", message=f"got {settings.delivery_lease_seconds}")],
        )
    return lease


def new_owner() -> str:
    """A name for one claim: the process (for whoever reads the row) and a random part (unique)."""
    return f"w{os.getpid()}-{secrets.token_hex(8)}"


@contextmanager
def heartbeat(rt: Runtime, owner: str, clock: Clock, lease: dt.timedelta) -> Iterator[None]:
    """Renew ``owner``'s leases until the block ends (or the claim holds nothing any more)."""
    stop = threading.Event()
    beat = threading.Thread(
        target=_renew_until_stopped, args=(rt, owner, clock, lease, stop), name=f"lease-{owner}", daemon=True
    )
    beat.start()
    try:
        yield
    finally:
        stop.set()
        beat.join(timeout=MAX_LEASE.total_seconds())


def _renew_until_stopped(
    rt: Runtime, owner: str, clock: Clock, lease: dt.timedelta, stop: threading.Event
) -> None:
    while not stop.wait(lease.total_seconds() / BEATS_PER_LEASE):
        if not renew(rt, owner, clock() + lease):
            return


def renew(rt: Runtime, owner: str, until: dt.datetime) -> bool:
    """Extend what ``owner`` still holds to ``until``; False once it holds nothing."""
    try:
        with rt.sessions.begin() as session:
            return delivery_store.renew_delivery_leases(session, owner, until) > 0
    except StorageError as exc:
        # The database is busy or gone: try again at the next beat. The POST's own timeout
        # still bounds how long the lapsed lease and the send can overlap.
        log.warning("delivery lease renewal failed (%s); retrying at the next beat", type(exc).__name__)
        return True
