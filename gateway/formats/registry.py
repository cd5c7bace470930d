"""Registers every wire format beyond the first two. One line per format module; each module
owns its parser. Imported by ``gateway.formats`` once the registry functions exist."""

from __future__ import annotations

from gateway.formats import register_stream
from gateway.formats.edfi_xml import iter_records as edfi_xml_records

register_stream("edfi-xml", edfi_xml_records)

from gateway.formats.oneroster_csv import iter_records as oneroster_csv_records  # noqa: E402

register_stream("oneroster-csv", oneroster_csv_records)

from gateway.formats.oneroster_rest import iter_records as oneroster_rest_records  # noqa: E402

register_stream("oneroster-rest", oneroster_rest_records)

# FHIR R4 (JSON document or NDJSON, XML, NDJSON only, and ``fhir`` which sniffs): fhir_json.py
from gateway.formats.fhir_json import iter_fhir, iter_json  # noqa: E402
from gateway.formats.fhir_ndjson import iter_ndjson  # noqa: E402
from gateway.formats.fhir_xml import iter_xml  # noqa: E402

register_stream("fhir-json", iter_json)
register_stream("fhir-xml", iter_xml)
register_stream("fhir-ndjson", iter_ndjson)
register_stream("fhir", iter_fhir)
