"""Records derived from a received FHIR resource before mapping (for example the screening
Observations a QuestionnaireResponse implies, derived the way the Gravity IG's StructureMap does).

``expand(record)`` returns the record itself first, then anything derived from it.
"""

from __future__ import annotations

from gateway.formats.records import SourceRecord


def expand(rec: SourceRecord) -> list[SourceRecord]:
    return [rec]
