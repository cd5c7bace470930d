"""The family's page in plain words: every code of a plan, a consent or an accounting row as the
words a family reads, in the page's language (issue 15, section 4).

No code without words: the gateway's terms (domains, data categories, purposes, roles, statuses) and
the codes the SDOH crosswalks lead to a category (SNOMED CT, ICD-10, LOINC screening questions) read
through mappings/codes/plain-language.yaml, one text per language; a coded concept the table does not
know reads as the sender's display, or as an Ed-Fi descriptor's code value (words already); one with
none of these gives "" and the page says that the record came without a description, never the code.
Organizations read as their names (organizations.yaml). Dates stay dates: the page writes them in
its language. Values in, values out: the service reads the plan and hands it here.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from babel.numbers import format_percent

from gateway.core.consent import PART2
from gateway.core.plan import iter_elements
from gateway.service.runtime import Runtime
from gateway.storage import organization_store

PART2_CATEGORY = "substance-use"
ATTENDANCE_SYSTEM = "https://success-plan-gateway.org/codes/attendance"
LOINC = "http://loinc.org"
DESCRIPTOR = "Descriptor"  # an Ed-Fi descriptor's code value is itself words (Ninth grade)
DOMAINS = (
    "academic",
    "attendanceEngagement",
    "socialEmotionalBehavioral",
    "physicalMentalHealth",
    "familyBasicNeeds",
    "enrichmentInterests",
)


def is_part2(element: Mapping[str, Any]) -> bool:
    """Substance-use treatment records (42 CFR 2.14): the minor's, never shown to the family."""
    labels = element.get("labels", {})
    return bool(labels.get("regime") == PART2 or labels.get("category") == PART2_CATEGORY)


# -- words ----------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Words:
    """The plain words of codes in one language: mappings/codes/plain-language.yaml, the SDOH
    crosswalks that lead a SNOMED CT, ICD-10 or LOINC code to its category, organization names."""

    lang: str
    codes: Mapping[str, Mapping[str, Any]]
    organizations: Mapping[str, str]  # id -> name
    schools: Mapping[str, str]  # school id -> the name of the organization that lists it

    def term(self, kind: str, code: object) -> str:
        """The words of KIND:CODE in this language (English when missing); "" when none."""
        entry = self.codes.get("plain-language", {}).get(f"{kind}:{code}")
        if not isinstance(entry, Mapping):
            return ""
        return str(entry.get(self.lang) or entry.get("en") or "")

    def hint(self, kind: str, code: object) -> str:
        entry = self.codes.get("plain-language", {}).get(f"{kind}:{code}")
        return str(entry.get("value", "")) if isinstance(entry, Mapping) else ""

    def terms(self, kind: str, codes: Iterable[str]) -> tuple[str, ...]:
        return tuple(self.term(kind, code) or str(code) for code in codes if code != PART2_CATEGORY)

    def organization(self, org_id: str) -> str:
        return self.organizations.get(org_id, "")

    def sdoh_category(self, coding: Mapping[str, Any]) -> str:
        system, code = str(coding.get("system", "")), str(coding.get("code", ""))
        found = self._need_categories.get((system, code))
        if found is not None:
            return found
        if system == "http://snomed.info/sct":
            return str(self.codes.get("snomed-sdoh-category", {}).get(code, ""))
        if "icd-10" in system:
            return str(self.codes.get("icd10-sdoh-category", {}).get(code, ""))
        if system == LOINC:
            return self._question_categories.get(code, "")
        return ""

    # Reverse indexes of the crosswalks, built once per Words: every coded concept of a page asks
    # for its category, and scanning the tables each time was a tenth of the family page's render.
    # The first entry wins, as the scans did; only text keys, as only text (system, code) matched.

    @functools.cached_property
    def _need_categories(self) -> dict[tuple[str, str], str]:
        index: dict[tuple[str, str], str] = {}
        for category, target in self.codes.get("sdoh-category-need", {}).items():
            if isinstance(target, Mapping):
                key = (target.get("system"), target.get("code"))
                if isinstance(key[0], str) and isinstance(key[1], str):
                    index.setdefault((key[0], key[1]), str(category))
        return index

    @functools.cached_property
    def _question_categories(self) -> dict[str, str]:
        index: dict[str, str] = {}
        for instrument in self.codes.get("screening-instruments", {}).values():
            questions = instrument.get("questions", {}) if isinstance(instrument, Mapping) else {}
            for question, found in questions.items():
                if isinstance(question, str) and isinstance(found, Mapping):
                    index.setdefault(question, str(found.get("category", "")))
        return index

    def coding(self, coding: Any) -> str:
        """Words for a coded concept: the gateway's own words, else the sender's display, else the
        code value of an Ed-Fi descriptor (words already); "" when there are none (never the code)."""
        if not isinstance(coding, Mapping):
            return ""
        system, code = str(coding.get("system", "")), str(coding.get("code", ""))
        own = (
            self.term("attendance", code) if system == ATTENDANCE_SYSTEM else "",
            self.term("answer", code) if system == LOINC else "",
            self.term("sdoh", self.sdoh_category(coding)),
        )
        words = next((w for w in own if w), "")
        return words or str(coding.get("display") or (code if system.endswith(DESCRIPTOR) else ""))

    def value(self, code: Any, value: Any) -> str:
        hint = self.hint("attendance", code.get("code")) if isinstance(code, Mapping) else ""
        if isinstance(value, bool):
            return self.term("value", "yes" if value else "no")
        if isinstance(value, int | float) and hint == "percent":
            return format_percent(round(value, 3), locale=self.lang, decimal_quantization=False)
        if isinstance(value, Mapping):
            return self.coding(value)
        return "" if value is None else str(value)


