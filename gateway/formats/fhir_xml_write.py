"""FHIR R4 JSON -> XML, the inverse of ``fhir_xml``'s rules: for answers in ``application/fhir+xml``
(OperationOutcome, response Bundles) and to build XML test payloads from JSON examples.

Elements are written in the specification's order (``elements_sequence`` of the R4B model), so
the XML is what the R4 schema expects. Characters XML 1.0 cannot carry (an answer quoting what a
sender sent) are replaced by U+FFFD: the answer is always well-formed.
"""

from __future__ import annotations

from typing import Any

import orjson
from lxml import etree

from gateway.core.limits import printable
from gateway.formats.fhir_shape import COMPLEX, PRIMITIVE, RESOURCE, XHTML, Element, elements
from gateway.formats.fhir_xml import FHIR_NS, hardened_parser

_F = f"{{{FHIR_NS}}}"
_NSMAP = {None: FHIR_NS}


def to_xml(doc: dict[str, Any]) -> bytes:
    return etree.tostring(resource_element(doc), xml_declaration=True, encoding="UTF-8")  # type: ignore[no-any-return]


def resource_element(doc: dict[str, Any], parent: etree._Element | None = None) -> etree._Element:
    name = doc["resourceType"]
    tag = _F + name
    el = etree.Element(tag, nsmap=_NSMAP) if parent is None else etree.SubElement(parent, tag)
    _fill(el, doc, name, is_resource=True)
    return el


def _fill(el: etree._Element, data: dict[str, Any], type_name: str, *, is_resource: bool) -> None:
    shape = elements(type_name)
    if not is_resource:
        for attr in ("id", "url") if type_name == "Extension" else ("id",):
            if attr in data:
                el.set(attr, printable(str(data[attr])))
    for name, element in shape.items():
        if not is_resource and (name == "id" or (type_name == "Extension" and name == "url")):
            continue
        if name in data or f"_{name}" in data:
            _write(el, element, data.get(name), data.get(f"_{name}"))


def _write(el: etree._Element, element: Element, value: Any, ext: Any) -> None:
    if element.kind == PRIMITIVE:
        values = value if isinstance(value, list) else [value]
        exts = ext if isinstance(ext, list) else [ext]
        for index in range(max(len(values), len(exts))):
            _primitive(el, element.name, _at(values, index), _at(exts, index))
        return
    for item in value if isinstance(value, list) else [value]:
        if element.kind == XHTML:
            el.append(_xhtml(item))
        elif element.kind == RESOURCE:
            resource_element(item, etree.SubElement(el, _F + element.name))
        elif element.kind == COMPLEX:
            _fill(etree.SubElement(el, _F + element.name), item, element.type_name, is_resource=False)


def _xhtml(text: str) -> etree._Element:
    # Character references keep line breaks inside attribute values (a parser turns literal ones
    # into spaces); in text they read back as the same characters.
    escaped = text.replace("\r", "&#13;").replace("\n", "&#10;").replace("\t", "&#9;")
    return etree.fromstring(escaped.encode("utf-8"), hardened_parser())


def _primitive(el: etree._Element, name: str, value: Any, ext: Any) -> None:
    child = etree.SubElement(el, _F + name)
    if isinstance(ext, dict) and "id" in ext:
        child.set("id", printable(str(ext["id"])))
    if value is not None:
        child.set("value", printable(_text(value)))
    for extension in (ext or {}).get("extension", []) if isinstance(ext, dict) else []:
        _fill(etree.SubElement(child, _F + "extension"), extension, "Extension", is_resource=False)


def _text(value: Any) -> str:
    if isinstance(value, bool | int | float):
        return orjson.dumps(value).decode()
    return str(value)


def _at(items: list[Any], index: int) -> Any:
    return items[index] if index < len(items) else None
