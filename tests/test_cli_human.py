"""The CLI for people: human output by default and the old JSON with ``--json`` on every list and
show command, a mistyped format refused at once, ``policy explain`` without ``--regime`` giving
the decision a real read makes, and one word (``--recipient``) for what the API calls recipient."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from click.testing import CliRunner, Result

from gateway.cli import main
from gateway.core.plan import iter_elements
from gateway.errors import NotFound
from gateway.formats import known_formats
from gateway.service.exchange import messages as message_service
from gateway.service.policy.explain import explain
from gateway.service.referrals.deliveries import list_deliveries
from gateway.service.runtime import Runtime
from gateway.service.views.plans import ReadRequest, read_plan
from gateway.storage import plan_store
from tests.helpers import DISTRICT_IDS, LISA, demo_file, send_demo

CLINIC, DISTRICT, FOOD_BANK = "riverside-health", "grand-bend-isd", "northside-food-bank"
LISA_REF = f"{DISTRICT_IDS}|604822"
ANSI = "\x1b["

Spgw = Callable[..., Result]


@pytest.fixture
def lisa(rt: Runtime) -> Runtime:
    """Lisa's plan with the district's and the clinic's records; her mother (who signed the
    sample consents) is linked by the district's contact association (08)."""
    for prefix in ("01", "02", "03", "05", "04", "08"):
        send_demo(rt, prefix)
    return rt


@pytest.fixture
def spgw(rt: Runtime, monkeypatch: pytest.MonkeyPatch) -> Spgw:
    monkeypatch.setenv("GATEWAY_DATABASE_URL", rt.settings.database_url)
    monkeypatch.delenv("NO_COLOR", raising=False)

    def run(*args: str) -> Result:
        return CliRunner().invoke(main, ["--home", str(rt.settings.home), *args])

    return run


READER = ("--as", DISTRICT, "--role", "coordinator", "--purpose", "care-coordination")
REFERRAL = ("refer", LISA_REF, "--source", DISTRICT, "--recipient", FOOD_BANK, "--role", "case-worker")

# command, what the human form shows (headers, section titles), what the JSON form is
COMMANDS: list[tuple[tuple[str, ...], tuple[str, ...], Callable[[Any], bool]]] = [
    (
        ("plan", "show", LISA_REF, *READER),
        ("Student", "Lisa M Woods", "Needs", "Family & basic needs", "Terms of this view", "source", "date"),
        lambda doc: set(doc) == {"plan", "version", "disclosure"} and doc["plan"]["student"]["id"] == LISA,
    ),
    (
        ("messages", "list"),
        ("Messages", "received", "status", "source", "format", "records", "reason"),
        lambda doc: isinstance(doc, list) and {"id", "status", "receivedAt", "counts"} <= set(doc[0]),
    ),
    (
        ("deliveries", "list"),
        ("Deliveries", "queued", "delivery", "status", "to", FOOD_BANK),
        lambda doc: isinstance(doc, list) and doc[0]["recipient"] == FOOD_BANK,
    ),
    (
        ("audit", "disclosures", LISA_REF),
        ("Accounting of disclosures", "recipient", "purpose", "care-coordination"),
        lambda doc: {"student", "disclosures", "denials", "family"} <= set(doc),
    ),
    (
        (
            "policy",
            "explain",
            "--source",
            CLINIC,
            "--recipient",
            DISTRICT,
            "--category",
            "sdoh-screening",
            "--purpose",
            "care-coordination",
            "--role",
            "coordinator",
            "--student",
            LISA_REF,
        ),
        ("PERMIT", "decided for: HIPAA, restricted", "basis: consent:"),
        lambda doc: doc["effect"] == "permit" and doc["inputs"]["regimes"] == ["HIPAA"],
    ),
]


