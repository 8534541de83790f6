"""The compute endpoints' engine calls, run in worker processes when the server has them.

Why processes: a request's engine work is Python and numpy on one thread, and a process's
threads share one GIL. With several clients, a server's threads then spend their time handing the
GIL back and forth, and each numpy call that releases it may wait a whole switch interval to get
it back: on 2 cores, 8 clients made a 6 ms rebalance cost 10 ms of CPU and 50 ms of latency. Each
worker process runs one engine call at a time, so nothing contends; the server process only
speaks HTTP and JSON (`bench/RESULTS.md` has the measurements).

Without a pool (the Flask test client, ``EmbeddedServer(processes=0)``) the engine runs in the
request's thread, with the same answers. The workers are spawned, never forked (a fork of a
process running Qt or waitress threads is unsafe), and frozen apps support them through
``multiprocessing.freeze_support()``.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import json
import logging
import multiprocessing
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from multiprocessing.connection import Connection
from typing import Any

from flask import current_app
from pydantic import BaseModel

__all__ = ["POOL_KEY", "EncodedJSON", "EnginePool", "EngineWorkerDied", "engine_call"]

#: Where a served app keeps its pool (``app.extensions``).
POOL_KEY = "rebalancer.engine_pool"
#: Seconds the workers get to exit after they are told to, before they are terminated.
_EXIT_TIMEOUT = 1.0

_log = logging.getLogger(__name__)


class EncodedJSON(str):
    """A JSON object already encoded (as the API's JSON provider encodes it): what a worker
    sends back, so that the server process does not decode and encode it again."""


class EngineWorkerDied(RuntimeError):
    """The worker process running a call exited before answering (killed, out of memory)."""


class RemoteTraceback(Exception):
    """The traceback of an error in a worker, chained to it for the server's log."""

    def __str__(self) -> str:
        return "\n" + str(self.args[0])


# --- the worker process ------------------------------------------------------------------------
def _warm_up() -> None:
    """Import the engine and read the bundled catalogue once, so that the first request a
    worker serves does not pay for it."""
    import engine.service  # noqa: F401  (the modules every compute endpoint needs)
    from engine.market_store import MarketData

    MarketData.bundled().catalogue()


def _encode(result: Any) -> Any:
    """A result model as the API would encode it (``respond``: ``model_dump(mode="json")``, then
    the JSON provider, which refuses NaN and infinity); anything else as it is."""
    if isinstance(result, BaseModel):
        return EncodedJSON(json.dumps(result.model_dump(mode="json"), allow_nan=False))
    return result


def _serve(conn: Connection) -> None:
    """A worker's life: warm up, then answer ``(fn, args, kwargs)`` messages, in order, until
    ``None``. Answers are ``(True, result)`` (see :func:`_encode`) or ``(False, exception,
    traceback text)``."""
    _warm_up()
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):  # the server went away
            return
        if message is None:
            return
        fn, args, kwargs = message
        try:
            answer: tuple[Any, ...] = (True, _encode(fn(*args, **kwargs)))
        except Exception as exc:  # every error goes back to the request that caused it
            answer = (False, exc, traceback.format_exc())
        try:
            conn.send(answer)
        except Exception as exc:  # an answer that cannot be pickled is an error of its own
            conn.send((False, RuntimeError(f"unsendable engine answer: {type(exc).__name__}: {exc}"), ""))


