"""Derived attendance facts: attendance rate and chronic absence per school and school year.

Values in, plan elements out; no clock (the as-of date is passed in), no I/O.

Rule ``attendance.chronic-absence@1`` (issue 4, "Into the plan"):

- **School year**: July 1 to June 30, named by the calendar year it ends in (Ed-Fi's
  ``schoolYear``): 2025-09-02 is in school year 2026.
- **Enrolled days**: the school days (Monday to Friday) a student was enrolled at the school in
  that year: from the entry date (for an enrollment from an earlier year: from the first
  attendance event of the year, as the summer holds no school days) to the exit date, or, while
  enrolled, to the latest attendance event of that school and year (Ed-Fi sends only
  exceptions, so the latest event is the last day known to have been a school day); never past
  the as-of date. Overlapping enrollments
  count a day once. Holidays and teacher days are counted as school days: a calendar
  interchange is out of scope, so rates are slightly high and the approximation is stated in
  each fact's summary.
- **Absent days**: distinct enrolled days with an event whose category the category table
  (``mappings/codes/attendance-absence-categories.yaml``) marks ``absent`` (excused and
  unexcused absences).
- **Chronically absent**: absent on 10% or more of enrolled days (exact integer comparison, so
  the boundary itself counts). While chronically absent, the student has an attendance need.
- No enrolled days (no enrollment at that school, or none overlapping the year): no facts.

Provenance: each derived element names the rule and version, the number of attendance records
it was computed from and a digest of their sorted record digests, and carries the most
restrictive labels of its sources (``labels.combine``).
"""

from __future__ import annotations

import datetime as dt
import functools
import types
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gateway.core.canonical import digest
from gateway.core.ids import derive_id
from gateway.core.labels import Labels, combine
from gateway.core.mapping import PlanElement

RULE_ID = "attendance.chronic-absence"
RULE_VERSION = 1
CODE_SYSTEM = "https://success-plan-gateway.org/codes/attendance"
SOURCE_SYSTEM = "Success Plan Gateway attendance derivation"
SUMMARY_TYPE = "attendance-summary"
CATEGORY = "attendance"
# The crosswalk from a source's attendance category to whether (and how) the day counts as absent.
ABSENCE_CATEGORIES = "attendance-absence-categories"
ABSENT = "absent"
FACTS = "domains.attendanceEngagement.facts"
NEEDS = "needs"
DERIVED_SLOTS = (FACTS, NEEDS)  # where ``elements`` puts what it derives
GROUP_SEPARATOR = ","  # in neither an ISO date nor a record digest
CHRONIC_SHARE = (1, 10)  # absent days / enrolled days at or above this share: chronic


@dataclass(frozen=True, kw_only=True)
class AttendanceEvent:
    source_org: str
    school: str
    date: dt.date
    category: str  # the canonical category code, e.g. "excused-absence"
    record_digest: str
    labels: Labels


@dataclass(frozen=True, kw_only=True)
class Enrollment:
    school: str
    entry: dt.date
    exit: dt.date | None
    labels: Labels


@dataclass(frozen=True, kw_only=True)
class AttendanceSummary:
    source_org: str
    school: str
    school_year: int
    enrolled_days: int
    absent_days: int
    first_day: dt.date
    last_day: dt.date
    records: int
    sources_digest: str
    labels: Labels

    @property
    def chronic(self) -> bool:
        numerator, denominator = CHRONIC_SHARE
        return self.absent_days * denominator >= self.enrolled_days * numerator

    @property
    def rate(self) -> float:
        return round((self.enrolled_days - self.absent_days) / self.enrolled_days, 4)


@dataclass(frozen=True, kw_only=True)
class DerivationContext:
    student_id: str
    message_id: str
    received_at: str


def school_year_of(day: dt.date) -> int:
    return day.year + 1 if day.month >= 7 else day.year


def year_window(school_year: int) -> tuple[dt.date, dt.date]:
    return dt.date(school_year - 1, 7, 1), dt.date(school_year, 6, 30)


def school_days(start: dt.date, end: dt.date) -> int:
    """Monday-to-Friday days from ``start`` to ``end``, both included (0 when end < start)."""
    if end < start:
        return 0
    days = (end - start).days + 1
    weeks, rest = divmod(days, 7)
    first = start.weekday()
    return weeks * 5 + sum(1 for i in range(rest) if (first + i) % 7 < 5)


@dataclass(frozen=True, kw_only=True)
class EventGroup:
    """Stored events of one student read as an aggregate instead of one by one: those of one
    source, school, school year, category and labels. The derivation needs of them only their
    dates (the first, the last, the absent ones) and their record digests, not the events."""

    source_org: str
    school: str
    school_year: int
    category: str
    labels: Labels
    # One per event (repeats kept), in no order, joined by ``GROUP_SEPARATOR``: two strings per
    # group rather than two per event, while a batch holds the groups of thousands of students.
    dates: str  # ISO dates
    digests: str  # record digests

    def split(self) -> tuple[list[str], list[str]]:
        return self.dates.split(GROUP_SEPARATOR), self.digests.split(GROUP_SEPARATOR)


