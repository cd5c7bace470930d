"""Policy decision benchmark: decisions per second, and the share of ingest time spent deciding.

Usage: python -m benchmarks.run_decisions [--rounds N] [--seed S] [--ingest-records N] [--no-ingest]

1. **Decisions.** A world of 10,000 students, 100 agreements and 20,000 consents is generated
   from a seeded ``random.Random`` (organizations of three kinds, agreements with schedules over
   the vocabulary's categories, about two consents per student with nested provisions). Timed,
   one ``decide`` call at a time with ``time.perf_counter_ns``, after a warm-up, over several
   rounds:

   - ``inbound``: may this partner send these categories (agreements only);
   - ``read-per-element``: one decision per plan element key (source, category, regime,
     sensitivity) of a student's plan, with that student's consents only, as the gateway loads
     them per read;
   - ``read-per-element-all-consents``: the same decisions given all 20,000 consents, for
     information: why the caller must index consents per student.

2. **Enforcement share.** The gateway's real ingest (``gateway.service.exchange.ingest.ingest``) on a
   temporary SQLite database initialised with the demo world: generated Ed-Fi students, then
   ~5,000 attendance events, sent as ``grand-bend-isd``; ``gateway.service.policy.enforcement.enforce``
   is wrapped with a timer.

One JSON line per result goes to stdout; progress goes to stderr. Standalone: it imports only
the gateway, and ``benchmarks.bench`` may run it as ``python -m benchmarks.run_decisions``.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import random
import resource
import statistics
import sys
import tempfile
import time
import timeit
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import yaml

from benchmarks.landing.common import decision_timer
from gateway.core.consent import Consent, Provision
from gateway.core.policy import INBOUND, READ, Agreement, DecisionRequest, PolicySet, ScheduleEntry, decide
from gateway.service.exchange.inbound import Inbound

PROJECT_ROOT = Path(__file__).resolve().parent.parent
NOW = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)  # the sample agreements run 2026-01-01 .. 2030-06-30
DEFAULT_SEED = 20261123
STUDENTS, AGREEMENTS, CONSENTS = 10_000, 100, 20_000
KINDS = {"school-district": 12, "health-provider": 10, "community-agency": 8}
# What each kind of organization holds, and under which law (the plan's element labels).
HOLDS = {
    "school-district": ("identity", "enrollment", "attendance", "academic", "programs", "behavior"),
    "health-provider": ("identity", "sdoh-screening", "health-condition", "care-plan", "substance-use"),
    "community-agency": ("referral", "sdoh-screening", "care-plan"),
}
REGIME = {"school-district": "FERPA", "health-provider": "HIPAA", "community-agency": "not-covered"}
ROLES_OF = {
    "school-district": ("coordinator", "counselor", "nurse", "teacher"),
    "health-provider": ("clinician", "care-manager", "nurse"),
    "community-agency": ("case-worker",),
}
SLOTS = ("student.name", "student.identifiers", "needs", "supports", "domains.familyBasicNeeds.facts")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- the world -----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True)
class World:
    policy: PolicySet
    births: dict[str, dt.date]  # student -> birth date
    district_of: dict[str, str]  # student -> home district
    consents_of: dict[str, tuple[Consent, ...]]  # student -> that student's consents
    all_consents: tuple[Consent, ...]


def vocabulary() -> dict[str, Any]:
    return dict(yaml.safe_load((PROJECT_ROOT / "consent_policies" / "vocabulary.yaml").read_text("utf-8")))


def organizations() -> dict[str, str]:
    return {f"{kind.split('-')[0]}-{n:02d}": kind for kind, count in KINDS.items() for n in range(count)}


def _sample(rng: random.Random, items: Sequence[str], low: int, high: int) -> frozenset[str]:
    return frozenset(rng.sample(list(items), rng.randint(low, min(high, len(items)))))


def agreement(rng: random.Random, n: int, orgs: dict[str, str], terms: dict[str, Any]) -> Agreement:
    districts = [o for o, k in orgs.items() if k == "school-district"]
    others = [o for o, k in orgs.items() if k != "school-district"]
    parties = [districts[n % len(districts)], *rng.sample(others, rng.randint(1, 2))]
    sent = {p: _sample(rng, HOLDS[orgs[p]], 2, 5) for p in parties}
    schedule = tuple(
        ScheduleEntry(
            party=p,
            sends=sent[p],
            receives=_sample(rng, sorted(set().union(*(sent[q] for q in parties if q != p))), 1, 6),
        )
        for p in parties
    )
    purposes = _sample(rng, ("care-coordination", "treatment", "referral-fulfillment", "research"), 1, 3)
    effective = dt.date(2025, 1, 1) + dt.timedelta(days=rng.randrange(500))
    expires = rng.choice((None, dt.date(2030, 6, 30), dt.date(2029, 6, 30), dt.date(2026, 6, 30)))
    roles = frozenset().union(*(ROLES_OF[orgs[p]] for p in parties))
    return Agreement(
        id=f"dsa-{n:03d}",
        version=rng.randint(1, 3),
        parties=frozenset(parties),
        status=rng.choices(("active", "suspended", "terminated"), (90, 5, 5))[0],
        effective=effective,
        expires=expires,
        schedule=schedule,
        purposes=purposes & terms["purposes"],
        recipient_roles=roles & terms["roles"],
        retention_days=rng.choice((None, 365, 1095)),
        redisclosure=rng.choice((None, "prohibited", "prohibited-without-consent")),
        min_cell_size=rng.choice((None, 11)),
        field_sets=({sorted(purposes)[0]: {"*": tuple(rng.sample(SLOTS, 3))}} if rng.random() < 0.3 else {}),
    )


def provision(
    rng: random.Random, kind: str, agreement: Agreement, grantor: str, start: dt.datetime
) -> Provision:
    entry = agreement.entry_for(grantor)
    sends = sorted(entry.sends) if entry else ["identity"]
    recipients = sorted(agreement.parties - {grantor})
    children = tuple(
        Provision(
            type=rng.choice(("deny", "deny", "permit")),
            classes=frozenset({rng.choice(sends)}) if rng.random() < 0.6 else frozenset(),
            actors=frozenset({rng.choice(recipients)}) if rng.random() < 0.4 else frozenset(),
            labels=frozenset({"restricted"}) if rng.random() < 0.2 else frozenset(),
        )
        for _ in range(rng.choice((0, 0, 1, 1, 2)))
    )
    return Provision(
        type=kind,
        start=start,
        end=start + dt.timedelta(days=rng.randint(200, 730)),
        actors=_sample(rng, recipients, 1, 2),
        actions=frozenset({"disclose"}),
        purposes=_sample(rng, sorted(agreement.purposes), 1, 3),
        classes=_sample(rng, sends, 1, 4),
        children=children,
    )


def consent(
    rng: random.Random, n: int, student: str, birth: dt.date, agreements: Sequence[Agreement]
) -> Consent:
    chosen = rng.choice(agreements)
    grantor = rng.choice(sorted(chosen.parties))
    signed = NOW - dt.timedelta(days=rng.randint(1, 400), minutes=rng.randint(0, 1440))
    adult = (NOW.date() - birth).days >= 18 * 365.25
    signer = "student" if adult else "parent"
    if rng.random() < 0.05:
        signer = "parent" if adult else "student"  # a wrong signer, now and then
    return Consent(
        id=f"consent-{n:05d}",
        student_id=student,
        status="active" if rng.random() < 0.95 else "inactive",
        scope=rng.choices(("patient-privacy", "research", "treatment"), (80, 10, 10))[0],
        signed_at=signed,
        signer_role=signer,
        grantor=grantor,
        provision=provision(rng, "permit" if rng.random() < 0.85 else "deny", chosen, grantor, signed),
        revoked_at=signed + dt.timedelta(days=rng.randint(1, 100)) if rng.random() < 0.05 else None,
    )


def build_world(seed: int = DEFAULT_SEED) -> World:
    rng = random.Random(seed)
    terms = vocabulary()
    vocab = {key: frozenset(terms[key]) for key in ("categories", "purposes", "roles")}
    orgs = organizations()
    agreements = tuple(agreement(rng, n, orgs, vocab) for n in range(AGREEMENTS))
    policy = PolicySet(organizations=orgs, agreements=agreements, **vocab)
    districts = sorted(o for o, k in orgs.items() if k == "school-district")
    by_district = {d: [a for a in agreements if d in a.parties] for d in districts}
    students = [f"stu-{n:05d}" for n in range(STUDENTS)]
    births = {s: dt.date(2006, 9, 1) + dt.timedelta(days=rng.randrange(8 * 365)) for s in students}
    district_of = {s: districts[n % len(districts)] for n, s in enumerate(students)}
    consents_of: dict[str, list[Consent]] = defaultdict(list)
    for n in range(CONSENTS):
        student = students[rng.randrange(STUDENTS)]
        found = consent(rng, n, student, births[student], by_district[district_of[student]])
        consents_of[student].append(found)
    return World(
        policy=policy,
        births=births,
        district_of=district_of,
        consents_of={s: tuple(cs) for s, cs in consents_of.items()},
        all_consents=tuple(c for cs in consents_of.values() for c in cs),
    )


# --- the requests ----------------------------------------------------------------------------------


def inbound_requests(world: World, count: int, rng: random.Random) -> list[DecisionRequest]:
    orgs = world.policy.organizations
    names = sorted(orgs)
    found = []
    for _ in range(count):
        source = rng.choice(names)
        found.append(
            DecisionRequest(
                action=INBOUND,
                source_org=source,
                recipient_org="",
                categories=frozenset(rng.sample(HOLDS[orgs[source]], rng.randint(1, 2)))
                # now and then a category no agreement schedules: a deny
                | ({"demographics-sensitive"} if rng.random() < 0.1 else set()),
            )
        )
    return found


def element_keys(world: World, student: str, rng: random.Random) -> list[tuple[str, str, str, str]]:
    """(source, category, regime, sensitivity) of the elements of one student's plan."""
    orgs = world.policy.organizations
    district = world.district_of[student]
    partners = sorted({p for a in world.policy.agreements if district in a.parties for p in a.parties})
    keys = set()
    for source in [district, *rng.sample(partners, min(2, len(partners)))]:
        for category in rng.sample(HOLDS[orgs[source]], 3):
            regime = "42CFRPart2" if category == "substance-use" else REGIME[orgs[source]]
            keys.add((source, category, regime, "restricted" if rng.random() < 0.15 else "normal"))
    return sorted(keys)


