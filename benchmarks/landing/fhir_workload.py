"""The landing FHIR workload: patients linked to students, nine Gravity screening Observations each.

Usage: python -m benchmarks.landing.fhir_workload PATIENTS OUT.ndjson

Every resource is built from a ``../shared/samples/gravity`` example (same shape and narrative),
re-identified for one synthetic patient: the Patient carries the district's student id (the
identifier ``spgw`` links on, as the demo's clinic sends it) and a preferred language; each of its
nine Observations (Hunger Vital Sign questions 1 and 2 and its risk, the NHANES social connection
panel and three of its questions, the clinician's food intake assessment, a second risk screen a
season later) refers to it. Answers and dates come from ``random.Random(seed)``: the same
PATIENTS always gives the same bytes, and no clock is read. Patients come first, then the
Observations, each in the order a clinic's export would list them (patient by patient).
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import json
import os
import random
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.generate import student_id

PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent
# BENCH_SHARED: the shared folder when this checkout is not next to it (a baseline worktree under /tmp)
SHARED = Path(os.environ.get("BENCH_SHARED", PROJECT_ROOT.parent / "shared"))
GRAVITY = SHARED / "samples" / "gravity"
SEED = 20261207
OBSERVATIONS_PER_PATIENT = 9
DISTRICT_IDS = "https://grandbend.example.org/ns/studentUniqueId"
LANGUAGES = (("en", "English", 70), ("es", "Spanish", 20), ("vi", "Vietnamese", 5), ("so", "Somali", 5))
HVS_ANSWERS = (("LA28397-0", "Often true"), ("LA6729-3", "Sometimes true"), ("LA28398-8", "Never true"))
RISK_ANSWERS = (("LA19952-3", "At risk"), ("LA19983-8", "No risk"))
LOINC = "http://loinc.org"


@dataclass(frozen=True, kw_only=True)
class FhirWorkload:
    patients: int
    resources: int
    bytes: int
    sha256: str
    path: Path


def missing_gravity() -> str | None:
    if not GRAVITY.is_dir():
        return f"{GRAVITY} is absent; the landing FHIR workload is built from ../shared/samples/gravity"
    return None


def _sample(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((GRAVITY / f"{name}.json").read_text("utf-8"))
    return doc


class _Templates:
    """The Gravity examples, read once."""

    def __init__(self) -> None:
        self.patient = _sample("Patient-pat-53234")
        self.hvs_risk = _sample("Observation-SDOHCC-ObservationResponseHungerVitalSignQuestion3Example")
        self.grouping = _sample("Observation-SDOHCC-ObservationResponseNHANESGroupingExample")
        self.nhanes = [
            _sample(f"Observation-SDOHCC-ObservationResponseNHANESQuestion{n}Example") for n in (1, 2, 3)
        ]
        self.assessment = _sample("Observation-SDOHCC-ObservationAssessmentInadequateFoodIntakeExample")


def patient(t: _Templates, number: int, rng: random.Random) -> dict[str, Any]:
    doc = copy.deepcopy(t.patient)
    doc["id"] = f"pat-{number:07d}"
    doc["identifier"][0]["value"] = f"MRN{number:07d}"
    doc["identifier"].append({"system": DISTRICT_IDS, "value": student_id(number)})
    doc["birthDate"] = (dt.date(2008, 1, 1) + dt.timedelta(days=rng.randrange(6 * 365))).isoformat()
    code, display, _ = rng.choices(LANGUAGES, [w for *_, w in LANGUAGES])[0]
    doc["communication"] = [
        {"language": {"coding": [{"system": "urn:ietf:bcp:47", "code": code, "display": display}]}}
    ]
    return doc


def _for_patient(template: dict[str, Any], pid: str, suffix: str, when: str) -> dict[str, Any]:
    doc = copy.deepcopy(template)
    doc["id"] = f"{pid}-{suffix}"
    doc["subject"] = {"reference": f"Patient/{pid}"}
    doc["effectiveDateTime"] = when
    if "issued" in doc:
        doc["issued"] = when
    for performer in doc.get("performer", []):
        if performer.get("reference", "").startswith("Patient/"):
            performer["reference"] = f"Patient/{pid}"
    doc.pop("derivedFrom", None)  # the QuestionnaireResponse is not part of this workload
    return doc


def _coded(doc: dict[str, Any], code: str, display: str) -> None:
    doc["valueCodeableConcept"] = {"coding": [{"system": LOINC, "code": code, "display": display}]}


def _hvs(
    t: _Templates, pid: str, suffix: str, when: str, question: tuple[str, str], rng: random.Random
) -> dict[str, Any]:
    doc = _for_patient(t.hvs_risk, pid, suffix, when)
    doc["code"] = {"coding": [{"system": LOINC, "code": question[0], "display": question[1]}]}
    _coded(doc, *rng.choice(HVS_ANSWERS))
    doc.pop("interpretation", None)
    return doc


def _risk(t: _Templates, pid: str, suffix: str, when: str, rng: random.Random) -> dict[str, Any]:
    doc = _for_patient(t.hvs_risk, pid, suffix, when)
    at_risk = rng.random() < 0.3
    _coded(doc, *RISK_ANSWERS[0 if at_risk else 1])
    if not at_risk:
        doc.pop("interpretation", None)
    return doc


def observations(t: _Templates, number: int, rng: random.Random) -> list[dict[str, Any]]:
    pid = f"pat-{number:07d}"
    day = dt.datetime(2025, 8, 18, 14, 0, tzinfo=dt.UTC) + dt.timedelta(
        days=rng.randrange(60), minutes=rng.randrange(480)
    )
    when = day.isoformat().replace("+00:00", "Z")
    later = (day + dt.timedelta(days=120)).isoformat().replace("+00:00", "Z")
    found = [
        _hvs(
            t,
            pid,
            "hvs1",
            when,
            ("88122-7", "Within the past 12Mo we worried whether our food would run out"),
            rng,
        ),
        _hvs(
            t, pid, "hvs2", when, ("88123-5", "Within the past 12Mo the food we bought just didn't last"), rng
        ),
        _risk(t, pid, "hvs3", when, rng),
        _for_patient(t.grouping, pid, "nhanes", when),
    ]
    for n, template in enumerate(t.nhanes, start=1):
        doc = _for_patient(template, pid, f"nhanes{n}", when)
        if "valueQuantity" in doc:
            doc["valueQuantity"]["value"] = rng.randrange(15)
        found.append(doc)
    assessment = _for_patient(t.assessment, pid, "assess", when)
    assessment["valueBoolean"] = rng.random() < 0.2
    found.append(assessment)
    found.append(_risk(t, pid, "hvs3b", later, rng))
    assert len(found) == OBSERVATIONS_PER_PATIENT
    return found


def resources(patients: int, seed: int = SEED) -> Iterator[dict[str, Any]]:
    """All Patients first (they link), then each patient's Observations."""
    t = _Templates()
    rng = random.Random(seed)
    for number in range(1, patients + 1):
        yield patient(t, number, rng)
    for number in range(1, patients + 1):
        yield from observations(t, number, rng)


def write(patients: int, path: Path, seed: int = SEED) -> FhirWorkload:
    digest = hashlib.sha256()
    count = size = 0
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as out:
        for doc in resources(patients, seed):
            line = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"
            out.write(line)
            digest.update(line)
            count += 1
            size += len(line)
    return FhirWorkload(patients=patients, resources=count, bytes=size, sha256=digest.hexdigest(), path=path)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    workload = write(int(args[0]), Path(args[1]))
    print(json.dumps({**workload.__dict__, "path": str(workload.path)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
