"""Named value transforms a mapping rule may apply. Closed set: a mapping naming anything
else fails to load."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any


class TransformError(ValueError):
    pass


def _string(value: Any) -> str:
    if isinstance(value, dict | list):
        raise TransformError("expected a scalar, found a structure")
    return str(value)


def _integer(value: Any) -> int:
    try:
        return int(str(value))
    except ValueError as exc:
        raise TransformError(f"expected an integer, found {type(value).__name__}") from exc


def _date(value: Any) -> str:
    text = str(value)[:10]
    try:
        parsed = dt.date.fromisoformat(text)
    except ValueError as exc:
        raise TransformError("expected an ISO 8601 date (YYYY-MM-DD)") from exc
    if not 1900 <= parsed.year <= 2100:
        raise TransformError(f"date year {parsed.year} is outside 1900-2100")
    return parsed.isoformat()


def _datetime(value: Any) -> str:
    text = str(value).replace("Z", "+00:00")
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise TransformError("expected an ISO 8601 date-time") from exc
    if parsed.tzinfo is None:
        raise TransformError("date-time has no timezone offset; send 'Z' or '+hh:mm'")
    return parsed.isoformat()


def _descriptor_code(value: Any) -> str:
    """``uri://ed-fi.org/GradeLevelDescriptor#Ninth grade`` -> ``Ninth grade``."""
    text = _string(value)
    if "#" not in text:
        raise TransformError("expected an Ed-Fi descriptor URI 'namespace#codeValue'")
    return text.split("#", 1)[1]


def _reference_id(value: Any) -> str:
    """``Patient/pat-53234`` (or a full URL ending so) -> ``pat-53234``."""
    text = _string(value).rstrip("/")
    if "/" not in text:
        raise TransformError("expected a FHIR reference 'Type/id'")
    return text.rsplit("/", 1)[1]


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"true", "1", "yes", "y"}:
        return True
    if text in {"false", "0", "no", "n"}:
        return False
    raise TransformError("expected a boolean")


TRANSFORMS: dict[str, Callable[[Any], Any]] = {
    "string": _string,
    "integer": _integer,
    "date": _date,
    "datetime": _datetime,
    "descriptor_code": _descriptor_code,
    "reference_id": _reference_id,
    "boolean": _boolean,
    "lower": lambda v: _string(v).lower(),
    "upper": lambda v: _string(v).upper(),
    "strip": lambda v: _string(v).strip(),
}


def apply_transform(name: str, value: Any) -> Any:
    return TRANSFORMS[name](value)
