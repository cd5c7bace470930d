"""The family's place, age and language as tables (pure), the location mapping rules of Ed-Fi and
FHIR, the coordinate transforms, the shipped ZCTA table, and whether the policy lets a reader use
a family location at all."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

import pytest

from gateway.artifacts import Artifacts
from gateway.core import family_location as fl
from gateway.core.canonical import digest
from gateway.core.geo import Point
from gateway.core.mapping import MappingContext, apply_mapping
from gateway.core.policy_model import Agreement, PolicySet, ScheduleEntry
from gateway.core.transforms import TransformError, apply_transform
from gateway.errors import ArtifactInvalid, MappingFailed
from gateway.service.directory.directory_match import zcta_centroids

CENTROIDS = {"78834": Point(lat=28.5446, lon=-99.8684), "02903": Point(lat=41.8191, lon=-71.4092)}


def loc(eid: str, use: str = "", **fields: Any) -> dict[str, Any]:
    return {"id": eid, "use": use, **fields, "provenance": {"sourceOrganization": f"org-{eid}"}}


@pytest.mark.parametrize(
    ("locations", "expected"),
    [
        pytest.param([], None, id="no location"),
        pytest.param(
            [loc("a", latitude=41.8, longitude=-71.4)], ("a", "coordinates", 41.8, -71.4), id="coordinates"
        ),
        pytest.param([loc("a", postalCode="78834")], ("a", "postal-code", 28.5446, -99.8684), id="zip"),
        pytest.param(
            [loc("a", postalCode="78834-0012")], ("a", "postal-code", 28.5446, -99.8684), id="zip+4"
        ),
        pytest.param([loc("a", postalCode="788340012")], ("a", "postal-code", 28.5446, -99.8684), id="zip9"),
        pytest.param([loc("a", postalCode="99999")], None, id="zip with no ZCTA (PO box): not guessed"),
        pytest.param([loc("a", postalCode="K1A 0B1")], None, id="not a US ZIP"),
        pytest.param(
            [loc("a", latitude=41.8, postalCode="78834")],
            ("a", "postal-code", 28.5446, -99.8684),
            id="half a pair: the postal code instead",
        ),
        pytest.param(
            [loc("a", latitude=0, longitude=0, postalCode="02903")],
            ("a", "postal-code", 41.8191, -71.4092),
            id="0,0 placeholder: the postal code instead",
        ),
        pytest.param(
            [
                loc("a", "Mailing", latitude=40.0, longitude=-70.0),
                loc("b", "Home", latitude=41.8, longitude=-71.4),
            ],
            ("b", "coordinates", 41.8, -71.4),
            id="home before mailing",
        ),
        pytest.param(
            [loc("a", "home", postalCode="78834"), loc("b", "temp", latitude=41.8, longitude=-71.4)],
            ("b", "coordinates", 41.8, -71.4),
            id="any coordinates before any postal code",
        ),
    ],
)
def test_family_place(
    locations: list[dict[str, Any]], expected: tuple[str, str, float, float] | None
) -> None:
    place = fl.family_place(locations, CENTROIDS)
    if expected is None:
        assert place is None
        return
    assert place is not None
    assert (place.element_id, place.basis, place.point.lat, place.point.lon) == expected
    assert place.source == f"org-{expected[0]}"
    assert (
        place.explanation
        == {"coordinates": "from the address coordinates", "postal-code": "from the postal code"}[expected[1]]
    )


@pytest.mark.parametrize(
    ("birth", "day", "age"),
    [
        (dt.date(2010, 3, 14), dt.date(2026, 3, 13), 15.0),
        (dt.date(2010, 3, 14), dt.date(2026, 3, 14), 16.0),
        (dt.date(2012, 2, 29), dt.date(2026, 2, 28), 13.0),
        (dt.date(2012, 2, 29), dt.date(2026, 3, 1), 14.0),
        (None, dt.date(2026, 1, 1), None),
        (dt.date(2027, 1, 1), dt.date(2026, 1, 1), None),
    ],
)
def test_age_on(birth: dt.date | None, day: dt.date, age: float | None) -> None:
    assert fl.age_on(birth, day) == age


ISO639 = {"spa": "es", "vie": "vi"}


@pytest.mark.parametrize(
    ("languages", "expected"),
    [
        ([], ""),
        ([{"code": {"code": "spa"}, "use": "Home language"}], "es"),
        ([{"code": {"code": "es-MX"}}], "es"),
        (
            [
                {"code": {"code": "en"}, "use": "Correspondence"},
                {"code": {"code": "vie"}, "use": "Home language"},
            ],
            "vi",
        ),
        ([{"code": {"code": "hmn"}}], "hmn"),
        ([{"code": {"code": "Spanish"}}], "spanish"),
    ],
)
def test_family_language(languages: list[dict[str, Any]], expected: str) -> None:
    assert fl.family_language(languages, ISO639) == expected


def test_need_category_reads_the_need_crosswalk_backwards(artifacts: Artifacts) -> None:
    table = artifacts.codes["sdoh-category-need"]
    food = {"system": "http://snomed.info/sct", "code": "733423003", "display": "Food insecurity"}
    assert fl.need_category(food, table) == "food-insecurity"
    assert fl.need_category({"system": "http://snomed.info/sct", "code": "1"}, table) == ""


def test_a_sites_mappings_folder_may_carry_its_own_zip_table(tmp_path) -> None:
    (tmp_path / "geo").mkdir()
    (tmp_path / "geo" / "us-zcta-centroids.csv").write_text("zcta,latitude,longitude\n02903,41.5,-71.5\n")
    assert zcta_centroids(tmp_path) == {"02903": Point(lat=41.5, lon=-71.5)}
    assert len(zcta_centroids(tmp_path / "no-geo-here")) == 33791  # none of its own: the package's


@pytest.mark.parametrize(
    ("body", "where", "problem"),
    [
        ("zip,lat,lon\n02903,41.5,-71.5\n", "line 1", "the header lacks"),
        ("zcta,latitude,longitude\n2903,41.5,-71.5\n", "line 2", "five digits"),
        ("zcta,latitude,longitude\n02903,41.5,-71.5\n02904,north,-71.5\n", "line 3", "decimal degrees"),
        ("zcta,latitude,longitude\n02903,141.5,-71.5\n", "line 2", "within"),
    ],
)
def test_a_broken_zip_table_is_named_at_its_line(tmp_path, body: str, where: str, problem: str) -> None:
    (tmp_path / "geo").mkdir()
    (tmp_path / "geo" / "us-zcta-centroids.csv").write_text(body)
    with pytest.raises(ArtifactInvalid) as refused:
        zcta_centroids(tmp_path)
    [issue] = refused.value.issues
    assert issue.path == f"us-zcta-centroids.csv {where}"
    assert problem in issue.message


def test_the_shipped_zcta_table() -> None:
    table = zcta_centroids()
    assert len(table) == 33791
    assert table["78834"] == Point(lat=28.5446, lon=-99.8684)
    assert table["02903"].lat == pytest.approx(41.82, abs=0.01)
    assert all(len(key) == 5 and key.isdigit() for key in table)


def agreement(aid: str, schedule: list[tuple[str, list[str], list[str]]], **more: Any) -> Agreement:
    fields: dict[str, Any] = {
        "id": aid,
        "version": 1,
        "parties": frozenset(p for p, _, _ in schedule),
        "status": "active",
        "effective": dt.date(2026, 1, 1),
        "expires": dt.date(2030, 6, 30),
        "schedule": tuple(
            ScheduleEntry(party=p, sends=frozenset(s), receives=frozenset(r)) for p, s, r in schedule
        ),
        "purposes": frozenset({"care-coordination"}),
        "recipient_roles": frozenset({"coordinator"}),
    }
    return Agreement(**(fields | more))


SCHOOL, CLINIC = "school", "clinic"
RECEIVES = [(SCHOOL, ["location"], []), (CLINIC, [], ["location"])]
CC, COORD = "care-coordination", "coordinator"
ONLY_NEEDS = {CC: {COORD: ("needs",)}}
ONLY_LOCATIONS = {CC: {COORD: ("student.locations",)}}
TODAY = dt.date(2026, 12, 7)


@pytest.mark.parametrize(
    ("agreements", "reader", "role", "purpose", "allowed"),
    [
        pytest.param([], CLINIC, COORD, CC, False, id="no agreement"),
        pytest.param([agreement("a", RECEIVES)], CLINIC, COORD, CC, True, id="receives"),
        pytest.param([agreement("a", RECEIVES)], CLINIC, COORD, "treatment", False, id="other purpose"),
        pytest.param([agreement("a", RECEIVES)], CLINIC, "nurse", CC, False, id="other role"),
        pytest.param([agreement("a", RECEIVES)], SCHOOL, "nurse", "treatment", True, id="the sender's own"),
        pytest.param(
            [agreement("a", RECEIVES, status="suspended")], CLINIC, "coordinator", "care-coordination", False,
            id="suspended",
        ),
        pytest.param(
            [agreement("a", RECEIVES, expires=dt.date(2026, 6, 30))], CLINIC, COORD, CC, False, id="expired",
        ),
        pytest.param(
            [agreement("a", [(SCHOOL, ["identity"], []), (CLINIC, [], ["location"])])],
            CLINIC, "coordinator", "care-coordination", False, id="nobody sends location",
        ),
        pytest.param(
            [agreement("a", RECEIVES, field_sets=ONLY_NEEDS)], CLINIC, COORD, CC, False,
            id="minimum necessary leaves the slot out",
        ),
        pytest.param(
            [agreement("a", RECEIVES, field_sets=ONLY_LOCATIONS)], CLINIC, COORD, CC, True,
            id="minimum necessary names the slot",
        ),
    ],
)  # fmt: skip
def test_location_allowed(
    agreements: list[Agreement], reader: str, role: str, purpose: str, allowed: bool
) -> None:
    policy = PolicySet(
        organizations={SCHOOL: "school-district", CLINIC: "health-provider"},
        agreements=tuple(agreements),
        purposes=frozenset({"care-coordination", "treatment"}),
        roles=frozenset({"coordinator", "nurse"}),
        categories=frozenset({"location", "identity"}),
    )
    assert fl.location_allowed(policy, reader, role, purpose, TODAY) is allowed


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("latitude", "41.8236", 41.8236),
        ("latitude", " -33.5 ", -33.5),
        ("latitude", 90, 90.0),
        ("longitude", "-71.4128031", -71.412803),
        ("longitude", -180, -180.0),
    ],
)
def test_coordinate_transforms(name: str, value: Any, expected: float) -> None:
    assert apply_transform(name, value) == expected


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("latitude", "91", "between -90 and 90"),
        ("longitude", "-180.5", "between -180 and 180"),
        ("latitude", "N 41 49", "expected a latitude in decimal degrees"),
        ("longitude", "nan", "between -180 and 180"),
        ("latitude", "", "expected a latitude"),
    ],
)
def test_coordinate_transforms_refuse(name: str, value: Any, message: str) -> None:
    with pytest.raises(TransformError, match=message) as raised:
        apply_transform(name, value)
    assert str(value).strip() == "" or str(value).strip() not in str(raised.value)


def _map(artifacts: Artifacts, fmt: str, entity: str, record: dict[str, Any]) -> list[dict[str, Any]]:
    mapping = artifacts.mapping_for(fmt, entity)
    assert mapping is not None
    context = MappingContext(
        source_org="grand-bend-isd",
        message_id="msg-test",
        received_at="2026-11-23T12:00:00+00:00",
        record_digest=digest(record),
        identifier_systems={
            "student-id": "https://grandbend.example.org/ns/studentUniqueId",
            "fhir-patient": "https://riverside-health.example.org/fhir/Patient",
        },
        codes=artifacts.codes,
    )
    result = apply_mapping(mapping, record, context)
    return [dict(e.element) for e in result.elements if e.slot == "student.locations"]


SEOA: dict[str, Any] = {
    "studentReference": {"studentUniqueId": "604822"},
    "educationOrganizationReference": {"educationOrganizationId": 255901},
}
EDFI_HOME = "uri://ed-fi.org/AddressTypeDescriptor#Home"
GEO = "http://hl7.org/fhir/StructureDefinition/geolocation"


def _geo(lat: Any, lon: Any) -> list[dict[str, Any]]:
    inner = [{"url": "latitude", "valueDecimal": lat}, {"url": "longitude", "valueDecimal": lon}]
    return [{"url": GEO, "extension": inner}]


@pytest.mark.parametrize(
    ("fmt", "entity", "record", "expected"),
    [
        pytest.param(
            "edfi-json", "studentEducationOrganizationAssociations",
            {**SEOA, "addresses": [{"addressTypeDescriptor": EDFI_HOME, "postalCode": "02903",
                                    "latitude": "41.8236", "longitude": "-71.4128",
                                    "streetNumberName": "1 Main"}]},
            [{"latitude": 41.8236, "longitude": -71.4128, "postalCode": "02903", "use": "Home"}],
            id="Ed-Fi: coordinates as text, postal code, address type",
        ),
        pytest.param(
            "edfi-json", "studentEducationOrganizationAssociations",
            {**SEOA, "addresses": [{"addressTypeDescriptor": EDFI_HOME, "city": "Providence"}]},
            [], id="Ed-Fi: an address with neither coordinates nor postal code maps nothing",
        ),
        pytest.param(
            "fhir-json", "Patient",
            {"resourceType": "Patient", "id": "p1",
             "address": [{"use": "home", "postalCode": "02903", "extension": _geo(41.8236, -71.4128)},
                         {"use": "old", "postalCode": "78834"},
                         {"use": "temp", "extension": _geo(41.9, -71.3)}]},
            [{"latitude": 41.8236, "longitude": -71.4128, "postalCode": "02903", "use": "home"},
             {"latitude": 41.9, "longitude": -71.3, "use": "temp"}],
            id="FHIR: geolocation extension; an old address left out",
        ),
    ],
)  # fmt: skip
def test_location_mapping(
    artifacts: Artifacts, fmt: str, entity: str, record: dict[str, Any], expected: list[dict[str, Any]]
) -> None:
    found = _map(artifacts, fmt, entity, record)
    assert [
        {k: v for k, v in e.items() if k not in {"id", "provenance", "labels"}} for e in found
    ] == expected
    for element in found:
        assert element["labels"]["category"] == "location"
        assert element["labels"]["sensitivity"] == "restricted"
        assert "1 Main" not in str(element)


def test_a_bad_coordinate_fails_the_record_naming_the_field(artifacts: Artifacts) -> None:
    record = copy.deepcopy(SEOA)
    record["addresses"] = [{"postalCode": "02903", "latitude": "forty-one", "longitude": "-71.4"}]
    with pytest.raises(MappingFailed) as raised:
        _map(artifacts, "edfi-json", "studentEducationOrganizationAssociations", record)
    assert any("latitude" in i.path for i in raised.value.issues)
    assert "forty-one" not in str([i.message for i in raised.value.issues])
