"""The need category -> directory taxonomy crosswalk: how a service's terms, name or description
answer a category (gateway.core.need_taxonomy), and the table checked at load like every crosswalk."""

from __future__ import annotations

import pathlib
import shutil
from typing import Any

import pytest
import yaml

from gateway.artifacts import load_artifacts
from gateway.core.directory import ServiceAtLocation, Term
from gateway.core.need_taxonomy import TABLE, category_terms, match_category
from gateway.errors import ArtifactInvalid

ROOT = pathlib.Path(__file__).resolve().parent.parent
FILE = f"mappings/codes/{TABLE}.yaml"


@pytest.fixture(scope="module")
def table() -> dict[str, Any]:
    return load_artifacts(ROOT).codes[TABLE]


def service(*terms: Term, name: str = "Community Center", description: str = "") -> ServiceAtLocation:
    return ServiceAtLocation(id="x", source="t", service_id="x", location_id="l", name=name, organization="o",
                             description=description, terms=terms)  # fmt: skip


MATCHES = [
    # 211 / AIRS: hierarchical, under whatever name the directory gives the taxonomy
    ("food-insecurity", [Term(taxonomy="AIRS", code="BD-1800.2000")], "", "211/AIRS BD-1800.2000"),
    ("food-insecurity", [Term(taxonomy="211 LA County", code="BD-1800")], "", "211/AIRS BD-1800"),
    ("food-insecurity", [Term(taxonomy="Inform USA", code="bd-5000.8300")], "", "211/AIRS BD-5000.8300"),
    ("food-insecurity", [Term(taxonomy="", code="BD-1800.2000-180")], "", "211/AIRS BD-1800.2000-180"),
    ("food-insecurity", [Term(taxonomy="AIRS", code="BD-18001")], "", None),  # not a child of BD-1800
    ("food-insecurity", [Term(taxonomy="AIRS", code="BH-1800.8500")], "", None),
    ("homelessness", [Term(taxonomy="AIRS", code="BH-1800.8500")], "", "211/AIRS BH-1800.8500"),
    ("transportation-insecurity", [Term(taxonomy="AIRS", code="BT-4500")], "", "211/AIRS BT-4500"),
    # Open Eligibility and the directory's own terms, by label or code, without case
    ("food-insecurity", [Term(taxonomy="Open Eligibility", code="food-pantry", label="Food Pantry")], "",
     "Open Eligibility Food Pantry"),
    ("food-insecurity", [Term(taxonomy="openeligibility", code="emergency food")], "",
     "Open Eligibility emergency food"),
    ("food-insecurity", [Term(taxonomy="Miami 211", code="SK", label="Soup Kitchen")], "",
     "directory term Soup Kitchen"),
    ("utility-insecurity", [Term(taxonomy="directory", code="LIHEAP")], "", "directory term LIHEAP"),
    # the first matching term in the service's order is named
    ("food-insecurity", [Term(taxonomy="AIRS", code="BH-1800"), Term(taxonomy="AIRS", code="BD-5000")], "",
     "211/AIRS BD-5000"),
    # words as the stated fallback: whole words or word starts
    ("food-insecurity", [], "Eastside Food Bank|", "matched by its name"),
    ("food-insecurity", [], "St Mary's|Free groceries on Saturdays", "matched by its description"),
    ("food-insecurity", [], "Seafood Restaurant|", None),
    ("stress", [], "Teen Center|Counseling for families", "matched by its description"),
    ("digital-access", [], "Library|Free Wi-Fi and hotspot lending", "matched by its description"),
]  # fmt: skip


@pytest.mark.parametrize(("category", "terms", "words", "expected"), MATCHES)
def test_match_category(
    table: dict[str, Any], category: str, terms: list[Term], words: str, expected: str | None
) -> None:
    name, _, description = words.partition("|")
    found = match_category(
        category_terms(table, category), service(*terms, name=name or "X", description=description)
    )
    assert (found[0] if found else None) == expected


def test_every_category_is_a_gateway_need_category(table: dict[str, Any]) -> None:
    categories = set(load_artifacts(ROOT).codes["sdoh-category-domain"])
    assert set(table) <= categories, set(table) - categories


@pytest.fixture
def root(tmp_path: pathlib.Path) -> pathlib.Path:
    for folder in ("schemas", "mappings", "consent_policies"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    return tmp_path


@pytest.mark.parametrize(
    ("change", "where", "message"),
    [
        (lambda to: to.__setitem__("airs", ["food pantry"]), "$.entries[0].to.airs[0]", "does not match"),
        (lambda to: to.pop("keywords"), "$.entries[0].to", "'keywords' is a required property"),
        (lambda to: to.__setitem__("labels", ["x"]), "$.entries[0].to", "Additional properties"),
        (lambda to: to.__setitem__("keywords", ["Food"]), "$.entries[0].to.keywords[0]", "does not match"),
    ],
    ids=["not an AIRS code", "no keywords", "unknown key", "keyword not lower case"],
)
def test_a_broken_entry_stops_loading_naming_it(
    root: pathlib.Path, change: Any, where: str, message: str
) -> None:
    path = root / FILE
    doc = yaml.safe_load(path.read_text("utf-8"))
    change(doc["entries"][0]["to"])
    path.write_text(yaml.safe_dump(doc, sort_keys=False), "utf-8")
    with pytest.raises(ArtifactInvalid) as caught:
        load_artifacts(root)
    found = [(i.path, i.message) for i in caught.value.issues]
    assert any(p == f"{FILE}: {where}" and message in m for p, m in found), found
