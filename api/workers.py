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
when a connection closes. The parent hands connections only to workers that are ready and
below waitress's ``connection_limit`` (100 each); when none is, new connections wait in the
listening socket's backlog, as waitress's own accept would leave them. Workers ignore SIGINT and
SIGTERM (a Ctrl+C reaches the whole process group): the parent drains them, and kills any that
outlive the timeout.
"""

from __future__ import annotations

import contextlib
import errno
import gc
import itertools
import logging
import multiprocessing
import os
import selectors
import signal
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
#: Connections a worker serves at once (waitress's own default ``connection_limit``).
_CONNECTION_LIMIT = 100
#: Seconds a control message may wait on a worker that is not reading (starting, hung).
_CONTROL_TIMEOUT = 2.0
#: Seconds to wait for an ended process or thread to be reaped.
_EXIT_JOIN = 2.0
#: Seconds an orphaned worker (its parent gone) gives requests in flight before exiting.
_ORPHAN_DRAIN = 30.0
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


def serve_connections(control: socket.socket, factory: Callable[[], Any], threads: int, port: int) -> None:
    """A worker's life (the target of each spawned process): build the app, serve the
    connections the parent hands over, drain and return on ``S`` (or when the parent is gone).
    ``port`` is the parent's listening port, which requests are told they came to."""
    for sig in (signal.SIGINT, signal.SIGTERM):  # the parent decides when this process ends
        signal.signal(sig, signal.SIG_IGN)
    # One request thread per worker is the design: requests queued behind it are expected.
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    app = factory()
    _warm_up()
    # Everything built so far (modules, the app, the bundled data) lives as long as the worker:
    # out of the collector's sight, a full collection no longer walks it (one took 30-50 ms,
    # stalling every request queued behind it).
    gc.collect()
    gc.freeze()
    # poll(), not select(): a worker's connections may have descriptors above select's 1024.
    server: Any = create_server(app, host="127.0.0.1", port=0, threads=threads, ident="rebalancer-api",
                                clear_untrusted_proxy_headers=True, asyncore_use_poll=True)
    wasyncore.dispatcher.close(server)  # connections come from the parent, never from a socket of its own
    server.effective_port = port  # SERVER_PORT, as one process would report it
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
            if not loop.is_alive():  # the loop died: a worker that cannot serve must not live on
                logging.getLogger(__name__).error("the API worker's loop thread died; exiting")
                os._exit(70)
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
            os.close(fd)
        if message in (b"S", b""):  # stop, or the parent is gone (it no longer bounds the time)
            stopping.set()
            drain(server, loop, time.monotonic() + (60.0 if message else _ORPHAN_DRAIN))
            control.close()
            return


# --- the parent --------------------------------------------------------------------------------
class _Worker:
    """One spawned worker process, our end of its control socket, and its open connections."""

    def __init__(self, ctx: Any, target_args: tuple[Any, ...], on_exit: Callable[[_Worker], None],
                 on_change: Callable[[], None]) -> None:
        self.control, child = socket.socketpair()
        try:
            self.process = ctx.Process(target=serve_connections, args=(child, *target_args),
                                       name="rebalancer-api-worker", daemon=True)
            self.process.start()
        except BaseException:
            self.control.close()
            raise
        finally:
            child.close()
        # A worker that reads nothing (starting, hung) must not block the parent for long.
        self.control.settimeout(_CONTROL_TIMEOUT)
        self.connections = 0  # handed over and not reported closed
        self.ready = threading.Event()
        self.alive = True     # False once it has exited or stopped taking connections
        self.stopping = False
        self._lock = threading.Lock()
        self._on_exit, self._on_change = on_exit, on_change
        self._monitor = threading.Thread(target=self._listen, name="rebalancer-api-monitor", daemon=True)
        self._monitor.start()

    def _listen(self) -> None:
        while True:
            try:
                data = self.control.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                data = b""
            if not data:  # the worker exited
                break
            for byte in data:
                if byte == ord("R"):
                    self.ready.set()
                elif byte == ord("c"):
                    with self._lock:
                        self.connections -= 1
            self._on_change()
        self.alive = False
        self.process.join(_EXIT_JOIN)
        self._on_exit(self)
        self._on_change()

    def hand_over(self, sock: socket.socket) -> bool:
        """Give the worker a connection; False (and the worker is taken out of service) if it
        cannot take it. The caller closes its own copy of ``sock`` either way."""
        try:
            with self._lock:
                socket.send_fds(self.control, [b"C"], [sock.fileno()])
                self.connections += 1
            return True
        except OSError as exc:  # gone, or not reading its messages within the timeout
            if self.alive:
                _log.error("an API worker process did not take a connection (%s); no more are sent to it", exc)
            self.alive = False
            return False

    def stop(self) -> None:
        """Ask the worker to drain and exit (returns within the control timeout)."""
        self.stopping = True
        with self._lock, contextlib.suppress(OSError):
            self.control.sendall(b"S")

    def join(self, deadline: float) -> None:
        """Wait for the worker to exit until ``deadline`` (``time.monotonic()``), then end it."""
        self.process.join(max(deadline - time.monotonic(), 0.0))
        if self.process.is_alive():  # a request outlived the timeout: cut off
            self.process.kill()      # (SIGTERM is ignored by workers)
            self.process.join(_EXIT_JOIN)
        self._monitor.join(_EXIT_JOIN)
        self.control.close()


