"""A plan as the coordinator's page shows it: by domain, each fact with its source and date.

Pure: it is given the plan a plan read returned (every element already decided for this reader,
hidden ones gone) and lays it out. It never looks at what was hidden: the student's name, birth
date, grade and school are "withheld" when the read did not show them, whatever the reason, and a
section the read shows nothing of is empty, never "none on record".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gateway.core.labels import DOMAINS

# The sections, in the order a coordinator reads a plan: the student's own profile first, then
# the evidence by domain, then the team and the records that tie the student to each partner.
PROFILE_SLOTS = ("strengths", "interests", "needs", "goals", "supports")
DOMAIN_SLOTS = tuple(f"domains.{d}.facts" for d in DOMAINS)
RECORD_SLOTS = (
    "team",
    "student.languages",
    "student.enrollments",
    "student.identifiers",
    "student.locations",
)
SECTION_SLOTS = PROFILE_SLOTS + DOMAIN_SLOTS + RECORD_SLOTS
HEADER_SLOTS = ("name", "birthDate", "gradeLevel", "school")


@dataclass(frozen=True, kw_only=True)
class Fact:
    element_id: str
    text: str  # what it says, in the source's words
    detail: str  # status, value, owner...: the second line
    source: str  # the source organization's id
    date: str  # when it was true or observed (ISO), "" when the record does not say
    received: str  # when the gateway received it (ISO date)
    category: str
    domain: str = ""  # for profile facts: the domain they belong to
    code: str = ""  # the element's code (a need's code names a referral's reason)


@dataclass(frozen=True, kw_only=True)
class Section:
    slot: str  # a plan slot: "needs", "domains.academic.facts", "student.enrollments"...
    facts: tuple[Fact, ...]


@dataclass(frozen=True, kw_only=True)
class HeaderField:
    key: str  # name | birthDate | gradeLevel | school
    value: str | None  # None: not in this view (withheld)
    source: str = ""


@dataclass(frozen=True, kw_only=True)
class PlanLayout:
    student_id: str
    header: tuple[HeaderField, ...]
    sections: tuple[Section, ...]

    def section(self, slot: str) -> Section:
        return next(s for s in self.sections if s.slot == slot)


def layout(plan: Mapping[str, Any]) -> PlanLayout:
    student = plan.get("student", {})
    return PlanLayout(
        student_id=str(student.get("id", "")),
        header=tuple(_header(key, student.get(key)) for key in HEADER_SLOTS),
        sections=tuple(Section(slot=slot, facts=_facts(plan, slot)) for slot in SECTION_SLOTS),
    )


def _facts(plan: Mapping[str, Any], slot: str) -> tuple[Fact, ...]:
    elements = _elements(plan, slot)
    facts = [_fact(slot, e) for e in elements]
    # Newest first inside a section: what changed lately is what a coordinator acts on.
    return tuple(sorted(facts, key=lambda f: (f.date or f.received, f.element_id), reverse=True))


def _elements(plan: Mapping[str, Any], slot: str) -> list[Mapping[str, Any]]:
    node: Any = plan
    for part in slot.split("."):
        node = node.get(part, {}) if isinstance(node, Mapping) else {}
    return list(node) if isinstance(node, list) else []


def _fact(slot: str, element: Mapping[str, Any]) -> Fact:
    text, detail, date = _WORDS.get(slot.split(".")[-1], _fact_words)(element)
    provenance = element.get("provenance", {})
    return Fact(
        element_id=str(element.get("id", "")),
        text=text,
        detail=detail,
        source=str(provenance.get("sourceOrganization", "")),
        date=_day(date),
        received=_day(provenance.get("receivedAt")),
        category=str(element.get("labels", {}).get("category", "")),
        domain=str(element.get("domain", "")),
        code=str(element.get("code", {}).get("code", "")) if isinstance(element.get("code"), Mapping) else "",
    )


def _header(key: str, element: Mapping[str, Any] | None) -> HeaderField:
    if not element:
        return HeaderField(key=key, value=None)
    if key == "name":
        value = " ".join(str(element[k]) for k in ("given", "middle", "family") if element.get(k))
    elif key == "school":
        value = str(
            element.get("name") or element.get("reference", {}).get("title") or element.get("schoolId")
        )
    else:
        value = str(element.get("value", ""))
    return HeaderField(
        key=key, value=value, source=str(element.get("provenance", {}).get("sourceOrganization"))
    )


# -- the words of each kind of element: (text, detail, date) -------------------------------

Words = tuple[str, str, Any]


def coded(coding: Any) -> str:
    """A code as a person reads it: its display, else the code itself."""
    if not isinstance(coding, Mapping):
        return "" if coding is None else str(coding)
    return str(coding.get("display") or coding.get("code") or "")


def _titled(element: Mapping[str, Any], text: str) -> str:
    title = element.get("reference", {}).get("title")
    return f"{text} ({title})" if title and title != text else text


def _joined(*parts: Any) -> str:
    return " · ".join(str(p) for p in parts if p not in (None, ""))


def _strength(e: Mapping[str, Any]) -> Words:
    return _titled(e, str(e.get("summary") or coded(e.get("code")))), coded(e.get("code")), e.get("observed")


def _need(e: Mapping[str, Any]) -> Words:
    return (
        coded(e.get("code")) or str(e.get("summary", "")),
        _joined(e.get("status"), e.get("summary")),
        e.get("observed"),
    )


def _goal(e: Mapping[str, Any]) -> Words:
    text = str(e.get("summary") or coded(e.get("code")))
    detail = _joined(e.get("status"), f"{e.get('term')}-term" if e.get("term") else "", e.get("owner"))
    return text, _joined(detail, f"target {e['target']}" if e.get("target") else ""), e.get("target")


def _support(e: Mapping[str, Any]) -> Words:
    detail = _joined(e.get("provider"), e.get("referralStatus"), e.get("outcome"))
    return _titled(e, coded(e.get("service"))), detail, e.get("start") or e.get("end")


def _fact_words(e: Mapping[str, Any]) -> Words:
    value = e.get("value")
    shown = coded(value) if isinstance(value, Mapping) else "" if value is None else str(value)
    date = e.get("effective") or e.get("period", {}).get("start")
    return (
        _titled(e, coded(e.get("code")) or str(e.get("summary", ""))),
        _joined(shown, e.get("summary")),
        date,
    )


def _team(e: Mapping[str, Any]) -> Words:
    return _joined(e.get("name"), e.get("role")), _joined(e.get("organization"), e.get("contact")), None


def _language(e: Mapping[str, Any]) -> Words:
    return coded(e.get("code")), str(e.get("use", "")), None


def _enrollment(e: Mapping[str, Any]) -> Words:
    school = e.get("reference", {}).get("title") or e.get("school")
    grade = f"grade {e['gradeLevel']}" if e.get("gradeLevel") else ""
    return (
        str(school),
        _joined(grade, f"left {e['exitDate']}" if e.get("exitDate") else ""),
        e.get("entryDate"),
    )


def _identifier(e: Mapping[str, Any]) -> Words:
    return str(e.get("value", "")), str(e.get("system", "")), None


def _location(e: Mapping[str, Any]) -> Words:
    # The page says a location is on record and its postal code; the coordinates are used to
    # find services nearby and are not printed (minimum necessary on a screen others may see).
    has_point = "latitude" in e and "longitude" in e
    text = _joined(e.get("postalCode"), "coordinates on record" if has_point else "")
    return text or "address on record", str(e.get("use", "")), None


_WORDS = {
    "strengths": _strength,
    "interests": _strength,
    "needs": _need,
    "goals": _goal,
    "supports": _support,
    "facts": _fact_words,
    "team": _team,
    "languages": _language,
    "enrollments": _enrollment,
    "identifiers": _identifier,
    "locations": _location,
}


def _day(value: Any) -> str:
    return str(value)[:10] if value else ""
