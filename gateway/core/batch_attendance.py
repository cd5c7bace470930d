"""Attendance inside a batch: which event rows to write, and the summary derived from them.

An attendance event (one Ed-Fi StudentSchoolAttendanceEvent) is kept as a row beside the plan,
not in it; the plan gets the derived summary (``core.attendance``). Both are decided here, in the
batch that carries the events or enrollments, so the plan is written once per batch by one writer.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, overload

from gateway.core import attendance
from gateway.core.labels import Labels
from gateway.core.mapping import PlanElement
from gateway.core.plan import merge_elements, without_elements


@dataclass(frozen=True, kw_only=True)
class EventToStore:
    index: int  # the record's position in its batch
    student_id: str
    source_org: str
    school: str
    entity: str
    source_id: str
    record_digest: str
    element: PlanElement

    @property
    def element_id(self) -> str:
        return str(self.element.element["id"])


@dataclass(frozen=True, kw_only=True)
class StoredEvent:
    """An event row as the derivation reads it (what the snapshot loads)."""

    element_id: str
    student_id: str
    event: attendance.AttendanceEvent


class StoredAttendance(Sequence[StoredEvent]):
    """A student's stored events as a batch reads them: one by one (the sequence) those the batch
    may replace (its own event ids), and the rest as aggregates (``groups``), so that a batch
    holds a few strings per student instead of an object per event of the school year."""

    def __init__(self, events: Iterable[StoredEvent], groups: Iterable[attendance.EventGroup]) -> None:
        self._events = tuple(events)
        self.groups = tuple(groups)

    @overload
    def __getitem__(self, index: int) -> StoredEvent: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[StoredEvent]: ...
    def __getitem__(self, index: int | slice) -> StoredEvent | Sequence[StoredEvent]:
        return self._events[index]

    def __len__(self) -> int:
        return len(self._events)


def groups_of(stored: Sequence[StoredEvent]) -> tuple[attendance.EventGroup, ...]:
    """The aggregated part of a student's stored events (none when they were read one by one)."""
    return stored.groups if isinstance(stored, StoredAttendance) else ()


@dataclass(frozen=True, kw_only=True)
class Derived:
    """The summary elements one student's plan gets; ``changed`` counts new, changed and removed."""

    plan: dict[str, Any]
    changed: int


def content_key(item: EventToStore) -> str:
    """What an event says is fixed by its record and the mapping version that read it."""
    return f"{item.record_digest}|{item.element.element['provenance']['mapping']}"


def changed_events(items: Iterable[EventToStore], stored_keys: Mapping[str, str]) -> list[EventToStore]:
    """The events that are new or differ from what is stored (re-sent events change nothing)."""
    latest = {i.element_id: i for i in items}  # a record sent twice in a batch: the last wins
    return [i for element_id, i in latest.items() if stored_keys.get(element_id) != content_key(i)]


def event_row(item: EventToStore, now: dt.datetime) -> dict[str, Any]:
    """The ``attendance_events`` row of an event."""
    element = item.element.element
    effective = str(element["effective"])[:10]
    labels = element["labels"]
    return {
        "element_id": element["id"],
        "student_id": item.student_id,
        "source_org": item.source_org,
        "school": item.school,
        "school_year": attendance.school_year_of(dt.date.fromisoformat(effective)),
        "event_date": effective,
        "category": str(element["code"]["code"]),
        "entity": item.entity,
        "source_id": item.source_id,
        "record_digest": item.record_digest,
        "content_key": content_key(item),
        "regime": labels["regime"],
        "sensitivity": labels["sensitivity"],
        "document": dict(element),
        "message_id": element["provenance"]["messageId"],
        "updated_at": now,
    }


def as_stored(item: EventToStore) -> StoredEvent:
    """A batch's event as it will read once stored (it replaces the stored one of its id)."""
    element = item.element.element
    labels = element["labels"]
    return StoredEvent(
        element_id=item.element_id,
        student_id=item.student_id,
        event=attendance.AttendanceEvent(
            source_org=item.source_org,
            school=item.school,
            date=dt.date.fromisoformat(str(element["effective"])[:10]),
            category=str(element["code"]["code"]),
            record_digest=item.record_digest,
            labels=Labels(
                regime=labels["regime"], sensitivity=labels["sensitivity"], category=attendance.CATEGORY
            ),
        ),
    )


def derive(
    plan: Mapping[str, Any],
    events: Iterable[attendance.AttendanceEvent],
    context: attendance.DerivationContext,
    *,
    categories: Mapping[str, str],
    as_of: dt.date,
    validators: Mapping[str, Any],
    groups: Iterable[attendance.EventGroup] = (),
) -> Derived:
    """The plan with its derived attendance elements recomputed from its stored events (one by one
    in ``events``, aggregated in ``groups``) and its enrollments."""
    summaries = attendance.summarise(
        events, attendance.enrollments_of(plan), categories, as_of, groups=groups
    )
    new = [element for summary in summaries for element in attendance.elements(summary, context)]
    wanted = {str(e.element["id"]) for e in new}
    stale = {str(element["id"]) for element in _derived_in(plan) if element["id"] not in wanted}
    base = without_elements(plan, stale) if stale else plan
    merged = merge_elements(base, new)
    changed = set(merged.changed)
    for item in new:
        if item.element["id"] in changed and not _valid(validators[item.slot], dict(item.element)):
            # A derivation bug, not bad input: fail the transaction (nothing half-written).
            raise ValueError(f"derived element {item.element['id']} does not validate")
    return Derived(plan=merged.plan, changed=len(changed) + len(stale))


def _derived_in(plan: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """The plan's derived attendance elements: only the slots the rule writes are looked at."""
    for slot in attendance.DERIVED_SLOTS:
        node: Any = plan
        for part in slot.split("."):
            node = node.get(part) if isinstance(node, Mapping) else None
        for element in node if isinstance(node, list) else ():
            if isinstance(element, Mapping) and attendance.is_derived(element):
                yield element


def _valid(validator: Any, element: dict[str, Any]) -> bool:
    valid = getattr(validator, "is_valid", None)  # jsonschema_rs's: cheaper than listing no errors
    if valid is not None:
        return bool(valid(element))
    return not any(True for _ in validator.iter_errors(element))
