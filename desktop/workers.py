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
