"""What an Ed-Fi pull did: per resource and in total (counts and message ids, never values)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gateway.service.exchange.ingest import IngestSummary


@dataclass(frozen=True, kw_only=True)
class ResourceSync:
    resource: str
    pages: int
    records: int
    accepted: int
    rejected: int  # rejected or failed records
    held: int
    deletes_seen: int
    deletes_applied: int  # source records retracted
    key_changes_seen: int
    key_changes_applied: int
    elements_removed: int
    message_ids: tuple[str, ...]
    problems: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "resource": self.resource,
            "pages": self.pages,
            "records": self.records,
            "accepted": self.accepted,
            "rejected": self.rejected,
            "held": self.held,
            "deletesSeen": self.deletes_seen,
            "deletesApplied": self.deletes_applied,
            "keyChangesSeen": self.key_changes_seen,
            "keyChangesApplied": self.key_changes_applied,
            "elementsRemoved": self.elements_removed,
            "messages": list(self.message_ids),
            "problems": list(self.problems),
        }


@dataclass(kw_only=True)
class ResourceTally:
    """Counts gathered while one resource is pulled (mutable), frozen into ``ResourceSync``."""

    resource: str
    pages: int = 0
    records: int = 0
    accepted: int = 0
    rejected: int = 0
    held: int = 0
    deletes_seen: int = 0
    deletes_applied: int = 0
    key_changes_seen: int = 0
    key_changes_applied: int = 0
    elements_removed: int = 0
    message_ids: list[str] = field(default_factory=list)
    problems: dict[str, int] = field(default_factory=dict)

    def add_page(self, records: int, summary: IngestSummary) -> None:
        outcome = summary.outcome
        self.pages += 1
        self.records += records
        self.accepted += outcome["accepted"]
        self.rejected += outcome["rejected"] + outcome["failed"]
        self.held += outcome["held"]
        self.message_ids.append(summary.message_id)

    def unapplied(self, reason: str, missing: list[str]) -> None:
        # ODS/API 5.3 without the change-query patch sends ids only: such rows cannot be applied.
        text = (
            f"{reason} rows without the key values {', '.join(missing) or '(none)'} "
            "were not applied (the ODS/API sent no natural key; upgrade it or run a full pull)"
        )
        self.problems[text] = self.problems.get(text, 0) + 1

    def freeze(self) -> ResourceSync:
        return ResourceSync(
            resource=self.resource,
            pages=self.pages,
            records=self.records,
            accepted=self.accepted,
            rejected=self.rejected,
            held=self.held,
            deletes_seen=self.deletes_seen,
            deletes_applied=self.deletes_applied,
            key_changes_seen=self.key_changes_seen,
            key_changes_applied=self.key_changes_applied,
            elements_removed=self.elements_removed,
            message_ids=tuple(self.message_ids),
            problems=tuple(f"{count} {text}" for text, count in self.problems.items()),
        )


@dataclass(frozen=True, kw_only=True)
class SyncSummary:
    source_org: str
    feed: str
    mode: str  # full | delta | up-to-date
    watermark_from: int | None
    watermark_to: int | None
    resources: tuple[ResourceSync, ...]
    notes: tuple[str, ...] = ()
    tokens_fetched: int = 0

    def total(self, name: str) -> int:
        return sum(int(getattr(r, name)) for r in self.resources)

    @property
    def troubled(self) -> bool:
        """Anything rejected or held (the CLI exits 3, as ``ingest`` does)."""
        return bool(self.total("rejected") or self.total("held"))

    def to_dict(self) -> dict[str, Any]:
        names = ("pages", "records", "accepted", "rejected", "held", "deletes_applied", "key_changes_applied")
        camel = {n: n.split("_")[0] + "".join(p.title() for p in n.split("_")[1:]) for n in names}
        return {
            "source": self.source_org,
            "feed": self.feed,
            "mode": self.mode,
            "watermark": {"from": self.watermark_from, "to": self.watermark_to},
            **{camel[n]: self.total(n) for n in names},
            "resources": [r.to_dict() for r in self.resources],
            "notes": list(self.notes),
        }
