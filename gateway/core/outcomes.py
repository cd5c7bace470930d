"""What became of each record of a batch: accepted, held, ignored, rejected or failed, with why."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway.core.frozen import quick_init
from gateway.errors import Issue

ACCEPTED, REJECTED, HELD, FAILED = "accepted", "rejected", "held", "failed"
# Deliberately not mapped (mappings/codes/ignored-records.yaml names why): not a problem.
IGNORED = "ignored"
# Message statuses: received -> mapped | partial | held | rejected | failed | ignored
# (ignored: every record was deliberately ignored; ignored records beside accepted ones: mapped).
REPLAYABLE = ("partial", "held", "rejected", "failed", "received")
MAX_LISTED_RECORDS = 1000  # a message lists at most this many problem records; counts stay exact


@quick_init
@dataclass(frozen=True, kw_only=True)
class RecordOutcome:
    location: str
    status: str
    reason: str = ""
    issues: tuple[Issue, ...] = ()
    student_id: str | None = None
    changed: int = 0
    decision_id: str | None = None
    reason_code: str | None = None  # failed by an exception: its type name (never its message)

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "location": self.location,
            "status": self.status,
            "reason": self.reason,
        }
        if self.issues:
            body["issues"] = [i.to_dict() for i in self.issues]
        if self.reason_code:
            body["reasonCode"] = self.reason_code
        return body
