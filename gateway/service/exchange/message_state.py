"""A stored message's life: claimed, kept alive, finished, or found interrupted.

``received`` means "being (or about to be) processed". A message never stays there after its
processing ends:

- processing claims the message (``received`` again on a replay), notes which process works on
  it (host and pid) and touches ``updated_at`` after every batch;
- it ends ``mapped``/``partial``/``held``/``ignored``/``rejected`` as its records say, or
  ``failed`` when any exception stops it: the reason code is the exception's type name (never its
  message, which may quote PHI), the records that landed stay (re-running is idempotent), and the
  message can be replayed once the fault is fixed;
- a process that dies without a word (``kill -9``, a lost host) leaves its message ``received``:
  ``recover_interrupted`` (run by ``spgw serve`` at start-up, by ``spgw messages list|replay``
  and by ``GET /api/v1/messages``) marks it ``failed`` with the code ``Interrupted`` as soon as its
  process is known to be gone (same host, pid not alive) or it has made no progress for
  ``Settings.stale_after_seconds`` (another host). It is then replayed like any failed message;
- a message that can never run again because a later one replaced what it carried (a kept
  directory import once a newer import of that directory landed) ends ``superseded`` (reason
  code ``Superseded``): final, and left alone by a replay of statuses (``ingest.replay_where``).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import traceback
from dataclasses import dataclass
from typing import Any

from gateway.errors import Conflict, GatewayError, NotFound
from gateway.service.compliance import audit
from gateway.service.exchange.outcomes import FAILED, REJECTED, Tally
from gateway.service.runtime import Runtime
from gateway.storage import message_store
from gateway.storage.tables import Message

log = logging.getLogger(__name__)

RECEIVED = "received"
INTERRUPTED = "Interrupted"  # the reason code of a message whose process ended without a word
INTERNAL = "internal_error"
SUPERSEDED = "superseded"  # a final status: not in outcomes.REPLAYABLE
SUPERSEDED_CODE = "Superseded"


@dataclass(frozen=True, kw_only=True)
class Finished:
    """What processing a message ended with (``ingest.IngestSummary`` is built from it)."""

    status: str
    reason: str
    outcome: dict[str, Any]


def claim(rt: Runtime, message_id: str) -> Message:
    """The message, detached, marked as being processed by this process."""
    now = rt.now()
    with rt.sessions.begin() as session:
        message = message_store.get_message(session, message_id)
        if message is None:
            raise NotFound(f"message {message_id} does not exist")
        previous = dict(message.outcome or {})
        message.attempts += 1
        message.status, message.updated_at = RECEIVED, now
        message.outcome = {**previous, "processing": _worker(now)}
        session.flush()
        session.expunge(message)
    message.outcome = previous  # the caller sees what the message held before this run
    return message


def _worker(now: dt.datetime) -> dict[str, Any]:
    return {"host": socket.gethostname(), "pid": os.getpid(), "since": now.isoformat()}


def heartbeat(session: Any, rt: Runtime, message_id: str) -> None:
    """In the batch's own transaction: progress, so a long run is never taken for a dead one."""
    message_store.touch_message(session, message_id, rt.now())


def finish(rt: Runtime, message_id: str, tally: Tally) -> Finished:
    done = Finished(status=tally.status(), reason=tally.reason(), outcome=tally.to_outcome())
    with rt.sessions.begin() as session:
        _store(session, rt, message_id, done)
    audit.checkpoint(rt)
    return done


def finish_rejected(rt: Runtime, message_id: str, error: GatewayError) -> Finished:
    """The whole payload is refused: store why, and audit the refusal (ids and digests only)."""
    outcome = {
        **Tally().to_outcome(),
        "rejected": 1,
        "records": [
            {
                "location": "$",
                "status": REJECTED,
                "reason": error.message,
                "issues": [i.to_dict() for i in error.issues],
            }
        ],
        "error": error.to_dict()["error"],
    }
    done = Finished(status=REJECTED, reason=error.message, outcome=outcome)
    with rt.sessions.begin() as session:
        message = _store(session, rt, message_id, done)
        audit.record(session, rt, [_audit(message, "exchange.rejected", code=error.code)])
    audit.checkpoint(rt)
    return done


