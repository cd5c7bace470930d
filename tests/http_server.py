"""The one threaded test server: a WSGI app served by waitress on a free port for the length of a
``with`` block, then stopped without a race.

waitress has three kinds of thread here: the loop thread (``wasyncore`` polls the listener, the
trigger pipe and every connection), the worker threads of the task dispatcher (run the app, write
answers into the connections and pull the trigger to wake the loop) and the caller. Closing the
server from the caller while the other two still run races them: the loop can ``select()`` on a
descriptor just closed (``OSError: [Errno 9] Bad file descriptor`` in the loop thread, which
then dies and leaves its connections unclosed), and a worker finishing an answer can write to
the trigger just closed (EBADF in the worker, or a byte into whatever file took the number). So
every descriptor is closed only once no thread but the caller can touch it:

1. the loop thread stops accepting (run as a trigger thunk, in that thread);
2. the task dispatcher is shut down while the loop still runs, so a worker finishing an answer
   can still flush it and pull an open trigger; the pending tasks are cancelled;
3. the loop is told to stop, woken, and joined: it runs our own loop, which checks a flag
   between polls (``server.run()`` only returns once its socket map is empty);
4. only then, from the caller, the connections, the listener and the trigger are closed.

Every test server goes through ``serve_wsgi``: the gateway itself (``serve_gateway``, for
conftest's ``base_url``, tests/served.py and the browser tests) and the fake partners (agency,
HSDS, OneRoster, Ed-Fi ODS, JWKS, witness, FHIR servers), each a WSGI app.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from waitress import wasyncore
from waitress.server import BaseWSGIServer, create_server

from gateway.service.runtime import Runtime
from gateway.web import create_app

STOP_TIMEOUT = 10.0  # seconds for the workers, then the loop, to finish


@contextmanager
def serve_wsgi(app: Callable[..., Any], host: str = "127.0.0.1", *, threads: int = 2) -> Iterator[str]:
    """Serve ``app`` on ``host`` and a free port; yields the base URL (``http://host:port``)."""
    server: Any = create_server(app, host=host, port=0, threads=threads)
    assert isinstance(server, BaseWSGIServer), "one listening socket expected (give an address)"
    stop = threading.Event()
    loop = threading.Thread(
        target=_loop, args=(server, stop), name=f"waitress-loop-{server.effective_port}", daemon=True
    )
    loop.start()
    try:
        yield f"http://{host}:{server.effective_port}"
    finally:
        _stop(server, stop, loop)


@contextmanager
def serve_gateway(rt: Runtime, *, threads: int = 2) -> Iterator[str]:
    """The gateway of ``rt`` over real HTTP on a free port; yields the base URL."""
    with serve_wsgi(create_app(runtime=rt), threads=threads) as url:
        yield url


def _loop(server: Any, stop: threading.Event) -> None:
    while not stop.is_set():
        wasyncore.loop(
            timeout=server.adj.asyncore_loop_timeout,
            map=server._map,
            use_poll=server.adj.asyncore_use_poll,
            count=1,
        )


def _stop(server: Any, stop: threading.Event, loop: threading.Thread) -> None:
    server.trigger.pull_trigger(_stop_accepting(server))
    server.task_dispatcher.shutdown(cancel_pending=True, timeout=STOP_TIMEOUT)
    workers_left = len(server.task_dispatcher.threads)
    stop.set()
    server.pull_trigger()  # wake the loop from its select()
    loop.join(timeout=STOP_TIMEOUT)
    if loop.is_alive() or workers_left:
        # Closing now would bring the race back: leave the descriptors open and say so.
        raise RuntimeError(
            f"test server on port {server.effective_port} did not stop: loop thread "
            f"{'alive' if loop.is_alive() else 'ended'}, {workers_left} worker thread(s) still serving"
        )
    for channel in list(server._map.values()):
        if channel is not server and channel is not server.trigger:
            channel.handle_close()  # closes its output buffers and its socket
    server.close()  # the listener and the trigger
    server._map.clear()


def _stop_accepting(server: Any) -> Callable[[], None]:
    def thunk() -> None:
        server.accepting = False  # readable() now leaves the listener out of the poll

    return thunk
