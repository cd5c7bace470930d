"""A plan read that shows nothing takes at least the configured floor, known student or not, so
its timing does not tell them apart (the benchmark measures the medians: benchmarks/run_denials)."""

from __future__ import annotations

import time

import pytest

from gateway.errors import NotFound
from gateway.service.runtime import Runtime
from gateway.service.views.plans import ReadRequest, read_plan
from tests.helpers import DISTRICT_IDS, send_demo

READER = ReadRequest(
    student_id="", organization_id="northside-food-bank", actor="t", role="case-worker", purpose="research"
)


@pytest.mark.parametrize("value", ["604822", "999999"], ids=["known", "unknown"])
def test_a_denial_takes_at_least_the_floor(rt: Runtime, value: str) -> None:
    for prefix in ("01", "04", "05"):
        send_demo(rt, prefix)
    started = time.monotonic()
    with pytest.raises(NotFound) as caught:
        read_plan(rt, READER, student_ref=f"{DISTRICT_IDS}|{value}")
    assert time.monotonic() - started >= rt.settings.denial_floor_ms / 1000
    assert value not in str(caught.value)
