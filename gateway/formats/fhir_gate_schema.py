"""The gate's tables as one JSON Schema (draft 2020-12), compiled by ``jsonschema-rs`` per resource type.

``fhir_gate`` walks a resource in Python and says where each problem is; that walk costs about a
microsecond per element. The same rules written as a JSON Schema are checked in Rust in a few
microseconds per resource, so a resource is first only asked ``is_valid`` here, and only a
refused one is walked to find its problems. The two read the same tables (and the same regexes:
``fhir_gate.PATTERNS``), and ``tests/test_fhir_gate.py`` holds them to the same verdict.

Resource-typed elements (``contained``, ``Bundle.entry.resource``, ``Parameters...resource``) are
only objects with an R4 ``resourceType`` to the schema; each is then checked by its own type's
validator. So a validator holds one resource type and the data types it reaches, and compiles
in milliseconds, not the whole specification.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

import jsonschema_rs

from gateway.formats import fhir_gate

NULLABLE = ("boolean", "integer", "number", "string")


@functools.cache
def validator(resource_type: str) -> Any:
    """The compiled validator of one R4 resource type (compiled on first use, then kept)."""
    root = _name(resource_type)
    schema = {"$ref": f"#/$defs/{root}", "$defs": _reachable(root)}
    return jsonschema_rs.Draft202012Validator(schema)


def _reachable(root: str) -> dict[str, Any]:
    """The definitions ``root`` refers to, directly or not (compiling all of them costs 20x)."""
    definitions = _definitions()
    found: dict[str, Any] = {}
    todo = [root]
    while todo:
        name = todo.pop()
        if name not in found:
            found[name] = definitions[name]
            todo.extend(_refs(found[name]))
    return found


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            yield ref.removeprefix("#/$defs/")
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def is_valid(doc: Any) -> bool:
    """True when the resource, and every resource inside it, meets R4."""
    resource_type = doc.get("resourceType") if isinstance(doc, dict) else None
    if not isinstance(resource_type, str) or resource_type not in fhir_gate.resource_types():
        return False
    if not validator(resource_type).is_valid(doc):
        return False
    return all(is_valid(inner) for inner in _inner_resources(doc, resource_type))


def _inner_resources(doc: dict[str, Any], resource_type: str) -> Iterator[Any]:
    """The resources a valid resource holds (its schema checked only that they are objects with
    an R4 resourceType): contained ones, a Bundle's entries', a Parameters' (parts included)."""
    yield from doc.get("contained") or ()
    if resource_type == "Bundle":
        yield from (e["resource"] for e in doc.get("entry") or () if "resource" in e)
    elif resource_type == "Parameters":
        yield from _parameter_resources(doc.get("parameter") or ())


def _parameter_resources(parameters: Any) -> Iterator[Any]:
    for parameter in parameters:
        if "resource" in parameter:
            yield parameter["resource"]
        yield from _parameter_resources(parameter.get("part") or ())


def _name(type_name: str) -> str:
    return type_name.replace(".", "_")


@functools.cache
def _definitions() -> dict[str, Any]:
    tables = fhir_gate.tables()
    defs: dict[str, Any] = {}
    for name in tables["primitives"]:
        defs[f"p_{name}"] = _primitive(name, None, nullable=False)
        defs[f"n_{name}"] = _primitive(name, None, nullable=True)
    for name, table in tables["types"].items():
        defs[_name(name)] = _type(name, table, defs)
    defs["ResourceSlot"] = {
        "type": "object",
        "required": ["resourceType"],
        "properties": {"resourceType": {"enum": sorted(fhir_gate.resource_types())}},
    }
    return defs


def _primitive(name: str, binding: str | None, *, nullable: bool) -> dict[str, Any]:
    json_type, extra = fhir_gate.json_rule(name)
    found: dict[str, Any] = {"type": [json_type, "null"] if nullable else json_type, **extra}
    if binding:
        codes: list[Any] = list(fhir_gate.tables()["valuesets"][binding])
        found["enum"] = [*codes, None] if nullable else codes
    return found


def _type(name: str, table: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    groups: dict[str, list[str]] = {}
    for element, spec in table["elements"].items():
        repeats = bool(spec.get("repeats"))
        type_name = spec["type"].lstrip("@")
        if spec.get("choice"):
            groups.setdefault(spec["choice"], []).append(element)
        if type_name == "Resource":
            one: dict[str, Any] = {"$ref": "#/$defs/ResourceSlot"}
        elif type_name in fhir_gate.tables()["primitives"]:
            binding = spec.get("binding")
            if binding:
                key = f"b_{binding.rsplit('/', 1)[-1]}_{'n' if repeats else 'p'}"
                defs.setdefault(key, _primitive(type_name, binding, nullable=repeats))
                one = {"$ref": f"#/$defs/{key}"}
            else:
                one = {"$ref": f"#/$defs/{'n' if repeats else 'p'}_{type_name}"}
            if spec.get("primitive"):
                sibling = {"anyOf": [{"$ref": "#/$defs/Element"}, {"type": "null"}]} if repeats else None
                properties["_" + element] = _repeat(sibling or {"$ref": "#/$defs/Element"}, repeats)
                if spec.get("choice"):
                    groups[spec["choice"]].append("_" + element)
        else:
            one = {"$ref": f"#/$defs/{_name(type_name)}"}
        properties[element] = _repeat(one, repeats)
    if name in fhir_gate.resource_types():
        properties["resourceType"] = {"const": name}
    found: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
    rules = [_required(table, names) for names in table.get("required", [])]
    rules.extend(_one_choice(members) for members in groups.values() if len(members) > 1)
    if rules:
        found["allOf"] = rules
    return found


def _repeat(one: dict[str, Any], repeats: bool) -> dict[str, Any]:
    return {"type": "array", "items": one} if repeats else one


def _required(table: dict[str, Any], names: list[str]) -> dict[str, Any]:
    present = [*names, *("_" + n for n in names if table["elements"][n].get("primitive"))]
    if len(present) == 1:
        return {"required": present}
    return {"anyOf": [{"required": [n]} for n in present]}


def _one_choice(members: list[str]) -> dict[str, Any]:
    """At most one variant of a choice: each variant present forbids the others (its own
    ``_name`` sibling excepted)."""
    rules = {}
    for member in members:
        own = {member, "_" + member, member.removeprefix("_")}
        others = [m for m in members if m not in own]
        rules[member] = {"propertyNames": {"not": {"enum": others}}}
    return {"dependentSchemas": rules}
