"""A real WSGI server (waitress) behind a small start/stop class, for the CLI and the desktop app.

Two ways to serve, one interface:

- ``processes=0``: waitress in this process, the app in its request threads.
- ``processes=N``: N spawned worker processes, each running the app under waitress, behind the
  one listening socket this process accepts on (:mod:`api.workers`). Each core then serves whole
  requests without sharing a GIL: what the CLI and the desktop app use.

``stop`` is the same for both: new connections are refused at once; requests already received
are answered (up to the timeout) before the connections close; then the threads (and processes)
end. In this process, every socket operation is handed to waitress's loop thread through its
trigger: closing sockets from another thread races the loop's ``select()`` (QT-NOTES.md §3).
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

from flask import Flask
from waitress.server import create_server

from api import workers
from api.auth import resolve_token

__all__ = ["EmbeddedServer", "default_processes", "is_loopback"]

_log = logging.getLogger(__name__)


def default_processes() -> int:
    """Worker processes for a served API: one per core, at most 4 (each holds its own copy of the
    engine and the bundled data, about 150 MB); 0 where processes cannot share a listening
    socket's connections (no ``socket.send_fds``: Windows)."""
    return max(1, min(os.cpu_count() or 1, 4)) if workers.SUPPORTED else 0


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



class EmbeddedServer:
    """Serve the API on ``host:port`` from background threads (and processes).

    Parameters
    ----------
    app
        The WSGI app, served in this process (``processes=0`` only); default
        ``create_app({"API_TOKEN": token})``.
    host, port
        Where to listen; ``port=0`` picks a free port (read it from :attr:`port` after
        :meth:`start`). A non-loopback ``host`` raises ``ValueError`` unless ``allow_remote``.
    token
        The bearer token to require; default: the app's own token (``app.config["API_TOKEN"]``),
        which itself defaults to ``$REBALANCER_API_TOKEN`` or a random one. Given with ``app``,
        it replaces the app's token.
    threads
        waitress request threads per serving process; default 4 in this process, 1 in each
        worker process (more would share that worker's GIL again).
    processes
        Worker processes (:mod:`api.workers`); 0 serves from this process. The CLI and the
        desktop app pass :func:`default_processes`.
    factory
        With ``processes``: builds the WSGI app in each worker (picklable, e.g. a module-level
        function or a ``functools.partial`` of one); default ``create_app``. Either way the app
        requires :attr:`token`.

    Workers are spawned, so a script that starts a server with ``processes`` must guard its
    entry point with ``if __name__ == "__main__":``, as :mod:`multiprocessing` requires (a
    worker imports the main module; unguarded, it would start a server of its own and fail:
    :meth:`wait_ready` then says so).
    """

    def __init__(self, app: Flask | None = None, *, host: str = "127.0.0.1", port: int = 0,
                 token: str | None = None, allow_remote: bool = False, threads: int | None = None,
                 processes: int = 0, factory: Callable[[], Any] | None = None) -> None:
        if not allow_remote and not is_loopback(host):
            raise ValueError(f"refusing to listen on non-loopback address {host!r}; "
                             "allow it explicitly (allow_remote=True, --allow-remote)")
        if processes < 0:
            raise ValueError(f"processes must be 0 or more, not {processes}")
        if processes and app is not None:
            raise ValueError("an app object cannot be sent to worker processes: pass factory= instead")
        if processes and not workers.SUPPORTED:
            _log.warning("worker processes are not supported on this platform; serving from this process")
            processes = 0
        if not processes and factory is not None:
            app = factory()
        self.processes = processes
        if processes:
            self.app = None
            self._token = resolve_token(token)
            self._factory = functools.partial(_with_token, factory or _default_app, self._token)
        else:
            if app is None:
                from api import create_app

                app = create_app({"API_TOKEN": resolve_token(token)})
            elif token is not None:
                app.config["API_TOKEN"] = resolve_token(token)
            self.app = app
        self.host, self._port = host, port
        self.threads = threads if threads is not None else (1 if processes else 4)
        self._server: Any = None          # the waitress server (processes=0)
        self._thread: threading.Thread | None = None
        self._group: workers.WorkerGroup | None = None  # the worker processes (processes>0)
        self._lock = threading.Lock()

    # --- properties -----------------------------------------------------------------------
    @property
    def token(self) -> str:
        return self._token if self.processes else self.app.config["API_TOKEN"]

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
        if self._group is not None:
            return self._group.running
        return self._thread is not None and self._thread.is_alive()

    # --- life cycle -----------------------------------------------------------------------
    def start(self) -> EmbeddedServer:
        """Bind, listen and serve in the background; returns once connections are accepted
        (worker processes may still be starting: their first connections wait for them, or see
        :meth:`wait_ready`)."""
        with self._lock:
            if self._server is not None or self._group is not None:
                raise RuntimeError("the server is already started")
            if self.processes:
                listeners = _listen(self.host, self._port)
                self._port = int(listeners[0].getsockname()[1])
                try:
                    self._group = workers.WorkerGroup(listeners, self._factory, self.processes, self.threads,
                                                      self._port)
                except BaseException:
                    for listener in listeners:
                        listener.close()
                    raise
                return self
            # waitress binds and listens in the constructor, so the port is known and live here.
            server: Any = create_server(self.app, host=self.host, port=self._port, threads=self.threads,
                                        ident="rebalancer-api", clear_untrusted_proxy_headers=True)
            self._port = int(server.effective_port)  # waitress reports it as a str
            self._server = server
            self._thread = threading.Thread(target=server.run, name=f"rebalancer-api:{self._port}", daemon=True)
            self._thread.start()
        return self

    def wait_ready(self, timeout: float | None = None) -> EmbeddedServer:
        """Return once the worker processes (if any) have built the app and imported the engine:
        until then their start-up competes for the CPU and the first requests wait for it."""
        if self._group is not None:
            self._group.wait_ready(timeout)
        return self

    def stop(self, timeout: float = 1.0) -> None:
        """Stop accepting, let requests in flight finish (within ``timeout`` seconds), then close.

        Returns within about ``timeout`` seconds whatever the requests do; a request still
        running then is cut off. Calling it twice, or before :meth:`start`, does nothing.
        """
        with self._lock:
            deadline = time.monotonic() + timeout
            group, self._group = self._group, None
            if group is not None:
                group.stop(deadline)
                return
            server, thread = self._server, self._thread
            if server is None or thread is None:
                return
            self._server = None
            workers.drain(server, thread, deadline)
            self._thread = None

    def __enter__(self) -> EmbeddedServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def _default_app() -> Flask:
    """The app a worker process serves by default (module level, so it pickles by name)."""
    from api import create_app

    return create_app()


def _with_token(factory: Callable[[], Any], token: str) -> Any:
    """``factory()``'s app, requiring ``token`` (what :attr:`EmbeddedServer.token` reports)."""
    app = factory()
    app.config["API_TOKEN"] = token
    return app


def _listen(host: str, port: int) -> list[socket.socket]:
    """Listening TCP sockets on ``host:port``, one per address the host resolves to (IPv4 and
    IPv6, as waitress binds them), all on the same port (the first one's, when ``port`` is 0)."""
    infos = list(dict.fromkeys((family, sockaddr[:2]) for family, _, _, _, sockaddr in
                               socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM,
                                                  flags=socket.AI_PASSIVE)))
    listeners: list[socket.socket] = []
    try:
        for family, (address, _) in infos:
            # (IPv6 sockets are bound IPv6-only, so "localhost" can also bind 127.0.0.1.)
            sock = socket.create_server((address, port), family=family, backlog=1024)
            listeners.append(sock)
            port = port or sock.getsockname()[1]
    except BaseException:
        for sock in listeners:
            sock.close()
        raise
    return listeners