@dataclass
class _Events:
    """What ``_summary`` reads of the events of one (source, school, school year)."""

    first: str = "9999-12-31"  # ISO dates compare as the dates do
    last: str = "0000-01-01"
    absent: set[str] = field(default_factory=set)  # ISO dates of the absent-category events
    digests: list[str] = field(default_factory=list)
    labels: set[Labels] = field(default_factory=set)

    def add(self, dates: Iterable[str], digests: Iterable[str], labels: Labels, absent: bool) -> None:
        dates = list(dates)
        self.first = min(self.first, *dates)
        self.last = max(self.last, *dates)
        if absent:
            self.absent.update(dates)
        self.digests.extend(digests)
        self.labels.add(labels)


def summarise(
    events: Iterable[AttendanceEvent],
    enrollments: Iterable[Enrollment],
    categories: Mapping[str, str],
    as_of: dt.date,
    *,
    groups: Iterable[EventGroup] = (),
) -> list[AttendanceSummary]:
    """One summary per (source, school, school year) that has events and enrolled days; the
    events come one by one (``events``), as aggregates (``groups``) or both (none in both)."""
    found_events: dict[tuple[str, str, int], _Events] = defaultdict(_Events)
    for event in events:
        day = event.date.isoformat()
        found_events[(event.source_org, event.school, school_year_of(event.date))].add(
            (day,), (event.record_digest,), event.labels, categories.get(event.category) == ABSENT
        )
    for group in groups:
        if not group.dates:
            continue
        absent = categories.get(group.category) == ABSENT
        for year, dates, digests in _by_year(group.school_year, *group.split()):
            found_events[(group.source_org, group.school, year)].add(dates, digests, group.labels, absent)
    spans = list(enrollments)
    found = []
    for (source_org, school, year), group_events in sorted(found_events.items()):
        summary = _summary(source_org, school, year, group_events, spans, as_of)
        if summary is not None:
            found.append(summary)
    return found


def _by_year(
    school_year: int, days: list[str], record_digests: list[str]
) -> list[tuple[int, Sequence[str], Sequence[str]]]:
    """A group's dates and digests by the school year of each date (the group's own, as a row
    stores it; checked, since a span within one school year has its first and last in it)."""
    first, last = dt.date.fromisoformat(min(days)), dt.date.fromisoformat(max(days))
    if school_year_of(first) == school_year_of(last) == school_year:
        return [(school_year, days, record_digests)]
    split: dict[int, tuple[list[str], list[str]]] = defaultdict(lambda: ([], []))
    for day, record_digest in zip(days, record_digests, strict=True):
        dates, digests = split[school_year_of(dt.date.fromisoformat(day))]
        dates.append(day)
        digests.append(record_digest)
    return [(year, dates, digests) for year, (dates, digests) in split.items()]


def _summary(
    source_org: str,
    school: str,
    year: int,
    events: _Events,
    enrollments: list[Enrollment],
    as_of: dt.date,
) -> AttendanceSummary | None:
    earliest, latest = dt.date.fromisoformat(events.first), dt.date.fromisoformat(events.last)
    here = [e for e in enrollments if e.school == school]
    ranges = _enrolled_ranges(year, here, (earliest, latest), as_of)
    enrolled = sum(school_days(start, end) for start, end in ranges)
    if enrolled == 0:
        return None
    absent = {
        day for day in map(dt.date.fromisoformat, events.absent) if day.weekday() < 5 and _inside(day, ranges)
    }
    sources = [*events.labels, *(e.labels for e in here)]
    return AttendanceSummary(
        source_org=source_org,
        school=school,
        school_year=year,
        enrolled_days=enrolled,
        absent_days=len(absent),
        first_day=ranges[0][0],
        last_day=ranges[-1][1],
        records=len(events.digests),
        sources_digest=digest(sorted(events.digests)),
        labels=combine(sources, CATEGORY),
    )


def _enrolled_ranges(
    year: int, enrollments: list[Enrollment], seen: tuple[dt.date, dt.date], as_of: dt.date
) -> list[tuple[dt.date, dt.date]]:
    """The enrolled date ranges inside the school year, merged where they overlap.

    ``seen`` is the first and last event date of the year: an enrollment from an earlier year
    counts from the first event (the summer is not school days), an open one to the last."""
    window_start, window_end = year_window(year)
    earliest, latest = seen
    ranges = []
    for enrollment in enrollments:
        start = enrollment.entry if enrollment.entry >= window_start else max(earliest, window_start)
        end = min(enrollment.exit or latest, window_end, as_of)
        if start <= end:
            ranges.append((start, end))
    merged: list[tuple[dt.date, dt.date]] = []
    for start, end in sorted(ranges):
        if merged and start <= merged[-1][1] + dt.timedelta(days=1):
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _inside(day: dt.date, ranges: list[tuple[dt.date, dt.date]]) -> bool:
    return any(start <= day <= end for start, end in ranges)


