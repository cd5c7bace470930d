"""Services for a student's need, from where the family lives: ``match``.

The plan is read as the reader (same decisions, same not-found answer, same field sets as a
plan read); the need, the birth date (age), the languages and the family location are taken
only from what that read shows. The location is used only when the policy shows it to this
reader for this purpose (category ``location``); without it the answer says so and nothing is
searched. The location never leaves the gateway (the directory is the gateway's own tables) and
is never written to the audit or a log: the audit names the student, the need, the number of
suggestions and how the place was found ("coordinates" / "postal-code"), never the place.

A match is recorded as a plan read of the elements it rests on (the need and the location the
distances are computed from): the distances in the answer are derived from the location, so a
reader from another organization has received it, in part, and the accounting of disclosures
lists it like any read. The suggestions themselves are directory data and disclose nothing.
"""

from __future__ import annotations

import csv
import datetime as dt
import time
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Any

from gateway._artifacts import bundled_root
from gateway.core import family_location as fl
from gateway.core.disclosure import PLAN_READ
from gateway.core.geo import Point
from gateway.core.matching import NeedQuery, Suggestion
from gateway.core.need_taxonomy import TABLE as TAXONOMY
from gateway.core.plan import iter_elements
from gateway.core.policy import READ
from gateway.core.schedule import zone_of
from gateway.errors import ArtifactInvalid, InputInvalid, Issue, NotFound
from gateway.service.compliance import audit, disclosures
from gateway.service.directory.directory_search import search
from gateway.service.identity.students import resolve_in
from gateway.service.runtime import Runtime
from gateway.service.views.plans import (
    Disclosure,
    ReadRequest,
    birth_date_of,
    decide_disclosure,
    not_visible,
    registered,
)

CENTROID_TABLE = Path("geo") / "us-zcta-centroids.csv"  # under a mappings folder
CENTROIDS = Path("mappings") / CENTROID_TABLE
NEED_CODES = "sdoh-category-need"
LANGUAGE_CODES = "iso639-language"
SUGGESTED = "suggested"
NOT_ALLOWED = "location-not-allowed"
NO_LOCATION = "no-location"
NO_CATEGORY = "need-not-in-crosswalk"
REASONS = {
    NOT_ALLOWED: "no suggestions: the agreement does not allow the family's location for this purpose",
    NO_LOCATION: "no suggestions: the plan shows this reader no family location it can search from "
    "(no coordinates, and no postal code the ZIP table knows)",
    NO_CATEGORY: "no suggestions: this need's code is not one the directory crosswalk files services under",
}


@dataclass(frozen=True, kw_only=True)
class MatchRequest:
    student_ref: str  # stu-... or SYSTEM|VALUE
    need_id: str
    organization_id: str
    actor: str
    role: str
    purpose: str
    when: dt.datetime | None = None  # None: now; without an offset: local time in ``timezone``
    timezone: str = "UTC"  # IANA zone (or offset) of the directory, for hours naming none
    km: float = 5.0
    limit: int = 20


@dataclass(frozen=True, kw_only=True)
class MatchAnswer:
    student_id: str
    need: dict[str, Any]  # id, domain, code, status: as the plan read shows them
    outcome: str  # SUGGESTED | NOT_ALLOWED | NO_LOCATION | NO_CATEGORY
    category: str
    when: dt.datetime
    location_basis: str = ""  # fl.COORDINATES | fl.POSTAL_CODE | ""
    suggestions: tuple[Suggestion, ...] = field(default=())

    @property
    def reason(self) -> str:
        return REASONS.get(self.outcome, "")

    def to_dict(self) -> dict[str, Any]:
        return {
            "student": self.student_id,
            "need": self.need,
            "category": self.category or None,
            "when": self.when.isoformat(),
            "outcome": self.outcome,
            "reason": self.reason or None,
            "location": fl.EXPLAINED.get(self.location_basis),
            "suggestions": [s.to_dict() for s in self.suggestions],
        }


