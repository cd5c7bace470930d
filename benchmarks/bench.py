"""``make bench``: every benchmark case, each in its own process, then a table.

Usage: python -m benchmarks.bench [--quick] [--sizes N ...] [--db sqlite|postgresql ...] [--no-fhir]
       [--landing-only] [--baseline-ref REV [--baseline-only]]

Cases: the pipeline at 1k, 10k and 100k records on SQLite and PostgreSQL (``--quick``: 1k and 10k),
Ed-Fi XML interchanges of 10 MB and 100 MB end to end (``--quick``: 10 MB), OneRoster CSV when
``run_oneroster.py`` is present, the audit log and the FHIR server over HTTP (``run_fhir_server``:
1,000 creates and the Task search among 100,000 Tasks, ``--quick`` 20,000) per database, the pages'
render times for a student with five years of records (``benchmarks/pages``) per database, and the
FHIR workload once (``run_fhir_parse.py``'s parse,
validate and end-to-end cases when present, else ``run_fhir.py``), and the records that land
(``benchmarks/landing``, issue 14): FHIR beside its peers, Ed-Fi JSON, Ed-Fi XML and OneRoster per
database (memory at 200k records is ``benchmarks.large``'s). ``--baseline-ref REV`` runs
each landing case beside its twin at REV (a git worktree under /tmp) and ends the table with the
ratios. PostgreSQL cases are skipped,
with a message, when the server does not answer (``BENCH_PG_URL``, default
postgresql+psycopg://postgres@127.0.0.1:5432/test). Progress goes to stderr; the table to stdout;
every result line to benchmarks/out/results.json. The exit status is 1 when a case failed (a
benchmark that measured failures is not a result).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from benchmarks.generate import OUT_ROOT, load_workload
from benchmarks.landing import baseline
from benchmarks.landing.report import comparison_rows, comparisons, landing_note
from benchmarks.run_pipeline import DATABASES, log, pg_base_url

PROJECT_ROOT = Path(__file__).resolve().parent.parent
FULL_SIZES = (1_000, 10_000, 100_000)
QUICK_SIZES = (1_000, 10_000)
RESULTS = OUT_ROOT / "results.json"


@dataclass(frozen=True, kw_only=True)
class Case:
    name: str
    argv: tuple[str, ...]
    # A baseline case runs in a worktree of another revision (benchmarks/landing/baseline.py).
    ref: str = ""
    cwd: Path | None = None
    env: tuple[tuple[str, str], ...] = ()


@dataclass
class Outcome:
    case: Case
    lines: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    wall_seconds: float = 0.0
    load_before: tuple[float, ...] = ()
    load_after: tuple[float, ...] = ()
    code_before: str = ""
    code_after: str = ""

    @property
    def code(self) -> str:
        same = self.code_before == self.code_after
        return self.code_before if same else f"{self.code_before} -> {self.code_after} (changed mid-run)"


def pg_unavailable() -> str | None:
    """Why PostgreSQL cannot be used, or None when it answers."""
    url = pg_base_url()
    engine = create_engine(url, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:  # any failure to connect means: skip, and say why
        return f"{_redacted(url)} does not answer ({type(exc).__name__}: {str(exc).splitlines()[0]})"
    finally:
        engine.dispose()
    return None


def _redacted(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url


def pipeline_cases(sizes: tuple[int, ...], dbs: tuple[str, ...]) -> list[Case]:
    return [
        Case(
            name=f"pipeline {size // 1000}k {db}" if size >= 1000 else f"pipeline {size} {db}",
            argv=("-m", "benchmarks.run_pipeline", str(size), db),
        )
        for size in sizes
        for db in dbs
    ]


def fhir_case() -> Case:
    return Case(name="fhir", argv=("-m", "benchmarks.run_fhir"))


XML_SIZES_MB = (10, 100)
QUICK_XML_SIZES_MB = (10,)


def edfi_xml_cases(sizes_mb: tuple[int, ...]) -> list[Case]:
    """End to end, one process per size: peak RSS must stay flat from 10 MB to 100 MB."""
    return [
        Case(name=f"edfi-xml {mb} MB sqlite", argv=("-m", "benchmarks.run_edfi_xml", str(mb)))
        for mb in sizes_mb
    ]


def optional_cases(quick: bool, fhir: bool) -> list[Case]:
    """Cases whose runners other parts of the project write; each is run when it is present."""
    cases = []
    if (PROJECT_ROOT / "benchmarks" / "run_oneroster.py").exists():
        cases.append(Case(name="oneroster-csv sqlite", argv=("-m", "benchmarks.run_oneroster")))
    if fhir and (PROJECT_ROOT / "benchmarks" / "run_fhir_parse.py").exists():
        # Parse, validate and the gateway end to end over the same bytes, in one run.
        rounds = ("--rounds", "1") if quick else ()
        argv = ("-m", "benchmarks.run_fhir_parse", *rounds, "--end-to-end", "sqlite")
        cases.append(Case(name="fhir parse + end to end", argv=argv))
    return cases


def landing_cases(quick: bool, dbs: tuple[str, ...]) -> list[Case]:
    """Records that land (issue 14), per database: FHIR with its peers on the same bytes, Ed-Fi JSON,
    Ed-Fi XML and OneRoster. Memory at 200k records is ``make bench-large``'s (``benchmarks.large``):
    the Ed-Fi JSON case took 22 minutes on the loaded machine, over the 4 minutes ``make bench`` allows."""
    rounds = "1" if quick else "3"
    education = (("edfi-json 10k", "edfi-json", "10000"), ("edfi-xml 10 MB", "edfi-xml", "10"))
    cases = []
    for db in dbs:
        argv = ("-m", "benchmarks.landing.run_fhir", "--db", db, "--rounds", rounds)
        cases.append(Case(name=f"landing fhir 10k {db}", argv=argv))
        for name, kind, size in (*education, ("oneroster 1,000 students", "oneroster", "1000")):
            argv = ("-m", "benchmarks.landing.run_education", kind, size, "--db", db)
            cases.append(Case(name=f"landing {name} {db}", argv=argv))
    return cases


def at_baseline(cases: list[Case], rev: str) -> list[Case]:
    """The same cases in a worktree of ``rev``."""
    path = baseline.worktree(rev)
    env = tuple(baseline.environment(path).items())
    return [Case(name=f"{c.name} @{rev}", argv=c.argv, ref=rev, cwd=path, env=env) for c in cases]


def decisions_case() -> Case:
    return Case(name="decisions", argv=("-m", "benchmarks.run_decisions"))


def run_case(case: Case) -> Outcome:
    """One case in a child process: JSON lines on its stdout, progress straight to our stderr."""
    log(f"== {case.name}")
    load_before, code_before = load_average(), code_fingerprint()
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, *case.argv],
        cwd=case.cwd or PROJECT_ROOT,
        env={**os.environ, **dict(case.env)} if case.env else None,
        stdout=subprocess.PIPE,
        text=True,
        check=False,
    )
    outcome = Outcome(
        case=case,
        wall_seconds=time.perf_counter() - started,
        load_before=load_before,
        load_after=load_average(),
        code_before=code_before,
        code_after=code_fingerprint(),
    )
    if case.ref:  # another revision's code: its own fingerprint, which does not move
        outcome.code_before = outcome.code_after = f"{case.ref} ({code_fingerprint(case.cwd)})"
    if outcome.code_before != outcome.code_after:
        log(f"!! gateway code changed while {case.name} ran: its figures mix two versions")
    outcome.lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    if case.ref:
        outcome.lines = [{**line, "ref": case.ref} for line in outcome.lines]
    if done.returncode != 0:
        outcome.error = f"exit status {done.returncode} (see the traceback above)"
    for line in outcome.lines:
        log(f"   {json.dumps(line)}")
    return outcome


def code_fingerprint(root: Path | None = None) -> str:
    """A digest of the gateway's sources and artifacts: which code a figure belongs to."""
    root = root or PROJECT_ROOT
    hasher = hashlib.sha256()
    for folder in ("gateway", "mappings", "schemas"):
        for path in sorted((root / folder).rglob("*")):
            if path.is_file() and path.suffix in {".py", ".yaml", ".json"}:
                hasher.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return hasher.hexdigest()[:16]


