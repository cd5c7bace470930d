"""``make demo``: a fresh gateway with the demo world, exchanges end to end, and what happened.

The story: the district registers three students, enrolls them and sends attendance; the
health center sends a screening before it has linked its patient (held), then the patient
(linked through the district's student id); the held screening is replayed and lands as a food
need. A malformed payload and an unknown partner are refused with reasons. The district's
coordinator and the food bank's case worker read the same plan and see different parts.
Finally the audit chain is verified.
"""

from __future__ import annotations

import secrets
import shutil
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from gateway.artifacts import bundled_root
from gateway.core import accounting as core_accounting
from gateway.core.fhir_query import parse_search
from gateway.core.ids import student_id_for
from gateway.errors import GatewayError
from gateway.service.administration.partners import Principal
from gateway.service.administration.setup import initialise
from gateway.service.compliance.accounting import accounting_for
from gateway.service.compliance.audit import verify
from gateway.service.compliance.audit_access import OPERATOR_READER
from gateway.service.exchange.inbound import Inbound
from gateway.service.exchange.ingest import IngestSummary, ingest, replay_where
from gateway.service.fhir import fhir_reads
from gateway.service.fhir.fhir_access import Reader
from gateway.service.identity.people import add_person
from gateway.service.referrals import referral_tasks
from gateway.service.referrals.deliveries import refer
from gateway.service.referrals.delivery_worker import deliver_due
from gateway.service.runtime import Settings
from gateway.service.views.plans import ReadRequest, read_plan

EXCHANGES = Path("demo") / "exchanges"  # under the packaged artifacts
DISTRICT_IDS = "https://grandbend.example.org/ns/studentUniqueId"
Say = Callable[[str], None]


@dataclass(frozen=True, kw_only=True)
class ExchangeFile:
    path: Path
    source: str
    format: str
    entity: str


FOOD_BANK = "northside-food-bank"


def exchange_files(folder: Path) -> list[ExchangeFile]:
    """Files named ``NN-SOURCE.FORMAT.ENTITY.json``, in order."""
    found = []
    for path in sorted(folder.glob("*.json")):
        head, fmt, entity = path.stem.split(".")[:3]
        found.append(ExchangeFile(path=path, source=head.split("-", 1)[1], format=fmt, entity=entity))
    return found


def run_demo(home: Path, site: Settings, say: Say) -> dict[str, Any]:
    """The demo world on a fresh SQLite database under ``home`` (a site's artifact folders kept)."""
    if home.exists():
        shutil.rmtree(home)
    settings = replace(site, home=home, database_url=f"sqlite:///{home / 'gateway.db'}")
    rt, report = initialise(settings, with_samples=True)
    say(
        f"Initialised {report.database}: partners {', '.join(report.organizations)}; "
        f"agreements {', '.join(report.agreements)}"
    )
    results = [_send(rt, item, say) for item in exchange_files(bundled_root() / EXCHANGES)]
    say("Replaying held exchanges now that the clinic's patient is linked:")
    for summary in replay_where(rt, ("held",)):
        _tell(say, f"  replay {summary.message_id[:8]}", summary)
    student = student_id_for(DISTRICT_IDS, "604822")
    reads = [
        _read(rt, student, "grand-bend-isd", "coordinator", "care-coordination", say),
        _read(rt, student, "northside-food-bank", "case-worker", "referral-fulfillment", say),
        _read(rt, student, "northside-food-bank", "case-worker", "research", say),
    ]
    deliveries = _refer(rt, student, say)
    chain = verify(rt)
    say(
        f"Audit chain: {'verified' if chain.ok else 'BROKEN'}, {chain.entries} entries, "
        f"head {chain.head_hash[:19]}..."
    )
    people = _demo_people(rt, student, home, say)
    # The compliance officer's question last: who received what about this student, and why.
    acc = accounting_for(rt, OPERATOR_READER, student)
    say(core_accounting.table(acc))
    return {
        "people": people,
        "exchanges": [r.to_dict() for r in results],
        "reads": reads,
        "deliveries": deliveries,
        "audit": chain.to_dict(),
        "accounting": acc.to_dict(),
    }


DEMO_PEOPLE = (
    ("compliance@demo.example", "compliance", None),
    ("coordinator@demo.example", "coordinator", "grand-bend-isd"),
    ("family@demo.example", "family", None),
)


