"""A record whose own category the sender's agreement covers lands even when some of its elements
carry a category the agreement does not (an address's `location`): those elements are left behind,
named in the summary; a record whose own category is not covered is still refused whole."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from gateway.service.administration.setup import InitReport, load_samples
from gateway.service.exchange.inbound import Inbound
from gateway.service.exchange.ingest import ingest
from gateway.service.runtime import Runtime
from tests.conftest import PROJECT_ROOT
from tests.helpers import LISA, coordinator_view, send_demo

SEOA = json.loads(
    (PROJECT_ROOT / "tests/samples/edfi/student-education-organization-associations.json").read_text()
)
HOME = {"latitude": "41.8240", "longitude": "-71.4128"}


def _world(tmp_path: Path, drop: dict[str, set[str]]) -> Path:
    """The sample policy folder with categories taken out of a party's ``sends`` in every agreement."""
    folder = tmp_path / "policies"
    shutil.copytree(PROJECT_ROOT / "consent_policies" / "samples", folder)
    for path in (folder / "agreements").glob("*.yaml"):
        doc = yaml.safe_load(path.read_text("utf-8"))
        for entry in doc["schedule"]:
            entry["sends"] = [c for c in entry.get("sends", []) if c not in drop.get(entry["party"], set())]
        path.write_text(yaml.safe_dump(doc), "utf-8")
    return folder


def _send_seoa(rt: Runtime) -> dict:
    record = dict(SEOA["record"])
    record["addresses"] = [{**record["addresses"][0], **HOME}]
    summary = ingest(
        rt,
        Inbound(
            source_org="grand-bend-isd",
            format_name="edfi-json",
            entity="studentEducationOrganizationAssociations",
            payload=json.dumps([record]).encode(),
        ),
    )
    return summary.to_dict()


@pytest.mark.parametrize(
    ("drop", "status", "accepted", "located", "reason"),
    [
        pytest.param({}, "mapped", 1, True, "", id="agreement covers location: all lands"),
        pytest.param(
            {"grand-bend-isd": {"location"}},
            "mapped",
            1,
            False,
            "elements of category location not kept",
            id="location not covered: the rest lands, the location is left behind",
        ),
        pytest.param(
            {"grand-bend-isd": {"location", "identity"}},
            "rejected",
            0,
            False,
            "denied by policy",
            id="the record's own category not covered: refused whole",
        ),
    ],
)
def test_a_record_lands_without_what_its_senders_agreement_does_not_cover(
    bare_rt: Runtime, tmp_path: Path, drop, status, accepted, located, reason
) -> None:
    load_samples(bare_rt, _world(tmp_path, drop), InitReport(database="-", home="-"))
    send_demo(bare_rt, "01")  # the district registers Lisa
    summary = _send_seoa(bare_rt)
    assert (summary["status"], summary["accepted"]) == (status, accepted)
    listed = [r["reason"] for r in summary["records"]]
    assert bool(listed) == bool(reason), listed
    assert all(reason in r for r in listed), listed
    if accepted:
        plan = coordinator_view(bare_rt, LISA)
        assert bool(plan.get("student", {}).get("locations")) == located
        assert plan["student"]["languages"], "the rest of the record landed"
