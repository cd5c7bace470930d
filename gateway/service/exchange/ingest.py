"""Inbound exchanges: stage the raw payload, then run it through the pipeline in batches.

The payload is committed to the message store before anything can fail. Processing runs in
batch transactions; if a batch fails unexpectedly it is rolled back and retried one record per
transaction, so the failing record is isolated and everything else lands. The message ends
with a status and a reason, and can be replayed after a fix (re-running is idempotent); an
exception that stops it ends it ``failed``, and a run whose process died is found later
(``message_state``): no message stays ``received``.
"""

from __future__ import annotations

import gc
import logging
import math
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, BinaryIO

from gateway.errors import AccessDenied, Conflict, GatewayError, Issue, PayloadTooLarge
from gateway.formats import StreamItem, stream_payload, stream_worker
from gateway.formats.records import RecordProblem, SourceRecord
from gateway.service.directory import directory_import
from gateway.service.exchange import payloads
from gateway.service.exchange.batch import Exchange, premap, run_batch
from gateway.service.exchange.inbound import Inbound, stage
from gateway.service.exchange.message_state import (
    RECEIVED,
    Finished,
    claim,
    finish,
    finish_failed,
    finish_rejected,
    heartbeat,
    recover_interrupted,
)
from gateway.service.exchange.outcomes import FAILED, REJECTED, REPLAYABLE, RecordOutcome, Tally
from gateway.service.policy.policies import policy_set
from gateway.service.runtime import Runtime
from gateway.storage import message_store, organization_store, retention_store
from gateway.storage.tables import Message

log = logging.getLogger(__name__)
FIRST_PARALLEL_BATCH = 500  # records: parsed and mapped in the second process in about 0.1 s
# A growing batch is at least this much larger than the one before, more when the parser process
# has more ready: doubling made this process wait while the parser made twice what it had just
# stored (FHIR on SQLite, where the parser is the slower: 1.4 s of 4.2 s waiting).
GROWTH = 1.25
Progress = Callable[[int, int], None]


@dataclass(frozen=True, kw_only=True)
class BatchSizes:
    """How a stream is cut into batches (``record_batches``)."""

    first: int | None  # None: the first batch is a whole one
    size: int
    grow: bool = False
    ready: Callable[[], int] | None = None  # records parsed and waiting (``stream_worker.Backlog``)


@dataclass(frozen=True, kw_only=True)
class IngestSummary:
    message_id: str
    status: str
    reason: str
    outcome: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "messageId": self.message_id,
            "status": self.status,
            "reason": self.reason,
            **self.outcome,
        }


def ingest(rt: Runtime, inbound: Inbound, progress: Progress | None = None) -> IngestSummary:
    """The one door of every inbound exchange (HTTP, CLI, pull, demo): stage it, then run it.
    A replay (``replay``) runs the staged message again through the same ``process``."""
    stream_worker.start_early(inbound.format_name, inbound.path)
    return process(rt, stage(rt, inbound), progress)


def record_oversized(rt: Runtime, *, source_org: str, format_name: str, size: int | None) -> IngestSummary:
    """An oversized body is refused unread; the refusal itself is stored and audited."""
    message_id = stage(rt, Inbound(source_org=source_org, format_name=format_name))
    error = _too_large(size, rt.settings.max_payload_bytes)
    return _summary(message_id, finish_rejected(rt, message_id, error))


def process(rt: Runtime, message_id: str, progress: Progress | None = None) -> IngestSummary:
    """Run a stored message; it always ends with a final status (see ``message_state``)."""
    message = claim(rt, message_id)
    tally = Tally()
    try:
        with fewer_collections():
            done = _process(rt, message, tally, progress)
    except Exception as exc:  # any fault: failed with its type as the reason code, replayable
        done = finish_failed(rt, message_id, exc, tally)
    return _summary(message_id, done)


@contextmanager
def fewer_collections() -> Iterator[None]:
    """A batch allocates hundreds of thousands of short-lived dicts and lists that form no cycles;
    at the interpreter's default threshold (700) the cyclic collector ran 427 times over a
    10,000-record Ed-Fi ingest, 12 times with this (about 5% of its CPU time, measured).
    Reference counting still frees everything at once; only cycle detection runs less often."""
    before = gc.get_threshold()
    gc.set_threshold(50_000, 50, 1_000)
    try:
        yield
    finally:
        gc.set_threshold(*before)


