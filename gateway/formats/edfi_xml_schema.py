"""The vendored Ed-Fi 5.2 XSDs, read once: a compiled validator and a type model for conversion.

``schemas/edfi/5.2.0/`` holds Ed-Fi-Core.xsd, SchemaAnnotation.xsd and the Interchange-*.xsd the
gateway reads (Apache-2.0, see SOURCE.txt there). Two things come out of them, each built once
per process (``functools.cache``):

- ``validator()``: one ``lxml.etree.XMLSchema`` over a wrapper that includes every supported
  interchange, so any supported root validates against the same compiled schema;
- ``type_model()``: for each XSD type, what the converter needs to know: its children (element
  name, declared type, repeatable or not), its Ed-Fi type group (``Common``, ``Extended
  Reference``, ``Identity``, ...) and, for simple types, the JSON kind of its values.

Schema locations in instance documents (``xsi:schemaLocation``) are never read or fetched.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

from gateway._artifacts import bundled_root

NS = "http://ed-fi.org/5.2.0"
# The Ed-Fi XSDs belong to the standard, not to a site: always the packaged copy.
SCHEMA_DIR = bundled_root() / "schemas" / "edfi" / "5.2.0"
_XS = "{http://www.w3.org/2001/XMLSchema}"
_ANN_GROUP = "{http://ed-fi.org/annotation}TypeGroup"

# interchange root element -> its XSD file (the interchanges the gateway accepts)
INTERCHANGES: dict[str, str] = {
    "InterchangeStudent": "Interchange-Student.xsd",
    "InterchangeStudentEnrollment": "Interchange-StudentEnrollment.xsd",
    "InterchangeStudentAttendance": "Interchange-StudentAttendance.xsd",
    "InterchangeStudentGrade": "Interchange-StudentGrade.xsd",
    "InterchangeStudentGradebook": "Interchange-StudentGradebook.xsd",
    "InterchangeStudentProgram": "Interchange-StudentProgram.xsd",
    "InterchangeStudentAssessment": "Interchange-StudentAssessment.xsd",
    "InterchangeAssessmentMetadata": "Interchange-AssessmentMetadata.xsd",
    "InterchangeStudentDiscipline": "Interchange-StudentDiscipline.xsd",
    "InterchangeStudentIntervention": "Interchange-StudentIntervention.xsd",
    "InterchangeStudentHealth": "Interchange-StudentHealth.xsd",
}

# XSD built-in -> JSON kind of the value (anything not listed stays a string)
_BUILTIN_KINDS = {
    "int": "integer",
    "long": "integer",
    "short": "integer",
    "integer": "integer",
    "gYear": "integer",
    "decimal": "number",
    "double": "number",
    "float": "number",
    "boolean": "boolean",
    "date": "date",
    "dateTime": "date",
}
# abstract bases whose children (none) are not inherited
_ROOT_BASES = {"ComplexObjectType", "ReferenceType", "DescriptorType"}


@dataclass(frozen=True, kw_only=True)
class Child:
    name: str
    type_name: str
    many: bool


@dataclass(frozen=True, kw_only=True)
class ComplexType:
    name: str
    group: str
    children: tuple[Child, ...]


@dataclass(frozen=True, kw_only=True)
class TypeModel:
    complex_types: dict[str, ComplexType]
    simple_kinds: dict[str, str]  # simple type -> integer|number|boolean|date|year|descriptor|string
    record_types: dict[str, dict[str, str]]  # interchange root -> record element -> type name

    def kind(self, type_name: str) -> str:
        return self.simple_kinds.get(type_name, "string")


@functools.cache
def validator() -> etree.XMLSchema:
    """Compiled once: a wrapper schema that includes every supported interchange."""
    includes = "".join(f'<xs:include schemaLocation="{name}"/>' for name in INTERCHANGES.values())
    wrapper = (
        f'<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="{NS}" '
        f'elementFormDefault="qualified">{includes}</xs:schema>'
    )
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    doc = etree.fromstring(wrapper.encode(), parser, base_url=(SCHEMA_DIR / "wrapper.xsd").as_uri())
    return etree.XMLSchema(doc)


@functools.cache
def type_model() -> TypeModel:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, remove_comments=True)
    core = etree.parse(str(SCHEMA_DIR / "Ed-Fi-Core.xsd"), parser).getroot()
    simple_bases = {
        s.get("name"): (_group(s), s.find(f"{_XS}restriction").get("base"))
        for s in core.iterfind(f"{_XS}simpleType")
    }
    declared = {c.get("name"): c for c in core.iterfind(f"{_XS}complexType")}
    complex_types = {name: _complex(name, node, declared) for name, node in declared.items()}
    simple_kinds = {name: _simple_kind(name, simple_bases) for name in simple_bases}
    for builtin, kind in _BUILTIN_KINDS.items():
        simple_kinds[f"xs:{builtin}"] = kind
    records = {root: _record_types(SCHEMA_DIR / xsd, parser) for root, xsd in INTERCHANGES.items()}
    return TypeModel(complex_types=complex_types, simple_kinds=simple_kinds, record_types=records)


def _group(node: etree._Element) -> str:
    found = node.find(f"{_XS}annotation/{_XS}appinfo/{_ANN_GROUP}")
    return (found.text or "") if found is not None else ""


def _simple_kind(name: str, bases: dict[str, tuple[str, str]]) -> str:
    if name == "SchoolYearType":
        return "year"
    while name in bases:
        group, base = bases[name]
        if group == "Extended Descriptor Reference" or base == "DescriptorReferenceType":
            return "descriptor"
        name = base
    return _BUILTIN_KINDS.get(name.removeprefix("xs:"), "string")


def _complex(name: str, node: etree._Element, declared: dict[str, etree._Element]) -> ComplexType:
    inherited: tuple[Child, ...] = ()
    extension = node.find(f"{_XS}complexContent/{_XS}extension")
    if extension is not None and extension.get("base") not in _ROOT_BASES:
        base = str(extension.get("base"))
        inherited = _complex(base, declared[base], declared).children
    body = extension if extension is not None else node
    return ComplexType(name=name, group=_group(node), children=inherited + _children(body))


def _children(body: etree._Element) -> tuple[Child, ...]:
    found = []
    for element in body.iter(f"{_XS}element"):
        many = any(_repeats(n) for n in (element, *_compositors(element, body)))
        found.append(Child(name=str(element.get("name")), type_name=str(element.get("type")), many=many))
    return tuple(found)


def _compositors(element: etree._Element, body: etree._Element) -> list[etree._Element]:
    found = []
    parent = element.getparent()
    while parent is not None and parent is not body:
        found.append(parent)
        parent = parent.getparent()
    return found


def _repeats(node: etree._Element) -> bool:
    return str(node.get("maxOccurs", "1")) != "1"


def _record_types(path: Path, parser: etree.XMLParser) -> dict[str, str]:
    root = etree.parse(str(path), parser).getroot()
    interchange = root.find(f"{_XS}element")
    assert interchange is not None, path
    return {
        str(e.get("name")): str(e.get("type"))
        for e in interchange.iter(f"{_XS}element")
        if e is not interchange
    }