class WorkerGroup:
    """``processes`` worker processes serving the connections accepted on ``listeners``.

    A worker that dies (killed, out of memory) loses its connections, which clients see as
    reset; it is replaced, and meanwhile new connections go to the others. A worker that cannot
    even build the app is not replaced (another would fail the same way): :meth:`wait_ready`
    raises, and the others serve.
    """

    def __init__(self, listeners: list[socket.socket], factory: Callable[[], Any], processes: int, threads: int,
                 port: int) -> None:
        if not SUPPORTED:
            raise RuntimeError("serving from worker processes needs socket.send_fds (POSIX)")
        if processes < 1:
            raise ValueError(f"a worker group needs at least 1 process, not {processes}")
        self._listeners = listeners
        self._target_args = (factory, threads, port)
        self._ctx = multiprocessing.get_context("spawn")  # never fork a process with running threads
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)  # a worker became ready, closed a connection, exited
        self._closing = False
        self.failed = ""  # why a worker could not start, if one could not
        self._turn = itertools.count()
        self.workers: list[_Worker] = []
        try:
            for _ in range(processes):
                self.workers.append(self._spawn())
        except BaseException:
            self._closing = True
            for w in self.workers:
                w.stop()
            for w in self.workers:
                w.join(time.monotonic() + _EXIT_JOIN)
            raise
        self._selector = selectors.DefaultSelector()
        for listener in listeners:
            listener.setblocking(False)
            self._selector.register(listener, selectors.EVENT_READ)
        self._wake_r, self._wake_w = socket.socketpair()
        self._selector.register(self._wake_r, selectors.EVENT_READ)
        self._acceptor = threading.Thread(target=self._accept_loop, name="rebalancer-api-acceptor", daemon=True)
        self._acceptor.start()

    def _spawn(self) -> _Worker:
        return _Worker(self._ctx, self._target_args, self._exited, self._notify)

    def _notify(self) -> None:
        with self._changed:
            self._changed.notify_all()

    def _exited(self, worker: _Worker) -> None:
        with self._lock:
            if self._closing or worker.stopping or worker not in self.workers:
                return
            if not worker.ready.is_set():  # it could not even build the app: another would fail too
                self.failed = f"an API worker process failed to start (exit code {worker.process.exitcode})"
                _log.error("%s; see its traceback above", self.failed)
                return
            _log.error("an API worker process exited (code %s); starting another", worker.process.exitcode)
        replacement = self._spawn()  # outside the lock: spawning takes a while
        with self._lock:
            if self._closing:
                replacement.stop()
                replacement.join(time.monotonic() + _EXIT_JOIN)
                return
            self.workers[self.workers.index(worker)] = replacement
        worker.control.close()

    @property
    def running(self) -> bool:
        return self._acceptor.is_alive()

    def wait_ready(self, timeout: float | None = None) -> None:
        """Return once every worker has built the app and imported the engine; raise
        ``RuntimeError`` if one could not, ``TimeoutError`` after ``timeout`` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._changed:
            while not all(w.ready.is_set() for w in self.workers):
                if self.failed:
                    raise RuntimeError(self.failed)
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise TimeoutError(f"the API worker processes were not ready within {timeout} s")
                self._changed.wait(0.1 if left is None else min(left, 0.1))

    def _usable(self) -> list[_Worker]:
        """The ready, living workers below the connection limit. Called with the lock held."""
        return [w for w in self.workers if w.alive and w.ready.is_set() and w.connections < _CONNECTION_LIMIT]

    def _pick(self) -> _Worker | None:
        """Of :meth:`_usable`, the one with the fewest open connections (ties in turn); ``None``
        if there is none now. Called with the lock held."""
        usable = self._usable()
        if not usable:
            return None
        turn = next(self._turn)
        return min((usable[(turn + i) % len(usable)] for i in range(len(usable))), key=lambda w: w.connections)

    def _accept_loop(self) -> None:
        while not self._closing:
            with self._changed:  # no worker can take one: leave new connections in the backlog
                while not self._usable() and not self._closing:
                    self._changed.wait(0.1)
            ready = [key.fileobj for key, _ in self._selector.select(timeout=0.5)]
            if self._wake_r in ready:
                return
            for listener in ready:
                try:
                    sock, _ = listener.accept()
                except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                    continue
                except OSError as exc:
                    if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                        _log.error("cannot accept connections (%s); retrying", exc)
                        time.sleep(0.1)  # out of descriptors or memory: back off, keep serving
                        continue
                    raise
                self._dispatch(sock)

    def _dispatch(self, sock: socket.socket) -> None:
        """Hand ``sock`` to a worker, trying another if one fails; closed if none can take it."""
        with sock:
            for _ in range(len(self.workers) + 1):
                with self._lock:
                    worker = self._pick()
                if worker is None or worker.hand_over(sock):
                    return

    def stop(self, deadline: float) -> None:
        """Stop accepting (the listening sockets are closed), let every worker finish its
        requests in flight until ``deadline`` (``time.monotonic()``), then end them."""
        with self._changed:
            self._closing = True
            workers = list(self.workers)
            self._changed.notify_all()
        self._wake_w.send(b"x")
        self._acceptor.join(max(deadline - time.monotonic(), _EXIT_JOIN))
        for listener in self._listeners:
            listener.close()
        for w in workers:  # all at once: they drain in parallel
            w.stop()
        for w in workers:
            w.join(deadline)
        self._selector.close()
        self._wake_r.close()
        self._wake_w.close()
