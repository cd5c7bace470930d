"""The summary of a message's outcomes over its batches (the outcomes themselves: core.outcomes)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from gateway.core.outcomes import (
    ACCEPTED,
    FAILED,
    HELD,
    IGNORED,
    MAX_LISTED_RECORDS,
    REJECTED,
    REPLAYABLE,
    RecordOutcome,
)


@dataclass
class Tally:
    """Accumulates outcomes over the batches of one message."""

    counts: Counter[str] = field(default_factory=Counter)
    problems: list[dict[str, Any]] = field(default_factory=list)
    students: set[str] = field(default_factory=set)
    changed: int = 0
    reason_code: str | None = None  # of the first record failed by an exception

    def add(self, outcome: RecordOutcome) -> None:
        self.counts[outcome.status] += 1
        self.reason_code = self.reason_code or outcome.reason_code
        self.changed += outcome.changed
        if outcome.student_id and outcome.status == ACCEPTED:
            self.students.add(outcome.student_id)
        # Listed: every record not accepted, and an accepted one that left elements behind.
        if (outcome.status != ACCEPTED or outcome.reason) and len(self.problems) < MAX_LISTED_RECORDS:
            self.problems.append(outcome.to_dict())

    def status(self) -> str:
        accepted = self.counts[ACCEPTED]
        others = sum(n for s, n in self.counts.items() if s not in (ACCEPTED, IGNORED))
        if others == 0:
            return IGNORED if self.counts[IGNORED] and not accepted else "mapped"
        if accepted:
            return "partial"
        for status in (FAILED, REJECTED, HELD):
            if self.counts[status]:
                return status
        return REJECTED

    def reason(self) -> str:
        parts = [f"{n} {s}" for s, n in sorted(self.counts.items()) if s != ACCEPTED and n]
        if not parts:
            return ""
        problems = [p for p in self.problems if p["status"] not in (IGNORED, ACCEPTED)] or self.problems
        first = problems[0]["reason"] if problems else ""
        return f"{', '.join(parts)}; first: {first}"

    def to_outcome(self) -> dict[str, Any]:
        outcome: dict[str, Any] = {
            "accepted": self.counts[ACCEPTED],
            "rejected": self.counts[REJECTED],
            "held": self.counts[HELD],
            "failed": self.counts[FAILED],
            "ignored": self.counts[IGNORED],
            "elementsChanged": self.changed,
            "students": len(self.students),
            "records": self.problems,
        }
        if self.reason_code:
            outcome["reasonCode"] = self.reason_code
        return outcome


__all__ = [
    "ACCEPTED",
    "FAILED",
    "HELD",
    "IGNORED",
    "MAX_LISTED_RECORDS",
    "REJECTED",
    "REPLAYABLE",
    "RecordOutcome",
    "Tally",
]
