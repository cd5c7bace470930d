"""Ed-Fi Data Standard 5.2 XML interchanges in: streamed, hardened, validated record by record.

``iter_records(stream, entity)`` reads an interchange (``InterchangeStudent``,
``InterchangeStudentAttendance``, ... see ``edfi_xml_schema.INTERCHANGES``) and yields, one at
a time, a ``SourceRecord`` per record element whose ``data`` is the Ed-Fi ODS/API resource JSON
of that record (``edfi_xml_convert`` writes the conversion rules down), or a ``RecordProblem``
for a record that does not meet the XSD. The valid records of a file always come through.

- Safety: lxml with ``resolve_entities=False, no_network=True, load_dtd=False,
  dtd_validation=False, huge_tree=False``; a document with a DOCTYPE (and so any ENTITY
  declaration) is refused whole; ``xsi:schemaLocation`` is never read.
- Whole-payload problems raise ``InputInvalid``: not well-formed XML (line, column), a
  DOCTYPE, a root namespace that is not a supported Ed-Fi version, an unknown interchange root.
- Versions: ``http://ed-fi.org/5.2.0``. DS 6.0/6.1 documents (``http://ed-fi.org/6.0.0``,
  ``6.1.0``) are read as 5.2 after a namespace swap and validated against the 5.2 XSDs: the
  Ed-Fi samples of those versions meet them; a 6.x-only element then fails its record, with a
  message saying why. Every other version is refused as unsupported.
- Per-record validation: each record element, once parsed, is moved under an empty interchange
  root and validated with the compiled 5.2 schema, 100 records at a time; when a batch fails,
  each of its records is validated on its own, so one bad record costs only itself. ``ref=``
  attributes are dropped first: an ``IDREF`` points at another record and cannot be checked one
  record at a time. XSD messages are reported with values removed (they may be PHI).
- References by ``ref=`` alone get the identity of the earlier record of this document that
  carries that ``id`` (``edfi_xml_refs``), so their key fields reach the JSON.
- Streaming: ``iterparse`` on the stream; each record leaves the tree as soon as it is handled,
  so memory stays flat however long the file is.
- Record elements of a supported interchange the gateway does not turn into records
  (``edfi_xml_tables.RESOURCES`` lists the ones it does) yield nothing and are counted in the
  ``XmlTally`` passed in; an element the interchange does not define is a ``RecordProblem``.
- ``entity``: when given, only records of that resource are yielded; the others are counted.
"""

from __future__ import annotations

import functools
import logging
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from lxml import etree

from gateway.core.limits import quick_tree_issues
from gateway.errors import InputInvalid, Issue
from gateway.formats.edfi_xml_convert import convert
from gateway.formats.edfi_xml_refs import References
from gateway.formats.edfi_xml_schema import INTERCHANGES, NS, type_model, validator
from gateway.formats.edfi_xml_tables import RESOURCES
from gateway.formats.records import RecordProblem, SourceRecord, record, xml_syntax_error

log = logging.getLogger(__name__)

SWAPPED_NAMESPACES = ("http://ed-fi.org/6.0.0", "http://ed-fi.org/6.1.0")
_HARDENED = {
    "resolve_entities": False,
    "no_network": True,
    "load_dtd": False,
    "dtd_validation": False,
    "huge_tree": False,
    "remove_comments": True,
    "remove_pis": True,
}
_NS_PREFIX = f"{{{NS}}}"
_BATCH = 100  # records validated together; a failing batch is validated record by record


@dataclass(kw_only=True)
class XmlTally:
    """What one interchange held: records yielded, problems, elements deliberately skipped."""

    records: int = 0
    problems: int = 0
    skipped: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True, kw_only=True)
class _Document:
    interchange: str  # local name of the root
    namespace: str
    record_types: dict[str, str]  # record element -> XSD type


