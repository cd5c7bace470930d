"""A delivery worker in a process of its own, for crash tests: ``python -m tests.delivery_process``.

It runs one ``deliver_due`` against the gateway named by GATEWAY_HOME and GATEWAY_DATABASE_URL
(the test's own settings; the lease from GATEWAY_DELIVERY_LEASE_SECONDS), with the clock held at
``--now`` when given, else real time. With ``--pause`` it stops at a point for the test to kill
it there (SIGKILL):

- ``before-post``: the claim is committed (attempt audited, row leased), no byte has left;
- ``after-answer``: the agency has answered, the answer is not recorded.

At the point it prints ``paused <point>`` and sleeps at most PAUSE_LIMIT seconds, then exits 3
without going on, so a test that fails to kill it leaves nothing running for long. Otherwise it
prints the summaries as JSON. A kill while the agency holds the request needs no pause: the test
holds the agency's answer and kills the process meanwhile.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from typing import Any

from gateway.service.referrals import delivery_worker
from gateway.service.runtime import Settings, open_runtime, utc_now

PAUSE_LIMIT = 60.0
POINTS = ("before-post", "after-answer")


def _pause(point: str) -> None:
    print(f"paused {point}", flush=True)
    time.sleep(PAUSE_LIMIT)
    sys.exit(3)


def _stop_at(point: str) -> None:
    post = delivery_worker.post_delivery

    def stopping(*args: Any, **kwargs: Any) -> Any:
        if point == "before-post":
            _pause(point)
        answer = post(*args, **kwargs)
        _pause(point)
        return answer

    delivery_worker.post_delivery = stopping  # type: ignore[assignment]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="delivery_process")
    parser.add_argument("--now", type=dt.datetime.fromisoformat, help="hold the clock at this time")
    parser.add_argument("--pause", choices=POINTS)
    args = parser.parse_args(argv)
    fixed: dt.datetime | None = args.now
    rt = open_runtime(Settings.from_env(), clock=(lambda: fixed) if fixed is not None else utc_now)
    if args.pause:
        _stop_at(args.pause)
    try:
        summaries = delivery_worker.deliver_due(rt)
    finally:
        rt.engine.dispose()
    print(json.dumps([s.to_dict() for s in summaries]), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
