"""A fixed delivery body against what may go now (gateway.core.delivery_body), as a table."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from gateway.core.delivery_body import OBLIGATIONS_ADDED, RELABELLED, WITHDRAWN, narrowing

LABELS = {"regime": "FERPA", "sensitivity": "restricted", "category": "identity"}
RETAIN = {"type": "retain-until", "agreement": "a-1", "date": "2027-11-23"}
NO_REDISCLOSURE = {"type": "no-redisclosure", "agreement": "a-1", "terms": "prohibited"}
NOTICE = {"type": "attach-notice", "regulation": "42 CFR 2.32", "text": "..."}


def body(*ids: str, obligations: tuple[dict[str, Any], ...] = (RETAIN, NO_REDISCLOSURE)) -> dict[str, Any]:
    elements = [{"id": i, "value": {"system": "s", "value": i}, "labels": dict(LABELS)} for i in ids]
    return {"plan": {"student": {"identifiers": elements}}, "obligations": list(obligations)}


def relabelled(value: dict[str, Any], element_id: str, **labels: str) -> dict[str, Any]:
    changed = copy.deepcopy(value)
    for element in changed["plan"]["student"]["identifiers"]:
        if element["id"] == element_id:
            element["labels"].update(labels)
    return changed


CASES = [
    # -- the same or more may go: the body goes as queued
    pytest.param(body("e1", "e2"), body("e1", "e2"), None, (), id="the same"),
    pytest.param(body("e1"), body("e1", "e2"), None, (), id="more elements may go now"),
    pytest.param(body("e1"), body("e1", obligations=(RETAIN,)), None, (), id="fewer obligations now"),
    pytest.param(
        body("e1"),
        body("e1", obligations=({**RETAIN, "date": "2027-12-01"}, NO_REDISCLOSURE)),
        None,
        (),
        id="a retention computed later ends later",
    ),
    # -- less may go: the body must not
    pytest.param(body("e1", "e2"), body("e1"), WITHDRAWN, ("e2",), id="an element denied or retracted"),
    pytest.param(body("e1", "e2"), body("e3"), WITHDRAWN, ("e1", "e2"), id="every element withdrawn"),
    pytest.param(
        body("e1", "e2"),
        relabelled(body("e1", "e2"), "e2", regime="42CFRPart2"),
        RELABELLED,
        ("e2",),
        id="a stricter regime",
    ),
    pytest.param(
        body("e1"),
        body("e1", obligations=({**RETAIN, "date": "2027-01-01"}, NO_REDISCLOSURE)),
        OBLIGATIONS_ADDED,
        ("retain-until",),
        id="a shorter retention",
    ),
    pytest.param(
        body("e1"),
        body("e1", obligations=(RETAIN, NO_REDISCLOSURE, NOTICE)),
        OBLIGATIONS_ADDED,
        ("attach-notice",),
        id="a notice now required",
    ),
    pytest.param(
        body("e1"),
        body("e1", obligations=(RETAIN, {**NO_REDISCLOSURE, "terms": "with-consent"})),
        OBLIGATIONS_ADDED,
        ("no-redisclosure",),
        id="other redisclosure terms",
    ),
]


@pytest.mark.parametrize(("stored", "current", "code", "concerns"), CASES)
def test_narrowing(
    stored: dict[str, Any], current: dict[str, Any], code: str | None, concerns: tuple[str, ...]
) -> None:
    found = narrowing(stored, current)
    if code is None:
        assert found is None
        return
    assert found is not None
    assert found.code == code
    assert (found.element_ids or found.obligation_types) == concerns
    assert found.describe().startswith("the queued body holds more than may go now: ")