def _process(rt: Runtime, message: Message, tally: Tally, progress: Progress | None) -> Finished:
    if message.format == directory_import.FORMAT:  # a directory import kept with its rejected rows
        return directory_import.rerun(rt, message)
    refusal = _refusal(rt, message)
    if refusal is not None:
        return finish_rejected(rt, message.id, refusal)
    try:
        exchange = _exchange(rt, message)
        stream = payloads.open_payload(rt, message.payload, message.payload_file, message.payload_digest)
    except GatewayError as exc:
        return finish_rejected(rt, message.id, exc)
    message.payload = b""  # the stream has its own copy; keep one, not two
    bulk = message.payload_file is not None
    size = rt.settings.bulk_batch_size if bulk else rt.settings.batch_size
    parallel = stream_worker.wanted(message.format, stream)
    # Parsed in a second process, the first batch is small, so this one starts storing at once
    # instead of waiting for a whole bulk batch to be parsed and mapped there.
    # Premapped records cost the parser process about as much as storing them costs this one:
    # growing batches keep both busy (see ``record_batches``).
    grow = parallel and message.format in stream_worker.PREMAPPED_FORMATS
    backlog = stream_worker.Backlog() if parallel else None
    sizes = BatchSizes(first=FIRST_PARALLEL_BATCH if parallel else None, size=size, grow=grow, ready=backlog)
    with stream:
        try:
            items = _items(rt, exchange, message, stream, backlog)
            _run_stream(rt, exchange, items, tally, _Meter(progress, stream, message.size), sizes)
        except GatewayError as exc:
            # Nothing landed: the whole payload is refused, as before it was streamed. Otherwise
            # what landed stays, and the rest of the payload is reported unreadable.
            if not tally.counts:
                return finish_rejected(rt, message.id, exc)
            tally.add(_unreadable_rest(exc))
    return finish(rt, message.id, tally)


def _items(
    rt: Runtime, exchange: Exchange, message: Message, stream: BinaryIO, backlog: stream_worker.Backlog | None
) -> Iterator[StreamItem]:
    """A large staged file of a format whose parsing is heavy (``backlog`` given) is parsed, and
    its records mapped, in a second process while this one decides and stores
    (``formats.stream_worker``); the records and their outcomes are the same either way."""
    if backlog is not None:
        mapped_there = message.format in stream_worker.PREMAPPED_FORMATS
        step = premap(rt, exchange) if mapped_there else None
        return stream_worker.stream_records(message.format, stream, message.entity, step, backlog)
    return stream_payload(message.format, stream, message.entity)


def _refusal(rt: Runtime, message: Message) -> GatewayError | None:
    """A payload over its limit is refused again on every replay, on the same message: one
    staged while oversized by its size, one refused unread (not stored) by its stored error."""
    limit = rt.settings.max_bulk_payload_bytes if message.payload_file else rt.settings.max_payload_bytes
    if message.size > limit:
        return _too_large(message.size, limit)
    error = (message.outcome or {}).get("error") or {}
    if not message.payload and message.payload_file is None and error.get("code") == PayloadTooLarge.code:
        issues = [Issue(path=i["path"], message=i["message"]) for i in error.get("issues", [])]
        return PayloadTooLarge(str(error.get("message", "")), issues)
    return None


def _too_large(size: int | None, limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"payload of {size if size is not None else 'unknown'} bytes exceeds the {limit}-byte limit",
        [Issue(path="body", message=f"split it into payloads under {limit} bytes, or send a bulk file")],
    )


def _summary(message_id: str, done: Finished) -> IngestSummary:
    return IngestSummary(message_id=message_id, status=done.status, reason=done.reason, outcome=done.outcome)


def _unreadable_rest(exc: GatewayError) -> RecordOutcome:
    return RecordOutcome(
        location=exc.issues[0].path if exc.issues else "$",
        status=REJECTED,
        reason=f"the rest of the payload could not be read: {exc.message}",
        issues=tuple(exc.issues),
    )


class _Meter:
    """Progress in records. A streamed payload's total is not known until its end: it is
    estimated from the share of the bytes read so far, and exact in the last call."""

    def __init__(self, progress: Progress | None, stream: BinaryIO, size: int) -> None:
        self.progress, self.stream, self.size = progress, stream, size

    def tick(self, done: int) -> None:
        if self.progress is None:
            return
        try:
            read = self.stream.tell()
        except (OSError, ValueError):
            read = 0
        total = round(done * self.size / read) if 0 < read < self.size else done
        self.progress(done, max(total, done))

    def end(self, done: int) -> None:
        if self.progress is not None:
            self.progress(done, done)


def _run_stream(
    rt: Runtime,
    exchange: Exchange,
    items: Iterator[StreamItem],
    tally: Tally,
    meter: _Meter,
    sizes: BatchSizes,
) -> None:
    done = 0
    batches = record_batches(
        items, tally.add, sizes.size, first=sizes.first, grow=sizes.grow, ready=sizes.ready
    )
    for batch in batches:
        done += _run_and_tally(rt, exchange, batch, tally)
        meter.tick(done)
        del batch  # not held while the next batch is read: one batch of records in memory, not two
    meter.end(done)