def read_requests(world: World, reads: int, rng: random.Random) -> list[tuple[DecisionRequest, str]]:
    """Per element key of ``reads`` plan reads: the request and whose consents it needs."""
    students = sorted(world.district_of)
    found = []
    for _ in range(reads):
        student = rng.choice(students)
        district = world.district_of[student]
        chosen = rng.choice([a for a in world.policy.agreements if district in a.parties])
        reader = rng.choice(sorted(chosen.parties))
        role = rng.choice(sorted(chosen.recipient_roles) or ["coordinator"])
        purpose = rng.choice(sorted(chosen.purposes) or ["care-coordination"])
        for source, category, regime, sensitivity in element_keys(world, student, rng):
            request = DecisionRequest(
                action=READ,
                source_org=source,
                recipient_org=reader,
                categories=frozenset({category}),
                regimes=frozenset({regime}),
                sensitivities=frozenset({sensitivity}),
                student_id=student,
                student_birth_date=world.births[student],
                actor=f"{role}@{reader}",
                role=role,
                purpose=purpose,
            )
            found.append((request, student))
    return found


# --- timing -------------------------------------------------------------------------------------


Call = Callable[[], object]


def time_calls(calls: Sequence[Call], rounds: int, warmup: int) -> tuple[list[int], list[float]]:
    """Per-call nanoseconds over all rounds, and each round's seconds."""
    for call in calls[:warmup]:
        call()
    samples: list[int] = []
    round_seconds: list[float] = []
    clock = time.perf_counter_ns
    for _ in range(rounds):
        started = clock()
        for call in calls:
            t0 = clock()
            call()
            samples.append(clock() - t0)
        round_seconds.append((clock() - started) / 1e9)
    return samples, round_seconds