def _demo_people(rt: Any, student: str, home: Path, say: Say) -> list[dict[str, str]]:
    """One person per page, with a fresh random password each run, written to a file only the
    owner may read (and printed: this is a demo on the operator's own machine)."""
    people = []
    for email, role, organization in DEMO_PEOPLE:
        password = secrets.token_urlsafe(12)
        students = (student,) if role == "family" else ()
        add_person(
            rt,
            email=email,
            role=role,
            password=password,
            organization=organization,
            student_refs=students,
            by="demo",
        )
        people.append({"email": email, "role": role, "password": password})
    listing = home / "people.txt"
    listing.write_text("".join(f"{p['role']:<12} {p['email']:<26} {p['password']}\n" for p in people))
    listing.chmod(0o600)
    say(
        f"Pages: `make pages` (or `spgw --home {home} serve`), then open http://127.0.0.1:8080/"
        " and sign in as"
    )
    for p in people:
        say(f"  {p['role']:<12} {p['email']:<26} password {p['password']}")
    say(f"  (also in {listing})")
    return people


def _refer(rt: Any, student: str, say: Say) -> list[dict[str, Any]]:
    """The district refers the student to the food bank; the worker tries to deliver it.

    The demo starts no agency server, so the attempt meets a closed port and is put off for a
    retry, with its reason: nothing is lost and nothing is sent twice.
    """
    queued = refer(
        rt,
        student_ref=student,
        source_org="grand-bend-isd",
        recipient_org="northside-food-bank",
        actor="demo-coordinator",
        role="case-worker",
        purpose="referral-fulfillment",
    )
    say(
        f"Referral {queued.id} to northside-food-bank: {queued.status} (consents relied on: "
        f"{', '.join(queued.to_dict().get('consentIds', [])) or 'none'})"
    )
    attempts = deliver_due(rt)
    for attempt in attempts:
        say(f"  delivery attempt: {attempt.status}; {attempt.reason or 'delivered'}")
    _pick_up(rt, say)
    return [queued.to_dict(), *(a.to_dict() for a in attempts)]


def _pick_up(rt: Any, say: Say) -> None:
    """The food bank has no FHIR server of its own ("direct light"): it polls the gateway for its
    Tasks, as ``GET /fhir/r4/Task?owner=Organization/northside-food-bank&status=requested`` does,
    and accepts the referral by updating the Task; the plan's support follows."""
    agency = Principal(
        organization_id=FOOD_BANK,
        client_id="demo-case-worker",
        purpose="referral-fulfillment",
        read_role="case-worker",
    )
    asked = [("owner", f"Organization/{FOOD_BANK}"), ("status", "requested")]
    page = fhir_reads.search(rt, Reader.of(agency), parse_search("Task", asked))
    query = f"owner=Organization/{FOOD_BANK}&status=requested"
    say(f"The food bank polls /fhir/r4/Task?{query}: {page.total} Task")
    for task in page.matches:
        found = referral_tasks.update_task(rt, agency, str(task["id"]), {**task, "status": "accepted"}, None)
        say(f"  Task/{task['id']}: accepted (version {found.version_id}); the plan's support says accepted")


def _send(rt: Any, item: ExchangeFile, say: Say) -> IngestSummary:
    summary = ingest(
        rt,
        Inbound(
            source_org=item.source,
            format_name=item.format,
            payload=item.path.read_bytes(),
            entity=item.entity,
        ),
    )
    _tell(say, f"{item.path.name}: {item.source} -> {item.format}/{item.entity}", summary)
    return summary


def _tell(say: Say, title: str, summary: IngestSummary) -> None:
    o = summary.outcome
    say(
        f"{title}\n    {summary.status}: accepted {o['accepted']}, rejected {o['rejected']}, "
        f"held {o['held']}, failed {o['failed']}, plan elements changed {o['elementsChanged']}"
    )
    for rec in o.get("records", [])[:3]:
        say(f"    - {rec['location']}: {rec['status']}: {rec['reason']}")
        for issue in rec.get("issues", [])[:2]:
            say(f"        {issue['path']}: {issue['message']}")


def _read(rt: Any, student: str, org: str, role: str, purpose: str, say: Say) -> dict[str, Any]:
    request = ReadRequest(
        student_id=student, organization_id=org, actor=f"demo-{role}", role=role, purpose=purpose
    )
    try:
        view = read_plan(rt, request)
    except GatewayError as exc:
        say(f"{org} as {role} for {purpose}: {exc.code}: {exc.message}")
        return {"reader": org, "error": exc.code}
    plan = view.plan
    counts = {
        "identifiers": len(plan["student"]["identifiers"]),
        "facts": sum(len(d["facts"]) for d in plan["domains"].values()),
        "needs": len(plan["needs"]),
        "enrollments": len(plan["student"]["enrollments"]),
    }
    shown = ", ".join(f"{k} {v}" for k, v in counts.items())
    needs = "; ".join(n["code"].get("display", n["code"]["code"]) for n in plan["needs"]) or "none"
    say(f"{org} as {role} for {purpose}: plan v{view.version} shows {shown}; needs: {needs}")
    return {"reader": org, "counts": counts}