def match(rt: Runtime, request: MatchRequest) -> MatchAnswer:
    """Suggestions for one need of one student, as this reader may see the plan."""
    when = _when(rt, request.when, request.timezone)
    _check_need_id(request.need_id)
    read = ReadRequest(
        student_id="",
        organization_id=request.organization_id,
        actor=request.actor,
        role=request.role,
        purpose=request.purpose,
        action=READ,
    )
    started = time.monotonic()
    with rt.sessions.begin() as session:
        student_id = resolve_in(session, request.student_ref)
        disclosure = decide_disclosure(session, rt, _with_student(read, student_id))
        subject = registered(session, student_id)
    need = _need(disclosure, request.need_id)
    if need is None:
        _audit(rt, read, subject, disclosure, request, outcome="not-visible")
        _pad(started, rt.settings.denial_floor_ms)
        raise not_visible() if disclosure.plan is None else _need_not_found()
    answer = _answer(rt, request, disclosure, need, student_id, when)
    _audit(rt, read, subject, disclosure, request, outcome=answer.outcome, answer=answer)
    return answer


def _answer(
    rt: Runtime,
    request: MatchRequest,
    disclosure: Disclosure,
    need: dict[str, Any],
    student_id: str,
    when: dt.datetime,
) -> MatchAnswer:
    plan = disclosure.plan or {}
    shown: dict[str, Any] = {k: need[k] for k in ("id", "domain", "code", "status") if k in need}
    category = fl.need_category(need.get("code", {}), rt.artifacts.codes.get(NEED_CODES, {}))
    base = MatchAnswer(student_id=student_id, need=shown, outcome=NOT_ALLOWED, category=category, when=when)
    if not fl.location_allowed(
        disclosure.policy, request.organization_id, request.role, request.purpose, when.date()
    ):
        return base
    centroids = zcta_centroids(rt.artifacts.folders.mappings)
    place = fl.family_place(plan.get("student", {}).get("locations", []), centroids)
    if place is None:
        return replace(base, outcome=NO_LOCATION)
    if category not in rt.artifacts.codes.get(TAXONOMY, {}):  # "" and categories left out on purpose
        return replace(base, outcome=NO_CATEGORY, location_basis=place.basis)
    student = plan.get("student", {})
    query = NeedQuery(
        category=category,
        point=place.point,
        when=when,
        language=fl.family_language(student.get("languages", []), rt.artifacts.codes.get(LANGUAGE_CODES, {})),
        age=fl.age_on(birth_date_of(plan), when.date()),
        postal_code=place.postal_code,
        km=request.km,
        timezone=request.timezone,
        limit=request.limit,
    )
    found = tuple(_search(rt, query))
    return replace(base, outcome=SUGGESTED, location_basis=place.basis, suggestions=found)


def _search(rt: Runtime, query: NeedQuery) -> list[Suggestion]:
    # One seam for tests that ask what the search was given (the place, age, language).
    return search(rt, query)


def _with_student(read: ReadRequest, student_id: str) -> ReadRequest:
    return ReadRequest(**{**read.__dict__, "student_id": student_id})


def _need(disclosure: Disclosure, need_id: str) -> dict[str, Any] | None:
    if disclosure.plan is None:
        return None
    return next((dict(e) for e in disclosure.plan.get("needs", []) if e.get("id") == need_id), None)


def _need_not_found() -> NotFound:
    # The plan read shows the plan; a need it does not show is absent or hidden, one answer.
    return NotFound(
        "no such need in the plan this reader may see",
        [Issue(path="need", message="use the id of a need the plan read shows (needs[].id)")],
    )


def _check_need_id(need_id: str) -> None:
    if not need_id or len(need_id) > 120:
        raise InputInvalid(
            "a match names one need", [Issue(path="need", message="the need's id, 1-120 characters")]
        )


def _when(rt: Runtime, when: dt.datetime | None, timezone: str) -> dt.datetime:
    try:
        zone = zone_of(timezone)
    except ValueError as exc:
        raise InputInvalid("the time zone is not known", [Issue(path="timezone", message=str(exc))]) from None
    when = rt.now() if when is None else when
    # A time without an offset is the directory's local time, as in a coordinator's search.
    return when.replace(tzinfo=zone) if when.tzinfo is None else when.astimezone(zone)


def zcta_centroids(mappings: Path | None = None) -> dict[str, Point]:
    """The ZIP (ZCTA) centroids: the site's table when its mappings folder has one (a site may ship
    its own, e.g. with its service area's postal codes), else the package's Census ZCTA internal
    points (public domain; see SOURCE.md). Read once per process, checked row by row."""
    own = None if mappings is None else mappings / CENTROID_TABLE
    return _centroids(own if own is not None and own.is_file() else bundled_root() / CENTROIDS)


