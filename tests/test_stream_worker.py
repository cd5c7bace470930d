"""A large staged file parsed in a second process (formats/stream_worker.py) gives exactly what the
parser gives in process: the same records and problems in the same order, the same error where
the file breaks off, and no process left behind when the reader stops early."""

from __future__ import annotations

import datetime as dt
import io
import multiprocessing
import threading
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from gateway.errors import GatewayError
from gateway.formats import stream_payload, stream_worker
from gateway.formats.records import SourceRecord
from gateway.service.exchange.inbound import Inbound
from gateway.service.exchange.ingest import ingest

NS = "http://ed-fi.org/5.2.0"
EVENT = """<StudentSchoolAttendanceEvent><AttendanceEvent><EventDate>{date}</EventDate>
<AttendanceEventCategory>uri://ed-fi.org/AttendanceEventCategoryDescriptor#{category}</AttendanceEventCategory>
<AttendanceEventReason>Reported by the school office</AttendanceEventReason><EventDuration>1</EventDuration>
</AttendanceEvent><StudentReference><StudentIdentity><StudentUniqueId>604822</StudentUniqueId>
</StudentIdentity></StudentReference><SchoolReference><SchoolIdentity><SchoolId>255901001</SchoolId>
</SchoolIdentity></SchoolReference><SessionReference><SessionIdentity>
<SessionName>2021-2022 Fall Semester</SessionName><SchoolYear>2021-2022</SchoolYear>
<SchoolReference><SchoolIdentity><SchoolId>255901001</SchoolId></SchoolIdentity></SchoolReference></SessionIdentity></SessionReference></StudentSchoolAttendanceEvent>
"""


@pytest.fixture(autouse=True)
def small_files_use_the_worker(monkeypatch):
    """The worker starts for files from 12 MiB on; these tests' files are about 2 MB."""
    monkeypatch.setattr(stream_worker, "MIN_BYTES", 1024 * 1024)


EVENTS = 2400  # about 2 MB (1.4 MB cut off): over the size a second process is started for