def iter_records(
    stream: BinaryIO, entity: str | None = None, *, tally: XmlTally | None = None
) -> Iterator[SourceRecord | RecordProblem]:
    tally = tally if tally is not None else XmlTally()
    events = etree.iterparse(stream, events=("end",), tag=_record_tags(), **_HARDENED)
    try:
        yield from _walk(events, entity, tally)
    except etree.XMLSyntaxError as exc:
        raise xml_syntax_error(exc, f"{_without_values(exc.msg)}; fix the XML") from exc
    if tally.skipped:
        log.info("Ed-Fi XML elements not turned into records: %s", dict(tally.skipped))


@functools.cache
def _record_tags() -> tuple[str, ...]:
    """Events only for elements named like records (any namespace); the rest is parsed in C."""
    names = {name for records in type_model().record_types.values() for name in records}
    return tuple(sorted(f"{{*}}{name}" for name in names))


class _Reader:
    """One document: its root checked once, record elements handled in validation batches."""

    def __init__(self, root: etree._Element, entity: str | None, tally: XmlTally) -> None:
        self.root = root
        self.doc = _document(root)
        self.entity = entity
        self.tally = tally
        self.counts: Counter[str] = Counter()
        self.batch: list[tuple[str, str, etree._Element]] = []  # (local name, location, element)
        self.wrapper = _wrapper(self.doc)
        self.references = References()

    def take(self, element: etree._Element | None) -> Iterator[SourceRecord | RecordProblem]:
        """Handle ``element`` (a child of the root), and first any child before it that had no
        event: an element whose name is no record of any interchange."""
        if element is None or element.getprevious() is not None:
            for stray in list(self.root):
                if stray is element:
                    break
                yield self._unknown(stray)
        if element is None:
            yield from self.flush()
            return
        local, where = self._located(element)
        if local not in self.doc.record_types:
            yield self._unknown(element, (local, where))
            return
        _normalise(self.doc, element, self.references, self.doc.record_types[local])
        self.wrapper.append(element)  # out of the parsed tree at once: memory stays flat
        self.batch.append((local, where, element))
        if len(self.batch) >= _BATCH:
            yield from self.flush()

    def _located(self, element: etree._Element) -> tuple[str, str]:
        tag = element.tag
        local = tag[tag.index("}") + 1 :] if tag[:1] == "{" else tag
        self.counts[local] += 1
        return local, f"{self.doc.interchange}/{local}[{self.counts[local]}] (line {element.sourceline})"

    def _unknown(self, element: etree._Element, located: tuple[str, str] | None = None) -> RecordProblem:
        local, where = located or self._located(element)
        self.root.remove(element)
        self.tally.problems += 1
        return _problem(where, f"element '{local}' is not part of {self.doc.interchange}; remove it")

    def flush(self) -> Iterator[SourceRecord | RecordProblem]:
        batch, self.batch = self.batch, []
        wrapper, self.wrapper = self.wrapper, _wrapper(self.doc)
        if not batch:
            return
        all_valid = bool(validator().validate(wrapper))
        for local, where, element in batch:
            issues = () if all_valid else _validate(self.doc, element, where)
            item = self._item(local, where, element, issues)
            if item is not None:
                yield item

    def _item(
        self, local: str, where: str, element: etree._Element, issues: tuple[Issue, ...]
    ) -> SourceRecord | RecordProblem | None:
        if issues:
            self.tally.problems += 1
            return RecordProblem(location=where, issues=issues)
        resource = RESOURCES.get(local)
        if resource is None or (self.entity is not None and self.entity != resource):
            self.tally.skipped[local] += 1
            return None
        try:
            data = convert(element, self.doc.record_types[local])
        except ValueError as exc:  # a value the XSD allows and Ed-Fi does not (a 5-digit year)
            self.tally.problems += 1
            return _problem(where, f"{exc}; send Ed-Fi values")
        limits = quick_tree_issues(data, f"{where}: $")
        if limits:  # the XSD bounds most lengths; this keeps every format to the same edge
            self.tally.problems += 1
            return RecordProblem(location=where, issues=tuple(limits))
        self.tally.records += 1
        return record(resource, where, data)


