"""Ed-Fi XML record element -> Ed-Fi ODS/API resource JSON, driven by the XSD type model.

The rules (one plan per XSD type, compiled once; exceptions live in ``edfi_xml_tables``):

1. Names: an element's local name in camelCase (``EventDate`` -> ``eventDate``; a leading
   acronym is lowered as a whole: ``CTEProgramService`` -> ``cteProgramService``).
2. Descriptors (simple types that restrict ``DescriptorReferenceType``) get the ``Descriptor``
   suffix and keep their URI value: ``AttendanceEventCategory`` -> ``attendanceEventCategoryDescriptor``.
3. Values: the XSD type decides: ``xs:int``/``xs:long``/integer restrictions -> JSON integer,
   ``xs:decimal`` restrictions -> number (an integral literal stays an integer), ``xs:boolean`` ->
   ``true``/``false``; ``SchoolYearType`` ``"2021-2022"`` -> its end year ``2022``; everything
   else (dates, times, strings) stays text as written. A date whose year is not 0001-9999 (XSD
   allows ``99999-01-01``; the Ed-Fi API does not) raises ``ValueError``: the record is refused.
4. References (``XReference`` of an ``Extended Reference`` type): ``xReference`` holding the
   leaf fields of its ``XIdentity``, nested references flattened into the same object
   (``SessionReference/SessionIdentity/SchoolReference/SchoolIdentity/SchoolId`` ->
   ``sessionReference.schoolId``). A reference given only by ``ref=`` or a ``XLookup`` has no
   key fields and is left out.
5. A repeatable child becomes an array under the plural name, without the parent type's name
   in front (``Language`` -> ``languages``; ``Assessment/AssessmentScore`` -> ``scores``,
   ``Disability/DisabilityDesignation`` -> ``designations``). A repeatable simple value becomes
   an array of one-field objects named after its descriptor (``Race`` ->
   ``races: [{"raceDescriptor": ...}]``, ``AssessedGradeLevel`` ->
   ``assessedGradeLevels: [{"gradeLevelDescriptor": ...}]``); a repeatable reference an array of
   ``{xReference: {...}}`` (``ProgramReference`` -> ``programs: [{"programReference": ...}]``).
6. A non-repeatable grouping element (``Common`` type: ``AttendanceEvent``, ``Name``,
   ``BirthData``) is flattened into its parent; the few the API keeps as an object
   (``contentStandard``, ``period``) are listed in ``edfi_xml_tables.NESTED``.
7. A school year outside a reference (``StudentSchoolAssociation/SchoolYear``) is the API's
   ``schoolYearTypeReference: {"schoolYear": 2022}`` (``ClassOfSchoolYear`` ->
   ``classOfSchoolYearTypeReference``); inside a reference it is the key ``schoolYear``.
8. Record element -> resource name: ``edfi_xml_tables.RESOURCES``.

Checked by tests/test_edfi_xml_conformance.py against the DS 5.0 OpenAPI: every key and JSON
type of every sample record. Known gap: references whose API keys are role-named because two
nested references share a key (``reportCards``' ``gradingPeriodSchoolYear``) are not produced;
those resources are not converted (see ``edfi_xml_tables``).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lxml import etree

from gateway.formats import edfi_xml_tables as tables
from gateway.formats.edfi_xml_schema import NS, TypeModel, type_model

Json = dict[str, Any]
_LEADING_ACRONYM = re.compile(r"^([A-Z]+)(?=[A-Z][a-z])|^([A-Z]+)$")


def camel(name: str) -> str:
    match = _LEADING_ACRONYM.match(name)
    if match:
        run = match.group(0)
        return run.lower() + name[len(run) :]
    return name[:1].lower() + name[1:]


def plural(key: str) -> str:
    if key in tables.PLURALS:
        return tables.PLURALS[key]
    if key.endswith("y") and key[-2:-1] not in "aeiou":
        return key[:-1] + "ies"
    if key.endswith(("s", "x", "ch", "sh")):
        return key + "es"
    return key + "s"


def _number(text: str) -> int | float:
    text = text.strip()
    return int(text) if text.lstrip("+-").isdigit() else float(text)


def _boolean(text: str) -> bool:
    return text.strip() in ("true", "1")


def _year(text: str) -> int:
    return int(text.strip()[-4:])


def _date(text: str) -> str:
    """XSD allows any year; the Ed-Fi API (and every database under it) takes 0001-9999."""
    if text[:1] == "-" or text.find("-") != 4:
        raise ValueError("a year outside 0001-9999")
    return text


def _text(text: str) -> str:
    return text


_CASTS: dict[str, Callable[[str], Any]] = {
    "integer": int,  # int() itself allows the surrounding whitespace XSD collapses
    "number": _number,
    "boolean": _boolean,
    "date": _date,
    "year": _year,
}


@dataclass(frozen=True, kw_only=True, slots=True)
class Field:
    """How one child element lands in the JSON object of its parent."""

    how: str  # value | values | year | reference | references | array | inline | object
    key: str = ""
    item_key: str = ""
    cast: Callable[[str], Any] = _text
    type_name: str = ""


Plan = dict[str, Field]  # Clark tag of a child element -> what to do with it


@functools.cache
def plan(type_name: str) -> Plan:
    model = type_model()
    found: Plan = {}
    for child in model.complex_types[type_name].children:
        found[f"{{{NS}}}{child.name}"] = _field(model, type_name, child.name, child.type_name, child.many)
    return found


def _field(model: TypeModel, parent: str, name: str, type_name: str, many: bool) -> Field:
    override = tables.KEYS.get((parent, name))
    ctype = model.complex_types.get(type_name)
    if ctype is None:
        return _simple_field(model, parent, name, type_name, many, override)
    if ctype.group == "Extended Reference":
        key = override or camel(name)
        if many:
            key_plural = tables.ARRAYS.get((parent, name)) or plural(key.removesuffix("Reference"))
            return Field(how="references", key=key_plural, item_key=key, type_name=type_name)
        return Field(how="reference", key=key, type_name=type_name)
    key = override or _local(parent, camel(name))
    if many:
        return Field(how="array", key=tables.ARRAYS.get((parent, name)) or plural(key), type_name=type_name)
    if (parent, name) in tables.NESTED:
        return Field(how="object", key=key, type_name=type_name)
    return Field(how="inline", key=tables.INLINE_PREFIXES.get((parent, name), ""), type_name=type_name)


def _simple_field(
    model: TypeModel, parent: str, name: str, type_name: str, many: bool, override: str | None
) -> Field:
    kind = model.kind(type_name)
    cast = _CASTS.get(kind, _text)
    key = override or camel(name)
    if many:
        item_key = camel(type_name.removesuffix("ReferenceType")) if kind == "descriptor" else key
        return Field(how="values", key=plural(_local(parent, key)), item_key=item_key, cast=cast)
    if kind == "descriptor" and not key.endswith("Descriptor"):
        key += "Descriptor"
    if kind == "year" and model.complex_types[parent].group != "Identity":
        return Field(how="year", key=key + "TypeReference", cast=cast)
    return Field(how="value", key=key, cast=cast)


def _local(parent: str, key: str) -> str:
    """Ed-Fi drops the parent's name from its collections: Assessment/AssessmentScore -> scores."""
    prefix = camel(parent)
    if key.startswith(prefix) and len(key) > len(prefix):
        return camel(key[len(prefix) :])
    return key