def interchange(events: int = EVENTS, *, bad_every: int = 0, cut: bool = False) -> bytes:
    start = dt.date(2021, 8, 30)
    body = []
    for n in range(events):
        date = (
            "2021-02-30" if bad_every and n % bad_every == 7 else (start + dt.timedelta(days=n)).isoformat()
        )
        body.append(EVENT.format(date=date, category="Tardy" if n % 3 else "Excused Absence"))
    text = f'<?xml version="1.0" encoding="UTF-8"?>\n<InterchangeStudentAttendance xmlns="{NS}">\n'
    text += "".join(body) + "</InterchangeStudentAttendance>\n"
    data = text.encode()
    return data[: len(data) * 2 // 3] if cut else data


def in_process(path: Path) -> tuple[list[object], GatewayError | None]:
    found: list[object] = []
    try:
        with path.open("rb") as stream:
            found.extend(stream_payload("edfi-xml", stream, None))
    except GatewayError as exc:
        return found, exc
    return found, None


def in_worker(path: Path) -> tuple[list[object], GatewayError | None]:
    found: list[object] = []
    try:
        with path.open("rb") as stream:
            assert stream_worker.wanted("edfi-xml", stream)
            found.extend(stream_worker.stream_records("edfi-xml", stream, None))
    except GatewayError as exc:
        return found, exc
    return found, None


@pytest.mark.parametrize(
    ("bad_every", "cut"),
    [(0, False), (50, False), (0, True), (40, True)],
    ids=["all-good", "bad-records", "cut-off", "bad-records-then-cut-off"],
)
def test_the_worker_gives_what_the_parser_gives(tmp_path, bad_every, cut):
    path = tmp_path / "attendance.xml"
    path.write_bytes(interchange(bad_every=bad_every, cut=cut))
    expected, expected_error = in_process(path)
    found, error = in_worker(path)
    assert found == expected
    assert len(found) > 0
    if cut:
        assert error is not None
        assert expected_error is not None
        assert (type(error), error.message, error.issues) == (
            type(expected_error),
            expected_error.message,
            expected_error.issues,
        )
    else:
        assert error is None
        assert expected_error is None


def test_the_stream_follows_the_parser_for_progress(tmp_path):
    path = tmp_path / "attendance.xml"
    path.write_bytes(interchange())
    with path.open("rb") as stream:
        items = stream_worker.stream_records("edfi-xml", stream, None)
        next(items)
        positions = [stream.tell()]
        for _ in items:
            positions.append(stream.tell())
    assert positions[0] > 0
    assert positions == sorted(positions)
    assert positions[-1] <= path.stat().st_size


def test_a_reader_that_stops_early_leaves_no_process(tmp_path):
    path = tmp_path / "attendance.xml"
    path.write_bytes(interchange())
    before = set(multiprocessing.active_children())  # other tests' validation pools live on
    with path.open("rb") as stream:
        items = stream_worker.stream_records("edfi-xml", stream, None)
        next(items)
        assert len(set(multiprocessing.active_children()) - before) == 1  # the parser, running
        items.close()
    assert set(multiprocessing.active_children()) - before == set()


@pytest.mark.parametrize(
    ("format_name", "size", "in_memory", "switch", "expected"),
    [
        ("edfi-xml", 2_000_000, False, None, True),
        ("oneroster-csv", 2_000_000, False, None, True),
        ("edfi-xml", 2_000_000, False, "0", False),
        ("edfi-xml", 1000, False, None, False),
        ("edfi-xml", 2_000_000, True, None, False),
        ("fhir-ndjson", 2_000_000, False, None, True),
        ("edfi-json", 2_000_000, False, None, False),
    ],
)
def test_when_a_second_process_is_worth_it(
    tmp_path, monkeypatch, format_name, size, in_memory, switch, expected
):
    if switch is not None:
        monkeypatch.setenv(stream_worker.WORKER_ENV, switch)
    path = tmp_path / "payload"
    path.write_bytes(b"x" * size)
    with path.open("rb") as stream:
        source = io.BytesIO(path.read_bytes()) if in_memory else stream
        assert stream_worker.wanted(format_name, source) is expected


def test_a_staged_file_lands_the_same_with_and_without_the_worker(rt, tmp_path, monkeypatch):
    path = tmp_path / "attendance.xml"
    path.write_bytes(interchange(bad_every=100))
    ingest(rt, Inbound(source_org="grand-bend-isd", format_name="edfi-xml", payload=_student()))
    summaries = {}
    for switch in ("1", "0"):
        monkeypatch.setenv(stream_worker.WORKER_ENV, switch)
        summary = ingest(rt, Inbound(source_org="grand-bend-isd", format_name="edfi-xml", path=path))
        records = [(r["location"], r["status"]) for r in summary.outcome["records"]]
        summaries[switch] = (
            summary.status,
            summary.outcome["accepted"],
            summary.outcome["rejected"],
            records,
        )
    assert summaries["1"] == summaries["0"]
    assert summaries["1"][0] == "partial"
    assert summaries["1"][2] == EVENTS // 100


def _student() -> bytes:
    fixtures = Path(__file__).parent / "fixtures" / "edfi_xml"
    return (fixtures / "students.xml").read_bytes()


def ndjson(lines: int = 4000) -> bytes:
    """Patients, about 2 MB, with every kind of bad line among them: JSON, duplicate keys, limits,
    the R4 gate (bindings, types, unknown elements), an unknown type, blank lines."""
    bad = [
        b'{"resourceType":"Patient","gender":"m"}',
        b'{"resourceType":"Patient","active":"yes"}',
        b'{"resourceType":"Patient","id":"a","id":"b"}',
        b'{"resourceType":"Patient","name":[{"family":"x\\u0000y"}]}',
        b'{"resourceType":"Patient","colour":"blue"}',
        b'{"resourceType":"NoSuchThing"}',
        b'{"resourceType":"Patient",',
        b"",
    ]
    out = []
    for n in range(lines):
        if n % 97 == 5:
            out.append(bad[(n // 97) % len(bad)])
            continue
        patient = {
            "resourceType": "Patient",
            "id": f"p{n}",
            "identifier": [{"system": "https://grandbend.example.org/ns/sid", "value": f"S{n:06d}"}],
            "name": [{"family": f"Family{n}", "given": ["Given", "Middle"]}],
            "gender": "female" if n % 2 else "male",
            "birthDate": f"20{10 + n % 9:02d}-0{1 + n % 9}-1{n % 9}",
            "address": [{"line": [f"{n} Main Street"], "city": "Grand Bend", "postalCode": "48000"}],
        }
        out.append(orjson.dumps(patient))
    return b"\n".join(out) + b"\n"


def test_fhir_ndjson_through_the_worker_gives_what_the_parser_gives(tmp_path):
    path = tmp_path / "patients.ndjson"
    path.write_bytes(ndjson())
    found: list[object] = []
    with path.open("rb") as stream:
        assert stream_worker.wanted("fhir-ndjson", stream)
        found.extend(stream_worker.stream_records("fhir-ndjson", stream, None))
    with path.open("rb") as stream:
        expected = list(stream_payload("fhir-ndjson", stream, None))
    assert found == expected
    problems = [item for item in found if not isinstance(item, SourceRecord)]
    assert len(problems) == len([n for n in range(4000) if n % 97 == 5]) - 5  # five blank lines


def test_the_parser_process_does_not_run_the_programs_main_module_again(tmp_path):
    """multiprocessing would make the child import the program's main module again (2 s for
    ``spgw``, once per file); the parser's work is all in the package, so it must not."""
    import subprocess
    import sys

    (tmp_path / "attendance.xml").write_bytes(interchange(200))
    marks = tmp_path / "imports.txt"
    program = tmp_path / "program.py"
    program.write_text(
        "import os, sys\n"
        f"open({str(marks)!r}, 'a').write(str(os.getpid()) + '\\n')\n"
        "from gateway.formats import stream_worker\n"
        "if __name__ == '__main__':\n"
        f"    with open({str(tmp_path / 'attendance.xml')!r}, 'rb') as stream:\n"
        "        found = list(stream_worker.stream_records('edfi-xml', stream, None))\n"
        "    print(len(found))\n",
        encoding="utf-8",
    )
    done = subprocess.run([sys.executable, str(program)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "200"
    assert len(marks.read_text().split()) == 1  # the program itself, and no parser process


def test_the_main_module_is_put_back_after_a_start_even_when_there_was_none(monkeypatch):
    import sys

    from gateway.formats.child_processes import main_module_left_out

    real = sys.modules["__main__"]
    with main_module_left_out():
        assert sys.modules["__main__"] is not real
    assert sys.modules["__main__"] is real
    monkeypatch.delitem(sys.modules, "__main__")
    with main_module_left_out():
        assert "__main__" in sys.modules
    assert "__main__" not in sys.modules


def test_a_failing_reader_thread_ends_the_stream_instead_of_leaving_it_waiting(tmp_path):
    import queue
    import threading

    class BrokenPipe:
        def recv_bytes(self) -> bytes:
            raise MemoryError

    chunks: queue.Queue[bytes | None] = queue.Queue(maxsize=2)
    reader = threading.Thread(target=stream_worker._drain, args=(BrokenPipe(), chunks, threading.Event()))
    reader.start()
    reader.join(timeout=10)
    assert not reader.is_alive()
    with (tmp_path / "f").open("wb+") as stream, pytest.raises(RuntimeError, match="ended without finishing"):
        next(stream_worker._received(chunks, stream))


@pytest.mark.parametrize(
    ("format_name", "size", "switch", "started"),
    [
        pytest.param("fhir-ndjson", 2 * 1024 * 1024, "1", True, id="a big file of a parsed-apart format"),
        pytest.param("edfi-xml", 2 * 1024 * 1024, "1", True, id="Ed-Fi XML too"),
        pytest.param("fhir-ndjson", 1000, "1", False, id="a small file"),
        pytest.param("edfi-json", 2 * 1024 * 1024, "1", False, id="a format parsed here"),
        pytest.param("fhir-ndjson", 2 * 1024 * 1024, "0", False, id="the worker switched off"),
        pytest.param("fhir-ndjson", None, "1", False, id="bytes, not a file"),
    ],
)
def test_the_process_server_starts_while_the_file_is_staged(
    tmp_path, monkeypatch, format_name, size, switch, started
):
    calls: list[str] = []
    monkeypatch.setattr(stream_worker.forkserver, "ensure_running", lambda: calls.append("started"))
    monkeypatch.setenv(stream_worker.WORKER_ENV, switch)
    path = None
    if size is not None:
        path = tmp_path / "file"
        path.write_bytes(b"x" * size)
    stream_worker.start_early(format_name, path)
    assert calls == (["started"] if started else [])


def test_a_server_started_early_serves_the_parse(tmp_path):
    path = tmp_path / "patients.ndjson"
    path.write_bytes(ndjson())
    assert path.stat().st_size >= stream_worker.MIN_BYTES
    stream_worker.start_early("fhir-ndjson", path)
    with path.open("rb") as stream:
        found = list(stream_worker.stream_records("fhir-ndjson", stream, None))
    with path.open("rb") as stream:
        assert found == list(stream_payload("fhir-ndjson", stream, None))


def test_the_backlog_counts_what_the_parser_sent_and_was_not_read(tmp_path):
    path = tmp_path / "patients.ndjson"
    path.write_bytes(ndjson())
    backlog = stream_worker.Backlog()
    assert backlog() == 0  # before the stream starts
    with path.open("rb") as stream:
        items = stream_worker.stream_records("fhir-ndjson", stream, None, None, backlog)
        for _ in range(stream_worker.HEAD_LINES["fhir-ndjson"] + 1):  # past the lines parsed here
            next(items)
        deadline = time.monotonic() + 30
        while backlog() < 2 * stream_worker.CHUNK and time.monotonic() < deadline:
            time.sleep(0.01)  # the parser goes on while nothing is read here
        waiting = backlog()
        rest = sum(1 for _ in items)
    assert waiting >= 2 * stream_worker.CHUNK
    assert waiting % stream_worker.CHUNK == 0  # whole chunks
    assert waiting <= rest + 1
    assert backlog() <= stream_worker.CHUNK  # all read: at most the end's marker is left


def _ndjson_file(tmp_path: Path) -> Path:
    path = tmp_path / "patients.ndjson"
    path.write_bytes(ndjson())
    return path


def _in_process_items(path: Path) -> list[object]:
    with path.open("rb") as stream:
        return list(stream_payload("fhir-ndjson", stream, None))


def test_the_first_lines_are_read_here_while_the_parser_process_starts(tmp_path, monkeypatch):
    """The process server may still be importing the parsers: this process does not wait for it
    to read the first records (without the head start the start would come first, after 10 s)."""
    path = _ndjson_file(tmp_path)
    order: list[str] = []
    released = threading.Event()
    real = stream_worker._Start._run

    def held_back(self: Any) -> None:
        released.wait(10)
        order.append("parser process starting")
        real(self)

    monkeypatch.setattr(stream_worker._Start, "_run", held_back)
    with path.open("rb") as stream:
        items = stream_worker.stream_records("fhir-ndjson", stream, None)
        found = [next(items)]
        order.append("first record read")
        released.set()
        found.extend(items)
    assert order == ["first record read", "parser process starting"]
    assert found == _in_process_items(path)


def test_without_a_parser_process_the_rest_after_the_head_is_read_here(tmp_path, monkeypatch):
    path = _ndjson_file(tmp_path)

    def unavailable(self: Any) -> None:
        self._failure = OSError("no process to be had")

    monkeypatch.setattr(stream_worker._Start, "_run", unavailable)
    with path.open("rb") as stream:
        found = list(stream_worker.stream_records("fhir-ndjson", stream, None))
    assert found == _in_process_items(path)


@pytest.mark.parametrize("read", [1, 600], ids=["in the head", "after the head"])
def test_a_reader_that_stops_in_or_after_the_head_leaves_no_process(tmp_path, read):
    path = _ndjson_file(tmp_path)
    before = set(multiprocessing.active_children())
    with path.open("rb") as stream:
        items = stream_worker.stream_records("fhir-ndjson", stream, None)
        for _ in range(read):
            next(items)
        items.close()
    assert set(multiprocessing.active_children()) - before == set()


@pytest.mark.parametrize(
    "format_name", ["fhir-ndjson", "edfi-xml"], ids=["started in a thread", "started here"]
)
def test_a_fault_starting_the_parser_process_reaches_the_reader(tmp_path, monkeypatch, format_name):
    """Not the 'no process to be had' that falls back to parsing here: a fault, raised where the
    records are read (ingest ends the message failed, replayable), wherever the start ran."""
    path = _ndjson_file(tmp_path) if format_name == "fhir-ndjson" else tmp_path / "attendance.xml"
    if format_name == "edfi-xml":
        path.write_bytes(interchange())

    def faulty(self: Any) -> None:
        raise ValueError("a bug while starting")

    monkeypatch.setattr(stream_worker.multiprocessing.process.BaseProcess, "start", faulty)
    before = set(multiprocessing.active_children())
    with path.open("rb") as stream, pytest.raises(ValueError, match="a bug while starting"):
        list(stream_worker.stream_records(format_name, stream, None))
    assert set(multiprocessing.active_children()) - before == set()
