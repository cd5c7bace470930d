"""Allowed status changes of Gravity SDOHCC Tasks, as data and one function.

Decoded from the IG's referral state diagram (Images Source/ReferralTaskStateDiagram.drawio):

    (start) -> draft (optional) -> requested
    requested   -> accepted | rejected | cancelled
    accepted    -> in-progress | on-hold | cancelled | completed | failed
    in-progress -> completed | failed | cancelled | on-hold
    on-hold     -> in-progress | cancelled | completed | failed
    any         -> entered-in-error

and the patient-task machine: ready -> in-progress | on-hold | cancelled | completed | failed;
in-progress <-> on-hold; on-hold -> cancelled | completed | failed; any -> entered-in-error.
Reporting the current status again is no change and always allowed (a retried update is harmless).
Pure: the caller passes the previous status (from the plan or its store).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from gateway.core.mapping import PlanElement

REFERRAL = "referral"
PATIENT = "patient"
ANY_TO = "entered-in-error"
FINAL: frozenset[str] = frozenset({"completed", "cancelled", "rejected", "failed", "entered-in-error"})

# ReferralTaskStatus = TaskStatus minus ready and received.
REFERRAL_TASK_STATUSES: frozenset[str] = frozenset(
    {
        "draft",
        "requested",
        "accepted",
        "rejected",
        "cancelled",
        "in-progress",
        "on-hold",
        "failed",
        "completed",
        ANY_TO,
    }
)
PATIENT_TASK_STATUSES: frozenset[str] = frozenset(
    {"ready", "in-progress", "completed", "cancelled", "on-hold", "failed", ANY_TO}
)

TRANSITIONS: Mapping[str, Mapping[str | None, frozenset[str]]] = {
    REFERRAL: {
        None: frozenset({"draft", "requested"}),
        "draft": frozenset({"requested", "cancelled"}),
        "requested": frozenset({"accepted", "rejected", "cancelled"}),
        "accepted": frozenset({"in-progress", "on-hold", "cancelled", "completed", "failed"}),
        "in-progress": frozenset({"completed", "failed", "cancelled", "on-hold"}),
        "on-hold": frozenset({"in-progress", "cancelled", "completed", "failed"}),
    },
    PATIENT: {
        None: frozenset({"ready"}),
        "ready": frozenset({"in-progress", "on-hold", "cancelled", "completed", "failed"}),
        "in-progress": frozenset({"on-hold", "cancelled", "completed", "failed"}),
        "on-hold": frozenset({"in-progress", "cancelled", "completed", "failed"}),
    },
}


@dataclass(frozen=True, kw_only=True)
class TransitionCheck:
    allowed: bool
    reason: str = ""


def check_transition(kind: str, previous: str | None, status: str) -> TransitionCheck:
    """May a Task of ``kind`` (referral | patient) move from ``previous`` (None: new) to ``status``?"""
    table = TRANSITIONS[kind]
    statuses = REFERRAL_TASK_STATUSES if kind == REFERRAL else PATIENT_TASK_STATUSES
    if status not in statuses:
        return TransitionCheck(allowed=False, reason=f"'{status}' is not a {kind} task status")
    if status in (previous, ANY_TO):
        return TransitionCheck(allowed=True)
    allowed = table.get(previous, frozenset())
    if status in allowed:
        return TransitionCheck(allowed=True)
    if previous in FINAL:
        return TransitionCheck(allowed=False, reason=f"a {kind} task that is {previous} is final")
    shown = ", ".join(sorted(allowed)) or "nothing"
    start = "a new task" if previous is None else f"'{previous}'"
    return TransitionCheck(allowed=False, reason=f"{start} may move to {shown}, not '{status}'")


def refused_status_updates(
    plan: Mapping[str, Any], items: Iterable[tuple[int, PlanElement]]
) -> dict[int, str]:
    """Records (by index) whose referral-status update the support's current status does not
    allow; updates within one batch are taken in order, each from the status the last left."""
    running: dict[str, str | None] = {str(e["id"]): e.get("referralStatus") for e in plan.get("supports", [])}
    refused: dict[int, str] = {}
    for index, item in items:
        if index in refused or not _updates_status(item):
            continue
        element_id, status = str(item.element["id"]), str(item.element["referralStatus"])
        previous = running.get(element_id)
        if previous is None:  # nothing to move on from yet: the update lands whole
            running[element_id] = status
            continue
        check = check_transition(REFERRAL, previous, status)
        if check.allowed:
            running[element_id] = status
        else:
            refused[index] = f"referral status change refused: {check.reason}"
    return refused


def _updates_status(item: PlanElement) -> bool:
    return (
        item.slot == "supports"
        and "referralStatus" in item.update_fields
        and item.element.get("referralStatus") is not None
    )
