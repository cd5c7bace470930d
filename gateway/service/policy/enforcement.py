"""The one door every enforcement point goes through.

Inbound exchanges, plan reads, exports and deliveries all call ``enforce`` with their point's
name; it calls the pure ``decide``. Tests wrap ``enforce`` to count that each point ran on each
path (including error paths); nothing else here, so there is one decision function everywhere.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from gateway.core.consent import Consent
from gateway.core.policy import Decision, DecisionRequest, PolicySet, decide

POINTS = ("inbound", "read", "export", "delivery")


def enforce(
    point: str,
    request: DecisionRequest,
    policy: PolicySet,
    consents: Sequence[Consent],
    now: dt.datetime,
) -> Decision:
    if point not in POINTS:
        raise ValueError(f"unknown enforcement point {point!r}")
    return decide(request, policy, consents, now)
