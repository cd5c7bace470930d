"""FHIR R4 JSON in: a single resource, a Bundle, or NDJSON; and the ``fhir`` format that sniffs.

Records: ``entity`` = resourceType, ``data`` = the resource as received (a Bundle's ``urn:uuid``
references rewritten to ``Type/id``, see ``fhir_bundle``), ``location`` = ``$`` for a single
resource, ``Bundle.entry[3].resource`` in a Bundle, ``line 17`` in NDJSON. Every resource is
checked once by ``fhir_validate`` (the R4 4.0.1 gate, ``fhir_gate``).

Which form a payload is, from its first bytes: ``<`` is XML (only for ``fhir``), a first line
that is a whole JSON object with more lines after it is NDJSON, anything else one JSON document.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import chain
from typing import BinaryIO

import orjson

from gateway.errors import InputInvalid, Issue
from gateway.formats.fhir_document import document_records
from gateway.formats.fhir_ndjson import BOM, iter_lines
from gateway.formats.fhir_validate import BINARY_KEYS, Found
from gateway.formats.records import ParseResult, collect, load_json


def parse(payload: bytes, entity: str | None) -> ParseResult:
    import io

    return collect(iter_json(io.BytesIO(payload), entity))


def iter_json(stream: BinaryIO, entity: str | None = None) -> Iterator[Found]:
    """``fhir-json``: a JSON document or NDJSON."""
    return _sniffed(stream, entity, xml=False)


def iter_fhir(stream: BinaryIO, entity: str | None = None) -> Iterator[Found]:
    """``fhir``: XML, a JSON document or NDJSON."""
    return _sniffed(stream, entity, xml=True)


def parse_document(payload: bytes, entity: str | None = None) -> list[Found]:
    doc = load_json(payload, binary_keys=BINARY_KEYS)
    if not isinstance(doc, dict):
        raise InputInvalid(
            "FHIR JSON must be a resource object",
            [Issue(path="$", message="expected an object with a resourceType")],
        )
    return document_records(doc, "$", entity)


def _sniffed(stream: BinaryIO, entity: str | None, *, xml: bool) -> Iterator[Found]:
    read: list[bytes] = []
    first = _next_content_line(stream, read)
    if xml and first.lstrip(BOM + b" \t\r\n")[:1] == b"<":
        from gateway.formats.fhir_xml import parse_xml  # lxml only when XML comes

        yield from parse_xml(b"".join(read) + stream.read(), entity)
        return
    if _is_whole_object(first):
        second = _next_content_line(stream, read)
        if second:
            numbered = enumerate(read, start=1)
            yield from iter_lines(chain(numbered, enumerate(stream, start=len(read) + 1)), entity)
            return
    yield from parse_document(b"".join(read) + stream.read(), entity)


def _next_content_line(stream: BinaryIO, read: list[bytes]) -> bytes:
    """The next line with content (b"" at the end); every line read is kept in ``read``."""
    for line in stream:
        read.append(line)
        if line.strip(BOM + b" \t\r\n"):
            return line
    return b""


def _is_whole_object(line: bytes) -> bool:
    try:
        return isinstance(orjson.loads(line.strip().removeprefix(BOM)), dict)
    except orjson.JSONDecodeError:
        return False
