"""Pull a OneRoster REST service into the gateway: each page of each collection is staged as
one ``oneroster-rest`` message through the normal pipeline (so it can be listed and replayed).

A pull reads whole collections, so like a ``bulk`` CSV file it is the complete set: once a
collection has been read to its end, records of it this source delivered before and the service
no longer lists are retracted (audited). A pull that fails part-way retracts nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from gateway.clients.oneroster_api import VERSIONS, OneRosterClient
from gateway.core.guardians import oneroster_absent
from gateway.formats.oneroster_family import FAMILY_USERS, family_role, pairs_of
from gateway.formats.oneroster_leniency import Tally
from gateway.formats.oneroster_rest import page_rows
from gateway.formats.oneroster_tables import DEACTIVATING
from gateway.service.exchange.inbound import Inbound
from gateway.service.exchange.ingest import ingest
from gateway.service.exchange.retractions import known_source_ids, retract_records
from gateway.service.runtime import Runtime

FORMAT = "oneroster-rest"
# Reference collections first (their records are ignored with a reason), then the student ones.
DEFAULT_COLLECTIONS: tuple[str, ...] = (
    "orgs",
    "academicSessions",
    "courses",
    "classes",
    "users",
    "enrollments",
)
COMPLETE_SETS: frozenset[str] = frozenset({"users", "enrollments", "results"})
__all__ = ["VERSIONS", "PullSummary", "pull_oneroster"]
_COUNTED: tuple[str, ...] = ("accepted", "rejected", "held", "ignored", "failed")


@dataclass(kw_only=True)
class CollectionSummary:
    resource: str
    pages: int = 0
    records: int = 0
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(_COUNTED, 0))
    retracted: int = 0
    message_ids: list[str] = field(default_factory=list)
    tally: Tally = field(default_factory=Tally)  # values read leniently, counted over all pages

    def to_dict(self) -> dict[str, Any]:
        return {
            "resource": self.resource,
            "pages": self.pages,
            "records": self.records,
            **self.counts,
            "retracted": self.retracted,
            "warnings": [w.to_dict() for w in self.tally.warnings()],
            "messageIds": self.message_ids,
        }


@dataclass(frozen=True, kw_only=True)
class PullSummary:
    source: str
    version: str
    resources: tuple[CollectionSummary, ...]

    def total(self, name: str) -> int:
        return sum(r.counts[name] for r in self.resources)

    @property
    def troubled(self) -> bool:
        return any(self.total(n) for n in ("rejected", "held", "failed"))

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "version": self.version,
            "pages": sum(r.pages for r in self.resources),
            "records": sum(r.records for r in self.resources),
            **{n: self.total(n) for n in _COUNTED},
            "resources": [r.to_dict() for r in self.resources],
        }


def pull_oneroster(
    rt: Runtime,
    *,
    source_org: str,
    base_url: str,
    client_id: str,
    client_secret: str,
    token_url: str | None = None,
    version: str = "1.2",
    resources: tuple[str, ...] | None = None,
    page_size: int = 100,
    client: OneRosterClient | None = None,
    progress: Callable[[str, int, int | None], None] | None = None,
) -> PullSummary:
    api = client or OneRosterClient(
        base_url=base_url,
        client_id=client_id,
        client_secret=client_secret,
        version=version,
        token_url=token_url,
    )
    done = [
        _pull_collection(rt, api, source_org, name, page_size, progress)
        for name in (resources or DEFAULT_COLLECTIONS)
    ]
    return PullSummary(source=source_org, version=api.version, resources=tuple(done))


def _pull_collection(
    rt: Runtime,
    api: OneRosterClient,
    source_org: str,
    name: str,
    page_size: int,
    progress: Callable[[str, int, int | None], None] | None,
) -> CollectionSummary:
    summary = CollectionSummary(resource=name)
    seen: set[str] = set()
    deleted: set[str] = set()
    pairs: set[str] = set()  # family user|student pairs the users collection lists
    last_message = ""
    for page in api.pages(name, page_size=page_size):
        if page.count == 0 and summary.pages:
            break
        result = ingest(
            rt, Inbound(source_org=source_org, format_name=FORMAT, payload=page.body, entity=name)
        )
        rows, warnings = page_rows(page.body, name)
        # a warning's lines are item indexes in its page; across the pull, in the collection
        summary.tally.merge(replace(w, lines=tuple(summary.records + n for n in w.lines)) for w in warnings)
        summary.pages += 1
        summary.records += page.count
        summary.message_ids.append(result.message_id)
        for counted in _COUNTED:
            summary.counts[counted] += int(result.outcome.get(counted, 0))
        present, gone = _source_ids(rows)
        seen, deleted = seen | present, deleted | gone
        pairs |= _family_pairs(rows) if name == "users" else set()
        last_message = result.message_id
        if progress is not None:
            progress(name, summary.records, page.total)
    if name in COMPLETE_SETS and last_message:
        summary.retracted = _retract(rt, source_org, name, seen, deleted, last_message)
    if name == "users" and last_message:
        summary.retracted += _retract_family(rt, source_org, seen | deleted, pairs, deleted, last_message)
    return summary


def _retract_family(
    rt: Runtime, source_org: str, rows: set[str], pairs: set[str], deleted: set[str], message_id: str
) -> int:
    """Family users the whole users collection no longer lists with a student: their links go."""
    known = known_source_ids(rt, source_org=source_org, entity=FAMILY_USERS)
    gone = oneroster_absent(known, mode="bulk", rows=rows, pairs=pairs, deactivated=deleted)
    if not gone:
        return 0
    done = retract_records(
        rt,
        source_org=source_org,
        entity=FAMILY_USERS,
        source_ids=sorted(gone),
        reason="no longer listed with this student by the OneRoster service's users collection",
        message_id=message_id,
    )
    return done.records


def _retract(
    rt: Runtime, source_org: str, name: str, seen: set[str], deleted: set[str], message_id: str
) -> int:
    """What the collection no longer lists, or lists as ``tobedeleted``, leaves the plans."""
    gone = (known_source_ids(rt, source_org=source_org, entity=name) - seen) | deleted
    if not gone:
        return 0
    done = retract_records(
        rt,
        source_org=source_org,
        entity=name,
        source_ids=sorted(gone),
        reason=f"no longer listed, or listed as tobedeleted, by the OneRoster service's {name} collection",
        message_id=message_id,
    )
    return done.records


def _family_pairs(rows: list[dict[str, Any]]) -> set[str]:
    """``user|student`` of the page's live family users (as ``oneroster_family`` reads them)."""
    found: set[str] = set()
    for row in rows:
        if row.get("sourcedId") and row.get("status") not in DEACTIVATING and family_role(row, {}):
            found |= pairs_of(row)
    return found


def _source_ids(rows: list[dict[str, Any]]) -> tuple[set[str], set[str]]:
    """The page's sourcedIds: those it lists as live, and those marked tobedeleted / inactive
    (a status in another case, ``ToBeDeleted``, read as the parser reads it)."""
    ids = [r for r in rows if r.get("sourcedId")]
    deleted = {str(r["sourcedId"]) for r in ids if r.get("status") in DEACTIVATING}
    return {str(r["sourcedId"]) for r in ids} - deleted, deleted