def words_for(rt: Runtime, lang: str) -> Words:
    with rt.sessions() as session:
        docs = organization_store.organization_docs(session)
    names = {str(doc["id"]): str(doc.get("name") or doc["id"]) for doc in docs}
    schools = {
        str(ident.get("value")): names[str(doc["id"])]
        for doc in docs
        for ident in doc.get("identifiers", [])
        if str(ident.get("system", "")).endswith("schoolId")
    }
    return Words(lang=lang, codes=rt.artifacts.codes, organizations=names, schools=schools)


@dataclass(frozen=True, kw_only=True)
class Item:
    """One statement of the plan in words (never a code); dates as dates, for the page to write."""

    kind: str  # fact | screening | need | goal | support | strength | interest | member
    what: str  # "" when the record carries no words at all (the page says so)
    value: str = ""
    status: str = ""
    detail: str = ""
    when: dt.date | None = None
    until: dt.date | None = None
    source: str = ""


@dataclass(frozen=True, kw_only=True)
class Section:
    domain: str
    title: str
    items: tuple[Item, ...]


@dataclass(frozen=True, kw_only=True)
class FamilyPlan:
    student_id: str
    adult: bool  # the child is 18: the rights have passed to them, nothing else is shown
    name: str = ""
    birth_date: dt.date | None = None
    grade: str = ""
    school: str = ""
    languages: tuple[str, ...] = ()
    sections: tuple[Section, ...] = ()
    team: tuple[Item, ...] = ()


_Builder = Callable[[Mapping[str, Any], "Words", str], Item]


def full_name(plan: Mapping[str, Any]) -> str:
    name = plan.get("student", {}).get("name")
    if not name or is_part2(name):
        return ""
    return " ".join(str(name[k]) for k in ("given", "middle", "family") if name.get(k))


