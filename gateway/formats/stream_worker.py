"""A bulk file parsed (and mapped) in a second process while this one stores what it already read.

Parsing an Ed-Fi XML interchange (streaming XSD validation, conversion to the API's JSON shape,
references completed) is about two fifths of its ingest on one core; a OneRoster CSV file's rows
about an eighth; FHIR NDJSON's parse, limits and R4 gate about a third. For a staged file of
those formats, ``stream_records`` starts one parser process (``forkserver``: the web server and
database drivers run threads) that reads the file by its path and sends the records back in
chunks through a pipe, in file order. The pipe's buffer is the back-pressure: the parser is
never more than a few chunks ahead, so memory stays flat.

Everything the in-process parser would do, it does: the same records, the same problems at the
same locations, and a ``GatewayError`` that stops the stream stops it here too, with its code,
message and issues. Any other failure of the parser process is reported by its type only (its
message may quote the payload). ``GATEWAY_PARSE_WORKER=0`` parses in this process.

The caller may also send a ``premap`` step (the batch's mapping, a tenth to a fifth of an
ingest): it runs on each record there, and its answer travels with the record.
"""

from __future__ import annotations

import functools
import gc
import logging
import multiprocessing
import multiprocessing.context
import os
import pickle
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from itertools import islice
from multiprocessing import forkserver
from multiprocessing.connection import Connection
from typing import Any, BinaryIO

from gateway.errors import GatewayError, InputInvalid, Issue
from gateway.formats.child_processes import main_module_left_out
from gateway.formats.records import RecordProblem, SourceRecord

log = logging.getLogger(__name__)

WORKER_ENV = "GATEWAY_PARSE_WORKER"
# Formats whose parsing is worth a process (measured, see benchmarks/README.md); Ed-Fi JSON parses
# in a few percent of its ingest. FHIR NDJSON: the parser process also walks the limits and runs
# the R4 gate (its own validation pool is not started there: this process is the second core), and
# a resource comes back pickled, which reads in about a third of the time its JSON parses in.
PARALLEL_FORMATS = frozenset({"edfi-xml", "oneroster-csv", "fhir-xml", "fhir-ndjson"})
# Formats whose records are also mapped in the parser process (``premap``): where parsing is light
# next to deciding and storing. FHIR NDJSON: this process's CPU per resource 514-553 -> 362-423
# us, 1,480-1,617 -> 1,574-1,825 resources/s. Not Ed-Fi XML, whose parsing (XSD, conversion)
# already keeps the parser process the busier one: 50 MB took 16.0 s with the mapping there
# against 15.0 s without (benchmarks/README.md).
PREMAPPED_FORMATS = frozenset({"fhir-ndjson"})
_POOL_IN_PARSER = ("GATEWAY_FHIR_WORKERS", "1")  # fhir_ndjson.WORKERS_ENV: validate in the parser
# The parser process is forked from the forkserver, which has the parsers imported (about 0.4 s,
# once per process); it is not made to import this program's main module again, as
# multiprocessing would (about 2 s for ``spgw`` or a benchmark, once per file): its work is all in
# this package. Measured on the 2 cores here (see benchmarks/README.md): below about 10 MB the
# start and the pipe cost more than the second core saves; smaller FHIR NDJSON files keep the
# validation pool.
MIN_BYTES = 12 * 1024 * 1024
CHUNK = 250  # records per message through the pipe
# Line formats whose first lines this process parses itself, while the parser process starts: it
# waited about 0.25 s for the process server to import the parsers, then 0.1 s for the first
# chunk (FHIR landing 10k). Under fhir_ndjson.POOL_AFTER, so no validation pool starts for them.
HEAD_LINES = {"fhir-ndjson": 500}
AHEAD = 40  # messages received and not yet read: two bulk batches (5,000 records each)

# The parser allocates many short-lived values that form no cycles (as the ingest does, see
# service/exchange/ingest.fewer_collections): cycle detection less often.
_FEWER_COLLECTIONS = (50_000, 50, 1_000)

StreamItem = SourceRecord | RecordProblem
RecordStep = Callable[[SourceRecord], Any]  # run on each record there (core.batch.Premap)


class Backlog:
    """About how many records the parser process has sent that the reader has not taken yet, in
    whole chunks (the one being read is not counted; the end's marker counts as one); 0 until the
    stream has started."""

    def __init__(self) -> None:
        self._chunks: queue.Queue[bytes | None] | None = None

    def __call__(self) -> int:
        return 0 if self._chunks is None else self._chunks.qsize() * CHUNK

    def follow(self, chunks: queue.Queue[bytes | None]) -> None:
        self._chunks = chunks


