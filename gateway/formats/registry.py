"""Registers every wire format beyond the first two. One line per format module; each module
owns its parser. Imported by ``gateway.formats`` once the registry functions exist."""

from __future__ import annotations

from gateway.formats import register_stream
from gateway.formats.edfi_xml import iter_records as edfi_xml_records

register_stream("edfi-xml", edfi_xml_records)
