"""``rebalancer`` / ``python -m desktop``: the desktop app, plus two headless checks.

``--screenshot DIR`` renders every tab with the bundled sample to PNG files and exits;
``--smoke [PNG]`` opens the window, computes a rebalance, starts the local API, queries it over
HTTP (the seed's rebalance too, answered by a worker process), writes a screenshot and
exits 0 (nonzero on any failure). Both use a throw-away settings and autosave folder, and the
offscreen platform when there is no display.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

#: A common advisor screen (1920x1080) less the taskbar and window frame.
SCREENSHOT_SIZE = (1600, 1000)
TABS = ("holdings", "rebalance", "risk", "monte-carlo", "scenarios", "ai-targets", "pipeline", "backtest", "audit")


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="rebalancer", description="Smart Portfolio Rebalancer (desktop).")
    parser.add_argument("document", nargs="?", help="a portfolio document (.rebal.json) to open")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--screenshot", metavar="DIR", help="render every tab with the sample portfolio to PNG files and exit")
    mode.add_argument("--smoke", metavar="PNG", nargs="?", const="", default=None,
                      help="open, rebalance, start and query the local API, write a screenshot, exit 0 if all worked")
    return parser.parse_args(argv)


def _wait(predicate: Callable[[], bool], timeout_s: float) -> bool:
    """Run the event loop until ``predicate()`` holds or the timeout passes."""
    from PySide6.QtCore import QCoreApplication, QEventLoop

    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            return False
        QCoreApplication.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
        QCoreApplication.sendPostedEvents()
    return True


def _headless_window(workdir: Path) -> Any:
    from PySide6.QtCore import QSettings

    from desktop.app import build_window, ensure_application

    ensure_application()
    # Pipeline runs, the audit log and the model registry of a headless run stay in its folder.
    os.environ["REBALANCER_DATA_DIR"] = str(workdir / "data")
    settings = QSettings(str(workdir / "settings.ini"), QSettings.Format.IniFormat)
    window = build_window(settings, workdir / "autosave", debounce_ms=0)
    window.resize(*SCREENSHOT_SIZE)
    window.show()
    return window


def _open_sample(window: Any, kinds: Sequence[str], timeout_s: float = 300.0) -> list[str]:
    """Open the sample and wait for ``kinds`` of results; returns the failures seen."""
    from desktop.app import SAMPLE_ID

    failures: list[str] = []
    window.documents.failed.connect(lambda msg: failures.append(f"open: {msg}"))
    window.controller.failed.connect(lambda kind, msg: failures.append(f"{kind}: {msg}"))
    window.documents.open_sample(SAMPLE_ID)
    done = _wait(lambda: bool(failures) or (all(k in window.controller.last for k in kinds)
                                            and not window.controller.is_busy()), timeout_s)
    if not done:
        failures.append(f"timed out after {timeout_s:.0f} s waiting for {', '.join(kinds)}")
    return failures


def _grab(window: Any, path: Path) -> None:
    _wait(lambda: False, 0.3)  # let layouts and charts settle for a few frames
    image = window.grab().toImage()
    if image.isNull() or not image.save(str(path)):
        raise OSError(f"could not write {path}")


def _run_ai_tabs(window: Any, timeout_s: float = 300.0) -> list[str]:
    """Run the AI targets, pipeline and backtest tabs so that their screenshots show results."""
    failures: list[str] = []
    done: set[str] = set()
    for name, tab, signal in (("ai targets", window.ai_tab, window.ai_tab.resultReady),
                              ("pipeline", window.pipeline_tab, window.pipeline_tab.runFinished),
                              ("backtest", window.backtest_tab, window.backtest_tab.resultReady)):
        signal.connect(lambda *_, name=name: done.add(name))
        tab.failed.connect(lambda msg, name=name: failures.append(f"{name}: {msg}"))
        tab.run()
    if not _wait(lambda: bool(failures) or len(done) == 3, timeout_s):
        failures.append(f"timed out after {timeout_s:.0f} s waiting for the AI, pipeline and backtest tabs")
    return failures


def screenshot(out_dir: Path) -> int:
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="rebalancer-shot-") as tmp:
        window = _headless_window(Path(tmp))
        failures = _open_sample(window, ("rebalance", "risk", "scenarios", "montecarlo"))
        if failures:
            print("\n".join(failures), file=sys.stderr)
            window.shutdown()
            return 1
        failures = _run_ai_tabs(window)
        if failures:
            print("\n".join(failures), file=sys.stderr)
            window.shutdown()
            return 1
        for i, name in enumerate(TABS):
            window.tabs.setCurrentIndex(i)
            path = out_dir / f"{i + 1:02d}-{name}.png"
            _grab(window, path)
            print(path)
        window.shutdown()
    return 0


def _http_json(url: str, token: str | None = None, body: Any = None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    data = None
    if body is not None:
        data, headers["Content-Type"] = json.dumps(body).encode("utf-8"), "application/json"
    request = urllib.request.Request(url, data=data, headers=headers)
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read().decode("utf-8"))


def smoke(png: str) -> int:
    path = Path(png) if png else Path(tempfile.gettempdir()) / "rebalancer-smoke.png"
    with tempfile.TemporaryDirectory(prefix="rebalancer-smoke-") as tmp:
        window = _headless_window(Path(tmp))
        try:
            failures = _open_sample(window, ("rebalance",))
            if failures:
                raise RuntimeError("; ".join(failures))
            trades = window.controller.last["rebalance"].trades
            window.api.start()
            if not _wait(lambda: window.api.running, 60):
                raise RuntimeError("the local API did not start")
            health = _http_json(f"{window.api.url}/api/health")
            samples = _http_json(f"{window.api.url}/api/sample-portfolios", window.api.token)
            from api.examples import SEED_REBALANCE  # served by a worker process

            seed = _http_json(f"{window.api.url}/api/rebalance", window.api.token, SEED_REBALANCE)
            window.tabs.setCurrentIndex(1)
            _grab(window, path)
        except Exception as exc:
            print(f"smoke failed: {exc}", file=sys.stderr)
            return 1
        finally:
            window.shutdown()
    print(f"ok: {len(trades)} trade lines; API {health.get('status', health)!s:.40}; "
          f"{len(json.dumps(samples))} bytes of sample portfolios; seed rebalance over HTTP: "
          f"{len(seed['trades'])} trade lines, P(loss) {seed['stress']['probability_of_loss']:.3f}; screenshot {path}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    if args.screenshot is not None or args.smoke is not None:
        if not os.environ.get("DISPLAY") and not os.environ.get("QT_QPA_PLATFORM") and not os.environ.get("WAYLAND_DISPLAY"):
            os.environ["QT_QPA_PLATFORM"] = "offscreen"
        os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")
        if args.screenshot is not None:
            return screenshot(Path(args.screenshot))
        return smoke(args.smoke)
    from desktop.app import run

    return run(args.document)


if __name__ == "__main__":
    # The local API's engine worker processes are spawned from this executable when frozen.
    multiprocessing.freeze_support()
    sys.exit(main())