@functools.lru_cache(maxsize=16384)  # a batch derives again the summaries of thousands of students
def derived_ids(student_id: str, source_org: str, school: str, school_year: int) -> Mapping[str, str]:
    """The ids of every element the rule can derive for one key (rule part -> element id)."""
    return types.MappingProxyType(
        {
            part: derive_id("el", RULE_ID, part, source_org, student_id, school, str(school_year))
            for part in ("attendance-rate", "chronic-absence", "chronic-absence-need")
        }
    )


def elements(summary: AttendanceSummary, context: DerivationContext) -> list[PlanElement]:
    """The derived plan elements of one summary: two facts, and a need while chronically absent."""
    ids = derived_ids(context.student_id, summary.source_org, summary.school, summary.school_year)
    pct = f"{100 * summary.absent_days / summary.enrolled_days:.1f}%"
    where = f"school {summary.school}, school year {summary.school_year - 1}-{summary.school_year}"
    basis = (
        f"{summary.records} attendance records; school days are Monday to Friday from enrollment "
        "(no school calendar)"
    )
    period = {"start": summary.first_day.isoformat(), "end": summary.last_day.isoformat()}
    absent = f"absent {summary.absent_days} of {summary.enrolled_days} enrolled school days ({pct})"
    found = [
        _element(
            FACTS,
            ids["attendance-rate"],
            "attendance-rate",
            summary,
            context,
            code=_coding("attendance-rate", "Attendance rate"),
            value=summary.rate,
            effective=summary.last_day.isoformat(),
            period=period,
            summary=f"Attendance rate {summary.rate:.4f}: {absent}; {where}; {basis}",
        ),
        _element(
            FACTS,
            ids["chronic-absence"],
            "chronic-absence",
            summary,
            context,
            code=_coding("chronic-absence", "Chronically absent (10% or more of enrolled days)"),
            value=summary.chronic,
            effective=summary.last_day.isoformat(),
            period=period,
            summary=f"{'Chronically absent' if summary.chronic else 'Not chronically absent'}: "
            f"{absent}; {where}; {basis}",
        ),
    ]
    if summary.chronic:
        found.append(
            _element(
                NEEDS,
                ids["chronic-absence-need"],
                "chronic-absence-need",
                summary,
                context,
                domain="attendanceEngagement",
                code=_coding("chronic-absence", "Chronic absence"),
                status="active",
                observed=summary.last_day.isoformat(),
                summary=f"Chronic absence: {absent}; {where}",
            )
        )
    return found


def _coding(code: str, display: str) -> dict[str, str]:
    return {"system": CODE_SYSTEM, "code": code, "display": display}


def _element(
    slot: str, element_id: str, part: str, source: AttendanceSummary, context: DerivationContext, **body: Any
) -> PlanElement:
    element = {
        "id": element_id,
        **body,
        "provenance": {
            "sourceOrganization": source.source_org,
            "sourceSystem": SOURCE_SYSTEM,
            "sourceFormat": "derived",
            "sourceRecord": {
                "type": SUMMARY_TYPE,
                "id": f"{source.school}|{source.school_year}|{source.records}",
                "digest": source.sources_digest,
            },
            "mapping": f"{RULE_ID}@{RULE_VERSION}#{part}",
            "messageId": context.message_id,
            "receivedAt": context.received_at,
        },
        "labels": source.labels.to_dict(),
    }
    return PlanElement(slot=slot, element=element)


def enrollments_of(plan: Mapping[str, Any]) -> list[Enrollment]:
    """The enrollments a plan holds (``student.enrollments`` elements)."""
    found = []
    for element in plan.get("student", {}).get("enrollments", []):
        try:
            entry = dt.date.fromisoformat(str(element["entryDate"]))
            exit_date = element.get("exitDate")
            found.append(
                Enrollment(
                    school=str(element["school"]),
                    entry=entry,
                    exit=dt.date.fromisoformat(str(exit_date)) if exit_date else None,
                    labels=_labels(element.get("labels", {})),
                )
            )
        except (KeyError, ValueError):
            continue  # an enrollment without usable dates gives no enrolled days
    return found


def _labels(doc: Mapping[str, Any]) -> Labels:
    return Labels(
        regime=str(doc.get("regime", "FERPA")),
        sensitivity=str(doc.get("sensitivity", "normal")),
        category=str(doc.get("category", CATEGORY)),
    )


def is_derived(element: Mapping[str, Any]) -> bool:
    return bool(element.get("provenance", {}).get("mapping", "").startswith(RULE_ID + "@"))


# Mappings whose elements are single attendance events, and where their records name the school.
# Their events are kept as rows beside the plan (one per event); the plan holds the summary.
EVENT_MAPPINGS: Mapping[str, tuple[str, ...]] = {
    "edfi.student-school-attendance-events": ("schoolReference", "schoolId"),
}


def school_of(mapping_id: str, record: Any) -> str | None:
    node = record
    for key in EVENT_MAPPINGS.get(mapping_id, ()):
        node = node.get(key) if isinstance(node, Mapping) else None
    return None if node is None or isinstance(node, Mapping) else str(node)
