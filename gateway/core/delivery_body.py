"""A queued delivery's fixed body against what may go now.

A delivery's body is fixed when its referral is queued, so that every retry is byte-identical and
an agency can deduplicate by the idempotency key. The worker still decides again before each
attempt; ``narrowing`` says whether what may go now is less than what the fixed body holds. If it
is, the body must not go, and no other body may take its place (the agency could not tell it from
a duplicate): the delivery is cancelled with the narrowing's code. What may go now being *more*
than the body holds is no reason to change it: the body goes as queued.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gateway.core.plan import iter_elements

# An element of the body may no longer go: denied now, outside the field set, or retracted.
WITHDRAWN = "elements-withdrawn"
# An element is labelled differently now (a stricter regime or sensitivity travels with it).
RELABELLED = "elements-relabelled"
# The recipient would now be bound by more: a notice, a consent copy, a shorter retention.
OBLIGATIONS_ADDED = "obligations-added"

RETAIN_UNTIL = "retain-until"


@dataclass(frozen=True, kw_only=True)
class Narrowing:
    """How what may go now falls short of the fixed body: a code and what it concerns (ids, types)."""

    code: str
    element_ids: tuple[str, ...] = ()
    obligation_types: tuple[str, ...] = ()

    def describe(self) -> str:
        what = {
            WITHDRAWN: f"{len(self.element_ids)} element(s) of it may no longer go",
            RELABELLED: f"{len(self.element_ids)} element(s) of it are labelled differently now",
            OBLIGATIONS_ADDED: f"it lacks obligations now required ({', '.join(self.obligation_types)})",
        }[self.code]
        return f"the queued body holds more than may go now: {what}; refer again to send what may go"


def narrowing(stored: Mapping[str, Any], current: Mapping[str, Any]) -> Narrowing | None:
    """None when ``current`` (the body shaped now) permits everything ``stored`` holds."""
    now = {str(e["id"]): e for _, e in iter_elements(current["plan"])}
    kept = [(str(e["id"]), e) for _, e in iter_elements(stored["plan"])]
    withdrawn = tuple(sorted(i for i, _ in kept if i not in now))
    if withdrawn:
        return Narrowing(code=WITHDRAWN, element_ids=withdrawn)
    relabelled = tuple(sorted(i for i, e in kept if e.get("labels") != now[i].get("labels")))
    if relabelled:
        return Narrowing(code=RELABELLED, element_ids=relabelled)
    held = list(stored.get("obligations", []))
    missing = sorted({str(o.get("type")) for o in current.get("obligations", []) if not _covered(o, held)})
    if missing:
        return Narrowing(code=OBLIGATIONS_ADDED, obligation_types=tuple(missing))
    return None


def _covered(obligation: Mapping[str, Any], held: Sequence[Mapping[str, Any]]) -> bool:
    """The body already binds the recipient to ``obligation``, or to something stricter: a
    retention ending no later (a retention computed today ends later than one computed at
    queue time, which still binds)."""
    if obligation in held:
        return True
    if obligation.get("type") != RETAIN_UNTIL:
        return False
    return any(
        o.get("type") == RETAIN_UNTIL
        and o.get("agreement") == obligation.get("agreement")
        and str(o.get("date")) <= str(obligation.get("date"))
        for o in held
    )