def load_average() -> tuple[float, ...]:
    """1, 5 and 15-minute load: on a shared 2-core machine, other work skews the figures."""
    try:
        return tuple(round(x, 2) for x in os.getloadavg())
    except OSError:
        return ()


def machine() -> dict[str, Any]:
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
    }


def label(line: dict[str, Any], case: Case) -> str:
    bench = str(line.get("bench", case.name))
    if bench == "pipeline":
        return case.name
    db = line.get("db")
    name = f"{bench} {db}" if db else bench
    return f"{name} @{line['ref']}" if line.get("ref") else name


def table_rows(outcomes: list[Outcome]) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for outcome in outcomes:
        if outcome.error is not None:
            rows.append((outcome.case.name, "-", "-", "-", "-", f"FAILED: {outcome.error}"))
        for line in outcome.lines:
            if line.get("bench") in POLICY_BENCHES:
                rows.append(policy_row(line))
                continue
            if "skipped" in line:
                rows.append((label(line, outcome.case), "-", "-", "-", "-", f"skipped: {line['skipped']}"))
                continue
            rows.append(
                (
                    label(line, outcome.case),
                    _cell(line, ("records", "resources"), "{:,}"),
                    _cell(line, ("seconds",), "{:.2f}"),
                    _cell(line, ("records_per_second", "resources_per_second", "per_second"), "{:,.0f}"),
                    _cell(line, ("peak_rss_mb",), "{:.0f}"),
                    note(line),
                )
            )
    return rows


