"""Named transforms: what each accepts and returns, and what it rejects (with a message that
says what was expected, never the value itself)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from gateway.core.transforms import TRANSFORMS, TransformError, apply_transform


def test_the_transform_set_is_closed() -> None:
    assert set(TRANSFORMS) == {
        "string",
        "integer",
        "date",
        "datetime",
        "descriptor_code",
        "descriptor_namespace",
        "icd10_category",
        "reference_id",
        "boolean",
        "lower",
        "upper",
        "strip",
        "latitude",
        "longitude",
    }


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        # string
        pytest.param("string", "abc", "abc", id="string: text unchanged"),
        pytest.param("string", 604822, "604822", id="string: number becomes text"),
        pytest.param("string", True, "True", id="string: boolean becomes text"),
        # icd10_category (issue 5: Part 2 code ranges by ICD-10-CM category)
        pytest.param("icd10_category", "F10.20", "F10", id="icd10_category: code to its category"),
        pytest.param("icd10_category", "F19", "F19", id="icd10_category: a category unchanged"),
        pytest.param("icd10_category", "Z59.41", "Z59", id="icd10_category: Z code"),
        pytest.param("icd10_category", "7200002", "7200002", id="icd10_category: SNOMED unchanged"),
        pytest.param("icd10_category", "75626-2", "75626-2", id="icd10_category: LOINC unchanged"),
        # integer
        pytest.param("integer", "42", 42, id="integer: digits"),
        pytest.param("integer", 7, 7, id="integer: int unchanged"),
        pytest.param("integer", "-3", -3, id="integer: negative"),
        pytest.param("integer", " 9 ", 9, id="integer: surrounding spaces ignored"),
        # date
        pytest.param("date", "2009-03-14", "2009-03-14", id="date: ISO date"),
        pytest.param("date", "2024-09-13T10:15:00Z", "2024-09-13", id="date: date part of a date-time"),
        pytest.param("date", dt.date(2010, 1, 2), "2010-01-02", id="date: a date value"),
        pytest.param("date", "1900-01-01", "1900-01-01", id="date: lowest year 1900"),
        pytest.param("date", "2100-12-31", "2100-12-31", id="date: highest year 2100"),
        # datetime
        pytest.param(
            "datetime", "2024-09-13", "2024-09-13", id="datetime: a day-precision dateTime is a date"
        ),
        pytest.param(
            "datetime", "2024-09-13T10:15:00Z", "2024-09-13T10:15:00+00:00", id="datetime: Z is UTC"
        ),
        pytest.param(
            "datetime",
            "2024-09-13T10:15:00-05:00",
            "2024-09-13T10:15:00-05:00",
            id="datetime: explicit offset kept",
        ),
        pytest.param(
            "datetime",
            "2024-09-13T10:15:00.250+02:00",
            "2024-09-13T10:15:00.250000+02:00",
            id="datetime: fractional seconds",
        ),
        # descriptor_code
        pytest.param(
            "descriptor_code",
            "uri://ed-fi.org/GradeLevelDescriptor#Ninth grade",
            "Ninth grade",
            id="descriptor_code: text after '#'",
        ),
        pytest.param("descriptor_code", "ns#a#b", "a#b", id="descriptor_code: split at the first '#'"),
        pytest.param(
            "descriptor_namespace",
            "uri://grandbend.example.org/ProgramTypeDescriptor#Robotics",
            "uri://grandbend.example.org/ProgramTypeDescriptor",
            id="descriptor_namespace: text before '#'",
        ),
        # reference_id
        pytest.param("reference_id", "Patient/pat-53234", "pat-53234", id="reference_id: Type/id"),
        pytest.param(
            "reference_id",
            "https://fhir.example.org/r4/Patient/pat-1",
            "pat-1",
            id="reference_id: absolute URL",
        ),
        pytest.param("reference_id", "Patient/pat-1/", "pat-1", id="reference_id: trailing slash ignored"),
        # boolean
        pytest.param("boolean", True, True, id="boolean: true unchanged"),
        pytest.param("boolean", False, False, id="boolean: false unchanged"),
        pytest.param("boolean", "true", True, id="boolean: word true"),
        pytest.param("boolean", "YES", True, id="boolean: word yes, any case"),
        pytest.param("boolean", " y ", True, id="boolean: y with spaces"),
        pytest.param("boolean", 1, True, id="boolean: number 1"),
        pytest.param("boolean", "False", False, id="boolean: word false"),
        pytest.param("boolean", "no", False, id="boolean: word no"),
        pytest.param("boolean", "n", False, id="boolean: letter n"),
        pytest.param("boolean", "0", False, id="boolean: text 0"),
        # lower, upper, strip
        pytest.param("lower", "EN-us", "en-us", id="lower"),
        pytest.param("upper", "en-us", "EN-US", id="upper"),
        pytest.param("strip", "  a b  ", "a b", id="strip keeps inner spaces"),
        pytest.param("upper", 12, "12", id="upper: number becomes text"),
    ],
)
def test_transform_accepts(name: str, value: Any, expected: Any) -> None:
    assert apply_transform(name, value) == expected


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        # structures are never scalars
        pytest.param("string", {"a": 1}, "expected a scalar", id="string: object rejected"),
        pytest.param("string", [1], "expected a scalar", id="string: list rejected"),
        pytest.param("lower", {"a": 1}, "expected a scalar", id="lower: object rejected"),
        pytest.param("upper", ["a"], "expected a scalar", id="upper: list rejected"),
        pytest.param("strip", {"a": 1}, "expected a scalar", id="strip: object rejected"),
        # integer
        pytest.param("integer", "4.5", "expected an integer", id="integer: decimal text"),
        pytest.param("integer", 4.5, "expected an integer", id="integer: float"),
        pytest.param("integer", "twelve", "expected an integer", id="integer: word"),
        pytest.param("integer", True, "expected an integer", id="integer: boolean"),
        pytest.param("integer", None, "expected an integer", id="integer: None"),
        pytest.param(
            "integer",
            "1_000",
            "expected an integer",
            id="integer: Python digit separators are not integer text",
        ),
        # date
        pytest.param("date", "1899-12-31", "outside 1900-2100", id="date: year before 1900"),
        pytest.param("date", "2101-01-01", "outside 1900-2100", id="date: year after 2100"),
        pytest.param("date", "2009-02-30", "expected an ISO 8601 date", id="date: no such day"),
        pytest.param("date", "03/14/2009", "expected an ISO 8601 date", id="date: US notation"),
        pytest.param("date", "", "expected an ISO 8601 date", id="date: empty"),
        pytest.param(
            "date", "2024-09-130", "expected an ISO 8601 date", id="date: extra digit is not silently cut off"
        ),
        pytest.param(
            "date",
            "2024-09-13junk",
            "expected an ISO 8601 date",
            id="date: trailing junk is not silently cut off",
        ),
        # datetime
        pytest.param("datetime", "2024-09-13T10:15:00", "no timezone offset", id="datetime: no offset"),
        pytest.param("datetime", "13 Sep 2024 10:15", "expected an ISO 8601 date-time", id="datetime: prose"),
        pytest.param(
            "datetime", "2024-09-13T25:00:00Z", "expected an ISO 8601 date-time", id="datetime: hour 25"
        ),
        # descriptor_code
        pytest.param("descriptor_code", "Ninth grade", "namespace#codeValue", id="descriptor_code: no '#'"),
        pytest.param(
            "descriptor_namespace", "Ninth grade", "namespace#codeValue", id="descriptor_namespace: no '#'"
        ),
        pytest.param(
            "descriptor_namespace",
            "#Ninth grade",
            "namespace#codeValue",
            id="descriptor_namespace: no namespace",
        ),
        pytest.param("descriptor_code", {"a": 1}, "expected a scalar", id="descriptor_code: object"),
        pytest.param(
            "descriptor_code",
            "uri://ed-fi.org/GradeLevelDescriptor#",
            "namespace#codeValue",
            id="descriptor_code: empty code value after '#'",
        ),
        # reference_id
        pytest.param("reference_id", "pat-53234", "'Type/id'", id="reference_id: no '/'"),
        pytest.param("reference_id", "Patient/", "'Type/id'", id="reference_id: type without id"),
        pytest.param("reference_id", ["Patient/1"], "expected a scalar", id="reference_id: list"),
        # boolean
        pytest.param("boolean", "maybe", "expected a boolean", id="boolean: unknown word"),
        pytest.param("boolean", 2, "expected a boolean", id="boolean: number 2"),
        pytest.param("boolean", "", "expected a boolean", id="boolean: empty"),
        pytest.param("boolean", None, "expected a boolean", id="boolean: None"),
    ],
)
def test_transform_rejects(name: str, value: Any, message: str) -> None:
    with pytest.raises(TransformError) as caught:
        apply_transform(name, value)
    assert message in str(caught.value)
    if isinstance(value, str) and value:
        assert value not in str(caught.value), "error messages never echo the source value"


def test_versioned_reference_names_the_resource_id_not_the_version() -> None:
    # A FHIR Reference may be version-specific: Patient/<id>/_history/<vid>.
    assert apply_transform("reference_id", "Patient/pat-1/_history/2") == "pat-1"


def test_unknown_transform_name_is_a_key_error() -> None:
    # Mappings naming unknown transforms are refused when they load (see test_core_mapping).
    with pytest.raises(KeyError):
        apply_transform("titlecase", "x")