@pytest.mark.parametrize(("command", "shown", "shape"), COMMANDS, ids=[" ".join(c[0][:2]) for c in COMMANDS])
def test_human_by_default_json_with_the_flag(
    lisa: Runtime, spgw: Spgw, command: tuple[str, ...], shown: tuple[str, ...], shape: Callable[[Any], bool]
) -> None:
    queued = spgw(*REFERRAL, "--purpose", "referral-fulfillment", "--json")
    assert queued.exit_code == 0, queued.output
    spgw("plan", "show", LISA_REF, *READER, "--json")  # a disclosure for the accounting to list
    human = spgw(*command)
    assert human.exit_code == 0, human.output
    assert all(text in human.stdout for text in shown), human.stdout
    assert ANSI not in human.stdout  # not a terminal: plain text
    assert "{" not in human.stdout.splitlines()[0]
    machine = spgw(*command, "--json")
    assert machine.exit_code == 0, machine.output
    assert shape(json.loads(machine.stdout))


def test_json_is_the_shape_the_service_answers(lisa: Runtime, spgw: Spgw) -> None:
    spgw(*REFERRAL, "--purpose", "referral-fulfillment")
    messages = json.loads(spgw("messages", "list", "--json").stdout)
    assert messages == json.loads(json.dumps(message_service.list_messages(lisa), default=str))
    deliveries = json.loads(spgw("deliveries", "list", "--json").stdout)
    assert deliveries == [d.to_dict() for d in list_deliveries(lisa)]
    [partial, *_] = [m for m in messages if m["status"] == "partial"]
    one = json.loads(spgw("messages", "show", partial["id"], "--json").stdout)
    assert one == json.loads(json.dumps(message_service.show_message(lisa, partial["id"]), default=str))
    shown = spgw("messages", "show", partial["id"]).stdout
    assert all(
        t in shown for t in ("Message", "received", "Records", "location", one["records"][0]["location"])
    )


def test_plan_show_names_what_the_view_cannot_include_from_agreements_and_consents(
    lisa: Runtime, spgw: Spgw
) -> None:
    shown = spgw("plan", "show", LISA_REF, *READER).stdout
    tail = shown[shown.index("What this view cannot include") :]
    # The agreement schedules the clinic's health conditions, but not for the district to receive.
    assert "health-condition from riverside-health" in tail
    assert "no agreement in force" in tail
    # The same statements for a student with no clinic records at all: never from what exists.
    send_demo(lisa, "01")
    other = spgw("plan", "show", f"{DISTRICT_IDS}|604834", *READER)
    assert other.exit_code == 0, other.output
    assert "health-condition from riverside-health" in other.stdout


def test_empty_lists_say_so(bare_spgw: Spgw) -> None:
    assert bare_spgw("messages", "list").stdout.strip() == "no messages"
    assert bare_spgw("deliveries", "list").stdout.strip() == "no deliveries"


@pytest.fixture
def bare_spgw(bare_rt: Runtime, monkeypatch: pytest.MonkeyPatch) -> Spgw:
    monkeypatch.setenv("GATEWAY_DATABASE_URL", bare_rt.settings.database_url)
    return lambda *args: CliRunner().invoke(main, ["--home", str(bare_rt.settings.home), *args])


# -- formats ---------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["ingest", "check"])
def test_help_lists_the_formats(spgw: Spgw, command: str) -> None:
    text = " ".join(spgw(command, "--help").stdout.split())
    assert all(name in text for name in [*known_formats(), "oneroster"])


MISTYPED = [("edfi-jsn", "edfi-json"), ("fhir_json", "fhir-json"), ("csv", "")]


@pytest.mark.parametrize("command", ["ingest", "check"])
@pytest.mark.parametrize(("typed", "hint"), MISTYPED)
def test_a_mistyped_format_is_refused_at_once_and_nothing_is_stored(
    rt: Runtime, spgw: Spgw, command: str, typed: str, hint: str
) -> None:
    before = message_service.list_messages(rt)
    result = spgw(command, typed, str(demo_file("01")), "--source", DISTRICT)
    assert result.exit_code == 2
    assert f"unknown format '{typed}'" in result.output
    assert all(name in result.output for name in known_formats())
    assert (f"did you mean '{hint}'" in result.output) == bool(hint)
    assert message_service.list_messages(rt) == before


def test_no_progress_bar_off_a_terminal(rt: Runtime, spgw: Spgw) -> None:
    result = spgw("ingest", "edfi-json", str(demo_file("01")), "--source", DISTRICT)
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    assert result.stdout.startswith("accepted 3")


# -- one word for one thing ------------------------------------------------------------------