def _cell(line: dict[str, Any], keys: tuple[str, ...], form: str) -> str:
    """The first of ``keys`` the line has (runners written by other parts name them their way)."""
    for key in keys:
        if isinstance(line.get(key), int | float):
            return form.format(line[key])
    return "-"


POLICY_BENCHES = ("decisions", "enforcement_share")


def policy_row(line: dict[str, Any]) -> tuple[str, ...]:
    """Decision benchmarks count decisions, not records; the share line has no rate."""
    if line["bench"] == "decisions":
        return (
            f"decisions {line['kind']}",
            f"{line['decisions']:,}",
            f"{line['seconds']:.2f}",
            f"{line['per_second']:,.0f}",
            "-",
            f"median {line['median_us']} µs, p95 {line['p95_us']} µs per decision",
        )
    return (
        "enforcement share of ingest",
        f"{line['records']:,}",
        f"{line['ingest_seconds']:.2f}",
        "-",
        "-",
        f"deciding {line['deciding_seconds']} s = {line['share'] * 100:.2f}% of ingest",
    )


def note(line: dict[str, Any]) -> str:
    landing = landing_note(line)
    if landing is not None:
        return landing
    if line.get("bench") == "fhir-gateway":
        return f"rejected {line['rejected']}, held {line['held']}, accepted {line['accepted']}"
    if line.get("bench") == "pipeline":
        return f"{line['plans']} plans"
    if line.get("bench") == "edfi-xml":
        return f"{line['bytes'] / 1e6:.0f} MB, baseline RSS {line['baseline_rss_mb']:.0f} MB"
    if str(line.get("bench", "")).startswith(("audit-", "fhir-server-", "load", "page-")):
        return str(line.get("note", ""))
    return f"median of {line['rounds']}" if "rounds" in line else ""


def render(rows: list[tuple[str, ...]]) -> str:
    header = ("case", "records", "seconds", "rec/s", "peak RSS MB", "notes")
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]
    right = {1, 2, 3, 4}

    def fmt(row: tuple[str, ...]) -> str:
        pairs = enumerate(zip(row, widths, strict=True))
        cells = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in pairs]
        return "  ".join(cells).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([fmt(header), rule, *(fmt(r) for r in rows)])


def write_results(
    outcomes: list[Outcome], skipped: list[str], args: argparse.Namespace, path: Path = RESULTS
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "finished_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "arguments": {k: v for k, v in vars(args).items() if isinstance(v, str | int | float | bool | list)},
        "skipped": skipped,
        "comparisons": comparisons([line for o in outcomes for line in o.lines]),
        "cases": [
            {
                "case": o.case.name,
                "wall_seconds": round(o.wall_seconds, 1),
                "load_before": list(o.load_before),
                "load_after": list(o.load_after),
                "code": o.code,
                "error": o.error,
                "results": o.lines,
            }
            for o in outcomes
        ],
    }
    path.write_text(json.dumps(doc, indent=1), encoding="utf-8")