@cache
def _centroids(path: Path) -> dict[str, Point]:
    table: dict[str, Point] = {}
    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = csv.DictReader(handle)
        missing = {"zcta", "latitude", "longitude"} - set(rows.fieldnames or ())
        if missing:
            raise _bad_table(path, 1, f"the header lacks {', '.join(sorted(missing))}")
        for line, row in enumerate(rows, start=2):
            table[_zcta(path, line, row)] = _centroid(path, line, row)
    return table


def _zcta(path: Path, line: int, row: dict[str, str]) -> str:
    code = (row.get("zcta") or "").strip()
    if not (len(code) == 5 and code.isdigit()):
        raise _bad_table(path, line, "zcta must be five digits")
    return code


def _centroid(path: Path, line: int, row: dict[str, str]) -> Point:
    try:
        lat, lon = float(row.get("latitude") or ""), float(row.get("longitude") or "")
    except ValueError:
        raise _bad_table(path, line, "latitude and longitude must be decimal degrees") from None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise _bad_table(path, line, "latitude must be within ±90 and longitude within ±180")
    return Point(lat=lat, lon=lon)


def _bad_table(path: Path, line: int, problem: str) -> ArtifactInvalid:
    return ArtifactInvalid(
        "the ZIP centroid table cannot be read: fix the file or remove it to use the package's",
        [Issue(path=f"{path.name} line {line}", message=problem)],
    )


def _pad(started: float, floor_ms: int) -> None:
    # As a plan read: an unknown student and a hidden plan take the same time to answer.
    left = floor_ms / 1000 - (time.monotonic() - started)
    if left > 0:
        time.sleep(left)


def _audit(
    rt: Runtime,
    read: ReadRequest,
    subject: str,
    disclosure: Disclosure,
    request: MatchRequest,
    *,
    outcome: str,
    answer: MatchAnswer | None = None,
) -> None:
    """The decisions made, one directory.matched entry (ids and counts, never the place) and,
    when the answer rests on plan elements, their disclosure to the reader."""
    actor = f"{read.organization_id}/{read.actor}"
    drafts = disclosures.element_decision_drafts(
        disclosure.decisions,
        action=READ,
        recipient=read.organization_id,
        role=read.role,
        purpose=read.purpose,
        actor=actor,
        subject=subject,
    )
    drafts.append(
        audit.AuditDraft(
            kind="directory.matched",
            actor=actor,
            subject=subject,
            details={
                "need": request.need_id if answer is not None else None,
                "recipient": read.organization_id,
                "role": read.role,
                "purpose": read.purpose,
                "outcome": outcome,
                "category": answer.category if answer is not None else None,
                "locationBasis": answer.location_basis if answer is not None else None,
                "suggestions": len(answer.suggestions) if answer is not None else 0,
                "subjectResolved": bool(subject),
                "decisions": sorted(d.decision_id for d in disclosure.decisions.values()),
                "policyVersion": disclosure.policy.version,
            },
        )
    )
    if answer is not None and subject:
        drafts.append(
            _disclosure(read, subject, disclosure, answer, zcta_centroids(rt.artifacts.folders.mappings))
        )
    with rt.sessions.begin() as session:
        audit.record(session, rt, drafts)
    audit.checkpoint(rt)


def _disclosure(
    read: ReadRequest, subject: str, disclosure: Disclosure, answer: MatchAnswer, centroids: dict[str, Point]
) -> audit.AuditDraft:
    used = {answer.need["id"]}
    plan = disclosure.plan or {}
    if answer.location_basis:
        place = fl.family_place(plan.get("student", {}).get("locations", []), centroids)
        used |= {place.element_id} if place is not None else set()
    rested_on = [e for _, e in iter_elements(plan) if e.get("id") in used]
    elements = [
        (str(e["id"]), str(e["provenance"]["sourceOrganization"]), str(e["labels"]["category"]))
        for e in rested_on
    ]
    keys = {
        (
            e["provenance"]["sourceOrganization"],
            e["labels"]["category"],
            e["labels"]["regime"],
            e["labels"]["sensitivity"],
        )
        for e in rested_on
    }
    record = disclosures.plan_record(
        flow=PLAN_READ,
        student_id=subject,
        recipient=read.organization_id,
        role=read.role,
        actor=read.actor,
        purpose=read.purpose,
        elements=elements,
        permitted=[d for k, d in disclosure.decisions.items() if k in keys and d.permitted],
        policy_version=disclosure.policy.version,
    )
    return disclosures.disclosure_draft(record, actor=f"{read.organization_id}/{read.actor}", subject=subject)
