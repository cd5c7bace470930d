"""Transit benchmark (issue 16): import a generated GTFS feed of 10,000 stops shaped like the
samples (routes of 50 stops on a city-sized grid, a weekday calendar with calendar_dates, a few
frequency-based trips, times past 24:00), then trips_between over random origin/destination pairs.

Prints one JSON line: import seconds, peak RSS of the import process, stop_times rows/s, with the
bare CSV read of the same bytes (csv.reader over every file) as the baseline measured in the same
run, each in its own process so their peak memory is their own; then trips_between p50/p95.

    .venv/bin/python -m benchmarks.directory.run_transit_import [--stops 10000] [--pairs 1000]
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CENTRE = (41.82, -71.41)  # Providence-sized grid: about 30 x 30 km
ROUTE_STOPS = 50


def generate(folder: Path, stops: int, trips_per_route: int, seed: int = 16) -> dict[str, int]:
    rng = random.Random(seed)
    side = int(stops**0.5)
    points = [
        (
            f" {i:05d} ",
            CENTRE[0] - 0.135 + 0.27 * (i // side) / side,
            CENTRE[1] - 0.18 + 0.36 * (i % side) / side,
        )
        for i in range(stops)
    ]
    routes = stops // 25  # every stop on about two routes
    with _Writer(folder, "agency.txt", ["agency_id", "agency_name", "agency_url", "agency_timezone"]) as w:
        w.writerow(["BENCH", "Bench Transit", "https://transit.example.org", "America/New_York"])
    with _Writer(folder, "stops.txt", ["stop_id", "stop_name", "stop_lat", "stop_lon"]) as w:
        w.writerows([sid, f"Stop {sid.strip()}", f"{lat:.6f}", f"{lon:.6f}"] for sid, lat, lon in points)
    with _Writer(
        folder, "routes.txt", ["route_id", "route_short_name", "route_long_name", "route_type"]
    ) as w:
        w.writerows([f"R{r}", str(r), f"Route {r}", "3"] for r in range(routes))
    with _Writer(folder, "calendar.txt", ["service_id", *_DAYS, "start_date", "end_date"]) as w:
        w.writerow(["WK", "1", "1", "1", "1", "1", "0", "0", "20260101", "20271231"])
        w.writerow(["WE", "0", "0", "0", "0", "0", "1", "1", "20260101", "20271231"])
    with _Writer(folder, "calendar_dates.txt", ["service_id", "date", "exception_type"]) as w:
        w.writerows([["WK", "20261225", "2"], ["WE", "20261225", "1"]])
    rows = 0
    with (
        _Writer(folder, "trips.txt", ["route_id", "service_id", "trip_id"]) as trips,
        _Writer(
            folder,
            "stop_times.txt",
            ["trip_id", "arrival_time", "departure_time", "stop_id", "stop_sequence"],
        ) as st,
        _Writer(folder, "frequencies.txt", ["trip_id", "start_time", "end_time", "headway_secs"]) as freq,
    ):
        for r in range(routes):
            start_stop = rng.randrange(stops)
            step = rng.choice((1, side, side + 1, side - 1))
            path = [points[(start_stop + k * step) % stops][0] for k in range(ROUTE_STOPS)]
            for t in range(trips_per_route):
                trip_id = f"R{r}-{t}"
                trips.writerow([f"R{r}", "WK" if t % 4 else "WE", trip_id])
                begin = 5 * 3600 + t * (20 * 3600 // trips_per_route)  # 05:00 to past 01:00
                order = path if t % 2 == 0 else path[::-1]
                for k, sid in enumerate(order):
                    clock = _clock(begin + k * 90)
                    st.writerow([trip_id, clock, clock, sid, k + 1])
                rows += len(order)
                if r % 50 == 0 and t == 0:
                    freq.writerow([trip_id, "06:00:00", "22:00:00", "600"])
    return {"stops": stops, "routes": routes, "trips": routes * trips_per_route, "stop_times": rows}


_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _clock(seconds: int) -> str:
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"  # one-digit hours, past 24


class _Writer:
    def __init__(self, folder: Path, name: str, header: list[str]) -> None:
        self.file = (folder / name).open("w", newline="", encoding="utf-8")
        self.csv = csv.writer(self.file, lineterminator="\r\n")
        self.csv.writerow(header)

    def __enter__(self) -> csv._writer:  # type: ignore[name-defined]
        return self.csv

    def __exit__(self, *_exc: object) -> None:
        self.file.close()


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def phase_baseline(feed: Path) -> dict[str, float]:
    started = time.perf_counter()
    rows = 0
    for f in sorted(feed.glob("*.txt")):
        with f.open(newline="", encoding="utf-8-sig") as handle:
            rows += sum(1 for _ in csv.reader(handle))
    return {"seconds": time.perf_counter() - started, "rows": rows, "peak_rss_mb": _peak_mb()}


def phase_import(feed: Path, home: Path, pairs: int) -> dict[str, float]:
    sys.path.insert(0, str(PROJECT_ROOT))
    from gateway.core.geo import Point
    from gateway.service.administration.setup import initialise
    from gateway.service.directory.transit import trips_between
    from gateway.service.directory.transit_import import import_feed
    from gateway.service.runtime import Settings

    settings = Settings(
        home=home, database_url=f"sqlite:///{home / 'gateway.db'}", artifacts_root=PROJECT_ROOT
    )
    rt, _ = initialise(settings)
    before = _peak_mb()
    started = time.perf_counter()
    report = import_feed(rt, feed, name="bench")
    seconds = time.perf_counter() - started
    peak = _peak_mb()
    rng = random.Random(7)
    latencies = []
    found = 0
    for i in range(pairs):
        a, b = (
            Point(lat=CENTRE[0] + rng.uniform(-0.12, 0.12), lon=CENTRE[1] + rng.uniform(-0.16, 0.16))
            for _ in "ab"
        )
        leave = dt.datetime(2026, 12, 7, 6 + i % 16, rng.randrange(60))
        t0 = time.perf_counter()
        found += bool(trips_between(rt, a, b, leave_after=leave))
        latencies.append((time.perf_counter() - t0) * 1000)
    rt.engine.dispose()
    q = statistics.quantiles(latencies, n=100)
    return {
        "seconds": seconds,
        "stop_times_loaded": report.files["stop_times.txt"].loaded,
        "problems": sum(c.problems for c in report.files.values()),
        "peak_rss_mb": peak,
        "peak_rss_before_mb": before,
        "trips_p50_ms": statistics.median(latencies),
        "trips_p95_ms": q[94],
        "pairs_with_a_trip": found,
    }


def _child(*args: str) -> dict[str, float]:
    done = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stops", type=int, default=10_000)
    parser.add_argument("--trips-per-route", type=int, default=50)
    parser.add_argument("--pairs", type=int, default=1000)
    parser.add_argument("--phase", choices=["baseline", "import"])
    parser.add_argument("paths", nargs="*")
    args = parser.parse_args(argv)
    if args.phase == "baseline":
        print(json.dumps(phase_baseline(Path(args.paths[0]))))
        return 0
    if args.phase == "import":
        print(json.dumps(phase_import(Path(args.paths[0]), Path(args.paths[1]), args.pairs)))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        feed, home = Path(tmp) / "feed", Path(tmp) / "home"
        feed.mkdir()
        shape = generate(feed, args.stops, args.trips_per_route)
        size_mb = sum(f.stat().st_size for f in feed.glob("*.txt")) / 1e6
        baseline = _child("--phase", "baseline", str(feed))
        measured = _child("--phase", "import", "--pairs", str(args.pairs), str(feed), str(home))
    line = {
        "bench": "transit-import",
        "db": "sqlite",
        **shape,
        "feed_mb": round(size_mb, 1),
        "import_s": round(measured["seconds"], 2),
        "stop_times_per_s": round(measured["stop_times_loaded"] / measured["seconds"]),
        "import_peak_rss_mb": round(measured["peak_rss_mb"], 1),
        "rss_before_import_mb": round(measured["peak_rss_before_mb"], 1),
        "problems": measured["problems"],
        "baseline_csv_read_s": round(baseline["seconds"], 2),
        "baseline_peak_rss_mb": round(baseline["peak_rss_mb"], 1),
        "trips_between_pairs": args.pairs,
        "trips_between_p50_ms": round(measured["trips_p50_ms"], 2),
        "trips_between_p95_ms": round(measured["trips_p95_ms"], 2),
        "pairs_with_a_trip": measured["pairs_with_a_trip"],
    }
    print(json.dumps(line))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
