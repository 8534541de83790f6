"""A real WSGI server (waitress) behind a small start/stop class, for the CLI and the desktop app.

waitress runs an asyncore-style loop in one thread and the WSGI app in worker threads. Closing
its sockets from another thread races the loop's ``select()`` (QT-NOTES.md §3), so every
socket operation here is handed to the loop thread through waitress's trigger. ``stop``:

1. closes the listening socket (in the loop thread): new connections are refused;
2. waits, up to the timeout, until no connection has a request queued, running or unsent;
3. closes every channel and the trigger, which ends the loop, and joins the threads.

A request already received is answered before the sockets close unless the timeout runs out.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import threading
import time
from types import TracebackType
from typing import Any

from flask import Flask
from waitress import wasyncore
from waitress.channel import HTTPChannel
from waitress.server import BaseWSGIServer, create_server

from api.auth import resolve_token
from api.engine_pool import POOL_KEY, EnginePool

_POLL = 0.01  # seconds between checks for in-flight requests while draining


def is_loopback(host: str) -> bool:
    """Whether every address ``host`` names is a loopback address (``localhost`` included)."""
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(info[4][0]).is_loopback for info in infos)


def default_processes() -> int:
    """Engine processes for a served API: one per core, at most 4 (each holds its own copy of
    the engine and the bundled data, about 150 MB)."""
    return max(1, min(os.cpu_count() or 1, 4))


def _busy(server: BaseWSGIServer) -> bool:
    """Whether a connection has a request being received, queued, served, or a reply unsent."""
    for channel in list(server._map.values()):
        if isinstance(channel, HTTPChannel) and (
            channel.requests or channel.request is not None or channel.total_outbufs_len
        ):
            return True
    return False


class EmbeddedServer:
    """Serve the API on ``host:port`` from a background thread.

    Parameters
    ----------
    app
        The WSGI app; default ``create_app({"API_TOKEN": token})``.
    host, port
        Where to listen; ``port=0`` picks a free port (read it from :attr:`port` after
        :meth:`start`). A non-loopback ``host`` raises ``ValueError`` unless ``allow_remote``.
    token
        The bearer token to require; default: the app's own token (``app.config["API_TOKEN"]``),
        which itself defaults to ``$REBALANCER_API_TOKEN`` or a random one. Given with ``app``,
        it replaces the app's token.
    threads
        waitress worker threads.
    processes
        Engine worker processes for the compute endpoints (:mod:`api.engine_pool`): 0 runs the
        engine in the request threads; the CLI and the desktop app pass
        :func:`default_processes`. Spawned at :meth:`start` (each takes a second or two to import
        the engine, in the background), ended at :meth:`stop`.
    """

    def __init__(self, app: Flask | None = None, *, host: str = "127.0.0.1", port: int = 0,
                 token: str | None = None, allow_remote: bool = False, threads: int = 4,
                 processes: int = 0) -> None:
        if not allow_remote and not is_loopback(host):
            raise ValueError(f"refusing to listen on non-loopback address {host!r}; "
                             "allow it explicitly (allow_remote=True, --allow-remote)")
        if app is None:
            from api import create_app

            app = create_app({"API_TOKEN": resolve_token(token)})
        elif token is not None:
            app.config["API_TOKEN"] = resolve_token(token)
        if processes < 0:
            raise ValueError(f"processes must be 0 or more, not {processes}")
        self.app, self.host, self._port, self.threads, self.processes = app, host, port, threads, processes
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    # --- properties -----------------------------------------------------------------------
    @property
    def token(self) -> str:
        return self.app.config["API_TOKEN"]

    @property
    def port(self) -> int:
        """The port listened on (the real one once started, even when 0 was asked)."""
        return self._port

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self._port}"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # --- life cycle -----------------------------------------------------------------------
    def start(self) -> EmbeddedServer:
        """Bind, listen and serve in a daemon thread; returns once connections are accepted."""
        with self._lock:
            if self._server is not None:
                raise RuntimeError("the server is already started")
            if self.processes and POOL_KEY in self.app.extensions:
                raise RuntimeError("this app is already served with engine processes by another server")
            # waitress binds and listens in the constructor, so the port is known and live here.
            server: Any = create_server(self.app, host=self.host, port=self._port, threads=self.threads,
                                        ident="rebalancer-api", clear_untrusted_proxy_headers=True)
            self._port = int(server.effective_port)  # waitress reports it as a str
            if self.processes:
                try:
                    self.app.extensions[POOL_KEY] = EnginePool(self.processes)
                except BaseException:
                    server.task_dispatcher.shutdown()
                    server.close()
                    raise
            self._server = server
            self._thread = threading.Thread(target=server.run, name=f"rebalancer-api:{self._port}", daemon=True)
            self._thread.start()
        return self

    def wait_ready(self, timeout: float | None = None) -> EmbeddedServer:
        """Return once the engine processes (if any) have started and imported the engine: until
        then, their start-up competes for the CPU and the first compute requests wait for it."""
        pool = self.app.extensions.get(POOL_KEY) if self.processes else None
        if pool is not None:
            pool.wait_ready(timeout)
        return self

    def stop(self, timeout: float = 1.0) -> None:
        """Stop accepting, let requests in flight finish (within ``timeout`` seconds), then close.

        Returns within about ``timeout`` seconds whatever the requests do; a request still
        running then is cut off. Calling it twice, or before :meth:`start`, does nothing.
        """
        with self._lock:
            server, thread = self._server, self._thread
            if server is None or thread is None:
                return
            self._server = None
            deadline = time.monotonic() + timeout
            server.trigger.pull_trigger(lambda: wasyncore.dispatcher.close(server))
            while _busy(server) and time.monotonic() < deadline - 2 * _POLL:
                time.sleep(_POLL)  # waiting on other threads' I/O: there is no event to wait on
            server.trigger.pull_trigger(lambda: wasyncore.close_all(server._map))
            thread.join(max(deadline - time.monotonic(), 0.0))
            server.task_dispatcher.shutdown(cancel_pending=True, timeout=max(deadline - time.monotonic(), 0.0))
            pool = self.app.extensions.pop(POOL_KEY, None) if self.processes else None
            if pool is not None:  # idle now: its workers exit at once
                pool.close(max(deadline - time.monotonic(), 0.2))
            self._thread = None

    def __enter__(self) -> EmbeddedServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
