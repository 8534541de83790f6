"""Run engine calls off the GUI thread: a ``QRunnable`` plus a separate ``QObject`` for signals.

The pattern is superqt's: the runnable owns a cancel flag the work polls, and its signals
object lives in the GUI thread, so every emit from the pool thread arrives there queued.
The job functions at the bottom are the only place the desktop calls the engine's service
layer; each builds its request from plain dicts so that the engine validates it in full.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

__all__ = [
    "SingleJob",
    "Worker",
    "WorkerSignals",
    "job_monte_carlo",
    "job_rebalance",
    "job_risk",
    "job_risk_view",
    "job_scenarios",
]


class WorkerSignals(QObject):
    """``returned(result)``, ``errored(exception)``, ``progress(0..1)``, then ``finished()``."""

    returned = Signal(object)
    errored = Signal(object)
    progress = Signal(float)
    finished = Signal()


class Worker(QRunnable):
    """Call ``fn(*args, **kwargs)`` on a pool thread.

    With ``cancellable=True`` the function also receives ``progress=`` (a float callback) and
    ``cancel=`` (returns ``True`` once :meth:`cancel` was called).
    """

    def __init__(self, fn: Callable[..., Any], *args: Any, cancellable: bool = False, **kwargs: Any) -> None:
        super().__init__()
        # The pool must not delete the C++ object while Python (the controller) still holds it.
        self.setAutoDelete(False)
        self.signals = WorkerSignals()
        self._fn, self._args, self._kwargs = fn, args, kwargs
        self._cancellable = cancellable
        self._cancelled = threading.Event()

    def cancel(self) -> None:
        self._cancelled.set()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def run(self) -> None:
        kwargs = dict(self._kwargs)
        if self._cancellable:
            kwargs["progress"] = self.signals.progress.emit
            kwargs["cancel"] = self._cancelled.is_set
        try:
            result = self._fn(*self._args, **kwargs)
        except Exception as exc:  # every failure is reported to the GUI, never swallowed
            self.signals.errored.emit(exc)
        else:
            self.signals.returned.emit(result)
        finally:
            self.signals.finished.emit()

    def start(self, pool: QThreadPool | None = None) -> Worker:
        (pool or QThreadPool.globalInstance()).start(self)
        return self


class SingleJob(QObject):
    """One job at a time on its own one-thread pool, for a tab with a "Run" button.

    ``ended`` comes first, once per job, as soon as it has answered (or, failing that, when it
    finishes); then ``returned(result, basis)`` with the ``basis`` given to :meth:`start`, or
    ``errored(exception)``. ``progress`` relays the job's progress.
    """

    returned = Signal(object, object)
    errored = Signal(object)
    progress = Signal(float)
    ended = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)
        self._worker: Worker | None = None
        self._basis: Any = None

    def busy(self) -> bool:
        return self._worker is not None

    def start(self, fn: Callable[..., Any], *args: Any, basis: Any = None, cancellable: bool = False) -> bool:
        """Run ``fn(*args)`` unless a job is running (then nothing happens and False comes back)."""
        if self._worker is not None:
            return False
        worker = Worker(fn, *args, cancellable=cancellable)
        # Bound methods only: Qt drops the connections if this object is deleted before the worker ends.
        worker.signals.progress.connect(self.progress)
        worker.signals.returned.connect(self._returned)
        worker.signals.errored.connect(self._errored)
        worker.signals.finished.connect(self._finished)
        self._basis = basis
        self._worker = worker.start(self._pool)
        return True

    def cancel(self) -> None:
        if self._worker is not None:
            self._worker.cancel()

    def shutdown(self, timeout_ms: int = 10_000) -> None:
        """Cancel a running job and wait for it (from the window's close)."""
        self.cancel()
        self._pool.waitForDone(timeout_ms)

    def _end(self) -> None:
        self._worker = None
        self.ended.emit()

    def _returned(self, result: Any) -> None:
        self._end()
        self.returned.emit(result, self._basis)

    def _errored(self, exc: BaseException) -> None:
        self._end()
        self.errored.emit(exc)

    def _finished(self) -> None:
        # Normally ``returned`` or ``errored`` ended the job already; a newer job must not be ended here.
        if self._worker is not None and self.sender() is self._worker.signals:
            self._end()


# --- jobs: module-level functions the workers run ---------------------------------------------
def _dump(model: Any) -> Any:
    return model.model_dump() if hasattr(model, "model_dump") else model


def _portfolio(portfolio: Any) -> Any:
    """The editor's draft checked in full by the engine, without re-validating each holding
    (:func:`engine.document.checked_portfolio`); a dict is left for the service to validate."""
    from engine.document import checked_portfolio
    from engine.schemas import Portfolio

    return checked_portfolio(portfolio) if isinstance(portfolio, Portfolio) else portfolio


def job_rebalance(portfolio: Any, policy: Any) -> Any:
    """Trades for ``portfolio`` under ``policy`` (engine-validated in full, targets included)."""
    from engine import service

    return service.rebalance({"portfolio": _portfolio(portfolio), "policy": _dump(policy)})


def job_risk(portfolio: Any, settings: Any, post_trade_weights: dict[str, float] | None) -> Any:
    """The risk report before and, given post-trade weights, after the trades."""
    from engine import service

    return service.analyse_risk({"portfolio": _portfolio(portfolio), "settings": _dump(settings),
                                 "post_trade_weights": post_trade_weights})


def job_risk_view(portfolio: Any, settings: Any, post_trade_weights: dict[str, float] | None) -> Any:
    """:func:`job_risk` with the chart arrays prepared here, off the GUI thread (a ``RiskView``)."""
    from desktop.panels.risk_view import prepare_risk_view

    return prepare_risk_view(job_risk(portfolio, settings, post_trade_weights))


def job_monte_carlo(portfolio: Any, settings: Any, *, progress: Callable[[float], None],
                    cancel: Callable[[], bool]) -> Any:
    from engine import service

    return service.monte_carlo({"portfolio": _portfolio(portfolio), "monte_carlo": _dump(settings)},
                               progress=progress, cancel=cancel)


def job_scenarios(portfolio: Any, *, progress: Callable[[float], None], cancel: Callable[[], bool]) -> Any:
    """Every historical scenario replayed on the portfolio as it stands."""
    from engine import service

    report = service.stress_test({"portfolio": _portfolio(portfolio), "monte_carlo": None, "scenarios": ["all"]},
                                 progress=progress, cancel=cancel)
    return report.scenarios