def _walk(
    events: etree.iterparse, entity: str | None, tally: XmlTally
) -> Iterator[SourceRecord | RecordProblem]:
    reader: _Reader | None = None
    for _event, element in events:
        if reader is None:
            reader = _Reader(element.getroottree().getroot(), entity, tally)
        if element.getparent() is reader.root:
            yield from reader.take(element)
    if reader is None:  # no element named like a record: still check what the document is
        reader = _Reader(events.root, entity, tally)
    yield from reader.take(None)


def _document(root: etree._Element) -> _Document:
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise InputInvalid(
            "XML with a DOCTYPE or ENTITY declarations is not accepted",
            [Issue(path="line 1", message="remove the DOCTYPE; Ed-Fi interchanges never need one")],
        )
    qname = etree.QName(root)
    if qname.namespace != NS and qname.namespace not in SWAPPED_NAMESPACES:
        raise InputInvalid(
            "not an Ed-Fi Data Standard 5.2 interchange",
            [
                Issue(
                    path=f"/{qname.localname} (line {root.sourceline})",
                    message=f"namespace '{qname.namespace or ''}' is not supported; "
                    f"send Data Standard 5.2 XML ({NS}; 6.0.0 and 6.1.0 are read as 5.2)",
                )
            ],
        )
    if qname.localname not in INTERCHANGES:
        raise InputInvalid(
            "unknown Ed-Fi interchange",
            [
                Issue(
                    path=f"/{qname.localname} (line {root.sourceline})",
                    message=f"the root must be one of: {', '.join(INTERCHANGES)}",
                )
            ],
        )
    return _Document(
        interchange=qname.localname,
        namespace=str(qname.namespace),
        record_types=type_model().record_types[qname.localname],
    )


def _normalise(doc: _Document, element: etree._Element, references: References, type_name: str) -> None:
    """Read DS 6.x as 5.2; complete ``ref=`` references from earlier records, then drop ``ref=``
    (an IDREF to another record, not checkable alone)."""
    if doc.namespace != NS:
        for node in element.iter():
            node.tag = _NS_PREFIX + node.tag[len(doc.namespace) + 2 :]
    references.complete(element, type_name)
    references.remember(element, type_name)
    etree.strip_attributes(element, "ref")


def _wrapper(doc: _Document) -> etree._Element:
    """An empty interchange root: records moved under it validate without the rest of the file."""
    return etree.Element(_NS_PREFIX + doc.interchange)


def _validate(doc: _Document, element: etree._Element, where: str) -> tuple[Issue, ...]:
    """One record on its own (after its batch failed): moved under an empty root of its own."""
    wrapper = _wrapper(doc)
    wrapper.append(element)
    schema = validator()
    if schema.validate(wrapper):
        return ()
    note = "" if doc.namespace == NS else " (a Data Standard 6.x record, checked against the 5.2 XSDs)"
    return tuple(
        Issue(path=f"{where}: line {entry.line}", message=_without_values(entry.message) + note)
        for entry in schema.error_log
    )


def _problem(where: str, message: str) -> RecordProblem:
    return RecordProblem(location=where, issues=(Issue(path=where, message=message),))


_VALUE_PATTERNS = (
    (re.compile(r"\{http://ed-fi\.org/[0-9.]+\}"), ""),
    (re.compile(r"The value '[^']*'"), "The value"),
    (re.compile(r"(Element '[^']*'(?:, attribute '[^']*')?): '[^']*' is not"), r"\1: the value is not"),
    (re.compile(r"is not an element of the set \{.*\}"), "is not one of the allowed values"),
    (re.compile(r"with value '[^']*'"), "with its value"),
)


def _without_values(message: str) -> str:
    """libxml2 quotes offending values; keep element names, drop the values (they may be PHI)."""
    for pattern, replacement in _VALUE_PATTERNS:
        message = pattern.sub(replacement, message)
    return message.strip().rstrip(".")
