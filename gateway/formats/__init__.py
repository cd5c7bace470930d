"""Format parsers: bytes of one standard in, plain source records and located problems out.

Each parser returns every problem it finds with its location; a record with problems is
reported, the rest of the payload still goes on. lxml and fhir.resources live in this layer.
"""

from __future__ import annotations

from collections.abc import Callable

from gateway.errors import UnsupportedFormat
from gateway.formats import edfi_json, fhir_json
from gateway.formats.records import ParseResult

Parser = Callable[[bytes, str | None], ParseResult]

PARSERS: dict[str, Parser] = {
    "edfi-json": edfi_json.parse,
    "fhir-json": fhir_json.parse,
}


def parse_payload(format_name: str, payload: bytes, entity: str | None = None) -> ParseResult:
    parser = PARSERS.get(format_name)
    if parser is None:
        raise UnsupportedFormat(f"unknown format '{format_name}'; supported: {', '.join(sorted(PARSERS))}")
    return parser(payload, entity)
