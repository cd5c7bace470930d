"""The shape of FHIR R4 elements, read from the ``fhir.resources`` R4B models' field annotations.

FHIR XML does not say which elements repeat or which primitives are numbers: the JSON form
needs both. Rather than keep a second copy of the specification, each model's pydantic fields
are read once: ``List[...]`` means the element repeats (0..*), ``abc.<Name>Type`` is a complex
type or backbone element, ``abc.ResourceType`` a wrapped resource (``contained``,
``Bundle.entry.resource``), ``Xhtml`` the narrative ``div``, and the base Python type of a
primitive's annotation (bool, int, Decimal, str ...) gives its JSON type.
"""

from __future__ import annotations

import decimal
import functools
import typing
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gateway.formats.fhir_gate import resource_types

if TYPE_CHECKING:
    from fhir_core.fhirabstractmodel import FHIRAbstractModel

PRIMITIVE, COMPLEX, RESOURCE, XHTML = "primitive", "complex", "resource", "xhtml"
BOOLEAN, INTEGER, DECIMAL, STRING = "boolean", "integer", "decimal", "string"


@dataclass(frozen=True, kw_only=True)
class Element:
    """One element of a FHIR type: its JSON name, whether it repeats, and what it holds."""

    name: str
    repeated: bool
    kind: str  # PRIMITIVE | COMPLEX | RESOURCE | XHTML
    type_name: str  # complex: the model name; primitive: BOOLEAN | INTEGER | DECIMAL | STRING


def model_class(name: str) -> type[FHIRAbstractModel] | None:
    """The R4B model of a type or backbone element name, or None."""
    # Imported when first read (FHIR XML): the models take about 0.12 s to import, which every
    # process importing the parsers paid, the FHIR NDJSON parser process on its critical path.
    from fhir.resources.R4B import get_fhir_model_class

    try:
        return get_fhir_model_class(name)
    except (ValueError, KeyError):
        return None


def is_resource_type(name: str) -> bool:
    """An R4 (4.0.1) resource type, by HL7's definitions (``fhir_gate``), not by the R4B models."""
    return name in resource_types()


@functools.cache
def elements(type_name: str) -> dict[str, Element]:
    """Every element of ``type_name`` by JSON name, in the specification's order."""
    model = model_class(type_name)
    if model is None:
        return {}
    by_alias = {(field.alias or name): field for name, field in model.model_fields.items()}
    found: dict[str, Element] = {}
    for name in model.elements_sequence():
        field = by_alias.get(name)
        if field is not None:
            found[name] = _element(name, field.annotation)
    return found


def _element(name: str, annotation: Any) -> Element:
    from fhir_core.types import FhirBase, Xhtml  # loaded with the models (``model_class``)

    inner, repeated = _unwrap(annotation)
    if isinstance(inner, type) and issubclass(inner, FhirBase):
        type_name = inner.__name__.removesuffix("Type")
        return Element(
            name=name,
            repeated=repeated,
            kind=RESOURCE if type_name == "Resource" else COMPLEX,
            type_name=type_name,
        )
    if typing.get_origin(inner) is typing.Annotated:
        base, *meta = typing.get_args(inner)
        if any(isinstance(m, Xhtml) for m in meta):
            return Element(name=name, repeated=repeated, kind=XHTML, type_name=STRING)
        inner = base
    return Element(name=name, repeated=repeated, kind=PRIMITIVE, type_name=_json_type(inner))


def _unwrap(annotation: Any) -> tuple[Any, bool]:
    """``Optional[List[X]]`` -> (X, True); ``X | None`` -> (X, False)."""
    repeated = False
    while True:
        origin = typing.get_origin(annotation)
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)) and len(args) == 1:
            annotation = args[0]
        elif origin is list:
            annotation, repeated = args[0], True
        else:
            return annotation, repeated


def _json_type(base: Any) -> str:
    if base is bool:
        return BOOLEAN
    if base is int:
        return INTEGER
    if base in (decimal.Decimal, float):
        return DECIMAL
    return STRING
