"""The desktop app's responsiveness (issue 4, "Speed"), each case in a fresh offscreen process.

* **Start to first paint**, from source (``python -m desktop``) and, if ``dist/`` holds a
  build, frozen: measured from outside, from just before the process is spawned to the first
  frame Qt flushes to the main window. Qt reports that itself when ``QT_LOGGING_RULES``
  enables ``qt.widgets.painting`` (the line "Flushing QRegion(...) of MainWindow"), so the
  app needs no hook and the frozen build is measured exactly like the source.
* **Edit -> risk panel updated** on a 50-asset portfolio with 20 years of daily history, **opening
  a 5,000-holding document**, the **longest event-loop stall** during start-up, the edits and the
  opening (a 10 ms ``QTimer`` heartbeat: its worst lateness is the longest time the GUI thread
  could not react), and **resident memory** with the sample open: a probe process
  (``python -m bench.bench_gui --probe MODE``) drives the real ``MainWindow`` and prints one
  ``BENCH {json}`` line.

Every probe runs with throw-away HOME/XDG folders, so no user settings are read or written.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench.harness import Row

ROOT = Path(__file__).resolve().parent.parent
FLUSH = re.compile(r"qt\.widgets\.painting: Flushing QRegion\(.*\) of MainWindow")
_PREFIX = "BENCH "
# 20-year daily histories bundled (resources/market/prices_daily.csv): the 50 holdings use them
# as proxies (several holdings share one), so the risk panel aligns 50 columns × 20 years.
LONG_DAILY = ("AAPL", "BAC", "XOM", "T", "PFE", "WMT", "GE", "JPM", "JNJ", "KO", "PG", "MSFT", "SPY")


# --- the parent side ----------------------------------------------------------------------------
def quiet_env(home: Path) -> dict[str, str]:
    """Offscreen, no display, and settings/data folders inside ``home``."""
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "REBALANCER_RESOURCES")}
    env.update(QT_QPA_PLATFORM="offscreen", PYQTGRAPH_QT_LIB="PySide6", HOME=str(home),
               XDG_CONFIG_HOME=str(home / "config"), XDG_DATA_HOME=str(home / "data"),
               XDG_CACHE_HOME=str(home / "cache"), TMPDIR=str(home), PYTHONPATH=str(ROOT))
    return env


def first_paint(command: Sequence[str], timeout_s: float = 60.0) -> float:
    """Seconds from spawning ``command`` (the app, opening its start-up document) to the first
    frame flushed to its main window; the process is then killed."""
    with tempfile.TemporaryDirectory(prefix="bench-gui-") as tmp:
        env = quiet_env(Path(tmp))
        env["QT_LOGGING_RULES"] = "qt.widgets.painting.debug=true"
        t0 = time.monotonic()
        proc = subprocess.Popen(list(command), cwd=tmp, env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, errors="replace")
        try:
            assert proc.stderr is not None
            tail: list[str] = []
            for line in proc.stderr:
                if FLUSH.search(line):
                    return time.monotonic() - t0
                tail = [*tail[-20:], line]
                if time.monotonic() - t0 > timeout_s:
                    break
            raise RuntimeError(f"no first paint from {command[0]} (exit {proc.poll()}):\n{''.join(tail)}")
        finally:
            proc.kill()
            proc.wait()


def first_paints(command: Sequence[str], repeats: int, *, warm_up: bool = True) -> list[float]:
    if warm_up:
        first_paint(command)  # warm the page cache: a warm start, as on a second launch
    return [first_paint(command) for _ in range(repeats)]


def probe(mode: str, timeout_s: float = 600.0) -> dict[str, Any]:
    """Run ``--probe mode`` in a fresh interpreter and return its result."""
    with tempfile.TemporaryDirectory(prefix="bench-gui-") as tmp:
        done = subprocess.run([sys.executable, "-m", "bench.bench_gui", "--probe", mode], cwd=ROOT,
                              env=quiet_env(Path(tmp)), capture_output=True, text=True, timeout=timeout_s)
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith(_PREFIX)]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"probe {mode} failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(lines[-1][len(_PREFIX):])


def frozen_executable() -> Path | None:
    exe = ROOT / "dist" / "rebalancer" / "rebalancer"
    return exe if exe.is_file() and os.access(exe, os.X_OK) else None


def _paint_row(case: str, times: list[float]) -> Row:
    t = statistics.median(times)
    return Row("gui", case, t, len(times), target="≤ 1.5 s", met=t <= 1.5,
               note=f"min {min(times):.2f} s, max {max(times):.2f} s")


def _ms(x: float) -> str:
    return f"{x * 1e3:.0f} ms"


def run(quick: bool) -> list[Row]:
    """``quick``: one launch, no frozen run (bench_package times that), short caps: a smoke check."""
    repeats = 1 if quick else 7
    rows = [_paint_row("start to first paint, from source (python -m desktop)",
                       first_paints([sys.executable, "-m", "desktop"], repeats, warm_up=not quick))]
    exe = frozen_executable()
    if exe is not None and not quick:
        rows.append(_paint_row("start to first paint, frozen (dist/rebalancer)", first_paints([str(exe)], repeats)))

    start = probe("start")
    rows.append(Row("gui", f"sample open: holdings shown {start['sample_shown_s']:.2f} s, all tabs computed",
                    start["results_s"], 1))
    rows.append(Row("gui", "resident memory, sample open and computed", 0.0, 1, target="≤ 400 MB",
                    met=start["rss_mb"] <= 400, note=f"{start['rss_mb']:.0f} MB (peak {start['peak_rss_mb']:.0f} MB)"))
    edit = probe(f"edit:{2 if quick else 9}")
    rows.append(Row("gui", f"edit -> risk panel updated, 50 assets × 20 y daily (incl. {edit['debounce_ms']} ms "
                    f"debounce; max {_ms(edit['max_s'])})", edit["median_s"], edit["edits"], target="≤ 150 ms",
                    met=edit["median_s"] <= 0.150))
    opened = probe(f"open:{5 if quick else 120}")
    computed = (f"all tabs computed after {opened['results_s']:.1f} s" if opened["results_s"] is not None else
                f"after {opened['results_cap_s']:.0f} s still pending: {', '.join(opened['pending']) or 'GUI'}")
    rows.append(Row("gui", f"open a 5,000-holding document, table shown ({computed})", opened["open_s"], 1,
                    target="≤ 2 s", met=opened["open_s"] <= 2.0))
    stalls = {"start-up": start["stall_s"], "edits": edit["stall_s"], "open 5,000": opened["stall_s"],
              "5,000 computing": opened["results_stall_s"]}
    worst = max(stalls.values())
    rows.append(Row("gui", "longest GUI-thread stall, 10 ms heartbeat (" + ", ".join(f"{k} {_ms(v)}" for k, v in stalls.items())
                    + ")", worst, len(stalls), target="≤ 100 ms", met=worst <= 0.100))
    return rows


# --- the probe side (runs in its own offscreen process) -----------------------------------------
class Heartbeat:
    """A 10 ms precise timer; its worst lateness is the longest the event loop did not run."""

    def __init__(self, interval_ms: int = 10) -> None:
        from PySide6.QtCore import Qt, QTimer

        self.interval = interval_ms / 1e3
        self.timer = QTimer(interval=interval_ms, timerType=Qt.TimerType.PreciseTimer)
        self.timer.timeout.connect(self._tick)
        self.last, self.worst = 0.0, 0.0

    def start(self) -> None:
        self.last, self.worst = time.monotonic(), 0.0
        self.timer.start()

    def _tick(self) -> None:
        now = time.monotonic()
        self.worst = max(self.worst, now - self.last - self.interval)
        self.last = now

    def stop(self) -> float:
        self._tick()
        self.timer.stop()
        return max(self.worst, 0.0)

    def stall_so_far(self) -> float:
        """The worst lateness including a stall still going on (readable from another thread)."""
        return max(self.worst, time.monotonic() - self.last - self.interval, 0.0)


def wait_until(predicate: Callable[[], bool], timeout_s: float) -> bool:
    """Run a real event loop (as ``app.exec()`` does) until ``predicate()`` holds."""
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    poll = QTimer(interval=2)
    poll.timeout.connect(lambda: loop.quit() if predicate() else None)
    QTimer.singleShot(int(timeout_s * 1e3), loop.quit)
    poll.start()
    if not predicate():
        loop.exec()
    poll.stop()
    return predicate()


class PaintSpy:
    """Times the Paint events of one widget."""

    def __init__(self, widget: Any) -> None:
        from PySide6.QtCore import QEvent, QObject

        spy = self

        class _Filter(QObject):
            def eventFilter(self, obj: Any, event: Any) -> bool:
                if event.type() == QEvent.Type.Paint:
                    spy.last = time.monotonic()
                return False

        self.last = 0.0
        self._filter = _Filter()
        widget.installEventFilter(self._filter)


def _window(tmp: Path) -> Any:
    from PySide6.QtCore import QSettings

    from desktop.app import build_window, ensure_application

    ensure_application()
    window = build_window(QSettings(str(tmp / "settings.ini"), QSettings.Format.IniFormat), tmp / "autosave")
    window.show()
    return window


def _idle(window: Any, timeout_s: float = 300.0) -> None:
    """Until start-up has finished (engine loaded, catalogue read: ``window.warm``) and no
    computation is running or due."""
    if not wait_until(lambda: window.warm and not window.controller.is_busy(), timeout_s):
        raise RuntimeError(f"the engine was still busy after {timeout_s:.0f} s")


def _rss_mb() -> tuple[float, float]:
    fields = dict(ln.split(":", 1) for ln in Path("/proc/self/status").read_text().splitlines() if ":" in ln)
    return float(fields["VmRSS"].split()[0]) / 1024, float(fields["VmHWM"].split()[0]) / 1024


def probe_start(tmp: Path) -> dict[str, Any]:
    """The bundled sample opened as at a first start: when it shows, when every tab is computed,
    the longest stall meanwhile, and the resident memory then."""
    from desktop.app import open_first_document

    t0 = time.monotonic()
    beat = Heartbeat()
    window = _window(tmp)
    beat.start()
    table = PaintSpy(window.holdings_panel.view.viewport())
    loaded: list[float] = []
    window.documents.loaded.connect(lambda: loaded.append(time.monotonic()))
    open_first_document(window, None, ask_recovery=False)
    if not wait_until(lambda: bool(loaded) and table.last > loaded[0], 120):
        raise RuntimeError("the sample did not open")
    shown = table.last - t0
    _idle(window)
    results, stall = time.monotonic() - t0, beat.stop()
    rss, peak = _rss_mb()
    window.shutdown()
    return {"sample_shown_s": shown, "results_s": results, "stall_s": stall, "rss_mb": rss, "peak_rss_mb": peak}


def _document(holdings: list[dict[str, Any]], path: Path, **risk: Any) -> Path:
    from engine.document import Document, save_document
    from engine.schemas import Portfolio, RiskSettings

    return save_document(Document(portfolio=Portfolio(holdings=holdings), risk=RiskSettings(**risk)), path)


def fifty_assets(path: Path) -> Path:
    """50 holdings on the bundled 20-year daily series, risk over the last 20 years."""
    n = 50
    holdings = [{"symbol": f"EQ{i:02d}", "name": f"Equity {i}", "asset_class": "stock", "proxy": LONG_DAILY[i % len(LONG_DAILY)],
                 "quantity": 100.0 + 10 * i, "price": 50.0 + i, "target_weight": 1.0 / n} for i in range(n)]
    return _document(holdings, path, lookback_years=20.0)


def probe_edit(tmp: Path, edits: int) -> dict[str, Any]:
    """Quantity edits (through the model, as the table's editor commits them), each timed until
    the risk panel has shown the new report."""
    import inspect

    from desktop.app import build_window
    from desktop.holdings_model import KEYS

    window = _window(tmp)
    window.documents.open(fifty_assets(tmp / "fifty.rebal.json"))
    if not wait_until(lambda: window.model.rowCount() == 50, 60):
        raise RuntimeError("the 50-asset document did not open")
    # The Risk tab is the one showing, so each edit is timed until its charts are drawn (a hidden
    # tab draws its latest result only when it is next shown: desktop/deferred_tabs.py).
    window.tabs.setCurrentWidget(window.risk_tab)
    _idle(window)
    shown: list[float] = []
    window.controller.riskReady.connect(lambda _r: shown.append(time.monotonic()))  # after risk_tab.show_view
    model, col, latencies = window.model, KEYS.index("quantity"), []
    beat = Heartbeat()
    beat.start()
    for k in range(edits):
        before = len(shown)
        t0 = time.monotonic()
        model.setData(model.index(k % 50, col), 200.0 + k)
        if not wait_until(lambda b=before: len(shown) > b, 60):
            raise RuntimeError("the risk panel was not updated after an edit")
        latencies.append(shown[-1] - t0)
        _idle(window)
    stall = beat.stop()
    window.shutdown()
    return {"edits": edits, "median_s": statistics.median(latencies), "max_s": max(latencies), "stall_s": stall,
            "debounce_ms": inspect.signature(build_window).parameters["debounce_ms"].default}


def probe_open(tmp: Path, results_cap_s: float) -> dict[str, Any]:
    """Open a 5,000-holding document from a blank window: until its rows are painted, then until
    every tab is computed (or ``results_cap_s`` passed)."""
    from bench.bench_rebalance import make_portfolio
    from engine.document import Document, save_document

    path = save_document(Document(portfolio=make_portfolio()), tmp / "five-thousand.rebal.json")
    window = _window(tmp)
    table = PaintSpy(window.holdings_panel.view.viewport())
    wait_until(lambda: table.last > 0, 30)
    _idle(window)
    beat = Heartbeat()
    beat.start()
    t0 = time.monotonic()
    window.documents.open(path)
    if not wait_until(lambda: window.model.rowCount() == 5_000 and table.last > t0, 60):
        raise RuntimeError("the 5,000-holding document did not show")
    t_open, stall = table.last - t0, beat.stop()
    result = {"open_s": t_open, "stall_s": stall, "results_s": None, "results_cap_s": results_cap_s}

    def report(finished: bool) -> None:  # from the GUI thread, or the watchdog if the GUI is stuck
        last = window.controller.last
        result.update(results_s=time.monotonic() - t0 if finished else None, results_stall_s=beat.stall_so_far(),
                      pending=sorted(k for k in ("rebalance", "risk", "scenarios", "montecarlo") if k not in last))
        _emit(result)

    # A slot that blocks the GUI thread also blocks any Qt timer, so a plain thread ends the probe.
    threading.Timer(results_cap_s, report, (False,)).start()
    beat.start()
    finished = wait_until(lambda: not window.controller.is_busy(), results_cap_s)
    report(finished)
    return result


def _emit(result: dict[str, Any]) -> None:
    """Print the result and leave at once: ``os._exit`` does not wait for engine work still
    running on the pool; the parent removes the temporary folder ($TMPDIR)."""
    print(_PREFIX + json.dumps(result), flush=True)
    sys.stderr.flush()
    os._exit(0)


def _probe_main(mode: str) -> None:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")
    name, _, arg = mode.partition(":")
    tmp = Path(tempfile.mkdtemp(prefix="bench-probe-"))
    if name == "start":
        _emit(probe_start(tmp))
    elif name == "edit":
        _emit(probe_edit(tmp, int(arg or 5)))
    elif name == "open":
        probe_open(tmp, float(arg or 60))
    raise SystemExit(f"unknown probe {mode!r}")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--probe":
        _probe_main(sys.argv[2])
    from bench.harness import render

    print(render(run("--quick" in sys.argv)))
