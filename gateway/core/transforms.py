"""Named value transforms a mapping rule may apply. Closed set: a mapping naming anything
else fails to load."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any


class TransformError(ValueError):
    pass


def _string(value: Any) -> str:
    if isinstance(value, (dict, list)):  # a tuple: "dict | list" builds a union at every call
        raise TransformError("expected a scalar, found a structure")
    return str(value)


_INTEGER = re.compile(r"[+-]?[0-9]+")


def _integer(value: Any) -> int:
    if isinstance(value, bool) or not _INTEGER.fullmatch(str(value).strip()):
        raise TransformError(f"expected an integer, found {type(value).__name__}")
    return int(str(value))


def _date(value: Any) -> str:
    """A date, or the date part of a full date-time; nothing else trails it."""
    text = _string(value)
    try:
        if len(text) > 10 and text[10] == "T":
            parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00")).date()
        elif _DATE.fullmatch(text):
            parsed = dt.date.fromisoformat(text)
        else:
            raise ValueError(text)
    except ValueError as exc:
        raise TransformError("expected an ISO 8601 date (YYYY-MM-DD)") from exc
    _in_range(parsed.year)
    return parsed.isoformat()


_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _in_range(year: int) -> None:
    # The message leaves the year out: it is part of the source value.
    if not 1900 <= year <= 2100:
        raise TransformError("the year is outside 1900-2100")


_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _datetime(value: Any) -> str:
    text = str(value).replace("Z", "+00:00")
    if _DAY.match(text):
        # A FHIR dateTime of day precision carries no time and so no offset (R4 2.24.0.1): a date.
        return _date(text)
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise TransformError("expected an ISO 8601 date-time") from exc
    if parsed.tzinfo is None:
        raise TransformError("date-time has no timezone offset; send 'Z' or '+hh:mm'")
    _in_range(parsed.year)
    return parsed.isoformat()


def _descriptor_code(value: Any) -> str:
    """``uri://ed-fi.org/GradeLevelDescriptor#Ninth grade`` -> ``Ninth grade``."""
    text = _string(value)
    namespace, _, code = text.partition("#")
    if not namespace or not code:
        raise TransformError("expected an Ed-Fi descriptor URI 'namespace#codeValue'")
    return code


def _descriptor_namespace(value: Any) -> str:
    """``uri://ed-fi.org/GradeLevelDescriptor#Ninth grade`` -> ``uri://ed-fi.org/GradeLevelDescriptor``."""
    text = _string(value)
    namespace, _, code = text.partition("#")
    if not namespace or not code:
        raise TransformError("expected an Ed-Fi descriptor URI 'namespace#codeValue'")
    return namespace


def _reference_id(value: Any) -> str:
    """``Patient/pat-53234`` (or a full URL ending so) -> ``pat-53234``."""
    parts = _string(value).rstrip("/").split("/")
    if "_history" in parts:  # Patient/<id>/_history/<version>
        parts = parts[: parts.index("_history")]
    if len(parts) < 2 or not parts[-1] or not parts[-2]:
        raise TransformError("expected a FHIR reference 'Type/id'")
    return parts[-1]


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"true", "1", "yes", "y"}:
        return True
    if text in {"false", "0", "no", "n"}:
        return False
    raise TransformError("expected a boolean")


_ICD10_CODE = re.compile(r"([A-TV-Z][0-9][0-9A-Z])(\.[0-9A-Z]{1,4})?")


def _icd10_category(value: Any) -> str:
    """An ICD-10-CM code to its 3-character category (``F10.20`` -> ``F10``), so a crosswalk can
    list code ranges by category; other code systems' codes (SNOMED, LOINC) pass unchanged."""
    text = _string(value).strip()
    found = _ICD10_CODE.fullmatch(text)
    return found.group(1) if found else text


def _coordinate(limit: float, name: str) -> Callable[[Any], float]:
    """A WGS84 decimal-degree value (Ed-Fi sends text, FHIR a decimal), kept to 6 places (~0.1 m)."""

    def read(value: Any) -> float:
        try:
            number = float(str(value).strip())
        except ValueError:
            raise TransformError(f"expected a {name} in decimal degrees") from None
        if not -limit <= number <= limit:
            raise TransformError(f"a {name} is between -{limit:g} and {limit:g} degrees")
        return round(number, 6)

    return read


TRANSFORMS: dict[str, Callable[[Any], Any]] = {
    "latitude": _coordinate(90.0, "latitude"),
    "longitude": _coordinate(180.0, "longitude"),
    "icd10_category": _icd10_category,
    "string": _string,
    "integer": _integer,
    "date": _date,
    "datetime": _datetime,
    "descriptor_code": _descriptor_code,
    "descriptor_namespace": _descriptor_namespace,
    "reference_id": _reference_id,
    "boolean": _boolean,
    "lower": lambda v: _string(v).lower(),
    "upper": lambda v: _string(v).upper(),
    "strip": lambda v: _string(v).strip(),
}


def apply_transform(name: str, value: Any) -> Any:
    return TRANSFORMS[name](value)
