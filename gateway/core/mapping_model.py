"""Frozen values of a mapping artifact and their construction from a parsed YAML document.

``build_mapping`` checks what the meta-schema cannot (path syntax, transform names, target
slots, labels) and reports every problem at once, each with its location in the file.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from gateway.core.labels import DOMAINS, REGIMES, SENSITIVITIES, Labels
from gateway.core.paths import Path, PathSyntaxError, parse_path
from gateway.core.transforms import TRANSFORMS
from gateway.errors import ArtifactInvalid, Issue

SINGLE_SLOTS: frozenset[str] = frozenset(
    {"student.name", "student.birthDate", "student.gradeLevel", "student.school"}
)
COLLECTION_SLOTS: frozenset[str] = frozenset(
    {
        "student.identifiers",
        "student.languages",
        "student.enrollments",
        "student.locations",
        "strengths",
        "interests",
        "needs",
        "goals",
        "supports",
        "team",
        *(f"domains.{domain}.facts" for domain in DOMAINS),
    }
)
SLOTS: frozenset[str] = SINGLE_SLOTS | COLLECTION_SLOTS
# Numeric condition operators (``{path: $.numericGradeEarned, gte: 90}``).
COMPARISONS: tuple[str, ...] = ("gte", "gt", "lte", "lt")
# The element envelope: a rule filling one of these would overwrite it.
RESERVED_FIELDS: frozenset[str] = frozenset({"id", "provenance", "labels"})


@dataclass(frozen=True, kw_only=True)
class FieldSpec:
    name: str
    source: Path | None = None
    const: Any = None
    transform: str | None = None
    lookup: str | None = None
    required: bool = False
    skip_if_missing: bool = False
    many: bool = False
    children: tuple[FieldSpec, ...] = ()
    # Additive (issue 5): several paths whose first values join with "|" into one lookup key
    # (a LOINC question + its answer); a chain of crosswalks applied in turn; and a code that is
    # in no crosswalk leaving the element out instead of failing the record.
    join: tuple[Path, ...] = ()
    lookups: tuple[str, ...] = ()
    skip_if_unmapped: bool = False
    first_of: tuple[FieldSpec, ...] = ()  # alternatives: the first that gives a value
    # The id (as a one-item list) of the element an ``element_key`` (``children``) names in this
    # slot: a goal points at the need it addresses.
    id_of: str = ""
    # Additive (issue 4): paths read in turn when ``source`` finds nothing (a numeric grade, else
    # the letter grade).
    fallbacks: tuple[Path, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Condition:
    path: Path
    kind: str  # exists | in | not_in | compare | crosswalk
    expected: bool = True
    values: tuple[str, ...] = ()
    table: str = ""  # crosswalk: holds when a (transformed) value is a key of this table
    transform: str | None = None
    # Additive (issue 4): compare numbers (``gte: 90``), and map values through a crosswalk
    # before ``in`` / ``not_in`` (an unknown code is reported, as for a field lookup).
    op: str = ""  # compare: gte | gt | lte | lt
    number: float = 0.0
    lookup: str | None = None
    # ``or``: the condition also holds when any of these holds (a numeric grade of 90 or more, or
    # an A letter grade).
    alternatives: tuple[Condition, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Rule:
    id: str
    target: str
    for_each: Path | None
    when: tuple[Condition, ...]
    fields: tuple[FieldSpec, ...]
    labels: Labels | None
    # Additive (issue 5): records that speak of one plan element (a ServiceRequest, its Tasks,
    # the Procedure that closes it) name it by the same key, so they upsert one element.
    element_key: tuple[FieldSpec, ...] = ()
    # ``merge: {update: [fields]}``: on an element of the same id already in the plan, only these
    # fields are replaced (a referral Task's status); without one, the element is stored whole.
    update_fields: tuple[str, ...] = ()
    # Labels chosen by the record's content (a Part 2 code, a sensitive demographic): the first
    # entry whose conditions all hold replaces ``labels``.
    labels_when: tuple[tuple[tuple[Condition, ...], Labels], ...] = ()
    # Likewise the slot: the first entry whose conditions all hold replaces ``target``.
    targets_when: tuple[tuple[tuple[Condition, ...], str], ...] = ()


@dataclass(frozen=True, kw_only=True)
class SubjectSpec:
    value: Path
    system: str | None = None
    system_of: str | None = None
    system_from: Path | None = None
    for_each: Path | None = None
    transform: str | None = None


@dataclass(frozen=True, kw_only=True)
class Mapping:
    id: str
    version: int
    format: str
    entity: str
    source_system: str
    origin: str
    labels: Labels
    key: tuple[Path, ...]
    subject: tuple[SubjectSpec, ...]
    subject_creates: bool
    subject_links: bool
    rules: tuple[Rule, ...]


class _Builder:
    """Collects issues while turning a document into values; raises once at the end."""

    def __init__(self, origin: str, codes: frozenset[str]) -> None:
        self.origin = origin
        self.codes = codes
        self.issues: list[Issue] = []

    def fail(self, where: str, message: str) -> None:
        self.issues.append(Issue(path=f"{self.origin}: {where}", message=message))

    def path(self, text: Any, where: str) -> Path | None:
        if text is None:
            return None
        try:
            return parse_path(str(text))
        except PathSyntaxError as exc:
            self.fail(where, str(exc))
            return None

    def transform(self, name: Any, where: str) -> str | None:
        if name is not None and name not in TRANSFORMS:
            self.fail(
                where,
                f"unknown transform {name!r}; known: {', '.join(sorted(TRANSFORMS))}",
            )
            return None
        return None if name is None else str(name)

    def labels(self, doc: Any, where: str) -> Labels | None:
        if doc is None:
            return None
        if doc.get("regime") not in REGIMES:
            self.fail(f"{where}.regime", f"must be one of {', '.join(REGIMES)}")
        if doc.get("sensitivity") not in SENSITIVITIES:
            self.fail(f"{where}.sensitivity", f"must be one of {', '.join(SENSITIVITIES)}")
        return Labels(
            regime=str(doc.get("regime")),
            sensitivity=str(doc.get("sensitivity")),
            category=str(doc.get("category")),
        )

    def field(self, name: str, doc: Any, where: str) -> FieldSpec:
        if not isinstance(doc, dict):
            return FieldSpec(name=name, const=doc)
        if "element_id" in doc:
            spec = doc["element_id"]
            target = str(spec.get("target"))
            if target not in SLOTS:
                self.fail(
                    f"{where}.element_id.target", f"{target!r} is not a plan slot; slots: {_slot_list()}"
                )
            key = tuple(
                self.field(str(i), part, f"{where}.element_id.key[{i}]") for i, part in enumerate(spec["key"])
            )
            return FieldSpec(
                name=name, id_of=target, children=key, skip_if_missing=doc.get("if_missing") == "skip"
            )
        if "first_of" in doc:
            alternatives = doc["first_of"]
            return FieldSpec(
                name=name,
                first_of=tuple(
                    self.field(name, alt, f"{where}.first_of[{i}]") for i, alt in enumerate(alternatives)
                ),
                required=bool(doc.get("required", False)),
                skip_if_missing=doc.get("if_missing") == "skip",
            )
        if "from" not in doc and "const" not in doc and "join" not in doc:
            children = tuple(self.field(k, v, f"{where}.{k}") for k, v in doc.items())
            return FieldSpec(name=name, children=children)
        lookups = self.lookups(doc.get("lookup"), f"{where}.lookup")
        join = [self.path(p, f"{where}.join[{i}]") for i, p in enumerate(doc.get("join", []))]
        return FieldSpec(
            name=name,
            source=self.path(doc.get("from"), f"{where}.from"),
            const=doc.get("const"),
            transform=self.transform(doc.get("transform"), f"{where}.transform"),
            lookup=lookups[0] if lookups else None,
            required=bool(doc.get("required", False)),
            skip_if_missing=doc.get("if_missing") == "skip",
            many=bool(doc.get("many", False)),
            join=tuple(p for p in join if p is not None),
            lookups=lookups,
            skip_if_unmapped=doc.get("if_unmapped") == "skip",
            fallbacks=tuple(
                p
                for i, t in enumerate(doc.get("else_from", []))
                if (p := self.path(t, f"{where}.else_from[{i}]"))
            ),
        )

    def lookups(self, names: Any, where: str) -> tuple[str, ...]:
        chain = tuple(
            str(n) for n in ([] if names is None else names if isinstance(names, list) else [names])
        )
        for name in chain:
            if name not in self.codes:
                self.fail(where, f"no crosswalk table '{name}' in mappings/codes/")
        return chain

    def condition(self, doc: dict[str, Any], where: str) -> Condition | None:
        found = self.one_condition(doc, where)
        if found is None or not doc.get("or"):
            return found
        alternatives = [self.condition(c, f"{where}.or[{i}]") for i, c in enumerate(doc["or"])]
        return dataclasses.replace(found, alternatives=tuple(c for c in alternatives if c is not None))

    def one_condition(self, doc: dict[str, Any], where: str) -> Condition | None:
        path = self.path(doc.get("path"), f"{where}.path")
        if path is None:
            return None
        lookup = doc.get("lookup")
        if lookup is not None and lookup not in self.codes:
            self.fail(f"{where}.lookup", f"no crosswalk table '{lookup}' in mappings/codes/")
        if "in" in doc:
            return Condition(path=path, kind="in", values=tuple(str(v) for v in doc["in"]), lookup=lookup)
        if "not_in" in doc:
            return Condition(
                path=path, kind="not_in", values=tuple(str(v) for v in doc["not_in"]), lookup=lookup
            )
        if "equals" in doc:
            return Condition(path=path, kind="in", values=(str(doc["equals"]),), lookup=lookup)
        for op in COMPARISONS:
            if op in doc:
                return Condition(path=path, kind="compare", op=op, number=float(doc[op]))
        if "in_crosswalk" in doc or "not_in_crosswalk" in doc:
            table = str(doc.get("in_crosswalk", doc.get("not_in_crosswalk")))
            if table not in self.codes:
                self.fail(f"{where}.in_crosswalk", f"no crosswalk table '{table}' in mappings/codes/")
            return Condition(
                path=path,
                kind="crosswalk",
                expected="in_crosswalk" in doc,
                table=table,
                transform=self.transform(doc.get("transform"), f"{where}.transform"),
            )
        return Condition(path=path, kind="exists", expected=bool(doc.get("exists", True)))

    def rule(self, doc: dict[str, Any], where: str) -> Rule:
        target = str(doc.get("target"))
        for name in sorted(RESERVED_FIELDS & set(doc.get("fields", {}))):
            self.fail(
                f"{where}.fields.{name}",
                f"'{name}' is reserved for the element envelope",
            )
        if target not in SLOTS:
            self.fail(
                f"{where}.target",
                f"{target!r} is not a plan slot; slots: {_slot_list()}",
            )
        conditions = [self.condition(c, f"{where}.when[{i}]") for i, c in enumerate(doc.get("when", []))]
        return Rule(
            id=str(doc.get("id")),
            target=target,
            for_each=self.path(doc.get("for_each"), f"{where}.for_each"),
            when=tuple(c for c in conditions if c is not None),
            fields=tuple(self.field(k, v, f"{where}.fields.{k}") for k, v in doc.get("fields", {}).items()),
            labels=self.labels(doc.get("labels"), f"{where}.labels"),
            element_key=tuple(
                self.field(str(i), part, f"{where}.element_key[{i}]")
                for i, part in enumerate(doc.get("element_key", []))
            ),
            update_fields=tuple(str(f) for f in (doc.get("merge") or {}).get("update", [])),
            targets_when=tuple(
                self.targeted(entry, f"{where}.targets_when[{i}]")
                for i, entry in enumerate(doc.get("targets_when", []))
            ),
            labels_when=tuple(
                self.labelled(entry, f"{where}.labels_when[{i}]")
                for i, entry in enumerate(doc.get("labels_when", []))
            ),
        )

    def targeted(self, doc: dict[str, Any], where: str) -> tuple[tuple[Condition, ...], str]:
        target = str(doc.get("target"))
        if target not in SLOTS:
            self.fail(f"{where}.target", f"{target!r} is not a plan slot; slots: {_slot_list()}")
        conditions = [self.condition(c, f"{where}.when[{i}]") for i, c in enumerate(doc.get("when", []))]
        return tuple(c for c in conditions if c is not None), target

    def labelled(self, doc: dict[str, Any], where: str) -> tuple[tuple[Condition, ...], Labels]:
        conditions = [self.condition(c, f"{where}.when[{i}]") for i, c in enumerate(doc.get("when", []))]
        labels = self.labels(doc.get("labels"), f"{where}.labels")
        return tuple(c for c in conditions if c is not None), labels or Labels(
            regime="", sensitivity="", category=""
        )

    def subject(self, doc: dict[str, Any], where: str) -> SubjectSpec | None:
        value = self.path(doc.get("from"), f"{where}.from")
        if value is None:
            return None
        return SubjectSpec(
            value=value,
            system=doc.get("system"),
            system_of=doc.get("system_of"),
            system_from=self.path(doc.get("system_from"), f"{where}.system_from"),
            for_each=self.path(doc.get("for_each"), f"{where}.for_each"),
            transform=self.transform(doc.get("transform"), f"{where}.transform"),
        )


def _slot_list() -> str:
    return ", ".join(sorted(SLOTS))


def build_mapping(doc: dict[str, Any], origin: str, codes: frozenset[str]) -> Mapping:
    """Turn a meta-schema-valid document into a ``Mapping``; raise with every problem found."""
    b = _Builder(origin, codes)
    rule_ids = [str(r.get("id")) for r in doc.get("rules", [])]
    for dup in sorted({i for i in rule_ids if rule_ids.count(i) > 1}):
        b.fail("$.rules", f"rule id {dup!r} is used more than once")
    subject_doc = doc.get("subject", {})
    specs = [
        b.subject(s, f"$.subject.identifiers[{i}]") for i, s in enumerate(subject_doc.get("identifiers", []))
    ]
    mapping = Mapping(
        id=str(doc.get("id")),
        version=int(doc.get("version", 1)),
        format=str(doc.get("format")),
        entity=str(doc.get("entity")),
        source_system=str(doc.get("source_system")),
        origin=origin,
        labels=b.labels(doc.get("labels"), "$.labels") or Labels(regime="", sensitivity="", category=""),
        key=tuple(p for i, k in enumerate(doc.get("key", [])) if (p := b.path(k, f"$.key[{i}]"))),
        subject=tuple(s for s in specs if s is not None),
        subject_creates=bool(subject_doc.get("create", False)),
        subject_links=bool(subject_doc.get("link", False)),
        rules=tuple(b.rule(r, f"$.rules[{i}]") for i, r in enumerate(doc.get("rules", []))),
    )
    if b.issues:
        raise ArtifactInvalid(f"mapping {origin} is invalid", b.issues)
    return mapping
