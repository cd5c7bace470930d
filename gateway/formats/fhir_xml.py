"""FHIR R4 XML in (``application/fhir+xml``): hardened lxml, then the R4 XML -> JSON rules, then
the same checks and records as FHIR JSON (``fhir_document.document_records``), so JSON and XML of
one resource give the same record data.

Safety: ``resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False``; a document
with a DOCTYPE (so any ENTITY declaration) is refused whole, before any of it is used.

The conversion (https://hl7.org/fhir/R4/xml.html and json.html):

- the root element's name is the ``resourceType``; its namespace must be ``http://hl7.org/fhir``;
- a primitive element's ``value`` attribute is the JSON value, typed by the element's type
  (boolean, integer, decimal as JSON numbers); its ``id`` attribute and ``extension`` children
  go to ``_<name>`` (in a repeating element, ``<name>`` and ``_<name>`` are arrays kept in step,
  with ``null`` where one side is absent);
- an element repeats (JSON array) exactly when the R4B model's field is a list (``fhir_shape``);
- ``id`` (and ``Extension.url``) are attributes on elements, a child element on resources;
- ``div`` (XHTML) stays an XHTML string; ``contained``, ``Bundle.entry.resource`` and other
  Resource-typed elements wrap the resource element.

Elements the model does not know are kept under their own name (and a second occurrence of a
single element becomes an array) so that the R4B model rejects them with their location, exactly
as in JSON; XML comments are dropped (``fhir_comments`` is not kept in either form).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, BinaryIO

from lxml import etree

from gateway.core.limits import MAX_DEPTH, OUTSIDE, quick_tree_issues
from gateway.errors import InputInvalid, Issue, OutsideLimits
from gateway.formats.fhir_document import document_records  # one road after the conversion
from gateway.formats.fhir_shape import BOOLEAN, COMPLEX, DECIMAL, INTEGER, RESOURCE, XHTML, Element, elements
from gateway.formats.fhir_validate import BINARY_KEYS, Found
from gateway.formats.records import xml_syntax_error

FHIR_NS = "http://hl7.org/fhir"
XHTML_NS = "http://www.w3.org/1999/xhtml"
_F = f"{{{FHIR_NS}}}"
_INTEGER = re.compile(r"-?[0-9]+")
_DECIMAL = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")


def hardened_parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


def iter_xml(stream: BinaryIO, entity: str | None = None) -> Iterator[Found]:
    """``fhir-xml``: one resource or Bundle per payload (held in memory: under the payload limit)."""
    yield from parse_xml(stream.read(), entity)


def parse_xml(payload: bytes, entity: str | None = None) -> list[Found]:
    return document_records(xml_to_json(payload), "$", entity)


def xml_to_json(payload: bytes) -> dict[str, Any]:
    """The FHIR JSON of an XML resource, held to the same edge limits as JSON (``core.limits``)."""
    root = _root(payload)
    if root.tag != _F + etree.QName(root).localname:
        raise InputInvalid(
            "not FHIR XML",
            [Issue(path="/", message=f"the root element must be in the {FHIR_NS} namespace")],
        )
    _check_depth(root)
    doc = resource(root)
    issues = quick_tree_issues(doc, "$", binary_keys=BINARY_KEYS)
    if issues:
        raise OutsideLimits(OUTSIDE, issues)
    return doc


# The first element nested deeper than MAX_DEPTH, found in C before the (recursive) conversion.
_TOO_DEEP = etree.XPath("/*" * (MAX_DEPTH + 1) + "[1]")


def _check_depth(root: etree._Element) -> None:
    found = _TOO_DEEP(root.getroottree())
    if found:
        line = found[0].sourceline
        raise OutsideLimits(
            OUTSIDE,
            [Issue(path=f"line {line}", message=f"elements nested deeper than {MAX_DEPTH} levels")],
        )


def _root(payload: bytes) -> etree._Element:
    # Literally, these can only stand in the prolog (or in a comment / CDATA: refused too, fail closed).
    if b"<!DOCTYPE" in payload or b"<!ENTITY" in payload:
        _refuse_doctype()
    try:
        root = etree.fromstring(payload, hardened_parser())
    except etree.XMLSyntaxError as exc:
        raise xml_syntax_error(exc, "fix the XML (values are not quoted here)") from exc
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:
        _refuse_doctype()
    return root


def _refuse_doctype() -> None:
    raise InputInvalid(
        "XML with a DOCTYPE is refused",
        [Issue(path="line 1", message="DTDs and ENTITY declarations are not allowed; remove it")],
    )


def resource(el: etree._Element) -> dict[str, Any]:
    name = etree.QName(el).localname
    return {"resourceType": name, **_complex(el, name, is_resource=True)}


def _complex(el: etree._Element, type_name: str, *, is_resource: bool = False) -> dict[str, Any]:
    shape = elements(type_name)
    out: dict[str, Any] = {}
    for attr, value in el.attrib.items():
        if not attr.startswith("{"):  # namespaced attributes (xsi:...) carry no FHIR data
            out[attr] = value
    repeated_primitives: set[str] = set()
    for child in el.iterchildren(tag=etree.Element):
        name = etree.QName(child).localname
        element = shape.get(name)
        if element is None:
            _put(out, name, _unknown(child), repeated=False)
        elif element.kind in (COMPLEX, RESOURCE, XHTML):
            _put(out, name, _structured(child, element), repeated=element.repeated)
        else:
            value, ext = _primitive(child, element)
            _put(out, name, value, repeated=element.repeated, ext=ext, primitive=True)
            if element.repeated:
                repeated_primitives.add(name)
    for name in repeated_primitives:
        _tidy(out, name)
    return out


def _structured(child: etree._Element, element: Element) -> Any:
    if element.kind == XHTML:
        return xhtml_text(child)
    if element.kind == RESOURCE:
        inner = next(child.iterchildren(tag=etree.Element), None)
        return resource(inner) if inner is not None else {}
    return _complex(child, element.type_name)


def xhtml_text(div: etree._Element) -> str:
    """The narrative as FHIR JSON writes it: lxml escapes line breaks inside attribute values as
    character references, JSON authors (and the FHIR tools) keep them literal. Other serialiser
    choices (``<p/>`` or ``<p></p>``) are not kept by any XML parser: the narrative is the same
    XHTML, not always the same string."""
    text = str(etree.tostring(div, encoding="unicode", with_tail=False))
    return text.replace("&#10;", "\n").replace("&#13;", "\r").replace("&#9;", "\t")


def _primitive(child: etree._Element, element: Element) -> tuple[Any, dict[str, Any] | None]:
    raw = child.get("value")
    value = _typed(raw, element.type_name) if raw is not None else None
    ext: dict[str, Any] = {}
    if child.get("id") is not None:
        ext["id"] = child.get("id")
    extensions = [_complex(e, "Extension") for e in child.iterchildren(tag=_F + "extension")]
    if extensions:
        ext["extension"] = extensions
    return value, ext or None


def _typed(raw: str, json_type: str) -> Any:
    if json_type == BOOLEAN and raw in ("true", "false"):
        return raw == "true"
    if json_type in (INTEGER, DECIMAL) and _INTEGER.fullmatch(raw):
        return int(raw)
    if json_type == DECIMAL and _DECIMAL.fullmatch(raw):
        return float(raw)
    return raw  # not of its type: kept as text, the model rejects it at its location


def _unknown(child: etree._Element) -> Any:
    if len(child) == 0 and child.get("value") is not None:
        return child.get("value")
    return _complex(child, "")


def _put(
    out: dict[str, Any], name: str, value: Any, *, repeated: bool, ext: Any = None, primitive: bool = False
) -> None:
    if repeated:
        out.setdefault(name, []).append(value)
        if primitive:
            out.setdefault(f"_{name}", []).append(ext)
        return
    if name in out or f"_{name}" in out:
        # A second occurrence of a single element: an array, which the model refuses with its path.
        first = out.pop(name, None)
        out[name] = [*(first if isinstance(first, list) else [first]), value]
        return
    if value is not None:
        out[name] = value
    if ext is not None:
        out[f"_{name}"] = ext


def _tidy(out: dict[str, Any], name: str) -> None:
    """Drop the all-null side of a repeating primitive's pair of arrays."""
    for key in (name, f"_{name}"):
        if key in out and all(v is None for v in out[key]):
            del out[key]
