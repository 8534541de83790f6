"""The controller: engine calls on workers, the newest request wins, results equal the engine's."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QUndoStack

from desktop.controller import Controller, error_message
from desktop.holdings_model import KEYS, HoldingsModel
from desktop.policy_panel import SettingsModel
from engine import service
from engine.errors import DataError, InvalidRequest
from engine.schemas import MonteCarloSettings, RebalanceRequest, RiskRequest

QTY = KEYS.index("quantity")


@pytest.fixture
def parts(qtbot, sample):
    model = HoldingsModel(sample, QUndoStack())
    settings = SettingsModel(monte_carlo=MonteCarloSettings(paths=500, horizon=24, seed=3))
    controller = Controller(model.portfolio, lambda: settings, debounce_ms=10)
    model.portfolioChanged.connect(controller.schedule)
    yield model, settings, controller
    controller.shutdown()


def test_rebalance_result_equals_the_engines(qtbot, parts, sample) -> None:
    _model, settings, controller = parts
    with qtbot.waitSignal(controller.rebalanceReady, timeout=60_000) as blocker:
        controller.recompute_now(("rebalance",))
    expected = service.rebalance(RebalanceRequest(portfolio=sample, policy=settings.policy))
    assert blocker.args[0] == expected
    assert [(t.symbol, t.action, t.units) for t in blocker.args[0].trades] == [
        (t.symbol, t.action, t.units) for t in expected.trades]


def test_edit_recomputes_risk_with_the_new_weights(qtbot, parts) -> None:
    model, settings, controller = parts
    with qtbot.waitSignal(controller.riskReady, timeout=60_000):
        controller.recompute_now()
    before = controller.last["risk"].before.weights["SPY"]
    with qtbot.waitSignal(controller.riskReady, timeout=60_000) as blocker:
        assert model.setData(model.index(0, QTY), "400")
    report = blocker.args[0]
    p = model.portfolio()
    assert report.before.weights["SPY"] == pytest.approx(p.holdings[0].value / p.total_value)
    assert report.before.weights["SPY"] > before
    rebalance = controller.last["rebalance"]
    expected = service.analyse_risk(RiskRequest(portfolio=p, settings=settings.risk,
                                                post_trade_weights=rebalance.post_trade_weights))
    assert report == expected


def test_newer_request_supersedes_older_and_stale_results_are_dropped(qtbot, parts) -> None:
    model, _settings, controller = parts
    seen = []
    controller.rebalanceReady.connect(seen.append)
    controller.recompute_now(("rebalance",))
    model.apply_holding(0, model.holding(0).model_copy(update={"quantity": 500.0}))  # no schedule: manual
    controller.recompute_now(("rebalance",))
    qtbot.waitUntil(lambda: not controller.is_busy(), timeout=60_000)
    assert len(seen) == 1
    assert next(t for t in seen[0].trades if t.symbol == "SPY").current_quantity == 500.0


def test_targets_off_one_show_the_engine_message_in_every_dependent_tab(qtbot, parts) -> None:
    model, _settings, controller = parts
    failures = []
    controller.failed.connect(lambda kind, msg: failures.append((kind, msg)))
    with qtbot.waitSignal(controller.failed, timeout=60_000, check_params_cb=lambda kind, msg: kind == "risk"):
        assert model.setData(model.index(0, KEYS.index("target_weight")), "30")
    message = "target weights sum to 0.950000; they must sum to 1 (±1e-06) (portfolio)"
    assert ("rebalance", message) in failures and ("risk", message) in failures
    assert "rebalance" not in controller.last and "risk" not in controller.last


def test_monte_carlo_progress_and_cancel(qtbot, parts) -> None:
    _model, _settings, controller = parts
    progress = []
    controller.monteCarloProgress.connect(progress.append)
    with qtbot.waitSignal(controller.monteCarloReady, timeout=60_000) as blocker:
        controller.run_monte_carlo()
    assert blocker.args[0].paths == 500 and blocker.args[0].seed == 3
    assert progress and all(0.0 <= p <= 1.0 for p in progress)
    results, failures = [], []
    controller.monteCarloReady.connect(results.append)
    controller.failed.connect(lambda kind, msg: failures.append(kind))
    controller.run_monte_carlo()
    controller.cancel_monte_carlo()
    qtbot.waitUntil(lambda: not controller.is_busy(), timeout=60_000)
    # Either the run saw the flag (no result, no error) or it finished before it could look.
    assert failures == [] and len(results) <= 1


def test_error_message_names_fields_and_data_locations() -> None:
    exc = InvalidRequest("2 invalid fields", [{"loc": ["holdings", 2, "price"], "msg": "too low", "type": "x"},
                                              {"loc": [], "msg": "bad", "type": "y"}])
    assert error_message(exc) == "too low (2.price); bad"
    assert error_message(DataError("no such column", file="a.csv", row=3, column="Qty")) == \
        "a.csv, row 3, column 'Qty': no such column"
    assert error_message(ValueError("boom")) == "ValueError: boom"