def convert(element: etree._Element, type_name: str) -> Json:
    out: Json = {}
    _fill(element, plan(type_name), out)
    return out


def _fill(element: etree._Element, fields: Plan, out: Json) -> None:
    for child in element:
        field = fields.get(child.tag)
        if field is None:
            continue  # a Lookup, an extension: no JSON field (the XSD already checked the shape)
        how = field.how
        if how == "value":
            try:
                out[field.key] = child.text or "" if field.cast is _text else field.cast(child.text or "")
            except ValueError as exc:
                raise ValueError(f"'{field.key}' (line {child.sourceline}): {exc}") from None
        elif how == "reference":
            keys = reference_keys(child, field.type_name)
            if keys:
                out[field.key] = keys
        elif how == "inline":
            if field.key:
                inner: Json = {}
                _fill(child, plan(field.type_name), inner)
                out.update({field.key + k[:1].upper() + k[1:]: v for k, v in inner.items()})
            else:
                _fill(child, plan(field.type_name), out)
        elif how == "year":
            out[field.key] = {"schoolYear": field.cast(child.text or "")}
        elif how == "references":
            keys = reference_keys(child, field.type_name)
            if keys:
                out.setdefault(field.key, []).append({field.item_key: keys})
        elif how == "values":
            out.setdefault(field.key, []).append({field.item_key: field.cast(child.text or "")})
        elif how == "array":
            out.setdefault(field.key, []).append(convert(child, field.type_name))
        else:
            out[field.key] = convert(child, field.type_name)


def reference_keys(element: etree._Element, type_name: str) -> Json:
    """The key fields of a reference: its identity's leaves, nested references flattened."""
    identity_tag, leaves, leaf_tags = _reference_leaves(type_name)
    out: Json = {}
    for part in element:
        if part.tag == identity_tag:
            for leaf in part.iter(*leaf_tags):  # lxml filters the tags in C
                key, cast = leaves[leaf.tag]
                if key not in out:
                    out[key] = cast(leaf.text or "")
    return out


@functools.cache
def _reference_leaves(
    type_name: str,
) -> tuple[str, dict[str, tuple[str, Callable[[str], Any]]], tuple[str, ...]]:
    """A reference's identity element and every leaf below it: Clark tag -> (JSON key, cast)."""
    identity = next(f for f in plan(type_name).values() if f.type_name.endswith("IdentityType"))
    leaves: dict[str, tuple[str, Callable[[str], Any]]] = {}
    _collect_leaves(identity.type_name, leaves)
    renames = tables.REFERENCE_KEYS.get(type_name, {})
    leaves = {tag: (renames.get(key, key), cast) for tag, (key, cast) in leaves.items()}
    tag = next(t for t, f in plan(type_name).items() if f is identity)
    return tag, leaves, tuple(leaves)


def _collect_leaves(type_name: str, leaves: dict[str, tuple[str, Callable[[str], Any]]]) -> None:
    for tag, field in plan(type_name).items():
        if field.how == "value":
            leaves.setdefault(tag, (field.key, field.cast))
        elif field.how == "reference":
            _collect_leaves(_reference_identity(field.type_name), leaves)
        elif field.how == "inline":
            _collect_leaves(field.type_name, leaves)


def _reference_identity(type_name: str) -> str:
    return next(f.type_name for f in plan(type_name).values() if f.type_name.endswith("IdentityType"))