# --- the server side ---------------------------------------------------------------------------
class _Worker:
    """One spawned worker process, our end of its pipe, and the calls sent to it.

    Calls are written to the pipe as they come (a worker takes the next one the moment it is
    done, without waiting for the server process to be scheduled); a reader thread hands each
    answer, in order, to the call that is waiting for it.
    """

    def __init__(self, ctx: Any, on_death: Callable[[_Worker], None]) -> None:
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_serve, args=(child,), name="rebalancer-engine", daemon=True)
        self.process.start()
        child.close()
        self.pending: collections.deque[Future] = collections.deque()
        self._send_lock = threading.Lock()
        self._open = True
        self._on_death = on_death
        self._reader = threading.Thread(target=self._read, name="rebalancer-engine-reader", daemon=True)
        self._reader.start()

    def submit(self, message: tuple[Any, ...]) -> Future:
        future: Future = Future()
        with self._send_lock:  # the order of ``pending`` is the order of the pipe
            if not self._open:
                raise EngineWorkerDied("the engine worker process has exited")
            self.pending.append(future)
            try:
                self.conn.send(message)
            except OSError as exc:  # the reader sees the same broken pipe and fails ``pending``
                raise EngineWorkerDied("the engine worker process has exited") from exc
        return future

    def _read(self) -> None:
        while True:
            try:
                answer = self.conn.recv()
            except (EOFError, OSError):
                break
            self.pending.popleft().set_result(answer)
        with self._send_lock:
            died, self._open = self._open, False
            lost = list(self.pending)
            self.pending.clear()
        self.process.join(_EXIT_TIMEOUT)  # for its exit code
        for future in lost:
            future.set_exception(EngineWorkerDied(
                f"the engine worker process exited (code {self.process.exitcode}) before answering"))
        if died:
            self._on_death(self)

    def close(self) -> None:
        """Ask the worker to exit once the calls already sent are answered (returns at once)."""
        with self._send_lock:
            if self._open:
                self._open = False
                with contextlib.suppress(OSError):  # already gone
                    self.conn.send(None)

    def join(self, deadline: float) -> None:
        """Wait for the process to exit until ``deadline`` (``time.monotonic()``), then end it."""
        self.process.join(max(deadline - time.monotonic(), 0.0))
        if self.process.is_alive():
            self.process.terminate()  # calls it still had fail in their requests (500)
            self.process.join()
        self._reader.join()
        self.conn.close()


class EnginePool:
    """``processes`` spawned worker processes that run engine calls, one call at a time each.

    A call goes to the worker with the fewest calls outstanding and waits for its answer
    without holding the GIL. Workers are spawned at once and import the engine in the
    background. A worker that dies fails the calls it had (:class:`EngineWorkerDied`, a 500 from
    the API) and is replaced, so the next calls are served.
    """

    def __init__(self, processes: int) -> None:
        if processes < 1:
            raise ValueError(f"an engine pool needs at least 1 process, not {processes}")
        self.processes = processes
        self._ctx = multiprocessing.get_context("spawn")  # never fork a process with running threads
        self._lock = threading.Lock()
        self._closed = False
        self._turn = itertools.count()
        self._workers = [_Worker(self._ctx, self._replace) for _ in range(processes)]

    def _replace(self, dead: _Worker) -> None:
        with self._lock:
            if self._closed or dead not in self._workers:
                return
            _log.error("an engine worker process died (exit code %s); starting another", dead.process.exitcode)
            self._workers[self._workers.index(dead)] = _Worker(self._ctx, self._replace)

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``fn(*args, **kwargs)`` in a worker. A result model comes back as :class:`EncodedJSON`.
        An error is raised here as it was raised there (engine errors keep class, message and
        details), with the worker's traceback chained to it."""
        with self._lock:
            if self._closed:
                raise RuntimeError("the engine pool is closed")
            n, turn = len(self._workers), next(self._turn)
            # Fewest outstanding calls; ties in turn, so idle workers share the work.
            worker = min((self._workers[(turn + i) % n] for i in range(n)), key=lambda w: len(w.pending))
            future = worker.submit((fn, args, kwargs))
        answer = future.result()
        if answer[0]:
            return answer[1]
        exc, remote = answer[1], answer[2]
        if remote:
            raise exc from RemoteTraceback(remote)
        raise exc

    def wait_ready(self, timeout: float | None = None) -> None:
        """Return once every worker has warmed up (a no-op call answered by each)."""
        with self._lock:
            futures = [w.submit((int, (), {})) for w in self._workers]
        for f in futures:
            f.result(timeout)

    def close(self, timeout: float = _EXIT_TIMEOUT) -> None:
        """End the workers once the calls sent to them are answered, terminating any still busy
        after ``timeout`` seconds. Calling it twice does nothing."""
        deadline = time.monotonic() + timeout
        with self._lock:
            if self._closed:
                return
            self._closed = True
            workers = list(self._workers)
        for w in workers:  # all at once: they exit in parallel
            w.close()
        for w in workers:
            w.join(deadline)


def engine_call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> BaseModel | Mapping[str, Any] | EncodedJSON:
    """Run an engine function for the current request: in the app's worker processes when it is
    served with some, else here. Either way ``respond`` gets the same answer."""
    pool: EnginePool | None = current_app.extensions.get(POOL_KEY)
    if pool is None:
        return fn(*args, **kwargs)
    return pool.call(fn, *args, **kwargs)
