"""Format parsers: bytes of one standard in, plain source records and located problems out.

Each parser returns every problem it finds with its location; a record with problems is
reported, the rest of the payload still goes on. lxml and fhir.resources live in this layer.

Two ways in, one registry:

- ``PARSERS[name](payload, entity) -> ParseResult`` for payloads that fit in memory;
- ``STREAMS[name](stream, entity) -> Iterator[SourceRecord | RecordProblem]`` for bulk files
  (XML interchanges, NDJSON, CSV bundles), so a 100 MB file never becomes 100 MB of objects.
  A format with only a stream parser gets a ``PARSERS`` entry that collects the stream.

Several wire formats of one standard share that standard's mappings: an Ed-Fi XML interchange
is turned into the Ed-Fi API's resource JSON shape, FHIR XML into FHIR JSON, and so on.
``mapping_format`` names the mapping family a wire format's records are mapped with.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from typing import BinaryIO

from gateway.errors import UnsupportedFormat
from gateway.formats import edfi_json, fhir_json
from gateway.formats.records import ParseResult, RecordProblem, SourceRecord, collect

Parser = Callable[[bytes, str | None], ParseResult]
StreamItem = SourceRecord | RecordProblem
StreamParser = Callable[[BinaryIO, str | None], Iterator[StreamItem]]

STREAMS: dict[str, StreamParser] = {}

PARSERS: dict[str, Parser] = {
    "edfi-json": edfi_json.parse,
    "fhir-json": fhir_json.parse,
}

# wire format -> the mapping family (``format:`` in mappings/**.yaml) its records use
MAPPING_FORMATS: dict[str, str] = {
    "edfi-json": "edfi-json",
    "edfi-xml": "edfi-json",
    "fhir-json": "fhir-json",
    "fhir-xml": "fhir-json",
    "fhir-ndjson": "fhir-json",
    "fhir": "fhir-json",
    "oneroster-csv": "oneroster",
    "oneroster-rest": "oneroster",
}


def register_stream(name: str, parser: StreamParser) -> None:
    """A stream parser also answers whole payloads (collected into one ``ParseResult``)."""
    STREAMS[name] = parser
    PARSERS.setdefault(name, lambda payload, entity: collect(parser(io.BytesIO(payload), entity)))


def known_formats() -> list[str]:
    return sorted(set(PARSERS) | set(STREAMS))


def mapping_format(format_name: str) -> str:
    return MAPPING_FORMATS.get(format_name, format_name)


def parse_payload(format_name: str, payload: bytes, entity: str | None = None) -> ParseResult:
    parser = PARSERS.get(format_name)
    if parser is None:
        raise UnsupportedFormat(f"unknown format '{format_name}'; supported: {', '.join(known_formats())}")
    return parser(payload, entity)


def stream_payload(format_name: str, stream: BinaryIO, entity: str | None = None) -> Iterator[StreamItem]:
    """Records one at a time; formats without a stream parser are parsed whole, then yielded."""
    streamer = STREAMS.get(format_name)
    if streamer is not None:
        return streamer(stream, entity)
    parsed = parse_payload(format_name, stream.read(), entity)
    return iter((*parsed.problems, *parsed.records))


def _register_optional() -> None:
    # Each wire format registers itself from its own module; imported last so they can use the above.
    from gateway.formats import registry  # noqa: F401


_register_optional()
