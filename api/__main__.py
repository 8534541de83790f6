"""``rebalancer-api`` / ``python -m api``: serve the API on 127.0.0.1 until Ctrl+C or SIGTERM."""

from __future__ import annotations

import argparse
import multiprocessing
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

DEFAULT_PORT = 8765


def _count(text: str, least: int = 0) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < least:
        raise argparse.ArgumentTypeError(f"must be {least} or more, not {value}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rebalancer-api", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT,
                        help=f"port (default {DEFAULT_PORT}; 0 picks a free one)")
    parser.add_argument("--token", default=None,
                        help="bearer token to require (default: $REBALANCER_API_TOKEN, else a random one)")
    parser.add_argument("--processes", type=_count, default=None,
                        help="worker processes serving the requests behind the one port (default: one per core, "
                             "at most 4; 0 serves from this process)")
    parser.add_argument("--threads", type=lambda t: _count(t, 1), default=None,
                        help="request threads per serving process (default 1 per worker process, 4 without them)")
    parser.add_argument("--allow-remote", action="store_true",
                        help="allow a non-loopback --host (anyone who can reach it and has the token can use it)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the server in the foreground; returns the process exit code."""
    args = _parser().parse_args(argv)
    from api.server import EmbeddedServer, default_processes

    processes = default_processes() if args.processes is None else args.processes
    try:
        server = EmbeddedServer(host=args.host, port=args.port, token=args.token, allow_remote=args.allow_remote,
                                threads=args.threads, processes=processes)
        server.start()
    except (ValueError, OSError) as exc:
        print(f"rebalancer-api: {exc}", file=sys.stderr)
        return 2
    try:
        server.wait_ready(120)  # the worker processes (if any) can build the app and serve
    except (RuntimeError, TimeoutError) as exc:
        server.stop()
        print(f"rebalancer-api: {exc}", file=sys.stderr)
        return 1
    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = signal.signal(signal.SIGTERM, _on_signal)
    print(f"Smart Portfolio Rebalancer API listening on {server.url}", flush=True)
    print(f"Token: {server.token}", flush=True)
    print(f"Worker processes: {server.processes} × {server.threads} request thread{'s' if server.threads != 1 else ''}"
          if server.processes else f"Serving from this process: {server.threads} request threads", flush=True)
    print(f"Try: curl -H 'Authorization: Bearer {server.token}' {server.url}/api/scenarios", flush=True)
    try:
        # wait() with a timeout, so Ctrl+C (KeyboardInterrupt) is delivered promptly.
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.stop()
        print("stopped", flush=True)
    return 0


if __name__ == "__main__":
    multiprocessing.freeze_support()  # worker processes, should this ever be frozen
    sys.exit(main())
