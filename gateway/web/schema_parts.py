"""Building blocks of the OpenAPI document, shared by every module that documents routes."""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]
TEXT: Schema = {"type": "string"}
COUNT: Schema = {"type": "integer", "minimum": 0}


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def closed_object(properties: Schema, optional: tuple[str, ...] = ()) -> Schema:
    """A closed object: every property required unless named optional, no others allowed."""
    return {
        "type": "object",
        "properties": properties,
        "required": [name for name in properties if name not in optional],
        "additionalProperties": False,
    }


def json_body(schema: Schema, description: str, media: str = "application/json") -> Schema:
    return {"description": description, "content": {media: {"schema": schema}}}


def error_body(description: str) -> Schema:
    return json_body(ref("Error"), description)