def wanted(format_name: str, stream: BinaryIO) -> bool:
    """A staged file (not bytes in memory) of a format worth it, big enough, and not switched off."""
    if os.environ.get(WORKER_ENV, "1") == "0" or format_name not in PARALLEL_FORMATS:
        return False
    name = getattr(stream, "name", None)
    if not isinstance(name, str) or not os.path.isfile(name):
        return False
    return os.path.getsize(name) >= MIN_BYTES


def start_early(format_name: str, path: str | os.PathLike[str] | None) -> None:
    """For a file ``stream_records`` will parse: start the process server now, so it imports the
    parsers (about 0.4 s) while this process stages the file, instead of after."""
    if path is None or os.environ.get(WORKER_ENV, "1") == "0" or format_name not in PARALLEL_FORMATS:
        return
    try:
        size = os.path.getsize(path)
    except OSError:  # staging the file says what is wrong with it
        return
    if size < MIN_BYTES:
        return
    try:
        _forkserver_context()
        with main_module_left_out():
            forkserver.ensure_running()
    except (AssertionError, OSError, ValueError) as exc:  # started on demand later, or parsed here
        log.warning("process server not started early (%s)", type(exc).__name__)


def _forkserver_context() -> multiprocessing.context.ForkServerContext:
    context = multiprocessing.get_context("forkserver")
    # The one forkserver of this process is shared with the FHIR validation pool: both preloads.
    context.set_forkserver_preload(["gateway.formats", "gateway.formats.fhir_validate"])
    return context


def stream_records(
    format_name: str,
    stream: BinaryIO,
    entity: str | None,
    premap: RecordStep | None = None,
    backlog: Backlog | None = None,
) -> Iterator[StreamItem]:
    """The file's records as ``stream_payload`` gives them, parsed in a second process. ``stream``
    follows the parser's position (``tell``), so progress reports read the share done.

    ``premap`` (picklable, sent once): a step the second process also runs on each record, its
    answer kept as the record's ``premapped`` (the batch's mapping, ``core.batch.Premap``): the
    mapping is pure and per record, so it moves off the process that decides and stores.

    ``backlog`` is made to follow what has arrived and waits to be read.

    A line format's first ``HEAD_LINES`` lines are parsed here while the second process starts
    (the process server may still be importing the parsers), and that process skips them."""
    context = _forkserver_context()
    receiver, sender = context.Pipe(duplex=False)
    head = HEAD_LINES.get(format_name, 0)
    worker = context.Process(
        target=_parse, args=(format_name, str(stream.name), entity, sender, premap, head), daemon=True
    )
    start = _Start(worker, background=head > 0)
    try:
        if head:
            yield from _head(stream, entity, head)
    except BaseException:  # the reader stopped, or the head broke off: no process left behind
        if start.started():
            _stop(worker)
        receiver.close()
        sender.close()
        raise
    failure = start.failure()
    if failure is not None:  # a daemonic caller, or no process to be had
        log.warning("parser process unavailable (%s); parsing in process", type(failure).__name__)
        receiver.close()
        sender.close()
        yield from _rest_in_process(format_name, stream, entity, head)
        return
    sender.close()  # this end is the child's: EOF here once the child is gone
    # A thread takes the pipe's bytes as they come, so the parser goes on while this process
    # stores a batch (a pipe holds 64 KiB: less than one chunk); the queue bounds how far ahead.
    chunks: queue.Queue[bytes | None] = queue.Queue(maxsize=AHEAD)
    if backlog is not None:
        backlog.follow(chunks)
    stop = threading.Event()
    drain = threading.Thread(target=_drain, args=(receiver, chunks, stop), daemon=True)
    drain.start()
    try:
        yield from _received(chunks, stream)
    finally:
        stop.set()
        _stop(worker)
        drain.join()
        receiver.close()


class _Start:
    """``worker.start()``: in a thread when this process has lines of its own to parse meanwhile
    (connecting to the process server waits until it has imported the parsers)."""

    def __init__(self, worker: multiprocessing.process.BaseProcess, *, background: bool) -> None:
        self._worker = worker
        self._failure: BaseException | None = None
        self._error: Exception | None = None  # anything else: raised where the start was asked for
        self._thread = threading.Thread(target=self._run, daemon=True) if background else None
        if self._thread is None:
            self._run()
        else:
            self._thread.start()

    def _run(self) -> None:
        try:
            with main_module_left_out():
                self._worker.start()
        except (AssertionError, OSError) as exc:
            self._failure = exc
        except Exception as exc:  # kept for the caller's thread, which raises it
            self._error = exc

    def started(self) -> bool:
        """Once the start is over: whether the process runs."""
        if self._thread is not None:
            self._thread.join()
        return self._failure is None and self._error is None

    def failure(self) -> BaseException | None:
        """Once the start is over: None when the process runs, else why it could not start (a
        fault other than no process to be had is raised here)."""
        self.started()
        if self._error is not None:
            raise self._error
        return self._failure


