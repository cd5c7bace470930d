"""Which stored payload copy is past its retention on a given day (R14).

The gateway keeps two kinds of copy: the bytes a partner sent (``messages``, in the row or a file)
and the body of a referral waiting in the outbox (``deliveries``). Audit entries are never a copy
in this sense and are never purged; a purged copy keeps its digest and metadata.

Which retention governs a copy:

- a **delivery**: the ``retain-until`` obligations the decision recorded in the delivery's
  payload (the date the recipient is bound to); the earliest wins. Without one, the agreements
  naming both the source and the recipient, in their term on the day it was queued.
- a **message**: the agreements naming its source organization, in their term on the day it was
  received (a later termination does not lengthen or shorten what bound the copy when made).

Among several applicable agreements the shortest ``retention_days`` wins: the most protective.
No applicable agreement with a retention means no end: the copy is kept (reported as such).

A copy still waiting for something (a message ``held``, ``received`` or ``failed``, which a
replay may still need; a delivery ``queued`` or ``sending``) is never purged, but is reported as
past retention so an operator resolves it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gateway.core.policy_model import Agreement

MESSAGE, DELIVERY = "message", "delivery"
# Statuses where the copy is still needed (a replay, an attempt): past retention, but kept.
MESSAGE_PENDING = frozenset({"held", "received", "failed"})
DELIVERY_PENDING = frozenset({"queued", "sending"})

PURGE = "purge"  # past retention and done with: purge now
PENDING = "pending"  # past retention, but the copy still awaits a replay or an attempt
KEEP = "keep"  # within retention, or no retention applies
PURGED = "purged"  # already purged


@dataclass(frozen=True, kw_only=True)
class Copy:
    """One stored copy, as the rule needs it (ids and dates only)."""

    kind: str  # message | delivery
    id: str
    status: str
    created: dt.date  # received (message) or queued (delivery)
    source: str
    recipient: str = ""  # deliveries only
    retain_until: tuple[dt.date, ...] = ()  # from the decision's obligations, where recorded
    purged: bool = False


@dataclass(frozen=True, kw_only=True)
class Verdict:
    copy: Copy
    action: str  # purge | pending | keep | purged
    ends: dt.date | None  # the day after which the copy may no longer be kept
    agreements: tuple[str, ...]  # id@version of the agreement(s) that set ``ends``


def governing(copy: Copy, agreements: Iterable[Agreement]) -> tuple[dt.date | None, tuple[str, ...]]:
    """The retention end of ``copy`` and the agreements that set it (see the module text)."""
    if copy.retain_until:
        return min(copy.retain_until), ()
    parties = {copy.source} | ({copy.recipient} if copy.kind == DELIVERY else set())
    applicable = [
        a
        for a in agreements
        if a.retention_days is not None and parties <= a.parties and _in_term(a, copy.created)
    ]
    if not applicable:
        return None, ()
    days = min(int(a.retention_days or 0) for a in applicable)
    chosen = sorted(f"{a.id}@{a.version}" for a in applicable if a.retention_days == days)
    return copy.created + dt.timedelta(days=days), tuple(chosen)


def _in_term(agreement: Agreement, day: dt.date) -> bool:
    return agreement.effective <= day and (agreement.expires is None or day <= agreement.expires)


def verdict(copy: Copy, agreements: Sequence[Agreement], today: dt.date) -> Verdict:
    ends, named = governing(copy, agreements)
    if copy.purged:
        action = PURGED
    elif ends is None or today <= ends:
        action = KEEP
    elif copy.status in (MESSAGE_PENDING if copy.kind == MESSAGE else DELIVERY_PENDING):
        action = PENDING
    else:
        action = PURGE
    return Verdict(copy=copy, action=action, ends=ends, agreements=named)


def retain_until_dates(obligations: Iterable[Mapping[str, Any]]) -> tuple[dt.date, ...]:
    """The ``retain-until`` dates among a decision's obligations (unreadable dates are skipped:
    the agreements then govern)."""
    dates = []
    for obligation in obligations:
        if obligation.get("type") != "retain-until":
            continue
        try:
            dates.append(dt.date.fromisoformat(str(obligation.get("date"))))
        except ValueError:
            continue
    return tuple(dates)