def test_recipient_is_the_word_and_to_still_works(lisa: Runtime, spgw: Spgw) -> None:
    help_text = spgw("refer", "--help").stdout
    assert "--recipient" in help_text
    assert "--source" in help_text
    assert "--to" not in help_text
    assert "--from" not in help_text
    old = ("refer", LISA_REF, "--from", DISTRICT, "--to", FOOD_BANK, "--role", "case-worker")
    result = spgw(*old, "--purpose", "referral-fulfillment", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["recipient"] == FOOD_BANK
    assert "--to" not in spgw("policy", "explain", "--help").stdout


# -- policy explain without --regime: the decision a read makes ------------------------------


# with mother linked, source, category, reader, role, purpose, whether the read shows it
READS = [
    # The sample consent covers the clinic's screening for the district's coordinator...
    (True, CLINIC, "sdoh-screening", DISTRICT, "coordinator", "care-coordination", True),
    # ...but counts only once the mother who signed it is linked (explain used to say permit).
    (False, CLINIC, "sdoh-screening", DISTRICT, "coordinator", "care-coordination", False),
    # FERPA records need a consent or an exception; treatment is no FERPA exception.
    (True, DISTRICT, "identity", CLINIC, "clinician", "treatment", False),
    (True, DISTRICT, "attendance", CLINIC, "nurse", "care-coordination", False),
    # The referral consent lets the food bank's case worker see the district's identity records...
    (True, DISTRICT, "identity", FOOD_BANK, "case-worker", "referral-fulfillment", True),
    # ...not the clinic's (HIPAA, no consent from the clinic).
    (True, CLINIC, "identity", FOOD_BANK, "case-worker", "referral-fulfillment", False),
    # No agreement lets the district receive the clinic's identity records.
    (True, CLINIC, "identity", DISTRICT, "coordinator", "care-coordination", False),
]


def _read_shows(rt: Runtime, source: str, category: str, reader: str, role: str, purpose: str) -> bool:
    request = ReadRequest(student_id=LISA, organization_id=reader, actor="t", role=role, purpose=purpose)
    try:
        plan = read_plan(rt, request).plan
    except NotFound:
        return False
    return any(_of(e, source, category) for _, e in iter_elements(plan))


def _of(element: Any, source: str, category: str) -> bool:
    return element["provenance"]["sourceOrganization"] == source and element["labels"]["category"] == category


@pytest.mark.parametrize(("linked", "source", "category", "reader", "role", "purpose", "shown"), READS)
def test_explain_without_regime_agrees_with_a_real_read(
    rt: Runtime,
    linked: bool,
    source: str,
    category: str,
    reader: str,
    role: str,
    purpose: str,
    shown: bool,
) -> None:
    for prefix in ("01", "02", "03", "05", "04", *(("08",) if linked else ())):
        send_demo(rt, prefix)
    with rt.sessions() as session:
        stored = plan_store.get_plan(session, LISA)
        assert stored is not None
        assert any(_of(e, source, category) for _, e in iter_elements(stored.document))  # the data exists
    asked = {
        "source": source,
        "recipient": reader,
        "categories": [category],
        "purpose": purpose,
        "role": role,
    }
    answer = explain(rt, **asked, actor="t", student_ref=LISA_REF, as_read=True)
    assert _read_shows(rt, source, category, reader, role, purpose) == shown
    assert (answer["effect"] == "permit") == shown, answer["reasons"]


def test_the_cli_explains_as_a_read_and_a_given_regime_still_wins(rt: Runtime, spgw: Spgw) -> None:
    for prefix in ("01", "05", "04"):  # the mother who signed is not linked: the read denies
        send_demo(rt, prefix)
    asked = ("policy", "explain", "--source", CLINIC, "--recipient", DISTRICT, "--category", "sdoh-screening")
    asked += ("--purpose", "care-coordination", "--role", "coordinator")
    for student in ((), ("--student", LISA_REF)):
        result = spgw(*asked, *student)
        assert result.exit_code == 0, result.output
        assert result.stdout.startswith("DENY")
        assert "decided for: HIPAA, restricted" in result.stdout
    given = json.loads(spgw(*asked, "--regime", "not-covered", "--json").stdout)
    assert (given["effect"], given["inputs"]["regimes"]) == ("permit", ["not-covered"])
