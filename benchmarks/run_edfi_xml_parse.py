"""Ed-Fi XML parse benchmark: records per second and peak memory of ``edfi-xml`` parsing alone.

Usage: python -m benchmarks.run_edfi_xml_parse [--sizes-mb 10 100] [--sample PATH]

Parse only: ``gateway.formats.edfi_xml.iter_records`` over a file stream, which includes XSD
validation, conversion to Ed-Fi API JSON and the record digest; no database. For each size an
``InterchangeStudentAttendance`` of about that many MB is generated in a temporary folder,
deterministically (student ids, dates and categories cycle; the record has the shape of the DS 5.2
sample ``StudentSchoolAttendance.xml``), and parsed in a process of its own so that its peak RSS
is its own. ``baseline_rss_mb`` is the process after imports and schema compilation, before
parsing: the difference is what the file costs, and it must not grow with the file.

With ``--sample`` (default: the shared Ed-Fi sample, when present) the sample file itself is also
parsed, in memory, best of five runs.

One JSON line per result goes to stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import io
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SAMPLE = PROJECT_ROOT.parent / "shared/samples/edfi/Samples/Sample XML/StudentSchoolAttendance.xml"
CATEGORIES = ("Excused Absence", "Unexcused Absence", "Tardy", "Early departure")
RECORD = """\t<StudentSchoolAttendanceEvent>
\t\t<AttendanceEvent>
\t\t\t<EventDate>{date}</EventDate>
\t\t\t<AttendanceEventCategory>uri://ed-fi.org/AttendanceEventCategoryDescriptor#{category}</AttendanceEventCategory>
\t\t\t<AttendanceEventReason>Reported by the school office</AttendanceEventReason>
\t\t\t<EventDuration>1</EventDuration>
\t\t</AttendanceEvent>
\t\t<StudentReference><StudentIdentity><StudentUniqueId>{student}</StudentUniqueId></StudentIdentity></StudentReference>
\t\t<SchoolReference><SchoolIdentity><SchoolId>255901001</SchoolId></SchoolIdentity></SchoolReference>
\t\t<SessionReference>
\t\t\t<SessionIdentity>
\t\t\t\t<SessionName>2021-2022 Fall Semester</SessionName>
\t\t\t\t<SchoolYear>2021-2022</SchoolYear>
\t\t\t\t<SchoolReference><SchoolIdentity><SchoolId>255901001</SchoolId></SchoolIdentity></SchoolReference>
\t\t\t</SessionIdentity>
\t\t</SessionReference>
\t</StudentSchoolAttendanceEvent>
"""
HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<InterchangeStudentAttendance xmlns="http://ed-fi.org/5.2.0">\n'
)
TAIL = "</InterchangeStudentAttendance>\n"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def generate(path: Path, size_mb: int) -> int:
    """Write an attendance interchange of about ``size_mb`` MB; return its record count."""
    target = size_mb * 1024 * 1024
    written, count = 0, 0
    with path.open("w", encoding="utf-8") as out:
        out.write(HEAD)
        while written < target:
            day = count % 28 + 1
            text = RECORD.format(
                date=f"2021-{9 + count // 28 % 3:02d}-{day:02d}",
                category=CATEGORIES[count % len(CATEGORIES)],
                student=604821 + count % 960,
            )
            out.write(text)
            written += len(text)
            count += 1
        out.write(TAIL)
    return count


def measure(path: Path) -> dict[str, object]:
    """Runs in its own process: stream the file through the parser, count what came out."""
    from gateway.formats.edfi_xml import XmlTally, iter_records
    from gateway.formats.edfi_xml_schema import type_model, validator

    validator(), type_model()
    baseline = peak_rss_mb()
    tally = XmlTally()
    started = time.perf_counter()
    with path.open("rb") as stream:
        for _ in iter_records(stream, tally=tally):
            pass
    seconds = time.perf_counter() - started
    return {
        "case": f"edfi-xml-parse-{path.stat().st_size // (1024 * 1024)}mb",
        "records": tally.records,
        "problems": tally.problems,
        "bytes": path.stat().st_size,
        "seconds": round(seconds, 3),
        "records_per_second": round(tally.records / seconds),
        "peak_rss_mb": peak_rss_mb(),
        "baseline_rss_mb": baseline,
    }


def measure_sample(path: Path) -> dict[str, object]:
    from gateway.formats.edfi_xml import iter_records

    payload = path.read_bytes()
    count = sum(1 for _ in iter_records(io.BytesIO(payload)))  # warm-up: schema, plans
    best = min(_timed(payload) for _ in range(5))
    return {
        "case": "edfi-xml-parse-sample",
        "records": count,
        "seconds": round(best, 4),
        "records_per_second": round(count / best),
        "peak_rss_mb": peak_rss_mb(),
    }


def _timed(payload: bytes) -> float:
    from gateway.formats.edfi_xml import iter_records

    started = time.perf_counter()
    for _ in iter_records(io.BytesIO(payload)):
        pass
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes-mb", type=int, nargs="+", default=[10, 100])
    parser.add_argument("--sample", type=Path, default=SAMPLE if SAMPLE.exists() else None)
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args(argv)
    if args.measure:
        print(json.dumps(measure(args.measure)), flush=True)
        return 0
    if args.sample:
        log(f"parsing {args.sample.name}")
        print(json.dumps(measure_sample(args.sample)), flush=True)
    with tempfile.TemporaryDirectory(prefix="edfi-xml-bench-") as folder:
        for size in args.sizes_mb:
            path = Path(folder) / f"attendance-{size}mb.xml"
            log(f"generating {path.name}: {generate(path, size):,} records")
            child = [sys.executable, "-m", "benchmarks.run_edfi_xml_parse", "--measure", str(path)]
            done = subprocess.run(child, cwd=PROJECT_ROOT, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                log(done.stderr)
                return 1
            sys.stdout.write(done.stdout)
            sys.stdout.flush()
            path.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