def record_batches(
    items: Iterator[StreamItem],
    add: Callable[[RecordOutcome], None],
    size: int,
    *,
    first: int | None = None,
    grow: bool = False,
    ready: Callable[[], int] | None = None,
) -> Iterator[list[SourceRecord]]:
    """The stream's records in batches of ``size``; each problem the parser found goes to ``add``
    as its rejected outcome (ingest and check read a stream the same way). ``first``: the first
    batch's size (at most ``size``), then ``size``. With ``grow``, each batch after the first is
    ``GROWTH`` times the one before, or as many as ``ready()`` says are already parsed if more, up
    to ``size``: while this process stores a batch, the parser process makes the next, so neither
    waits long for the other (a few more batches, a few more commits). Without it, one small
    batch and then whole ones: a batch derives the attendance summaries of the students it
    touches, so more batches derive them more often."""
    batch: list[SourceRecord] = []
    limit = min(first or size, size)
    for item in items:
        if isinstance(item, RecordProblem):
            add(_problem(item))
            continue
        batch.append(item)
        if len(batch) >= limit:
            yield batch
            batch = []
            limit = _next_limit(limit, size, ready) if grow else size
    if batch:
        yield batch


def _next_limit(limit: int, size: int, ready: Callable[[], int] | None) -> int:
    grown = math.ceil(limit * GROWTH)
    return min(size, max(grown, ready()) if ready is not None else grown)


def _run_and_tally(rt: Runtime, exchange: Exchange, batch: list[SourceRecord], tally: Tally) -> int:
    for outcome in _run_one_batch(rt, exchange, batch):
        tally.add(outcome)
    return len(batch)


def _problem(problem: RecordProblem) -> RecordOutcome:
    return RecordOutcome(
        location=problem.location,
        status=REJECTED,
        reason="record does not meet its standard",
        issues=problem.issues,
    )


def _exchange(rt: Runtime, message: Message) -> Exchange:
    with rt.sessions() as session:
        partner = next(
            (o for o in organization_store.organization_docs(session) if o["id"] == message.organization_id),
            None,
        )
    if partner is None:
        raise AccessDenied(
            f"'{message.organization_id}' is not a registered partner",
            [
                Issue(
                    path="source",
                    message="register the organization first (spgw init --with-samples)",
                )
            ],
        )
    return Exchange(
        message_id=message.id,
        source_org=message.organization_id,
        format=message.format,
        payload_digest=message.payload_digest,
        received_at=message.received_at.isoformat(),
        partner=partner,
        resource_id=message.resource_id,
    )


def _run_one_batch(rt: Runtime, exchange: Exchange, batch: list[SourceRecord]) -> list[RecordOutcome]:
    try:
        with rt.sessions.begin() as session:
            heartbeat(session, rt, exchange.message_id)
            return run_batch(session, rt, exchange, batch, policy_set(session, rt))
    except Exception as exc:
        if len(batch) == 1:
            _log_failure(exc, exchange, batch[0])
            return [_failed(batch[0], exc)]
    # Isolate the failing record by halving: everything else of the batch still lands, and a
    # large bulk batch costs a few retries, not one transaction per record.
    half = (len(batch) + 1) // 2
    return _run_one_batch(rt, exchange, batch[:half]) + _run_one_batch(rt, exchange, batch[half:])


def _log_failure(exc: Exception, exchange: Exchange, rec: SourceRecord) -> None:
    # The exception's message may quote record values (PHI): log its type and the frames only.
    frames = "".join(traceback.format_tb(exc.__traceback__))
    log.error(
        "record %s of message %s failed with %s\n%s",
        rec.location,
        exchange.message_id,
        type(exc).__name__,
        frames,
    )


def _failed(rec: SourceRecord, exc: Exception) -> RecordOutcome:
    code = type(exc).__name__  # never its message: it may quote the record's values
    return RecordOutcome(
        location=rec.location,
        status=FAILED,
        reason=f"internal error ({code}) while processing the record; it is kept and can be replayed "
        "once fixed",
        reason_code=code,
    )


def replay(rt: Runtime, message_id: str, progress: Progress | None = None) -> IngestSummary:
    _refuse_purged(rt, message_id)
    return process(rt, message_id, progress)


def _refuse_purged(rt: Runtime, message_id: str) -> None:
    """A message whose payload copy the retention purge removed cannot run again: say so (409)
    instead of running it over empty bytes."""
    with rt.sessions() as session:
        purged = retention_store.purged_at_of(session, message_id)
    if purged is not None:
        raise Conflict(
            f"message {message_id}: payload purged under retention on {purged.date().isoformat()}; "
            "it cannot be replayed (its digest and metadata are kept)"
        )


def replay_where(rt: Runtime, statuses: tuple[str, ...] = REPLAYABLE) -> list[IngestSummary]:
    """Replay every message with one of ``statuses``. Interrupted runs are found first (they are
    ``failed`` then); asking for ``received`` replays those just found too, never a message still
    in progress."""
    recovered = recover_interrupted(rt)
    with rt.sessions() as session:
        ids = message_store.message_ids_with_status(session, tuple(s for s in statuses if s != RECEIVED))
        if RECEIVED in statuses:
            ids += [message_id for message_id in recovered if message_id not in ids]
        purged = retention_store.purged_message_ids(session, ids)  # nothing left to run
    return [process(rt, message_id) for message_id in ids if message_id not in purged]