def finish_failed(rt: Runtime, message_id: str, exc: BaseException, tally: Tally) -> Finished:
    """An exception stopped processing: ``failed``, its type as the reason code. What landed
    before it stays (a replay re-runs every record idempotently)."""
    code = type(exc).__name__
    _log(exc, message_id)
    done = failed_outcome(code, tally, f"processing stopped by an internal error ({code})")
    with rt.sessions.begin() as session:
        message = _store(session, rt, message_id, done)
        audit.record(session, rt, [_audit(message, "exchange.failed", code=code)])
    audit.checkpoint(rt)
    return done


def finish_superseded(rt: Runtime, message_id: str, reason: str) -> Finished:
    """A later message replaced what this one carried: ``superseded``, for good. What the
    message said of its records stays; ``reason`` (no record values) says what replaced it."""
    with rt.sessions.begin() as session:
        message = message_store.get_message(session, message_id, for_update=True)
        if message is None:
            raise NotFound(f"message {message_id} does not exist")
        kept = {k: v for k, v in (message.outcome or {}).items() if k not in ("processing", "error")}
        error = {"code": Conflict.code, "message": reason, "issues": []}
        done = Finished(
            status=SUPERSEDED, reason=reason, outcome={**kept, "reasonCode": SUPERSEDED_CODE, "error": error}
        )
        _store(session, rt, message_id, done)
        audit.record(session, rt, [_audit(message, "exchange.superseded", code=SUPERSEDED_CODE)])
    audit.checkpoint(rt)
    return done


def failed_outcome(code: str, tally: Tally, what: str) -> Finished:
    reason = f"{what}; the message is kept and can be replayed once the fault is fixed"
    outcome = {
        **tally.to_outcome(),
        "reasonCode": code,
        "error": {"code": INTERNAL, "message": reason, "issues": []},
    }
    return Finished(status=FAILED, reason=reason, outcome=outcome)


def _store(session: Any, rt: Runtime, message_id: str, done: Finished) -> Message:
    message = message_store.get_message(session, message_id)
    assert message is not None
    message.status, message.reason, message.outcome, message.updated_at = (
        done.status,
        done.reason,
        done.outcome,
        rt.now(),
    )
    return message


def _audit(message: Message, kind: str, *, code: str) -> audit.AuditDraft:
    return audit.AuditDraft(
        kind=kind,
        actor=message.organization_id,
        subject="",
        details={
            "messageId": message.id,
            "format": message.format,
            "payloadDigest": message.payload_digest,
            "code": code,
            "size": message.size,
        },
    )


def _log(exc: BaseException, message_id: str) -> None:
    # The exception's message may quote record values (PHI): log its type and the frames only.
    frames = "".join(traceback.format_tb(exc.__traceback__))
    log.error("message %s failed with %s\n%s", message_id, type(exc).__name__, frames)


# -- interrupted runs ---------------------------------------------------------------------------


def recover_interrupted(rt: Runtime) -> list[str]:
    """Mark ``failed`` (code ``Interrupted``) every ``received`` message whose process is gone;
    return their ids. A message still making progress elsewhere is left alone."""
    now = rt.now()
    with rt.sessions() as session:
        candidates = message_store.in_flight_messages(session)
    found = [
        (message_id, seen)
        for message_id, outcome, seen in candidates
        if _abandoned((outcome or {}).get("processing"), seen, now, rt.settings.stale_after_seconds)
    ]
    return [message_id for message_id, seen in found if _mark_interrupted(rt, message_id, seen)]


def _abandoned(worker: Any, seen: dt.datetime, now: dt.datetime, stale_after: int) -> bool:
    if (now - seen).total_seconds() > stale_after:
        return True
    if not isinstance(worker, dict) or worker.get("host") != socket.gethostname():
        return False  # another host's run, or a message staged this instant: only time tells
    return not _alive(worker.get("pid"))


def _alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True


def _mark_interrupted(rt: Runtime, message_id: str, seen: dt.datetime) -> bool:
    """Only if nothing touched the message since it was seen (its process may just have ended)."""
    with rt.sessions.begin() as session:
        message = message_store.get_message(session, message_id, for_update=True)
        if message is None or message.status != RECEIVED or message.updated_at != seen:
            return False
        # What its run had landed is not known (it died with the process): a replay re-runs all.
        _store(session, rt, message_id, failed_outcome(INTERRUPTED, Tally(), "processing was interrupted"))
        audit.record(session, rt, [_audit(message, "exchange.failed", code=INTERRUPTED)])
    audit.checkpoint(rt)
    log.warning("message %s was interrupted; marked failed (Interrupted), replayable", message_id)
    return True
