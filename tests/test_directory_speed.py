"""The faster match (issue 16 latency) gives exactly the suggestions of the straightforward one:
``search`` reads the circle dropping, before their schedules are decoded, the services the ranking
would refuse (``matching.admissible``); here it is compared, suggestion by suggestion and in order,
with ``rank`` over every service near the place, on a directory varied in every field a filter
reads (status, capacity, ages, languages, service areas, terms of each taxonomy, keywords in the
name or description, hours), for many needs (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import json
import pathlib
import random
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from gateway.core.geo import Point
from gateway.core.matching import NeedQuery, rank
from gateway.core.need_taxonomy import TABLE
from gateway.service.directory.directory import services_near
from gateway.service.directory.directory_import import import_path
from gateway.service.directory.directory_search import search
from gateway.service.runtime import Runtime

NY = ZoneInfo("America/New_York")
CENTRE = Point(lat=41.82, lon=-71.41)
CATEGORIES = ("food-insecurity", "housing-instability", "homelessness", "transportation-insecurity")
TERMS = [
    ("AIRS", "BD-1800.2000"), ("AIRS", "BH-1800"), ("211", "BT-4500"), ("AIRS", "BD-18001"),
    ("Open Eligibility", "food pantry"), ("OE", "housing"), ("local", "rent assistance"), ("local", "rides"),
    ("local", "knitting"),
]  # fmt: skip
WORDS = [
    "",
    "Groceries for families",
    "Tenant advice",
    "Bus fare help",
    "Knitting circle",
    "Homeless drop-in",
]


NAMES = ["Service", "Food Pantry", "Rental help", "Ride to care"]
AREAS = ["02903", "02860", "Providence County"]
HOURS = [[], [("MO,WE", "09:00", "17:00")], [("SA", "10:00", "12:00")], [("TU", "18:00", "21:00")]]


def _directory(count: int, seed: int) -> list[dict[str, Any]]:
    rand = random.Random(seed)
    return [_record(rand, i) for i in range(count)]


def _record(rand: random.Random, i: int) -> dict[str, Any]:
    sid = f"s{i}"
    terms = rand.sample(TERMS, rand.choice((0, 0, 1, 2)))
    languages = rand.sample(["en", "es", "pt", "spa"], rand.randint(0, 2))
    areas = [rand.choice(AREAS)] if rand.random() < 0.3 else []
    location = {"id": f"loc-{sid}", "location_type": "physical", "name": f"Place {i}",
                "latitude": round(CENTRE.lat + rand.uniform(-0.06, 0.06), 6),
                "longitude": round(CENTRE.lon + rand.uniform(-0.08, 0.08), 6)}  # fmt: skip
    schedules = [{"id": f"{sid}-h{k}", "freq": "WEEKLY", "byday": d, "opens_at": o, "closes_at": c}
                 for k, (d, o, c) in enumerate(rand.choice(HOURS))]  # fmt: skip
    return {
        "id": sid, "name": f"{rand.choice(NAMES)} {i}", "description": rand.choice(WORDS),
        "status": rand.choice(["active", "active", "Active ", "inactive"]),
        "organization": {"id": f"o{i}", "name": f"Org {i}", "description": ""},
        "languages": [{"id": f"{sid}-{c}", "code": c} for c in languages],
        "minimum_age": rand.choice([None, 0, 5, 12]), "maximum_age": rand.choice([None, 10, 18]),
        "capacities": [{"id": f"{sid}-c", "available": n, "unit": "places"} for n in rand.sample([0, 3], 1)]
        if rand.random() < 0.4 else [],
        "service_areas": [{"id": f"{sid}-a{k}", "name": a} for k, a in enumerate(areas)],
        "attributes": [{"id": f"{sid}-t{k}", "link_entity": "service", "link_type": "service_category",
                        "taxonomy_term": {"id": f"t-{tax}-{code}", "code": code, "name": code,
                                          "taxonomy": tax}}
                       for k, (tax, code) in enumerate(terms)],
        "service_at_locations": [{"id": f"sal-{sid}", "location": location, "schedules": schedules}],
    }  # fmt: skip


def _needs(count: int, seed: int) -> list[NeedQuery]:
    rand = random.Random(seed)
    return [
        NeedQuery(
            category=rand.choice(CATEGORIES),
            point=Point(
                lat=CENTRE.lat + rand.uniform(-0.05, 0.05), lon=CENTRE.lon + rand.uniform(-0.06, 0.06)
            ),
            when=dt.datetime(2026, 12, rand.randint(1, 28), rand.randint(6, 21), tzinfo=NY),
            language=rand.choice(["", "", "es", "Spanish", "pt", "en"]),
            age=rand.choice([None, 4.0, 11.5, 17.0]),
            postal_code=rand.choice(["", "", "02903"]),
            km=rand.choice([1.0, 3.0, 5.0]),
            transit=False,
            limit=rand.choice([3, 10, 50]),
            timezone="America/New_York",
        )
        for _ in range(count)
    ]


@pytest.fixture
def directory(bare_rt: Runtime, tmp_path: pathlib.Path) -> Runtime:
    path = tmp_path / "directory.json"
    path.write_text(json.dumps(_directory(400, seed=16)), "utf-8")
    import_path(bare_rt, path, source="varied")
    return bare_rt


def test_search_suggests_exactly_what_ranking_every_service_near_suggests(directory: Runtime) -> None:
    crosswalk = directory.artifacts.codes.get(TABLE)
    compared = suggested = 0
    for need in _needs(120, seed=3):
        expected = rank(need, services_near(directory, need.point, need.km), None, crosswalk=crosswalk)
        found = search(directory, need)
        assert [s.to_dict() for s in found] == [s.to_dict() for s in expected], need
        assert [s.service for s in found] == [s.service for s in expected]  # schedules and all
        compared, suggested = compared + 1, suggested + len(found)
    assert compared == 120
    assert suggested > 300  # the needs do find services: the comparison bites


def test_services_near_keeps_only_what_the_test_accepts_nearest_first(directory: Runtime) -> None:
    every = services_near(directory, CENTRE, 4.0)
    kept = services_near(directory, CENTRE, 4.0, keep=lambda s: s.name.startswith("Food"))
    assert kept == [s for s in every if s.name.startswith("Food")]
    assert 0 < len(kept) < len(every)
