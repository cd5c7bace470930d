"""The real signing cadence: a head every ``checkpoint_every_entries`` entries or
``checkpoint_every_minutes`` minutes, not per commit, and always at shutdown."""

from __future__ import annotations

import dataclasses

from gateway.service.compliance import audit
from gateway.storage import audit_store
from tests.helpers import send_demo


def heads(rt) -> list[tuple[int, str | None]]:
    with rt.sessions() as session:
        return [(r.seq, r.reason) for r in audit_store.checkpoints(session)]


def size(rt) -> int:
    with rt.sessions() as session:
        return audit_store.audit_head(session).seq


def test_heads_are_signed_by_entries_and_by_minutes(rt, clock):
    rt = dataclasses.replace(
        rt, settings=dataclasses.replace(rt.settings, checkpoint_every_entries=12, checkpoint_every_minutes=5)
    )
    send_demo(rt, "03")
    assert audit.checkpoint(rt, reason="manual") is not None  # a head at the test clock's time
    start = heads(rt)
    send_demo(rt, "01")
    moved = size(rt)
    assert moved - start[-1][0] < 12
    assert heads(rt) == start  # neither due: the new entries are unsigned for now
    assert audit.verify(rt).warnings[0].kind == "unsigned"
    clock.advance(minutes=4)
    assert audit.checkpoint(rt) is None
    clock.advance(minutes=2)
    assert audit.checkpoint(rt).seq == moved
    assert heads(rt)[-1] == (moved, "minutes")
    while size(rt) - moved < 12:
        send_demo(rt, "02")
    assert heads(rt)[-1][1] == "entries"
    assert heads(rt)[-1][0] - moved >= 12


def test_the_newest_head_is_signed_on_exit_even_on_sigterm(rt):
    rt = dataclasses.replace(rt, settings=dataclasses.replace(rt.settings, checkpoint_every_entries=10_000))
    import os
    import signal

    import pytest

    send_demo(rt, "01")
    with pytest.raises(SystemExit), audit.signs_on_exit(rt):
        os.kill(os.getpid(), signal.SIGTERM)
    assert heads(rt)[-1] == (size(rt), "shutdown")
    assert not audit.verify(rt).warnings