def result(kind: str, calls: Sequence[Call], rounds: int, warmup: int, **extra: Any) -> dict[str, Any]:
    samples, round_seconds = time_calls(calls, rounds, warmup)
    ordered = sorted(samples)
    seconds = statistics.median(round_seconds)
    return {
        "bench": "decisions",
        "kind": kind,
        "decisions": len(calls),
        "rounds": rounds,
        "per_second": round(len(calls) / seconds, 1),
        "median_us": round(ordered[len(ordered) // 2] / 1000, 2),
        "mean_us": round(statistics.fmean(ordered) / 1000, 2),
        "p95_us": round(ordered[int(len(ordered) * 0.95)] / 1000, 2),
        "max_us": round(ordered[-1] / 1000, 1),
        "seconds": round(seconds, 3),
        **extra,
    }


def permitted_share(decisions: Sequence[object]) -> float:
    return round(sum(1 for d in decisions if getattr(d, "permitted", False)) / max(1, len(decisions)), 3)


def decision_results(world: World, rounds: int, seed: int) -> Iterator[dict[str, Any]]:
    rng = random.Random(seed + 1)
    policy = world.policy
    inbound = inbound_requests(world, 20_000, rng)
    calls: list[Call] = [partial(decide, r, policy, (), NOW) for r in inbound]
    yield result(
        "inbound",
        calls,
        rounds,
        2_000,
        permitted=permitted_share([c() for c in calls]),
        # PolicySet.version is recomputed (over all agreements) twice per decision
        policy_version_us=round(timeit.timeit(lambda: policy.version, number=2_000) / 2_000 * 1e6, 2),
    )
    reads = read_requests(world, 2_000, rng)
    indexed: list[Call] = [partial(decide, r, policy, world.consents_of.get(s, ()), NOW) for r, s in reads]
    consents_per_read = statistics.mean(len(world.consents_of.get(s, ())) for _, s in reads)
    yield result(
        "read-per-element",
        indexed,
        rounds,
        2_000,
        permitted=permitted_share([c() for c in indexed]),
        consents_per_decision=round(consents_per_read, 2),
    )
    everyone: list[Call] = [partial(decide, r, policy, world.all_consents, NOW) for r, _ in reads[:300]]
    yield result(
        "read-per-element-all-consents",
        everyone,
        rounds,
        20,
        permitted=permitted_share([c() for c in everyone]),
        consents_per_decision=len(world.all_consents),
    )


# --- enforcement share of a real ingest -------------------------------------------------------------

GRADES = ("Sixth grade", "Seventh grade", "Eighth grade", "Ninth grade", "Tenth grade")
EVENTS = ("In Attendance",) * 7 + ("Excused Absence", "Unexcused Absence", "Tardy")
EVENTS_PER_STUDENT = 30


def edfi_payloads(events: int, rng: random.Random) -> list[tuple[str, bytes, int]]:
    """(entity, JSON payload, records): students first, then their attendance events, day by day."""
    count = max(1, events // EVENTS_PER_STUDENT)
    ids = [f"77{n:05d}" for n in range(count)]
    students = [
        {
            "studentUniqueId": sid,
            "firstName": rng.choice(("Lisa", "Marcus", "Aiyana", "Noah", "Priya")),
            "lastSurname": rng.choice(("Woods", "Reyes", "Castillo", "Okafor")),
            "birthDate": (dt.date(2008, 1, 1) + dt.timedelta(days=rng.randrange(6 * 365))).isoformat(),
        }
        for sid in ids
    ]
    day, found = dt.date(2025, 9, 2), []
    for k in range(events):
        if k and k % count == 0:
            day += dt.timedelta(days=3 if day.weekday() == 4 else 1)
        found.append(
            {
                "studentReference": {"studentUniqueId": ids[k % count]},
                "schoolReference": {"schoolId": 255901001},
                "eventDate": day.isoformat(),
                "attendanceEventCategoryDescriptor": "uri://ed-fi.org/AttendanceEventCategoryDescriptor#"
                + rng.choice(EVENTS),
            }
        )
    return [
        ("students", json.dumps(students).encode(), len(students)),
        ("studentSchoolAttendanceEvents", json.dumps(found).encode(), len(found)),
    ]


def enforcement_share(events: int, seed: int) -> dict[str, Any]:
    from gateway.service.administration.setup import initialise
    from gateway.service.exchange.ingest import ingest
    from gateway.service.runtime import Settings

    payloads = edfi_payloads(events, random.Random(seed))
    with tempfile.TemporaryDirectory(prefix="spgw-decisions-") as tmp:
        home = Path(tmp)
        settings = Settings(
            home=home / "home", database_url=f"sqlite:///{home / 'gateway.db'}", artifacts_root=PROJECT_ROOT
        )
        rt, _ = initialise(settings, with_samples=True)
        rt = dataclasses.replace(rt, clock=lambda: NOW)
        try:
            with decision_timer() as spent:
                started = time.perf_counter()
                summaries = [
                    ingest(
                        rt,
                        Inbound(
                            source_org="grand-bend-isd", format_name="edfi-json", payload=data, entity=entity
                        ),
                    )
                    for entity, data, _ in payloads
                ]
                seconds = time.perf_counter() - started
        finally:
            rt.engine.dispose()
    records = sum(n for _, _, n in payloads)
    accepted = sum(int(s.outcome.get("accepted", 0)) for s in summaries)
    if accepted != records:
        raise SystemExit(
            f"ingest accepted {accepted} of {records} records: {[s.to_dict() for s in summaries]}"
        )
    return {
        "bench": "enforcement_share",
        "records": records,
        "ingest_seconds": round(seconds, 3),
        "deciding_seconds": round(spent["seconds"], 4),
        "share": round(spent["seconds"] / seconds, 5),
        "enforce_calls": int(spent["calls"]),
    }


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds per kind (at least 5)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--ingest-records", type=int, default=5_000, help="attendance events to ingest")
    parser.add_argument("--no-ingest", dest="ingest", action="store_false", help="skip the ingest share")
    args = parser.parse_args(argv)
    rounds = max(5, args.rounds)
    started = time.perf_counter()
    world = build_world(args.seed)
    log(
        f"world: {len(world.district_of)} students, {len(world.policy.agreements)} agreements, "
        f"{len(world.all_consents)} consents, {len(world.policy.organizations)} organizations "
        f"({time.perf_counter() - started:.1f}s)"
    )
    inbound_us = 0.0
    for line in decision_results(world, rounds, args.seed):
        inbound_us = line["median_us"] if line["kind"] == "inbound" else inbound_us
        print(json.dumps({**line, "peak_rss_mb": peak_rss_mb()}), flush=True)
    if args.ingest:
        log(f"ingest: students, then {args.ingest_records} attendance events, as grand-bend-isd")
        share = enforcement_share(args.ingest_records, args.seed)
        # for information: the share if the pipeline decided every record instead of once per batch
        per_record = share["records"] * inbound_us / 1e6
        share["share_if_decided_per_record"] = round(per_record / (share["ingest_seconds"] + per_record), 4)
        print(json.dumps({**share, "peak_rss_mb": peak_rss_mb()}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
