"""The controller runs the cheap jobs first: risk before the stress jobs, which an edit cancels."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QUndoStack

from desktop.controller import ALL_KINDS, Controller
from desktop.holdings_model import KEYS, HoldingsModel
from desktop.policy_panel import SettingsModel
from engine.schemas import MonteCarloSettings
from engine.schemas.results import RiskReport


@pytest.fixture
def parts(qtbot, sample):
    model = HoldingsModel(sample, QUndoStack())
    settings = SettingsModel(monte_carlo=MonteCarloSettings(paths=4_000, horizon=504, seed=3))
    controller = Controller(model.portfolio, lambda: settings, debounce_ms=10)
    events: list[tuple[str, str]] = []
    controller.busyChanged.connect(lambda kind, busy: events.append(("start" if busy else "end", kind)))
    controller.riskReady.connect(lambda _r: events.append(("ready", "risk")))
    controller.riskViewReady.connect(lambda _v: events.append(("view", "risk")))
    yield model, controller, events
    controller.shutdown()


def test_risk_is_shown_before_monte_carlo_and_scenarios_start(qtbot, parts) -> None:
    _model, controller, events = parts
    with qtbot.waitSignal(controller.idle, timeout=120_000):
        controller.recompute_now(ALL_KINDS)
    ready = events.index(("ready", "risk"))
    assert events.index(("view", "risk")) == ready - 1  # the panel's view first, then the report
    assert events[0] == ("start", "rebalance")
    assert events.index(("start", "montecarlo")) > ready and events.index(("start", "scenarios")) > ready
    assert {"rebalance", "risk", "scenarios", "montecarlo"} <= set(controller.last)
    assert isinstance(controller.last["risk"], RiskReport)  # the engine's report, not the view


def test_an_edit_cancels_the_running_monte_carlo_at_once_and_reruns_it_after_risk(qtbot, parts) -> None:
    model, controller, events = parts
    with qtbot.waitSignal(controller.idle, timeout=120_000):
        controller.recompute_now(ALL_KINDS)
    results = []
    controller.monteCarloReady.connect(results.append)
    with qtbot.waitSignal(controller.busyChanged, check_params_cb=lambda k, b: k == "montecarlo" and b):
        controller.run_monte_carlo()
    running = controller._running["montecarlo"]
    events.clear()
    model.setData(model.index(0, KEYS.index("quantity")), 123.0)
    controller.schedule(ALL_KINDS)
    assert running.cancelled  # before the debounce has even run out
    with qtbot.waitSignal(controller.idle, timeout=120_000):
        pass
    assert len(results) == 1  # the cancelled run's result (if it finished anyway) was dropped
    assert events.index(("start", "montecarlo")) > events.index(("ready", "risk"))
    assert controller.last["montecarlo"] is results[0]
