"""Decide when the engine runs: debounced after edits, newest request wins, stale results dropped.

Four kinds of job run on a private thread pool: ``rebalance`` (then ``risk`` with its post-trade
weights), ``scenarios`` and ``montecarlo``. Each kind has a generation number; starting a job
bumps it and cancels the running one of that kind, and a result whose generation is no longer
current is dropped, so the panels only ever show numbers for what is on screen.

The cheap jobs go first. Rebalance and risk take tens of milliseconds; a 10,000-path Monte Carlo
or nineteen scenario replays take seconds of Python that, on two cores, would hold the GIL
against them (and against the GUI thread). So an edit cancels the stress jobs it supersedes at
once, and they start again only after the new risk report has been returned (or has failed).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QThreadPool, QTimer, Signal

from desktop.workers import Worker, job_monte_carlo, job_rebalance, job_risk_view, job_scenarios

__all__ = ["ALL_KINDS", "STRESS_KINDS", "Controller", "error_message"]

ALL_KINDS = ("rebalance", "risk", "scenarios", "montecarlo")
#: The slow, cancellable jobs: they wait until rebalance and risk are done.
STRESS_KINDS = ("scenarios", "montecarlo")


def error_message(exc: BaseException) -> str:
    """The user-facing text of an engine error: each field's message (with its location), or
    for a data error its full message naming file, row and column."""
    from engine.errors import DataError

    if isinstance(exc, DataError):
        return exc.message
    details = getattr(exc, "details", None) or []
    msgs = []
    for d in details:
        loc = ".".join(str(p) for p in d.get("loc", []) if p != "holdings")
        msgs.append(f"{d.get('msg', '')}" + (f" ({loc})" if loc else ""))
    if msgs:
        return "; ".join(msgs)
    return getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"


class Controller(QObject):
    """Run the engine for the current portfolio and settings.

    Parameters
    ----------
    portfolio
        Returns the portfolio as it stands (possibly a draft; the engine validates it).
    settings
        Returns an object with ``policy``, ``risk`` and ``monte_carlo`` attributes.
    debounce_ms
        Quiet time after the last edit before computing (short: the first jobs are cheap, and
        the slow ones are cancelled by the next edit anyway).
    stress_delay_ms
        Pause between the risk report and the start of the stress jobs, so the risk panel is
        painted before they compete for the GIL.
    """

    rebalanceReady = Signal(object)
    riskViewReady = Signal(object)  # a RiskView (report + chart arrays), just before riskReady
    riskReady = Signal(object)
    scenariosReady = Signal(object)
    monteCarloReady = Signal(object)
    monteCarloProgress = Signal(float)
    failed = Signal(str, str)  # kind, message
    busyChanged = Signal(str, bool)  # kind, busy
    idle = Signal()

    def __init__(self, portfolio: Callable[[], Any], settings: Callable[[], Any], *,
                 debounce_ms: int = 40, stress_delay_ms: int = 120, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._portfolio, self._settings = portfolio, settings
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(max(2, min(4, QThreadPool.globalInstance().maxThreadCount())))
        self._timer = QTimer(self, singleShot=True, interval=debounce_ms)
        self._timer.timeout.connect(self._start_pending)
        self._stress_timer = QTimer(self, singleShot=True, interval=stress_delay_ms)
        self._stress_timer.timeout.connect(self._start_deferred)
        self._pending: set[str] = set()
        self._deferred: set[str] = set()  # stress jobs waiting for rebalance and risk
        self._generation = dict.fromkeys(ALL_KINDS, 0)
        self._running: dict[str, Worker] = {}
        self._alive: set[Worker] = set()
        self.last: dict[str, Any] = {}

    # --- public -------------------------------------------------------------------------------
    def schedule(self, kinds: tuple[str, ...] = ALL_KINDS) -> None:
        """Recompute ``kinds`` once edits pause for the debounce interval; stress jobs running
        for the old state are cancelled now, not when their successors start."""
        for kind in STRESS_KINDS:
            if kind in kinds:
                self._supersede(kind)
        self._pending.update(kinds)
        self._timer.start()

    def recompute_now(self, kinds: tuple[str, ...] = ALL_KINDS) -> None:
        self._pending.update(kinds)
        self._timer.stop()
        self._start_pending()

    def run_monte_carlo(self) -> None:
        self.recompute_now(("montecarlo",))

    def cancel_monte_carlo(self) -> None:
        self._pending.discard("montecarlo")
        self._deferred.discard("montecarlo")
        worker = self._running.get("montecarlo")
        if worker is not None:
            worker.cancel()

    def is_busy(self) -> bool:
        return (bool(self._pending) or bool(self._deferred) or bool(self._running) or self._timer.isActive()
                or self._stress_timer.isActive())

    def shutdown(self, timeout_ms: int = 10_000) -> None:
        """Cancel everything and wait for the pool (on close)."""
        self._timer.stop()
        self._stress_timer.stop()
        self._pending.clear()
        self._deferred.clear()
        for kind in ALL_KINDS:
            self._generation[kind] += 1
        for worker in list(self._alive):
            worker.cancel()
        self._pool.waitForDone(timeout_ms)

    # --- scheduling ---------------------------------------------------------------------------
    def _start_pending(self) -> None:
        pending = self._pending | self._deferred
        self._pending, self._deferred = set(), set()
        self._stress_timer.stop()
        portfolio, settings = self._portfolio(), self._settings()
        stress = [kind for kind in STRESS_KINDS if kind in pending]
        if "rebalance" in pending or "risk" in pending:
            self._start("rebalance", job_rebalance, portfolio, settings.policy)
            self._generation["risk"] += 1  # a risk run waiting on the old rebalance is stale now
            for kind in stress:  # until the risk report is in: a running one is stale already
                self._supersede(kind)
            self._deferred.update(stress)
            return
        self._start_stress(stress)

    def _start_deferred(self) -> None:
        stress, self._deferred = [k for k in STRESS_KINDS if k in self._deferred], set()
        self._start_stress(stress)

    def _start_stress(self, kinds: list[str]) -> None:
        portfolio, settings = self._portfolio(), self._settings()
        if "scenarios" in kinds:
            self._start("scenarios", job_scenarios, portfolio, cancellable=True)
        if "montecarlo" in kinds:
            self._start("montecarlo", job_monte_carlo, portfolio, settings.monte_carlo, cancellable=True)

    def _supersede(self, kind: str) -> None:
        """Drop the result of the running ``kind`` job and ask it to stop."""
        worker = self._running.get(kind)
        if worker is not None:
            self._generation[kind] += 1
            worker.cancel()

    def _risk_settled(self) -> None:
        """The risk report is in (or failed): the waiting stress jobs may start."""
        if self._deferred:
            self._stress_timer.start()

    def _start(self, kind: str, fn: Callable[..., Any], *args: Any, cancellable: bool = False) -> None:
        self._generation[kind] += 1
        generation = self._generation[kind]
        old = self._running.pop(kind, None)
        if old is not None:
            old.cancel()
        worker = Worker(fn, *args, cancellable=cancellable)
        worker.signals.returned.connect(lambda result: self._returned(kind, generation, result))
        worker.signals.errored.connect(lambda exc: self._errored(kind, generation, exc))
        worker.signals.finished.connect(lambda: self._finished(kind, worker))
        if kind == "montecarlo":
            worker.signals.progress.connect(lambda p: self._progress(generation, p))
        self._running[kind] = worker
        self._alive.add(worker)
        self.busyChanged.emit(kind, True)
        worker.start(self._pool)

    def _current(self, kind: str, generation: int) -> bool:
        return generation == self._generation[kind]

    # --- results ------------------------------------------------------------------------------
    def _returned(self, kind: str, generation: int, result: Any) -> None:
        if not self._current(kind, generation):
            return
        self.last[kind] = result
        if kind == "rebalance":
            self.rebalanceReady.emit(result)
            self._start_risk(result.post_trade_weights)
        elif kind == "risk":
            self.last[kind] = result.report
            self.riskViewReady.emit(result)
            self.riskReady.emit(result.report)
            self._risk_settled()
        elif kind == "scenarios":
            self.scenariosReady.emit(result)
        elif kind == "montecarlo":
            self.monteCarloReady.emit(result)

    def _start_risk(self, post_trade_weights: dict[str, float] | None) -> None:
        self._start("risk", job_risk_view, self._portfolio(), self._settings().risk, post_trade_weights)

    def _errored(self, kind: str, generation: int, exc: BaseException) -> None:
        if not self._current(kind, generation):
            return
        from engine.errors import Cancelled

        self.last.pop(kind, None)
        if kind == "rebalance":
            # The risk of the holdings as they stand does not need a successful rebalance.
            self._start_risk(None)
        elif kind == "risk":
            self._risk_settled()
        if isinstance(exc, Cancelled):
            return
        self.failed.emit(kind, error_message(exc))

    def _progress(self, generation: int, value: float) -> None:
        if self._current("montecarlo", generation):
            self.monteCarloProgress.emit(value)

    def _finished(self, kind: str, worker: Worker) -> None:
        self._alive.discard(worker)
        if self._running.get(kind) is worker:
            del self._running[kind]
            self.busyChanged.emit(kind, False)
        if not self.is_busy():
            self.idle.emit()
