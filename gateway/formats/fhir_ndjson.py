"""FHIR NDJSON (Bulk Data export files): one resource per line, streamed.

The file is read in chunks of lines; no more than a few chunks are in memory at once, however
long the file is. Each line is parsed once in this process (orjson; when orjson's
re-serialisation is not byte-identical to the line, the strict loader reads it again, so a
duplicate key is always found), then held to the edge limits (``core.limits``) and checked by
the R4 gate (``fhir_gate``: HL7's R4 4.0.1 definitions compiled into one jsonschema-rs validator
per type, see ``fhir_validate``). A bad line is a problem at ``line N``; the lines around it go on.

Bulk files are checked in a pool of worker processes (``GATEWAY_FHIR_WORKERS``, default the
CPU count up to 2; 0 or 1 checks in this process). The workers get (type, location, bytes),
walk the limits and the gate, and send back only the problems; this process parses the next
chunk and maps and stores the one before meanwhile, and results come back in file order. Files
under ``POOL_AFTER`` lines never start the pool.
"""

from __future__ import annotations

import functools
import logging
import multiprocessing
import os
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from itertools import chain, islice
from typing import Any, BinaryIO

import orjson

from gateway.core.limits import tree_issues
from gateway.errors import InputInvalid
from gateway.formats.child_processes import main_module_left_out
from gateway.formats.fhir_validate import (
    BINARY_KEYS,
    Found,
    Verdict,
    attachment_limit,
    finish,
    type_issues,
    verdicts_many,
)
from gateway.formats.records import RecordProblem, load_json

log = logging.getLogger(__name__)

WORKERS_ENV = "GATEWAY_FHIR_WORKERS"
CHUNK = 200  # lines per pool task
POOL_AFTER = 1000  # lines; smaller files validate in this process
IN_FLIGHT = 4  # chunks submitted ahead of the one being finished
BOM = b"\xef\xbb\xbf"

Line = tuple[int, bytes]
_Ready = tuple[str, dict[str, Any], bytes]  # location, parsed resource, received bytes


def iter_ndjson(stream: BinaryIO, entity: str | None = None) -> Iterator[Found]:
    return iter_lines(enumerate(stream, start=1), entity)


def iter_lines(lines: Iterable[Line], entity: str | None = None) -> Iterator[Found]:
    lines = iter(lines)
    head = list(islice(lines, POOL_AFTER))
    workers = worker_count() if len(head) == POOL_AFTER else 1
    limit = attachment_limit()
    pending: deque[tuple[list[_Ready | RecordProblem], Future[Any] | None]] = deque()
    for chunk in _chunks(chain(head, lines)):
        prepared = [p for p in (_prepare(n, line, entity) for n, line in chunk) if p is not None]
        pending.append((prepared, _submit(workers, prepared)))
        while len(pending) > IN_FLIGHT:
            yield from _complete(*pending.popleft(), limit)
    while pending:
        yield from _complete(*pending.popleft(), limit)


def worker_count() -> int:
    value = os.environ.get(WORKERS_ENV, "")
    return int(value) if value.isdigit() else min(2, os.cpu_count() or 1)


def _chunks(lines: Iterator[Line]) -> Iterator[list[Line]]:
    while chunk := list(islice(lines, CHUNK)):
        yield chunk


def _prepare(number: int, line: bytes, entity: str | None) -> _Ready | RecordProblem | None:
    text = line.strip()
    if number == 1:
        text = text.removeprefix(BOM)
    if not text:
        return None
    where = f"line {number}"
    doc = _load(text, where)
    if isinstance(doc, RecordProblem):
        return doc
    issues = type_issues(doc, where, entity)
    if issues:
        # the limits first, as for every other payload: a line outside them is refused for that
        outside = tree_issues(doc, where, binary_keys=BINARY_KEYS)
        return RecordProblem(location=where, issues=tuple(outside) or issues)
    return (where, doc, text)


def _load(text: bytes, where: str) -> Any:
    """The parsed line, or its problem. The edge limits of a line orjson read are walked with the
    gate (``verdicts_many``); the strict loader walks them itself."""
    try:
        doc = orjson.loads(text)
        # Identical bytes back mean every object had each key once (a duplicate would be lost).
        if orjson.dumps(doc) == text:
            return doc
    except orjson.JSONDecodeError:
        pass  # also past orjson's own nesting limit: the strict loader says why
    try:
        return load_json(text, where, binary_keys=BINARY_KEYS)
    except InputInvalid as exc:
        return RecordProblem(location=where, issues=exc.issues)


def _tasks(prepared: list[_Ready | RecordProblem]) -> list[tuple[str, str, bytes]]:
    return [(p[1]["resourceType"], p[0], p[2]) for p in prepared if not isinstance(p, RecordProblem)]


def _submit(workers: int, prepared: list[_Ready | RecordProblem]) -> Future[Any] | None:
    if workers <= 1:
        return None
    try:
        with main_module_left_out():  # the pool starts its processes on a submit
            return _pool(workers).submit(verdicts_many, _tasks(prepared))
    except RuntimeError:  # a broken or shut-down pool: validate here instead
        _pool.cache_clear()
        log.warning("FHIR validation pool unavailable; validating in process")
        return None


def _complete(
    prepared: list[_Ready | RecordProblem], future: Future[Any] | None, limit: int
) -> Iterator[Found]:
    verdicts = iter(_verdicts(prepared, future))
    for item in prepared:
        if isinstance(item, RecordProblem):
            yield item
            continue
        where, doc, raw = item
        outside, issues = next(verdicts)
        if outside:
            yield RecordProblem(location=where, issues=issues)
        else:
            yield from finish(doc, where, issues, raw=raw, limit=limit)


def _verdicts(prepared: list[_Ready | RecordProblem], future: Future[Any] | None) -> list[Verdict]:
    if future is not None:
        try:
            return list(future.result())
        except Exception as exc:  # the pool broke (a worker died): the chunk is validated here
            # Type only: a worker's exception message may quote the resource it was validating.
            log.error(
                "FHIR validation worker failed with %s; validating the chunk in process", type(exc).__name__
            )
            _pool.cache_clear()
    ready = [p for p in prepared if not isinstance(p, RecordProblem)]
    return verdicts_many(_tasks(prepared), [doc for _, doc, _ in ready])


@functools.cache
def _pool(workers: int) -> ProcessPoolExecutor:
    # forkserver, not fork: the web server and the database driver run threads, and a forked
    # child of a threaded process can inherit a held lock. The server preloads the models once.
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["gateway.formats.fhir_validate"])
    return ProcessPoolExecutor(max_workers=workers, mp_context=context)