def plan_cases(args: argparse.Namespace) -> tuple[list[Case], list[str]]:
    skipped: list[str] = []
    dbs = tuple(args.db)
    if "postgresql" in dbs:
        reason = pg_unavailable()
        if reason is not None:
            message = f"PostgreSQL cases skipped: {reason}"
            log(message)
            skipped.append(message)
            dbs = tuple(d for d in dbs if d != "postgresql")
    landing = landing_cases(args.quick, dbs)
    if args.baseline_ref:
        # Interleaved, each case beside its baseline: load on the shared machine drifts.
        twins = {c.name: c for c in at_baseline(landing, args.baseline_ref)}
        landing = [x for c in landing for x in (c, twins.get(f"{c.name} @{args.baseline_ref}")) if x]
    if args.baseline_only:  # today's figures of REV alone, e.g. while this checkout is mid-change
        return at_baseline(landing_cases(args.quick, dbs), args.baseline_ref), skipped
    if args.landing_only:
        return landing, skipped
    cases = pipeline_cases(tuple(args.sizes), dbs)
    cases.extend(landing)
    cases.extend(edfi_xml_cases(QUICK_XML_SIZES_MB if args.quick else XML_SIZES_MB))
    fhir_parse = (PROJECT_ROOT / "benchmarks" / "run_fhir_parse.py").exists()
    if args.fhir and not fhir_parse:
        cases.append(fhir_case())
    cases.extend(optional_cases(args.quick, args.fhir))
    cases.append(decisions_case())
    cases.append(Case(name="denial timing sqlite", argv=("-m", "benchmarks.run_denials")))
    # The audit log: 100k entries in a quick run, the reported 1M figure otherwise.
    entries = "100000" if args.quick else "1000000"
    cases.extend(
        Case(name=f"audit {db}", argv=("-m", "benchmarks.run_audit", "--entries", entries, db)) for db in dbs
    )
    cases.extend(fhir_server_cases(args.quick, dbs))
    # The pages (issue 15): render times for a student with five years of records, per database.
    cases.extend(Case(name=f"pages {db}", argv=("-m", "benchmarks.pages.run_pages", db)) for db in dbs)
    if "postgresql" in dbs:  # 4 gunicorn workers under locust, 2 delivery workers (benchmarks/load)
        cases.append(Case(name="load postgresql", argv=("-m", "benchmarks.load.run_load")))
    return cases, skipped


def fhir_server_cases(quick: bool, dbs: tuple[str, ...]) -> list[Case]:
    """The FHIR server over HTTP: 1,000 creates, and the referral Task search among 100,000 Tasks
    (20,000 in a quick run), 10 timed searches: one costs seconds, a decision per student."""
    tasks = "20000" if quick else "100000"
    argv = ("-m", "benchmarks.run_fhir_server", "--creates", "1000", "--tasks", tasks, "--searches", "10")
    return [Case(name=f"fhir-server {db}", argv=(*argv, db)) for db in dbs]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="only 1k and 10k records")
    parser.add_argument("--sizes", type=int, nargs="+", help="record counts (overrides --quick)")
    parser.add_argument("--db", choices=DATABASES, nargs="+", default=list(DATABASES))
    parser.add_argument("--no-fhir", dest="fhir", action="store_false", help="skip the FHIR workload")
    parser.add_argument(
        "--baseline-ref", metavar="REV", help="run the landing cases at REV too (a git worktree under /tmp)"
    )
    parser.add_argument("--landing-only", action="store_true", help="only the landing cases (issue 14)")
    parser.add_argument(
        "--baseline-only", action="store_true", help="only the landing cases at --baseline-ref"
    )
    args = parser.parse_args(argv)
    if args.baseline_only and not args.baseline_ref:
        parser.error("--baseline-only needs --baseline-ref REV")
    if args.sizes is None:
        args.sizes = list(QUICK_SIZES if args.quick else FULL_SIZES)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    cases, skipped = plan_cases(args)
    for size in args.sizes:
        # Generated before the cases, so no case pays for it, and in a child process: on Linux a
        # child's ru_maxrss starts at its parent's high-water mark, which must stay small.
        if load_workload(size) is None:
            command = [sys.executable, "-m", "benchmarks.generate", str(size)]
            subprocess.run(command, cwd=PROJECT_ROOT, check=True, stdout=sys.stderr)
    outcomes: list[Outcome] = []
    for case in cases:
        outcomes.append(run_case(case))
        write_results(outcomes, skipped, args)  # after every case: a long run keeps what it measured
    found = comparisons([line for o in outcomes for line in o.lines])
    print(render([*table_rows(outcomes), *comparison_rows(found)]))
    for message in skipped:
        print(message)
    print(f"results: {RESULTS}")
    return 1 if any(o.error is not None for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