def _stop(worker: multiprocessing.process.BaseProcess) -> None:
    if worker.is_alive():  # the consumer stopped early (an error, a closed request)
        worker.terminate()
    worker.join()


def _head(stream: BinaryIO, entity: str | None, lines: int) -> Iterator[StreamItem]:
    """The first ``lines`` lines of an NDJSON file, parsed here (the only line format so far)."""
    return _ndjson_lines(islice(enumerate(stream, start=1), lines), entity)


def _rest_in_process(
    format_name: str, stream: BinaryIO, entity: str | None, head: int
) -> Iterator[StreamItem]:
    if not head:
        return _streams()(format_name, stream, entity)  # type: ignore[no-any-return]
    stream.seek(0)
    return _ndjson_lines(islice(enumerate(stream, start=1), head, None), entity)


def _ndjson_lines(lines: Iterator[tuple[int, bytes]], entity: str | None) -> Iterator[StreamItem]:
    from gateway.formats.fhir_ndjson import iter_lines

    return iter_lines(lines, entity)


def _drain(receiver: Connection, chunks: queue.Queue[bytes | None], stop: threading.Event) -> None:
    """Pipe -> queue, undecoded (the consumer unpickles); ``None`` once the pipe has ended, or once
    this thread failed, so the consumer is never left waiting on a queue nobody fills."""
    try:
        while not stop.is_set():
            _put(chunks, receiver.recv_bytes(), stop)
    except (EOFError, OSError):
        pass
    except Exception as exc:  # reported by type: what the pipe held may quote the payload
        log.error("reading from the parser process failed with %s", type(exc).__name__)
    _put(chunks, None, stop)


def _put(chunks: queue.Queue[bytes | None], data: bytes | None, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            chunks.put(data, timeout=0.1)
            return
        except queue.Full:
            continue


def _received(chunks: queue.Queue[bytes | None], stream: BinaryIO) -> Iterator[StreamItem]:
    while True:
        data = chunks.get()
        if data is None:
            raise RuntimeError("the parser process ended without finishing the file")
        kind, body, position = pickle.loads(data)
        if position:
            stream.seek(position)
        if kind == "items":
            yield from body
        elif kind == "end":
            return
        elif kind == "gateway-error":
            raise _rebuilt(*body)
        else:
            raise RuntimeError(f"the parser process failed with {body}")


def _rebuilt(error_type: type[GatewayError], message: str, issues: tuple[Issue, ...]) -> GatewayError:
    try:
        return error_type(message, issues)
    except TypeError:  # a subclass with its own signature: the same problem, told as invalid input
        return InputInvalid(message, issues)


def _parse(
    format_name: str,
    path: str,
    entity: str | None,
    sender: Connection,
    premap: RecordStep | None = None,
    skip: int = 0,
) -> None:
    """In the parser process: every item of the file, in chunks, then the end or the failure;
    ``skip``: the first lines of a line format, which the other process parses."""
    os.environ[_POOL_IN_PARSER[0]] = _POOL_IN_PARSER[1]
    gc.set_threshold(*_FEWER_COLLECTIONS)
    chunk: list[StreamItem] = []
    with open(path, "rb") as stream:
        try:
            for item in _rest_in_process(format_name, stream, entity, skip):
                if premap is not None and isinstance(item, SourceRecord):
                    item = replace(item, premapped=premap(item))
                chunk.append(item)
                if len(chunk) >= CHUNK:
                    sender.send(("items", chunk, stream.tell()))
                    chunk = []
            sender.send(("items", chunk, stream.tell()))
            sender.send(("end", None, 0))
        except GatewayError as exc:
            sender.send(("items", chunk, 0))
            sender.send(("gateway-error", (type(exc), exc.message, exc.issues), 0))
        except Exception as exc:  # reported by type: the message may quote the payload
            sender.send(("items", chunk, 0))
            sender.send(("failed", type(exc).__name__, 0))
        finally:
            sender.close()


@functools.cache
def _streams() -> Any:
    # The registry imports every parser module; imported in the child only when it runs.
    from gateway.formats import stream_payload

    return stream_payload
