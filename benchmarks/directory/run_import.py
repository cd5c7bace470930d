"""Directory import: a generated HSDS 3.x tabular package (shaped like the specification's
example package) into a fresh gateway.

Usage: python -m benchmarks.directory.run_import [SERVICES] [{sqlite,postgresql}]

SERVICES services (default 50,000), one place each, scattered over Rhode Island, with an
organization, an address, two schedule rows, two languages and a taxonomy term. Timed: the bare
CSV parse of the same bytes (the baseline), the first import, a re-import of the same package
(every record unchanged) and services_near over 200 places (2 km). One JSON line on stdout with
peak RSS after the baseline and after the imports (the package is generated in a child process,
so it does not count). Run it in its own process.
"""

from __future__ import annotations

import csv
import io
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.run_pipeline import DATABASES, fresh_gateway, log, peak_rss_mb
from gateway.core.geo import Point
from gateway.service.directory.directory import service_count, services_near
from gateway.service.directory.directory_import import import_path

HEADERS = {
    "organizations": ["id", "name", "description"],
    "services": ["id", "organization_id", "name", "description", "status", "minimum_age", "maximum_age",
                 "last_modified"],
    "locations": ["id", "location_type", "name", "latitude", "longitude"],
    "service_at_location": ["id", "service_id", "location_id", "description"],
    "addresses": ["id", "location_id", "address_1", "city", "state_province", "postal_code", "country",
                  "address_type"],
    "schedules": ["id", "service_at_location_id", "freq", "byday", "opens_at", "closes_at"],
    "languages": ["id", "service_id", "name", "code"],
    "taxonomy_terms": ["id", "code", "name", "description", "taxonomy"],
    "attributes": ["id", "link_id", "taxonomy_term_id", "link_type", "link_entity"],
}  # fmt: skip
TERMS = [("BD-1800.2000", "Food Pantries"), ("BH-1800", "Housing Search"), ("PH-6200", "Tutoring"),
         ("LF-7000", "Health Screening"), ("TJ-4500", "Transportation")]  # fmt: skip


def write_package(folder: Path, services: int, seed: int = 16) -> int:
    rand = random.Random(seed)
    rows: dict[str, list[list[object]]] = {name: [] for name in HEADERS}
    rows["taxonomy_terms"] = [[f"t{k}", code, name, name, "AIRS"] for k, (code, name) in enumerate(TERMS)]
    for i in range(services):
        lat, lon = round(rand.uniform(41.3, 42.0), 6), round(rand.uniform(-71.8, -71.1), 6)
        rows["organizations"].append([f"o{i}", f"Organization {i}", ""])
        rows["services"].append([f"s{i}", f"o{i}", f"Service {i}", "Help for families", "active", 0, 18,
                                 "2026-11-01T12:00:00Z"])  # fmt: skip
        rows["locations"].append([f"l{i}", "physical", f"Place {i}", lat, lon])
        rows["service_at_location"].append([f"sal{i}", f"s{i}", f"l{i}", ""])
        rows["addresses"].append(
            [f"a{i}", f"l{i}", f"{i} Main St", "Providence", "RI", "02903", "US", "physical"]
        )
        rows["schedules"].append([f"w{i}a", f"sal{i}", "WEEKLY", "MO,WE,FR", "09:00", "17:00"])
        rows["schedules"].append([f"w{i}b", f"sal{i}", "WEEKLY", "SA", "10:00", "14:00"])
        rows["languages"].extend([[f"g{i}e", f"s{i}", "English", "en"], [f"g{i}s", f"s{i}", "Spanish", "es"]])
        rows["attributes"].append([f"x{i}", f"s{i}", f"t{i % len(TERMS)}", "service_category", "service"])
    size = 0
    for name, header in HEADERS.items():
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows[name])
        data = buffer.getvalue().encode("utf-8")
        (folder / f"{name}.csv").write_bytes(data)
        size += len(data)
    return size


def bare_parse(folder: Path) -> int:
    count = 0
    for path in sorted(folder.glob("*.csv")):
        with path.open(newline="", encoding="utf-8") as handle:
            count += sum(1 for _ in csv.DictReader(handle))
    return count


def run(services: int, db: str) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="spgw-dir-") as tmp, fresh_gateway(db) as rt:
        folder = Path(tmp) / "directory"
        folder.mkdir()
        # Generated in a child process: the peak RSS below is the import's, not the generator's.
        command = [
            sys.executable,
            "-m",
            "benchmarks.directory.run_import",
            "--write",
            str(folder),
            str(services),
        ]
        subprocess.run(command, check=True)
        size = sum(p.stat().st_size for p in folder.glob("*.csv"))
        started = time.perf_counter()
        rows = bare_parse(folder)
        baseline_s = time.perf_counter() - started
        baseline_rss = peak_rss_mb()
        log(f"parsed {rows} rows in {baseline_s:.2f}s; importing")
        started = time.perf_counter()
        first = import_path(rt, folder, source="bench")
        import_s = time.perf_counter() - started
        started = time.perf_counter()
        again = import_path(rt, folder, source="bench")
        reimport_s = time.perf_counter() - started
        rand = random.Random(7)
        timings = []
        for _ in range(200):
            place = Point(lat=rand.uniform(41.4, 41.9), lon=rand.uniform(-71.7, -71.2))
            started = time.perf_counter()
            services_near(rt, place, 2.0)
            timings.append((time.perf_counter() - started) * 1000)
        if (first.added, again.unchanged, service_count(rt)) != (services, services, services):
            raise AssertionError("the import did not land every generated service exactly once")
        quantiles = statistics.quantiles(timings, n=100)
        return {
            "bench": "directory_import",
            "db": db,
            "services": services,
            "bytes": size,
            "csv_rows": rows,
            "baseline_parse_s": round(baseline_s, 2),
            "import_s": round(import_s, 2),
            "reimport_unchanged_s": round(reimport_s, 2),
            "services_per_s": round(services / import_s),
            "near_2km_p50_ms": round(quantiles[49], 2),
            "near_2km_p95_ms": round(quantiles[94], 2),
            "peak_rss_mb_after_baseline": baseline_rss,
            "peak_rss_mb": peak_rss_mb(),
        }


def main(argv: list[str]) -> int:
    if argv[:1] == ["--write"]:
        write_package(Path(argv[1]), int(argv[2]))
        return 0
    services = int(argv[0]) if argv else 50_000
    db = argv[1] if len(argv) > 1 else "sqlite"
    if db not in DATABASES:
        raise SystemExit(f"database must be one of {', '.join(DATABASES)}")
    print(json.dumps(run(services, db)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
