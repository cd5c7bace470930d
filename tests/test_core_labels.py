"""Labels: a derived element carries the most restrictive regime and sensitivity of its
sources, filed under the category it is given."""

from __future__ import annotations

import pytest

from gateway.core.labels import REGIMES, SENSITIVITIES, Labels, combine


def label(regime: str, sensitivity: str, category: str = "source") -> Labels:
    return Labels(regime=regime, sensitivity=sensitivity, category=category)


def test_orders_run_from_least_to_most_restrictive() -> None:
    assert REGIMES == ("not-covered", "FERPA", "HIPAA", "42CFRPart2")
    assert SENSITIVITIES == ("normal", "restricted", "very-restricted")


@pytest.mark.parametrize(
    ("sources", "regime", "sensitivity"),
    [
        # one source
        pytest.param([("FERPA", "normal")], "FERPA", "normal", id="one source keeps its labels"),
        # regime
        pytest.param(
            [("not-covered", "normal"), ("FERPA", "normal")], "FERPA", "normal", id="FERPA over not-covered"
        ),
        pytest.param([("FERPA", "normal"), ("HIPAA", "normal")], "HIPAA", "normal", id="HIPAA over FERPA"),
        pytest.param(
            [("42CFRPart2", "normal"), ("HIPAA", "normal")],
            "42CFRPart2",
            "normal",
            id="Part 2 over HIPAA, whatever the order",
        ),
        pytest.param(
            [("FERPA", "normal"), ("42CFRPart2", "normal"), ("not-covered", "normal")],
            "42CFRPart2",
            "normal",
            id="most restrictive of three",
        ),
        # sensitivity
        pytest.param(
            [("FERPA", "restricted"), ("FERPA", "normal")], "FERPA", "restricted", id="restricted over normal"
        ),
        pytest.param(
            [("FERPA", "very-restricted"), ("FERPA", "restricted")],
            "FERPA",
            "very-restricted",
            id="very-restricted over restricted",
        ),
        # independent axes
        pytest.param(
            [("HIPAA", "normal"), ("FERPA", "very-restricted")],
            "HIPAA",
            "very-restricted",
            id="regime and sensitivity are taken independently",
        ),
        # duplicates
        pytest.param([("HIPAA", "restricted")] * 3, "HIPAA", "restricted", id="identical sources"),
    ],
)
def test_combine(sources: list[tuple[str, str]], regime: str, sensitivity: str) -> None:
    combined = combine((label(r, s) for r, s in sources), "care-plan")
    assert combined == Labels(regime=regime, sensitivity=sensitivity, category="care-plan")


def test_combine_files_under_the_given_category_not_a_source_category() -> None:
    combined = combine(
        [label("FERPA", "normal", "attendance"), label("HIPAA", "normal", "sdoh-screening")], "academic"
    )
    assert combined.category == "academic"


def test_combine_needs_at_least_one_label() -> None:
    with pytest.raises(ValueError, match="at least one label"):
        combine([], "care-plan")


def test_combine_refuses_an_unknown_regime() -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the message is checked below
        combine([label("GDPR", "normal"), label("FERPA", "normal")], "x")


def test_combine_names_the_unknown_regime() -> None:
    with pytest.raises(ValueError, match="GDPR"):
        combine([label("GDPR", "normal"), label("FERPA", "normal")], "x")


def test_to_dict() -> None:
    assert label("HIPAA", "restricted", "sdoh-screening").to_dict() == {
        "regime": "HIPAA",
        "sensitivity": "restricted",
        "category": "sdoh-screening",
    }
