"""Records derived from a received FHIR resource before mapping (for example the screening
Observations a QuestionnaireResponse implies, derived the way the Gravity IG's StructureMap does).

``expand(record)`` returns the record itself first, then anything derived from it.

The instruments are data: ``mappings/codes/screening-questionnaires.yaml`` (Questionnaire URL ->
instrument), ``screening-instruments.yaml`` (questions, computed items) and
``loinc-sdoh-risk-answers.yaml`` (risk answers). They are crosswalk tables, so
``gateway.artifacts`` checks them at start-up like every crosswalk (and the instrument table
through ``gateway.core.screening.build_instruments``); this module reads the packaged copies
once (``importlib.resources``), because the formats layer may not import the artifacts layer.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from gateway._artifacts import bundled_root
from gateway.core.screening import Instrument, build_instruments, derive_observations
from gateway.formats.records import SourceRecord, record

CODES_DIR = bundled_root() / "mappings" / "codes"
QUESTIONNAIRES = "screening-questionnaires"
INSTRUMENTS = "screening-instruments"
RISK_ANSWERS = "loinc-sdoh-risk-answers"


@dataclass(frozen=True, kw_only=True)
class ScreeningTables:
    questionnaires: Mapping[str, Mapping[str, Any]]  # canonical URL -> instrument coding
    instruments: Mapping[str, Instrument]  # LOINC panel code -> instrument
    risk_answers: Mapping[str, Any]  # "question|answer" -> SDOH category

    def instrument_for(self, canonical: Any) -> Instrument | None:
        url = str(canonical or "").split("|", 1)[0]  # a canonical may carry "|version"
        coding = self.questionnaires.get(url)
        return self.instruments.get(str(coding.get("code"))) if coding else None


def tables_from(codes: Mapping[str, Mapping[str, Any]]) -> ScreeningTables:
    """The derivation tables out of loaded crosswalks (``{table id: {from: to}}``)."""
    return ScreeningTables(
        questionnaires=codes.get(QUESTIONNAIRES, {}),
        instruments=build_instruments(codes.get(INSTRUMENTS, {}), f"mappings/codes/{INSTRUMENTS}.yaml"),
        risk_answers=codes.get(RISK_ANSWERS, {}),
    )


@functools.cache
def default_tables(codes_dir: Path = CODES_DIR) -> ScreeningTables:
    codes = {}
    for name in (QUESTIONNAIRES, INSTRUMENTS, RISK_ANSWERS):
        doc = yaml.safe_load((codes_dir / f"{name}.yaml").read_text(encoding="utf-8"))
        codes[name] = {str(e["from"]): e["to"] for e in doc["entries"]}
    return tables_from(codes)


def expand(rec: SourceRecord, tables: ScreeningTables | None = None) -> list[SourceRecord]:
    if rec.entity != "QuestionnaireResponse" or not isinstance(rec.data, dict):
        return [rec]
    found = tables or default_tables()
    instrument = found.instrument_for(rec.data.get("questionnaire"))
    if instrument is None:
        return [rec]
    derived = derive_observations(rec.data, instrument, found.risk_answers)
    return [rec, *(record("Observation", f"{rec.location} derived {o['id']}", o) for o in derived)]
