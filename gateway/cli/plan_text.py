"""A Success Plan as a person reads it: one section per part of the plan, each a table whose
rows name where the fact came from (the source organization) and when, then the terms that
travel with the view and what the view cannot include.

Only what the read returned is printed; a part with nothing shown is named in one closing
line, never as a count of what was hidden. "What this view cannot include" is stated from the
agreements and consents (``coordinator_scope``, as the coordinator's page states it), never from
which records exist.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from rich.console import RenderableType

from gateway.cli import human
from gateway.service.views import coordinator_scope
from gateway.service.views.coordinator_scope import Scope

Element = Mapping[str, Any]

DOMAINS = (
    ("academic", "Academic"),
    ("attendanceEngagement", "Attendance & engagement"),
    ("socialEmotionalBehavioral", "Social, emotional & behavioral"),
    ("physicalMentalHealth", "Physical & mental health"),
    ("familyBasicNeeds", "Family & basic needs"),
    ("enrichmentInterests", "Enrichment & interests"),
)
DOMAIN_TITLES = dict(DOMAINS)
SOURCE = ("source", "date")


def plan_parts(view: Mapping[str, Any], scope: Scope | None) -> list[RenderableType]:
    """The whole view (``PlanView.to_dict()``) as headings and tables, in reading order."""
    plan = view["plan"]
    parts: list[RenderableType] = [*_student(plan.get("student", {}), view.get("version"))]
    empty: list[str] = []
    for title, columns, rows in _sections(plan):
        if rows:
            parts += [human.heading(title), human.table(columns, rows)]
        else:
            empty.append(title)
    if empty:
        parts.append(human.heading("Nothing shown for", ", ".join(empty)))
    parts += _terms(view.get("disclosure", {}))
    if scope is not None:
        parts += _limits(scope)
    return parts


def _student(student: Mapping[str, Any], version: Any) -> list[RenderableType]:
    name = student.get("name")
    who = " ".join(name.get(k, "") for k in ("given", "middle", "family") if name.get(k)) if name else ""
    facts = [
        ("name", who, name),
        ("birth date", _value(student.get("birthDate")), student.get("birthDate")),
        ("grade level", _grade(student.get("gradeLevel")), student.get("gradeLevel")),
        ("school", _school(student.get("school")), student.get("school")),
    ]
    rows = [(label, text, *_origin(e)) for label, text, e in facts if e]
    rows += [
        (f"id {i.get('system', '')}", i.get("value"), *_origin(i)) for i in student.get("identifiers", [])
    ]
    rows += [("language", _coding(x.get("code")), *_origin(x)) for x in student.get("languages", [])]
    rows += [("home", _place(x), *_origin(x)) for x in student.get("locations", [])]
    parts: list[RenderableType] = [
        human.heading("Student", f"{student.get('id', '')}  plan version {version}"),
        human.table(("", "value", *SOURCE), rows),
    ]
    enrollments = [
        (_school(e), e.get("gradeLevel"), e.get("entryDate"), e.get("exitDate"), *_origin(e))
        for e in student.get("enrollments", [])
    ]
    if enrollments:
        parts += [
            human.heading("Enrollments"),
            human.table(("school", "grade", "entry", "exit", *SOURCE), enrollments),
        ]
    return parts


def _sections(plan: Mapping[str, Any]) -> Iterable[tuple[str, Sequence[str], list[tuple[Any, ...]]]]:
    yield (
        "Strengths",
        ("domain", "strength", *SOURCE),
        [
            (_domain(x), x.get("summary") or _coding(x.get("code")), *_origin(x, "observed"))
            for x in plan.get("strengths", [])
        ],
    )
    yield (
        "Interests",
        ("domain", "interest", *SOURCE),
        [
            (_domain(x), x.get("summary") or _coding(x.get("code")), *_origin(x))
            for x in plan.get("interests", [])
        ],
    )
    yield (
        "Needs",
        ("domain", "need", "status", "summary", *SOURCE),
        [
            (_domain(x), _coding(x.get("code")), x.get("status"), x.get("summary"), *_origin(x, "observed"))
            for x in plan.get("needs", [])
        ],
    )
    yield (
        "Goals",
        ("domain", "goal", "term", "owner", "status", "target", *SOURCE),
        [
            (
                _domain(x),
                x.get("summary") or _coding(x.get("code")),
                x.get("term"),
                x.get("owner"),
                x.get("status"),
                x.get("target"),
                *_origin(x),
            )
            for x in plan.get("goals", [])
        ],
    )
    yield (
        "Supports & referrals",
        ("domain", "service", "provider", "status", "outcome", *SOURCE),
        [
            (
                _domain(x),
                _titled(x, _coding(x.get("service"))),
                x.get("provider"),
                x.get("referralStatus"),
                _coding(x.get("outcome")) if isinstance(x.get("outcome"), Mapping) else x.get("outcome"),
                *_origin(x, "start"),
            )
            for x in plan.get("supports", [])
        ],
    )
    domains = plan.get("domains", {})
    for key, title in DOMAINS:
        facts = domains.get(key, {}).get("facts", [])
        yield (
            title,
            ("what", "value", "summary", *SOURCE),
            [
                (_titled(f, _coding(f.get("code"))), _value(f), f.get("summary"), *_origin(f, "effective"))
                for f in facts
            ],
        )
    yield (
        "Team",
        ("role", "name", "organization", "contact", *SOURCE),
        [
            (x.get("role"), x.get("name"), x.get("organization"), x.get("contact"), *_origin(x))
            for x in plan.get("team", [])
        ],
    )


def _terms(disclosure: Mapping[str, Any]) -> list[RenderableType]:
    obligations = disclosure.get("obligations", [])
    rows = [(o.get("type"), _obligation(o)) for o in obligations]
    decisions = human.count(len(disclosure.get("decisionIds", [])), "decision")
    note = f"policy {disclosure.get('policyVersion', '')}, {decisions}"
    if not rows:
        return [human.heading("Terms of this view", note + "; no obligations")]
    return [human.heading("Terms of this view", note), human.table(("obligation", "terms"), rows)]


def _obligation(o: Mapping[str, Any]) -> str:
    rest = {k: v for k, v in o.items() if k not in ("type", "text")}
    said = ", ".join(f"{k} {v}" for k, v in rest.items())
    return f"{said}: {o['text']}" if "text" in o else said


WHY = {
    coordinator_scope.NO_AGREEMENT: "no agreement in force covers it for this reader, purpose and role",
    coordinator_scope.NO_CONSENT: "no consent on file permits it and no exception applies",
    coordinator_scope.REFUSED: "a consent refuses it",
}


def _limits(scope: Scope) -> list[RenderableType]:
    rows = [
        (
            f"{s.category} from {s.organization}",
            "partly: " + ", ".join(s.regimes_withheld) + " records"
            if s.outcome == coordinator_scope.PARTLY
            else "no",
            WHY.get(s.reason, s.reason),
        )
        for s in scope.cannot
    ]
    rows += [
        (f"{s.category} from {s.organization}", "only these parts", ", ".join(s.only))
        for s in scope.can
        if s.only is not None and s.outcome == coordinator_scope.CAN
    ]
    if not rows:
        return []
    return [human.heading("What this view cannot include"), human.table(("data", "included", "why"), rows)]


# -- one cell --------------------------------------------------------------------------------


def _origin(element: Element, date_key: str = "") -> tuple[str, str]:
    """Where an element came from and when: its own date when it has one, else when it arrived."""
    provenance = element.get("provenance", {})
    day = element.get(date_key) if date_key else None
    return str(provenance.get("sourceOrganization", "")), human.when(day or provenance.get("receivedAt"))


def _coding(code: Any) -> str:
    if not isinstance(code, Mapping):
        return "" if code is None else str(code)
    return str(code.get("display") or code.get("code") or "")


def _value(element: Element | None) -> str:
    if not element:
        return ""
    value = element.get("value")
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Mapping):
        return _coding(value)
    return "" if value is None else str(value)


def _grade(element: Element | None) -> str:
    """A grade level as sent, with the descriptor it was mapped from when that says more."""
    said, code = _value(element), _coding((element or {}).get("code"))
    return f"{said} ({code})" if code and code != said else said


def _school(element: Element | None) -> str:
    if not element:
        return ""
    school = element.get("name") or element.get("schoolId") or element.get("school") or ""
    return _titled(element, str(school))


def _titled(element: Element, text: str) -> str:
    title = (element.get("reference") or {}).get("title")
    return f"{text} ({title})" if title and title != text else text


def _place(element: Element) -> str:
    where = [element.get("postalCode"), element.get("country")]
    if element.get("latitude") is not None and element.get("longitude") is not None:
        where.append(f"{element['latitude']},{element['longitude']}")
    return " ".join(str(w) for w in where if w)


def _domain(element: Element) -> str:
    domain = str(element.get("domain", ""))
    return DOMAIN_TITLES.get(domain, domain)