def plain_plan(student_id: str, plan: dict[str, Any], words: Words) -> FamilyPlan:
    student = plan.get("student", {})
    items = [_item(slot, element, words) for slot, element in iter_elements(plan)]
    domains = [_domain(slot, element) for slot, element in iter_elements(plan)]
    sections = tuple(
        Section(
            domain=domain,
            title=words.term("domain", domain),
            items=tuple(i for i, d in zip(items, domains, strict=True) if d == domain and i is not None),
        )
        for domain in DOMAINS
    )
    return FamilyPlan(
        student_id=student_id,
        adult=False,
        name=full_name(plan),
        birth_date=_date(student.get("birthDate", {}).get("value")),
        grade=_grade(student.get("gradeLevel"), words),
        school=_school(student.get("school"), words),
        languages=tuple(
            filter(None, (words.coding(lang.get("code")) for lang in student.get("languages", [])))
        ),
        sections=sections,
        team=tuple(i for i, d in zip(items, domains, strict=True) if d == "team" and i is not None),
    )


def _domain(slot: str, element: Mapping[str, Any]) -> str:
    if slot.startswith("domains."):
        return slot.split(".")[1]
    return "team" if slot == "team" else str(element.get("domain", ""))


def _grade(element: Any, words: Words) -> str:
    if not element:
        return ""
    value = element.get("value", "")
    return words.term("grade", value) or words.coding(element.get("code")) or str(value)


def _school(element: Any, words: Words) -> str:
    if not element:
        return ""
    title = element.get("reference", {}).get("title") or element.get("name")
    return str(title or words.schools.get(str(element.get("schoolId")), ""))


def _item(slot: str, e: Mapping[str, Any], words: Words) -> Item | None:
    source = words.organization(str(e.get("provenance", {}).get("sourceOrganization", "")))
    if slot.startswith("domains."):
        category = words.sdoh_category(e.get("code", {})) if e.get("code", {}).get("system") == LOINC else ""
        return Item(
            kind="screening" if category else "fact",
            what=words.term("sdoh", category) if category else words.coding(e.get("code")),
            value=words.value(e.get("code"), e.get("value")),
            when=_date(e.get("effective")),
            source=source,
        )
    builder = _BUILDERS.get(slot)
    return builder(e, words, source) if builder else None


def _need(e: Mapping[str, Any], words: Words, source: str) -> Item:
    status = words.term("need-status", e.get("status"))
    return Item(
        kind="need",
        what=words.coding(e.get("code")),
        status=status,
        when=_date(e.get("observed")),
        source=source,
    )


def _goal(e: Mapping[str, Any], words: Words, source: str) -> Item:
    return Item(
        kind="goal",
        what=str(e.get("summary") or words.coding(e.get("code"))),
        status=words.term("goal-status", e.get("status")),
        detail=", ".join(
            filter(None, (words.term("goal-owner", e.get("owner")), words.term("goal-term", e.get("term"))))
        ),
        until=_date(e.get("target")),
        source=source,
    )


def _support(e: Mapping[str, Any], words: Words, source: str) -> Item:
    return Item(
        kind="support",
        what=words.coding(e.get("service")),
        status=words.term("referral-status", e.get("referralStatus")),
        detail=words.organization(str(e.get("provider", ""))),
        when=_date(e.get("start")),
        until=_date(e.get("end")),
        source=source,
    )


def _told(kind: str) -> _Builder:
    def build(e: Mapping[str, Any], words: Words, source: str) -> Item:
        what = str(e.get("summary") or words.coding(e.get("code")))
        return Item(kind=kind, what=what, when=_date(e.get("observed")), source=source)

    return build


def _member(e: Mapping[str, Any], words: Words, source: str) -> Item:
    role = words.term("role", e.get("role")) or str(e.get("role", ""))
    return Item(
        kind="member",
        what=str(e.get("name", "")),
        value=role,
        detail=words.organization(str(e.get("organization", ""))),
        status=str(e.get("contact", "")),
        source=source,
    )


_BUILDERS: dict[str, _Builder] = {
    "needs": _need,
    "goals": _goal,
    "supports": _support,
    "strengths": _told("strength"),
    "interests": _told("interest"),
    "team": _member,
}


def _date(value: Any) -> dt.date | None:
    if isinstance(value, dict):
        value = value.get("start")
    try:
        return dt.date.fromisoformat(str(value)[:10]) if value else None
    except ValueError:
        return None
