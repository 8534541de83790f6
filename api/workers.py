"""Serving the API from several processes behind one port: the parent accepts, the workers serve.

Why: a request's engine work is Python and numpy on one thread, and a process's threads share
one GIL. With several clients, a one-process server's threads hand the GIL back and forth, and
each numpy call that releases it may wait a whole switch interval to get it back: on 2 cores, 8
clients made a 6 ms rebalance cost 10 ms of CPU and 50 ms of latency. Here each worker process
runs waitress with one request thread (by default), so nothing contends, and every core serves
whole requests (``bench/RESULTS.md`` has the measurements).

How: the parent owns the listening socket. An acceptor thread takes each new connection and
hands its file descriptor (``SCM_RIGHTS``, :func:`socket.send_fds`) to the worker with the
fewest open connections; the worker gives it to its waitress loop as if it had accepted it, and
tells the parent when it closes. Keep-alive connections stay with their worker. Workers are
spawned, never forked (forking a process that runs Qt or waitress threads is unsafe); frozen
apps support them through ``multiprocessing.freeze_support()``.

Control messages are single bytes on a socket pair per worker. Parent to worker: ``C`` with a
connection's descriptor, ``S`` to drain and exit. Worker to parent: ``R`` once serving, ``c``
when a connection closes.
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import logging
import multiprocessing
import select
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from waitress import wasyncore
from waitress.channel import HTTPChannel
from waitress.server import BaseWSGIServer, create_server

__all__ = ["SUPPORTED", "WorkerGroup", "busy"]

#: Passing sockets between processes needs ``SCM_RIGHTS`` (POSIX). Elsewhere the server computes
#: in its own threads.
SUPPORTED = hasattr(socket, "send_fds")
_POLL = 0.01  # seconds between checks for in-flight requests while draining
_log = logging.getLogger(__name__)


def busy(server: BaseWSGIServer) -> bool:
    """Whether a connection has a request being received, queued, served, or a reply unsent."""
    for channel in list(server._map.values()):
        if isinstance(channel, HTTPChannel) and (
            channel.requests or channel.request is not None or channel.total_outbufs_len
        ):
            return True
    return False


def drain(server: BaseWSGIServer, thread: threading.Thread, deadline: float) -> None:
    """Close a running waitress server: stop accepting, let requests in flight finish (until
    ``deadline``, ``time.monotonic()``), close every connection, end the loop and the threads.

    waitress runs an asyncore-style loop in ``thread``; closing its sockets from another thread
    races the loop's ``select()`` (QT-NOTES.md §3), so every socket operation is handed to the
    loop thread through waitress's trigger.
    """
    server.trigger.pull_trigger(lambda: wasyncore.dispatcher.close(server))
    while busy(server) and time.monotonic() < deadline - 2 * _POLL:
        time.sleep(_POLL)  # waiting on other threads' I/O: there is no event to wait on
    server.trigger.pull_trigger(lambda: wasyncore.close_all(server._map))
    thread.join(max(deadline - time.monotonic(), 0.0))
    server.task_dispatcher.shutdown(cancel_pending=True, timeout=max(deadline - time.monotonic(), 0.0))


# --- the worker process ------------------------------------------------------------------------
def _warm_up() -> None:
    """Import the engine and read the bundled catalogue before the first request needs them."""
    import engine.service  # noqa: F401  (the modules every compute endpoint needs)
    from engine.market_store import MarketData

    MarketData.bundled().catalogue()


def serve_connections(control: socket.socket, factory: Callable[[], Any], threads: int) -> None:
    """A worker's life (the target of each spawned process): build the app, serve the
    connections the parent hands over, drain and return on ``S`` (or when the parent is gone)."""
    # One request thread per worker is the design: requests queued behind it are expected.
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    app = factory()
    _warm_up()
    # Everything built so far (modules, the app, the bundled data) lives as long as the worker:
    # out of the collector's sight, a full collection no longer walks it (one took 30-50 ms,
    # stalling every request queued behind it).
    gc.collect()
    gc.freeze()
    server: Any = create_server(app, host="127.0.0.1", port=0, threads=threads, ident="rebalancer-api",
                                clear_untrusted_proxy_headers=True)
    wasyncore.dispatcher.close(server)  # connections come from the parent, never from a socket of its own
    send_lock = threading.Lock()

    def report(message: bytes) -> None:
        with send_lock, contextlib.suppress(OSError):  # the parent may be gone already
            control.sendall(message)

    class Channel(server.channel_class):  # type: ignore[name-defined,misc]
        """waitress's channel, telling the parent when the connection closes (once: every way a
        channel closes goes through ``del_channel``)."""

        reported = False

        def del_channel(self, map: dict | None = None) -> None:
            super().del_channel(map)
            if not self.reported:
                self.reported = True
                report(b"c")

    def adopt(sock: socket.socket) -> None:  # in the loop thread, as waitress's own accept does
        try:
            addr = sock.getpeername()
        except OSError:  # the client has gone already
            sock.close()
            report(b"c")
            return
        server.set_socket_options(sock)
        Channel(server, sock, addr, server.adj, map=server._map)

    loop = threading.Thread(target=server.run, name="rebalancer-api-worker", daemon=True)
    loop.start()
    stopping = threading.Event()

    def tidy() -> None:
        # waitress closes idle connections from its listening socket's readiness check, which a
        # worker does not have: the same call, on the same schedule, in the loop thread.
        while not stopping.wait(server.adj.cleanup_interval):
            server.trigger.pull_trigger(lambda: server.maintenance(time.time()))

    threading.Thread(target=tidy, name="rebalancer-api-tidy", daemon=True).start()
    report(b"R")
    while True:
        try:
            message, fds, _, _ = socket.recv_fds(control, 1, 1)
        except OSError:
            message, fds = b"", []
        if message == b"C" and fds:
            sock = socket.socket(fileno=fds[0])
            sock.setblocking(False)
            server.trigger.pull_trigger(lambda sock=sock: adopt(sock))
            continue
        for fd in fds:  # descriptors with any other message: not ours to keep
            socket.close(fd)
        if message in (b"S", b""):  # stop, or the parent is gone: the parent bounds the time
            stopping.set()
            drain(server, loop, time.monotonic() + 3600.0)
            control.close()
            return


# --- the parent --------------------------------------------------------------------------------
class _Worker:
    """One spawned worker process, our end of its control socket, and its open connections."""

    def __init__(self, ctx: Any, factory: Callable[[], Any], threads: int,
                 on_exit: Callable[[_Worker], None]) -> None:
        self.control, child = socket.socketpair()
        self.process = ctx.Process(target=serve_connections, args=(child, factory, threads),
                                   name="rebalancer-api-worker", daemon=True)
        self.process.start()
        child.close()
        self.connections = 0  # handed over and not reported closed
        self._count_lock = threading.Lock()
        self.ready = threading.Event()
        self.stopping = False
        self._send_lock = threading.Lock()
        self._on_exit = on_exit
        self._monitor = threading.Thread(target=self._listen, name="rebalancer-api-monitor", daemon=True)
        self._monitor.start()

    def _listen(self) -> None:
        while True:
            try:
                data = self.control.recv(4096)
            except OSError:
                data = b""
            if not data:  # the worker exited
                break
            for byte in data:
                if byte == ord("R"):
                    self.ready.set()
                elif byte == ord("c"):
                    with self._count_lock:
                        self.connections -= 1
        self.process.join(5.0)
        self._on_exit(self)

    def hand_over(self, sock: socket.socket) -> bool:
        """Give the worker a connection (ours is closed either way); False if it is gone."""
        try:
            with self._send_lock:
                socket.send_fds(self.control, [b"C"], [sock.fileno()])
            with self._count_lock:
                self.connections += 1
            return True
        except OSError:
            return False
        finally:
            sock.close()

    def stop(self) -> None:
        """Ask the worker to drain and exit (returns at once)."""
        self.stopping = True
        with self._send_lock, contextlib.suppress(OSError):
            self.control.sendall(b"S")

    def join(self, deadline: float) -> None:
        self.process.join(max(deadline - time.monotonic(), 0.0))
        if self.process.is_alive():  # a request outlived the timeout: cut off
            self.process.terminate()
            self.process.join()
        self._monitor.join()
        self.control.close()


class WorkerGroup:
    """``processes`` worker processes serving the connections accepted on ``listener``.

    A worker that dies (killed, out of memory) loses its connections, which clients see as
    reset; it is replaced, and new connections go to the living workers.
    """

    def __init__(self, listener: socket.socket, factory: Callable[[], Any], processes: int, threads: int) -> None:
        if not SUPPORTED:
            raise RuntimeError("serving from worker processes needs socket.send_fds (POSIX)")
        if processes < 1:
            raise ValueError(f"a worker group needs at least 1 process, not {processes}")
        self._listener, self._factory, self._threads = listener, factory, threads
        self._ctx = multiprocessing.get_context("spawn")  # never fork a process with running threads
        self._lock = threading.Lock()
        self._closing = False
        self.failed = ""  # why a worker could not start, if one could not
        self._turn = itertools.count()
        self.workers = [self._spawn() for _ in range(processes)]
        listener.setblocking(False)
        self._wake_r, self._wake_w = socket.socketpair()
        self._acceptor = threading.Thread(target=self._accept_loop, name="rebalancer-api-acceptor", daemon=True)
        self._acceptor.start()

    def _spawn(self) -> _Worker:
        return _Worker(self._ctx, self._factory, self._threads, self._exited)

    def _exited(self, worker: _Worker) -> None:
        with self._lock:
            if self._closing or worker.stopping or worker not in self.workers:
                return
            if not worker.ready.is_set():  # it could not even build the app: another would fail too
                self.failed = f"an API worker process failed to start (exit code {worker.process.exitcode})"
                _log.error("%s; see its traceback above", self.failed)
                return
            _log.error("an API worker process exited (code %s); starting another", worker.process.exitcode)
            self.workers[self.workers.index(worker)] = self._spawn()
        worker.control.close()

    @property
    def running(self) -> bool:
        return self._acceptor.is_alive()

    def wait_ready(self, timeout: float | None = None) -> None:
        """Return once every worker has built the app and imported the engine; raise
        ``RuntimeError`` if one could not, ``TimeoutError`` after ``timeout`` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not all(w.ready.is_set() for w in list(self.workers)):
            if self.failed:
                raise RuntimeError(self.failed)
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"the API worker processes were not ready within {timeout} s")
            time.sleep(0.01)  # events from several threads: polled

    def _pick(self) -> _Worker:
        """The worker with the fewest open connections (ties in turn)."""
        with self._lock:
            n, turn = len(self.workers), next(self._turn)
            return min((self.workers[(turn + i) % n] for i in range(n)), key=lambda w: w.connections)

    def _accept_loop(self) -> None:
        while True:
            readable, _, _ = select.select([self._listener, self._wake_r], [], [])
            if self._wake_r in readable:
                return
            try:
                sock, _ = self._listener.accept()
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                continue
            except OSError:
                return
            for _ in range(3):  # a worker that has just died is replaced: try the next one
                if self._pick().hand_over(sock.dup()):
                    break
            sock.close()

    def stop(self, deadline: float) -> None:
        """Stop accepting (the listening socket is closed), let every worker finish its requests
        in flight until ``deadline`` (``time.monotonic()``), then end them."""
        with self._lock:
            self._closing = True
            workers = list(self.workers)
        self._wake_w.send(b"x")
        self._acceptor.join()
        self._listener.close()
        for w in workers:  # all at once: they drain in parallel
            w.stop()
        for w in workers:
            w.join(deadline)
        self._wake_r.close()
        self._wake_w.close()
